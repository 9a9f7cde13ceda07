"""Threshold calibration from human decisions: the reliability curve (accuracy by confidence
band) and a what-if for candidate review thresholds.

Estimation method (shown on the page):

* Cases are grouped in confidence bands of 0.05 (``floor(confidence * 20)``), read from the
  band rollups (``selectors.bands``); the go-live page counts its shadow-mode cases, by
  when they were received, directly (``fine_bands``).
* For a candidate threshold *t*, the share sent to people counts every case of the period
  below *t*, plus those at or above *t* whose predicted label is always reviewed, plus the
  policy's QA sample rate of the rest (all cases in advisory mode).
* Reviewer hours = cases sent to people x the median measured time per case
  (``Decision.time_spent_ms`` of the period's decisions, latest ``TIME_SAMPLE_CAP``).
* The error rate among auto-approved cases at *t* is post-stratified: in each band at or
  above *t*, the override rate among the band's human-decided cases (below the current
  threshold every case was reviewed; above it, QA samples, advisory-mode and always-review
  cases were reviewed anyway), weighted by the number of cases the band would auto-approve.
  A band with cases but no decisions borrows the pooled override rate of the decided cases
  at or above *t*. The sample size is the number of decided cases at or above *t*;
  thresholds with fewer than ``MIN_SAMPLE`` are not recommended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Floor

from reviewapp.models import DecisionAction, MLModel, PolicyStatus, RoutingPolicy
from reviewapp.selectors.bands import BAND_COUNT, BAND_NUDGE, BandRow, band_rows_between
from reviewapp.selectors.health import (
    cases_in_window,
    closed_window,
    current_decisions,
    wilson_interval,
)

FINE_BANDS = BAND_COUNT  # 0.05 wide: the what-if grid
CURVE_BANDS = 10  # 0.1 wide: the reliability curve
CANDIDATE_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 .. 0.95
MIN_SAMPLE = 30
TIME_SAMPLE_CAP = 20_000


@dataclass
class Band:
    index: int
    low: float
    high: float
    received: int = 0
    always_review: int = 0
    decided: int = 0
    correct: int = 0
    confidence_sum: float = 0.0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.decided if self.decided else None

    @property
    def error_rate(self) -> float | None:
        return 1 - self.correct / self.decided if self.decided else None

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.decided if self.decided else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.decided)

    @property
    def label(self) -> str:
        return f"{self.low:.2f} to {self.high:.2f}"


@dataclass
class WhatIf:
    threshold: float
    to_people: float  # expected number of the period's cases sent to people
    share_to_people: float | None
    reviewer_hours: float | None
    auto_approved: float
    error_rate: float | None
    sample_size: int
    errors_in_sample: int
    borrowed_bands: int
    meets_target: bool = False
    enough_data: bool = False

    @property
    def error_interval(self) -> tuple[float, float]:
        """Wilson interval of the raw (unweighted) override rate in the sample."""
        return wilson_interval(self.errors_in_sample, self.sample_size)


@dataclass
class Calibration:
    received: int
    decided: int
    median_time_ms: float | None
    time_sample: int
    policy: RoutingPolicy | None
    curve: list[Band]
    fine_bands: list[Band]
    what_if: list[WhatIf]
    target_error_rate: float
    min_sample: int
    recommended: WhatIf | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def current_threshold(self) -> float | None:
        return self.policy.review_threshold if self.policy else None


def _band_expr(field_name: str, bands: int):
    return Floor(F(field_name) * bands + BAND_NUDGE)


def _clip(index: float | int | None, bands: int) -> int:
    return min(max(int(index or 0), 0), bands - 1)


def median(values: list[int]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def median_time_spent_ms(
    ml_model: MLModel, *, start: datetime | None, end: datetime | None, cap: int = TIME_SAMPLE_CAP
) -> tuple[float | None, int]:
    """The median measured time per decision (0 means not measured and is left out)."""
    times = list(
        current_decisions(ml_model, start=start, end=end)
        .filter(time_spent_ms__gt=0)
        .order_by("-decided_at")
        .values_list("time_spent_ms", flat=True)[:cap]
    )
    return median(times), len(times)


def fine_bands(
    ml_model: MLModel,
    *,
    start: datetime | None,
    end: datetime | None,
    always_review_labels: list[str],
    case_filter: dict[str, Any] | None = None,
) -> list[Band]:
    """Received and decided counts per 0.05 confidence band (two aggregate queries).
    CASE_FILTER (Case field lookups, e.g. ``{"policy__shadow_mode": True}``) narrows both
    counts to those cases (the go-live page's shadow-mode evidence)."""
    bands = _empty_bands()
    case_filter = case_filter or {}
    received = (
        cases_in_window(ml_model, start=start, end=end)
        .filter(**case_filter)
        .annotate(band=_band_expr("confidence", FINE_BANDS))
        .values("band")
        .annotate(
            n=Count("id"),
            always=Count("id", filter=Q(predicted_label__in=always_review_labels or [])),
        )
        .order_by()
    )
    for row in received:
        band = bands[_clip(row["band"], FINE_BANDS)]
        band.received += row["n"]
        band.always_review += row["always"]
    decided = (
        current_decisions(ml_model, start=start, end=end)
        .filter(**{f"case__{name}": value for name, value in case_filter.items()})
        .annotate(band=_band_expr("case__confidence", FINE_BANDS))
        .values("band")
        .annotate(
            n=Count("id"),
            correct=Count("id", filter=Q(action=DecisionAction.ACCEPT)),
            conf=Sum("case__confidence"),
        )
        .order_by()
    )
    for row in decided:
        band = bands[_clip(row["band"], FINE_BANDS)]
        band.decided += row["n"]
        band.correct += row["correct"]
        band.confidence_sum += row["conf"] or 0.0
    return bands


def bands_of_rows(rows: Iterable[BandRow], *, always_review_labels: list[str]) -> list[Band]:
    """The 0.05 bands of ``fine_bands`` from per-band figures (``selectors.bands``): the
    same counts, read from the band rollups instead of cases and decisions."""
    bands = _empty_bands()
    always = set(always_review_labels or [])
    for row in rows:
        band = bands[_clip(row.band, FINE_BANDS)]
        band.received += row.received
        band.always_review += row.received if row.label in always else 0
        band.decided += row.decided
        band.correct += row.accepted
        band.confidence_sum += row.confidence_sum
    return bands


def _empty_bands() -> list[Band]:
    return [Band(index=i, low=i / FINE_BANDS, high=(i + 1) / FINE_BANDS) for i in range(FINE_BANDS)]


def reliability_curve(bands: list[Band]) -> list[Band]:
    """Merge 0.05 bands into the 0.1 bands of the reliability curve."""
    per = FINE_BANDS // CURVE_BANDS
    curve = []
    for i in range(CURVE_BANDS):
        merged = Band(index=i, low=i / CURVE_BANDS, high=(i + 1) / CURVE_BANDS)
        for band in bands[i * per : (i + 1) * per]:
            merged.received += band.received
            merged.always_review += band.always_review
            merged.decided += band.decided
            merged.correct += band.correct
            merged.confidence_sum += band.confidence_sum
        curve.append(merged)
    return curve


def what_if(
    bands: list[Band],
    threshold: float,
    *,
    qa_sample_rate: float,
    advisory_mode: bool,
    median_time_ms: float | None,
    min_sample: int = MIN_SAMPLE,
    target_error_rate: float | None = None,
) -> WhatIf:
    """The expected workload and auto-approved error rate for one candidate threshold."""
    first = min(max(round(threshold * FINE_BANDS), 0), FINE_BANDS)
    above = bands[first:]
    total = sum(b.received for b in bands)
    if advisory_mode:
        to_people = float(total)
        auto = 0.0
    else:
        rest = sum(b.received - b.always_review for b in above)
        auto = rest * (1 - qa_sample_rate)
        to_people = total - auto
    sample = sum(b.decided for b in above)
    errors = sum(b.decided - b.correct for b in above)
    pooled = errors / sample if sample else None
    error_rate = None
    borrowed = 0
    weight_total = sum(b.received - b.always_review for b in above)
    if pooled is not None and weight_total > 0:
        weighted = 0.0
        for band in above:
            weight = band.received - band.always_review
            if weight <= 0:
                continue
            rate = band.error_rate
            if rate is None:
                rate = pooled
                borrowed += 1
            weighted += weight * rate
        error_rate = weighted / weight_total
    elif pooled is not None:
        error_rate = pooled
    hours = to_people * median_time_ms / 3_600_000 if median_time_ms is not None else None
    result = WhatIf(
        threshold=threshold,
        to_people=to_people,
        share_to_people=to_people / total if total else None,
        reviewer_hours=hours,
        auto_approved=auto,
        error_rate=error_rate,
        sample_size=sample,
        errors_in_sample=errors,
        borrowed_bands=borrowed,
    )
    result.enough_data = sample >= min_sample and error_rate is not None
    if target_error_rate is not None and result.enough_data:
        result.meets_target = error_rate <= target_error_rate + 1e-12
    return result


def threshold_recommend(rows: list[WhatIf]) -> WhatIf | None:
    """The lowest-workload candidate that keeps the auto-approved error rate under target
    with enough decided cases behind the estimate (ties go to the lower threshold)."""
    meeting = [r for r in rows if r.meets_target]
    return min(meeting, key=lambda r: (r.to_people, r.threshold)) if meeting else None


def active_policy(ml_model: MLModel) -> RoutingPolicy | None:
    return RoutingPolicy.objects.filter(ml_model=ml_model, status=PolicyStatus.ACTIVE).first()


def pending_proposals(ml_model: MLModel, *, limit: int = 5) -> list[RoutingPolicy]:
    """The model's routing-policy proposals waiting for a manager, newest first."""
    return list(
        RoutingPolicy.objects.filter(ml_model=ml_model, status=PolicyStatus.PROPOSED).order_by(
            "-version"
        )[:limit]
    )


def calibration_report(
    ml_model: MLModel,
    *,
    start: datetime | None,
    end: datetime,
    target_error_rate: float = 0.02,
    thresholds: tuple[float, ...] = CANDIDATE_THRESHOLDS,
    min_sample: int = MIN_SAMPLE,
    band_figures: list[BandRow] | None = None,
) -> Calibration:
    """Reliability curve, what-if rows for ``thresholds`` and the recommended threshold for
    the period [start, end) (open ends: the model's first day, now), from the period's
    per-band figures (``selectors.bands``: BAND_FIGURES when the caller has them already)."""
    policy = active_policy(ml_model)
    always = list(policy.always_review_labels or []) if policy else []
    qa_rate = policy.qa_sample_rate if policy else 0.0
    advisory = bool(policy and policy.advisory_mode)
    if band_figures is None:
        band_figures = band_rows_between(ml_model, **closed_window(ml_model, start, end))
    bands = bands_of_rows(band_figures, always_review_labels=always)
    median_ms, time_sample = median_time_spent_ms(ml_model, start=start, end=end)
    rows = [
        what_if(
            bands,
            t,
            qa_sample_rate=qa_rate,
            advisory_mode=advisory,
            median_time_ms=median_ms,
            min_sample=min_sample,
            target_error_rate=target_error_rate,
        )
        for t in thresholds
    ]
    report = Calibration(
        received=sum(b.received for b in bands),
        decided=sum(b.decided for b in bands),
        median_time_ms=median_ms,
        time_sample=time_sample,
        policy=policy,
        curve=reliability_curve(bands),
        fine_bands=bands,
        what_if=rows,
        target_error_rate=target_error_rate,
        min_sample=min_sample,
        recommended=threshold_recommend(rows),
    )
    if advisory:
        report.notes.append("The model is in advisory mode: every case goes to people.")
    if median_ms is None:
        report.notes.append("No measured review times in this period: hours are not estimated.")
    if any(r.borrowed_bands for r in rows):
        report.notes.append(
            "Some confidence bands had cases but no human decisions; they borrow the pooled "
            "override rate of the decided cases above the threshold."
        )
    return report


__all__ = [
    "CANDIDATE_THRESHOLDS",
    "MIN_SAMPLE",
    "Band",
    "Calibration",
    "WhatIf",
    "bands_of_rows",
    "calibration_report",
    "fine_bands",
    "median",
    "reliability_curve",
    "threshold_recommend",
    "what_if",
]
