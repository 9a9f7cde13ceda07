"""The go-live evidence of a model run in shadow mode: over the cases routed under a shadow-mode
policy (routing reason ``shadow_mode``: every one reviewed blind, none auto-approved), how
often the people's final label is the model's (agreement, with its Wilson interval), how
accurate the model and the people were against the outcomes known for those cases
(``selectors.quality.quality_figures``), and the threshold what-if of the health page
(``selectors.calibration.what_if``) run on that evidence alone: at threshold *t*, the share
the model would have auto-approved and how often the people agreed with it on those cases,
plus the model's outcome accuracy on them where outcomes exist.

Cases count by when they were received, in [start, end). The shadow cases are found through
the case's policy (the model's shadow-mode policies first): a model never run in shadow mode
costs two small queries, one that was costs six aggregates over its shadow cases only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Floor

from reviewapp.models import Decision, MLModel, Outcome, RoutingPolicy
from reviewapp.selectors.bands import BAND_NUDGE  # 0.85 * 20 lands in band 17
from reviewapp.selectors.calibration import (
    CANDIDATE_THRESHOLDS,
    FINE_BANDS,
    MIN_SAMPLE,
    Band,
    WhatIf,
    active_policy,
    bands_of_rows,
    fine_bands,
    median_time_spent_ms,
    what_if,
)
from reviewapp.selectors.health import cases_in_window, wilson_interval
from reviewapp.selectors.quality import COUNTS as QUALITY_COUNTS
from reviewapp.selectors.quality import quality_figures


def shadow_policy_ids(ml_model: MLModel) -> list[int]:
    """The model's routing policies that ran (or run) in shadow mode: the cases routed under
    them are the go-live evidence, found through the case's policy index (one small query)."""
    return list(
        RoutingPolicy.objects.filter(ml_model=ml_model, shadow_mode=True).values_list(
            "pk", flat=True
        )
    )


@dataclass
class ShadowThreshold:
    """The what-if at one threshold on the shadow evidence: WHAT_IF's error rate is the
    people's disagreement with the model on the cases it would auto-approve; OUTCOMES and
    OUTCOMES_RIGHT count the model's hits against known outcomes on those cases."""

    what_if: WhatIf
    outcomes: int = 0
    outcomes_right: int = 0

    @property
    def threshold(self) -> float:
        return self.what_if.threshold

    @property
    def share_auto_approved(self) -> float | None:
        share = self.what_if.share_to_people
        return None if share is None else 1 - share

    @property
    def agreement(self) -> float | None:
        error = self.what_if.error_rate
        return None if error is None else 1 - error

    @property
    def outcome_accuracy(self) -> float | None:
        return self.outcomes_right / self.outcomes if self.outcomes else None


@dataclass
class GoLiveReport:
    start: datetime
    end: datetime
    policy: RoutingPolicy | None
    received: int  # shadow-mode cases received in the period
    decided: int  # of them, with a current decision
    agreed: int  # of those, the final label is the model's
    quality: dict[str, Any]  # quality_figures over the decided shadow cases with an outcome
    thresholds: list[ShadowThreshold]
    bands: list[Band]
    min_sample: int = MIN_SAMPLE
    notes: list[str] = field(default_factory=list)

    @property
    def shadow_on(self) -> bool:
        return bool(self.policy and self.policy.shadow_mode)

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.decided if self.decided else None

    @property
    def agreement_ci(self) -> tuple[float, float] | None:
        return wilson_interval(self.agreed, self.decided) if self.decided else None

    @property
    def enough_evidence(self) -> bool:
        return self.decided >= self.min_sample


def _agreement(
    ml_model: MLModel, policies: list[int], start: datetime, end: datetime
) -> tuple[int, int]:
    row = Decision.objects.filter(
        ml_model=ml_model,
        superseded_at__isnull=True,
        case__policy_id__in=policies,
        case__created_at__gte=start,
        case__created_at__lt=end,
    ).aggregate(n=Count("id"), agreed=Count("id", filter=Q(final_label=F("case__predicted_label"))))
    return row["n"], row["agreed"]


def _outcomes(ml_model: MLModel, policies: list[int], start: datetime, end: datetime):
    return Outcome.objects.filter(
        ml_model=ml_model,
        case__policy_id__in=policies,
        case__created_at__gte=start,
        case__created_at__lt=end,
    )


