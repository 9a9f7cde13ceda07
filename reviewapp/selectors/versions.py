"""Reading a model's versions side by side (volume, automation, acceptance and live accuracy
from decisions, read from the band rollups) and its circuit breaker (the open automation
suspension)."""

from __future__ import annotations

from dataclasses import dataclass

from reviewapp.models import AutomationSuspension, MLModel, ModelVersion
from reviewapp.selectors.bands import band_rows, model_days


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
    """Every version of the model, newest first, with its figures over all time: the band
    rollups of every day plus what they leave to count live (``selectors.bands``; about six
    queries, whatever the model's volume)."""
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
    date_from, date_to = model_days(ml_model)
    for band in band_rows(ml_model, date_from=date_from, date_to=date_to):
        figures = rows.get(band.version_id)
        if figures is not None:
            figures.received += band.received
            figures.auto_approved += band.auto_approved
            figures.decided += band.decided
            figures.accepted += band.accepted
            figures.correct += band.accepted  # an accept keeps the model's label
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
