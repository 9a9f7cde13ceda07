"""Reading a model's versions side by side (volume, automation, acceptance and live accuracy
from decisions) and its circuit breaker (the open automation suspension)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q

from reviewapp.models import (
    AutomationSuspension,
    CaseStatus,
    Decision,
    DecisionAction,
    MLModel,
    ModelVersion,
)


@dataclass
class VersionFigures:
    """One version's row on the model page. Rates are None when nothing was decided."""

    version: ModelVersion
    received: int = 0
    auto_approved: int = 0
    decided: int = 0
    accepted: int = 0
    correct: int = 0  # decisions whose final label is the model's label
    rollback_to: ModelVersion | None = None  # what a rollback from it would keep in service

    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.decided if self.decided else None

    @property
    def live_accuracy(self) -> float | None:
        return self.correct / self.decided if self.decided else None

    @property
    def automation(self) -> float | None:
        return self.auto_approved / self.received if self.received else None


def version_figures(ml_model: MLModel) -> list[VersionFigures]:
    """Every version of the model, newest first, with its figures (three queries: versions,
    case counts by version, current decisions by version)."""
    versions = list(
        ModelVersion.objects.filter(ml_model=ml_model)
        .select_related("activation_proposed_by", "activated_by")
        .order_by("-created_at", "-id")
    )
    rows = {v.pk: VersionFigures(version=v) for v in versions}
    if not rows:
        return []
    for row in rows.values():  # as services.versions.rollback_target, without a query each
        row.rollback_to = next(
            (
                v
                for v in sorted(versions, key=lambda v: -v.pk)
                if v.pk < row.version.pk and v.activated_at is not None
            ),
            None,
        )
    counts = (
        ml_model.cases.values("model_version_id")
        .annotate(n=Count("id"), auto=Count("id", filter=Q(status=CaseStatus.AUTO_APPROVED)))
        .order_by()
    )
    for row in counts:
        figures = rows.get(row["model_version_id"])
        if figures is not None:
            figures.received, figures.auto_approved = row["n"], row["auto"]
    decisions = (
        Decision.objects.filter(ml_model=ml_model, superseded_at__isnull=True)
        .values("case__model_version_id")
        .annotate(
            n=Count("id"),
            accepted=Count("id", filter=Q(action=DecisionAction.ACCEPT)),
            correct=Count("id", filter=Q(final_label=F("case__predicted_label"))),
        )
        .order_by()
    )
    for row in decisions:
        figures = rows.get(row["case__model_version_id"])
        if figures is not None:
            figures.decided = row["n"]
            figures.accepted, figures.correct = row["accepted"], row["correct"]
    return list(rows.values())


def open_suspension(ml_model: MLModel) -> AutomationSuspension | None:
    """The model's open automation suspension (with who suspended it and who proposed
    lifting it), or None; no query when the model row says automation runs."""
    if ml_model.automation_suspended_at is None:
        return None
    return (
        AutomationSuspension.objects.filter(ml_model=ml_model, lifted_at__isnull=True)
        .select_related("suspended_by", "lift_proposed_by", "tripwire")
        .first()
    )