def _quality(
    ml_model: MLModel, policies: list[int], start: datetime, end: datetime
) -> dict[str, Any]:
    """Model and people against the outcomes of the period's shadow cases (none of which was
    auto-approved, so every decided one counts as reviewed)."""
    final_label = Subquery(
        Decision.objects.filter(case=OuterRef("case_id"), superseded_at__isnull=True).values(
            "final_label"
        )[:1]
    )
    reviewed = Q(final_label__isnull=False)
    model_right = Q(case__predicted_label=F("label"))
    row = (
        _outcomes(ml_model, policies, start, end)
        .annotate(final_label=final_label)
        .aggregate(
            outcomes=Count("pk"),
            reviewed_n=Count("pk", filter=reviewed),
            reviewed_model_right=Count("pk", filter=reviewed & model_right),
            final_right=Count("pk", filter=Q(final_label=F("label"))),
        )
    )
    return quality_figures({**row, "auto_n": 0, "auto_right": 0})


def _outcome_bands(
    ml_model: MLModel, policies: list[int], start: datetime, end: datetime
) -> list[tuple[int, int]]:
    """(outcomes, model right) per 0.05 confidence band of the period's shadow cases."""
    bands = [(0, 0)] * FINE_BANDS
    rows = (
        _outcomes(ml_model, policies, start, end)
        .annotate(band=Floor(F("case__confidence") * FINE_BANDS + BAND_NUDGE))
        .values("band")
        .annotate(n=Count("pk"), right=Count("pk", filter=Q(case__predicted_label=F("label"))))
        .order_by()
    )
    for row in rows:
        i = min(max(int(row["band"] or 0), 0), FINE_BANDS - 1)
        bands[i] = (bands[i][0] + row["n"], bands[i][1] + row["right"])
    return bands


def golive_report(
    ml_model: MLModel,
    *,
    start: datetime,
    end: datetime,
    thresholds: tuple[float, ...] = CANDIDATE_THRESHOLDS,
    min_sample: int = MIN_SAMPLE,
) -> GoLiveReport:
    """The go-live evidence of ML_MODEL's shadow-mode cases received in [START, END)."""
    policy = active_policy(ml_model)
    always = list(policy.always_review_labels or []) if policy else []
    qa_rate = policy.qa_sample_rate if policy else 0.0
    policies = shadow_policy_ids(ml_model)
    if policies:
        shadow = {"policy_id__in": policies}
        received = cases_in_window(ml_model, start=start, end=end).filter(**shadow).count()
        decided, agreed = _agreement(ml_model, policies, start, end)
        # The health page's what-if, on the shadow cases only. Decisions count by when their
        # case was received (fine_bands windows cases by receipt and decisions by decision
        # time, so its window is left open and the case filter bounds both).
        window = {**shadow, "created_at__gte": start, "created_at__lt": end}
        bands = fine_bands(
            ml_model, start=None, end=None, always_review_labels=always, case_filter=window
        )
        median_ms, _ = median_time_spent_ms(ml_model, start=start, end=end)
        outcome_bands = _outcome_bands(ml_model, policies, start, end)
        quality = _quality(ml_model, policies, start, end)
    else:  # never in shadow mode: no evidence, and nothing to count
        received = decided = agreed = 0
        bands = bands_of_rows([], always_review_labels=always)
        median_ms, outcome_bands = None, [(0, 0)] * FINE_BANDS
        quality = quality_figures(dict.fromkeys(QUALITY_COUNTS, 0))
    rows = []
    for t in thresholds:
        # Going live means leaving shadow mode: nothing forces review but the policy's
        # always-review labels and QA sample.
        row = ShadowThreshold(
            what_if=what_if(
                bands,
                t,
                qa_sample_rate=qa_rate,
                advisory_mode=False,
                median_time_ms=median_ms,
                min_sample=min_sample,
            )
        )
        first = min(max(round(t * FINE_BANDS), 0), FINE_BANDS)
        row.outcomes = sum(n for n, _ in outcome_bands[first:])
        row.outcomes_right = sum(right for _, right in outcome_bands[first:])
        rows.append(row)
    report = GoLiveReport(
        start=start,
        end=end,
        policy=policy,
        received=received,
        decided=decided,
        agreed=agreed,
        quality=quality,
        thresholds=rows,
        bands=bands,
        min_sample=min_sample,
    )
    if not report.shadow_on:
        report.notes.append(
            "Shadow mode is off in the active policy: the figures cover the cases received "
            "while an earlier policy had it on."
        )
    if policy is not None and policy.advisory_mode:
        report.notes.append(
            "The active policy is also in advisory mode: every case would still go to people."
        )
    return report
