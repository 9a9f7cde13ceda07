"""Model health reads: live accuracy from human decisions (with Wilson intervals) and drift of
the confidence distribution and of each input feature (population stability index, PSI).

Accuracy counts current decisions only: ``accept`` means the model was right, ``override``
means it was wrong. Accuracy, decision rates, label mix and volume read the band rollups
(``selectors.bands``), so the page and the tripwires cost the same at any volume.

Drift compares the period's cases with the model's active
:class:`~reviewapp.models.DriftBaseline`:

* numeric features: 10 quantile bins whose edges come from the baseline window, plus a
  "missing" bucket for values that are absent or not numbers;
* categorical features: the baseline's most common categories (up to 20), an "(other)"
  bucket for the rest and a "(missing)" bucket;
* empty bins are smoothed with ``PSI_EPSILON`` so that the logarithm stays finite.

PSI = sum over bins of (actual - expected) * ln(actual / expected). The confidence and
feature distributions of a period read its latest ``FEATURE_SAMPLE_CAP`` cases (one bounded
query, whatever the period's volume; 20,000 cases put a bin's share within about 0.7 points
at 95%).
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from django.utils import timezone

from reviewapp.models import (
    Alert,
    Case,
    Decision,
    DriftBaseline,
    MLModel,
    ModelVersion,
    Tripwire,
)
from reviewapp.selectors.bands import BandRow, band_rows_between, day_bounds, model_days

PSI_EPSILON = 1e-4
NUMERIC_BINS = 10
MAX_CATEGORIES = 20
MAX_FEATURES = 50
FEATURE_SAMPLE_CAP = 20_000
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.2
OTHER = "(other)"
MISSING = "(missing)"
WILSON_Z = 1.959963984540054  # the 97.5th percentile of the standard normal


# --- accuracy ---------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, *, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval for a proportion (95% by default); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class AccuracyRow:
    """Live accuracy of one group (a model version or a predicted label)."""

    key: str
    decided: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.decided if self.decided else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.decided)

    @property
    def ci_low(self) -> float:
        return self.interval[0]

    @property
    def ci_high(self) -> float:
        return self.interval[1]


@dataclass
class AccuracyReport:
    overall: AccuracyRow
    by_version: list[AccuracyRow]
    by_label: list[AccuracyRow]
    by_version_label: dict[str, list[AccuracyRow]] = field(default_factory=dict)


def current_decisions(
    ml_model: MLModel, *, start: datetime | None = None, end: datetime | None = None
):
    """The model's current (not superseded) decisions taken in [start, end)."""
    qs = Decision.objects.filter(ml_model=ml_model, superseded_at__isnull=True)
    if start is not None:
        qs = qs.filter(decided_at__gte=start)
    if end is not None:
        qs = qs.filter(decided_at__lt=end)
    return qs


def accuracy_report(
    ml_model: MLModel, *, start: datetime | None = None, end: datetime | None = None
) -> AccuracyReport:
    """Live accuracy overall, per model version and per predicted label over [start, end)
    (open ends: the model's first day, now), from the band rollups (``selectors.bands``)."""
    rows = band_rows_between(ml_model, **closed_window(ml_model, start, end))
    return accuracy_of_bands(ml_model, rows)


def closed_window(ml_model: MLModel, start: datetime | None, end: datetime | None) -> dict:
    """[start, end) with open ends closed: the model's first day, and now."""
    if start is None:
        start = day_bounds(model_days(ml_model)[0])[0]
    return {"start": start, "end": end or timezone.now()}


def accuracy_of_bands(ml_model: MLModel, rows: Iterable[BandRow]) -> AccuracyReport:
    """``accuracy_report`` from a period's per-band figures (``selectors.bands``, read from
    the band rollups), where ``accepted`` counts the decisions that kept the model's label
    (one query: the version names)."""
    names = dict(ModelVersion.objects.filter(ml_model=ml_model).values_list("pk", "version"))
    return _accuracy_of(
        (names.get(r.version_id, "?"), r.label, r.decided, r.accepted) for r in rows if r.decided
    )


def _accuracy_of(groups: Iterable[tuple[str, str, int, int]]) -> AccuracyReport:
    """The report from (version, predicted label, decided, correct) groups."""
    overall = AccuracyRow(key="all")
    versions: dict[str, AccuracyRow] = {}
    labels: dict[str, AccuracyRow] = {}
    version_labels: dict[str, dict[str, AccuracyRow]] = {}
    for version, label, decided, correct in groups:
        for group in (
            overall,
            versions.setdefault(version, AccuracyRow(key=version)),
            labels.setdefault(label, AccuracyRow(key=label)),
            version_labels.setdefault(version, {}).setdefault(label, AccuracyRow(key=label)),
        ):
            group.decided += decided
            group.correct += correct
    return AccuracyReport(
        overall=overall,
        by_version=sorted(versions.values(), key=lambda r: _version_key(r.key)),
        by_label=sorted(labels.values(), key=lambda r: r.key),
        by_version_label={
            v: sorted(ls.values(), key=lambda r: r.key) for v, ls in version_labels.items()
        },
    )


def _version_key(version: str) -> tuple:
    """Sort "2.10.0" after "2.9.1"; non-numeric parts sort as text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.split("."))


# --- two-window comparisons (tripwires) -------------------------------------------------


@dataclass(frozen=True)
class DecisionRates:
    """Current decisions of one window: how many, how many accepted (model right) and how
    many overridden (model wrong)."""

    decided: int
    accepted: int
    overridden: int

    @property
    def accuracy(self) -> float | None:
        return self.accepted / self.decided if self.decided else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.decided if self.decided else None

    @property
    def accuracy_interval(self) -> tuple[float, float]:
        return wilson_interval(self.accepted, self.decided)

    @property
    def override_interval(self) -> tuple[float, float]:
        return wilson_interval(self.overridden, self.decided)


def decision_rates(ml_model: MLModel, *, start: datetime, end: datetime) -> DecisionRates:
    """Accepted and overridden current decisions taken in [start, end), from the band
    rollups (an override is every decision not accepted)."""
    rows = band_rows_between(ml_model, start=start, end=end)
    decided = sum(r.decided for r in rows)
    accepted = sum(r.accepted for r in rows)
    return DecisionRates(decided=decided, accepted=accepted, overridden=decided - accepted)


def intervals_apart(lower: tuple[float, float], upper: tuple[float, float]) -> bool:
    """True when the interval ``lower`` lies wholly below ``upper`` (they don't overlap)."""
    return lower[1] < upper[0]


def label_counts(ml_model: MLModel, *, start: datetime, end: datetime) -> dict[str, int]:
    """Cases received in [start, end) per predicted label, from the band rollups."""
    counts: dict[str, int] = {}
    for row in band_rows_between(ml_model, start=start, end=end):
        if row.received:
            counts[row.label] = counts.get(row.label, 0) + row.received
    return counts


def label_mix_psi(baseline: dict[str, int], current: dict[str, int]) -> float | None:
    """PSI of the current predicted-label mix against the baseline's: bins are the
    baseline's ``MAX_CATEGORIES`` most common labels plus "(other)" (labels new since the
    baseline land there). None when either side has no cases."""
    if not sum(baseline.values()) or not sum(current.values()):
        return None
    ranked = sorted(baseline, key=lambda label: (-baseline[label], label))[:MAX_CATEGORIES]
    kept = set(ranked)

    def vector(counts: dict[str, int]) -> list[float]:
        other = sum(n for label, n in counts.items() if label not in kept)
        return _shares([*(counts.get(label, 0) for label in ranked), other])

    return psi(vector(baseline), vector(current))


@dataclass(frozen=True)
class CaseVolume:
    """Cases received in a window and when the latest of them arrived."""

    received: int
    last_received_at: datetime | None


def case_volume(ml_model: MLModel, *, start: datetime, end: datetime) -> CaseVolume:
    """How many cases arrived in [start, end) (the band rollups) and the latest arrival (one
    indexed probe)."""
    received = sum(r.received for r in band_rows_between(ml_model, start=start, end=end))
    last = (
        cases_in_window(ml_model, start=start, end=end)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return CaseVolume(received=received, last_received_at=last)


# --- PSI and distributions -------------------------------------------------------------


def psi(expected: Sequence[float], actual: Sequence[float], *, eps: float = PSI_EPSILON) -> float:
    """Population stability index of two share vectors over the same bins. Shares below
    ``eps`` (empty bins) are raised to ``eps`` first."""
    if len(expected) != len(actual):
        raise ValueError("PSI needs two distributions over the same bins.")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, eps), max(a, eps)
        total += (a - e) * math.log(a / e)
    return total


def psi_status(value: float | None) -> str:
    """stable (< 0.1), moderate (0.1-0.2) or significant (> 0.2); "unknown" without data."""
    if value is None:
        return "unknown"
    if value > PSI_SIGNIFICANT:
        return "significant"
    if value >= PSI_MODERATE:
        return "moderate"
    return "stable"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _category(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return OTHER
    return str(value)[:100]


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def numeric_distribution(values: Iterable[Any], *, bins: int = NUMERIC_BINS) -> dict:
    """Quantile bin edges of the numbers among ``values`` and the shares per bin; values
    that are not numbers go to a final "missing" share."""
    values = list(values)
    numbers = sorted(float(v) for v in values if _is_number(v))
    edges: list[float] = []
    if len(numbers) >= 2:
        cuts = statistics.quantiles(numbers, n=bins, method="inclusive")
        edges = sorted(set(cuts))
    if numbers and (not edges or edges[-1] >= numbers[-1]):
        # Heavy ties (a constant feature): keep a bin above the baseline's maximum so that
        # values moving up are seen; a cut at the minimum likewise keeps a bin below it.
        edges = [e for e in edges if e < numbers[-1]]
        edges += [numbers[-1], math.nextafter(numbers[-1], math.inf)]
        edges = sorted(set(edges))
    dist = {"type": "numeric", "edges": edges}
    dist["shares"] = numeric_shares(values, dist)
    return dist


def numeric_shares(values: Iterable[Any], dist: dict) -> list[float]:
    """Shares of ``values`` over a numeric distribution's bins (len(edges) + 1 bins, the
    i-th holding edges[i-1] <= v < edges[i]) followed by the missing share."""
    edges = dist["edges"]
    counts = [0] * (len(edges) + 2)
    for v in values:
        if _is_number(v):
            counts[bisect_right(edges, float(v))] += 1
        else:
            counts[-1] += 1
    return _shares(counts)


def categorical_distribution(values: Iterable[Any], *, top: int = MAX_CATEGORIES) -> dict:
    """The most common categories with their shares, plus "(other)" and "(missing)"."""
    counts = Counter(_category(v) for v in values)
    ranked = sorted((c for c in counts if c not in (OTHER, MISSING)), key=lambda c: (-counts[c], c))
    dist = {"type": "categorical", "categories": ranked[:top]}
    dist["shares"] = categorical_shares(counts.elements(), dist)
    return dist


def categorical_shares(values: Iterable[Any], dist: dict) -> list[float]:
    """Shares over the distribution's categories, then "(other)", then "(missing)"."""
    index = {c: i for i, c in enumerate(dist["categories"])}
    other, missing = len(index), len(index) + 1
    counts = [0] * (len(index) + 2)
    for v in values:
        key = v if isinstance(v, str) and v in (OTHER, MISSING) else _category(v)
        if key == MISSING:
            counts[missing] += 1
        else:
            counts[index.get(key, other)] += 1
    return _shares(counts)


def distribution_bins(dist: dict) -> list[str]:
    """Human names of a distribution's bins, in the order of its shares."""
    if dist["type"] == "numeric":
        edges = dist["edges"]
        if not edges:
            return ["all values", MISSING]
        names = [f"< {edges[0]:g}"]
        names += [f"{lo:g} to < {hi:g}" for lo, hi in pairwise(edges)]
        names.append(f">= {edges[-1]:g}")
        return [*names, MISSING]
    return [*dist["categories"], OTHER, MISSING]


def feature_kinds(ml_model: MLModel, inputs: Sequence[dict]) -> dict[str, str]:
    """Feature name -> "numeric" or "categorical": from the model's input schema when it has
    one, else inferred (numeric when at least 95% of the present values are numbers). The
    model's personal-data fields (``pii_fields``) are left out: a baseline would store their
    values, and a dashboard would show them."""
    schema = ml_model.input_schema or {}
    personal = set(ml_model.pii_fields or [])
    if schema:
        features = [(n, kind) for n, kind in sorted(schema.items()) if n not in personal]
        return {
            name: "numeric" if kind in ("number", "integer") else "categorical"
            for name, kind in features[:MAX_FEATURES]
        }
    seen: Counter[str] = Counter()
    numeric: Counter[str] = Counter()
    for data in inputs:
        if not isinstance(data, dict):
            continue
        for name, value in data.items():
            if value is None or name in personal:
                continue
            seen[name] += 1
            if _is_number(value):
                numeric[name] += 1
    names = sorted(sorted(seen), key=lambda n: -seen[n])[:MAX_FEATURES]
    return {
        name: "numeric" if numeric[name] >= 0.95 * seen[name] else "categorical"
        for name in sorted(names)
    }


def feature_distributions(ml_model: MLModel, inputs: Sequence[dict]) -> dict[str, dict]:
    """Baseline distributions for every feature of the inputs."""
    out = {}
    for name, kind in feature_kinds(ml_model, inputs).items():
        values = [data.get(name) if isinstance(data, dict) else None for data in inputs]
        if kind == "numeric":
            out[name] = numeric_distribution(values)
        else:
            out[name] = categorical_distribution(values)
    return out


def shares_against(dist: dict, values: Iterable[Any]) -> list[float]:
    if dist["type"] == "numeric":
        return numeric_shares(values, dist)
    return categorical_shares(values, dist)


def cases_in_window(
    ml_model: MLModel, *, start: datetime | None = None, end: datetime | None = None
):
    """The model's cases received in [start, end) (open-ended where None)."""
    qs = Case.objects.filter(ml_model=ml_model)
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lt=end)
    return qs


def case_sample(
    ml_model: MLModel,
    *,
    start: datetime,
    end: datetime,
    cap: int = FEATURE_SAMPLE_CAP,
    inputs: bool = True,
) -> list[tuple[float, Any]]:
    """(confidence, input) of the window's latest ``cap`` cases (one bounded query; the
    inputs are left out, as None, unless INPUTS)."""
    fields = ("confidence", "input") if inputs else ("confidence",)
    rows = (
        cases_in_window(ml_model, start=start, end=end)
        .order_by("-created_at", "-id")
        .values_list(*fields)[:cap]
    )
    return [(row[0], row[1] if inputs else None) for row in rows]


@dataclass
class FeatureDrift:
    name: str
    kind: str
    psi: float | None
    status: str
    bins: list[tuple[str, float, float]]  # (bin name, baseline share, current share)


@dataclass
class DriftReport:
    baseline: DriftBaseline | None
    n_sampled: int = 0  # the window's latest cases read (at most sample_cap)
    sample_cap: int = FEATURE_SAMPLE_CAP
    confidence: FeatureDrift | None = None
    features: list[FeatureDrift] = field(default_factory=list)

    @property
    def max_feature_psi(self) -> float | None:
        values = [f.psi for f in self.features if f.psi is not None]
        return max(values) if values else None

    @property
    def worst_feature(self) -> FeatureDrift | None:
        scored = [f for f in self.features if f.psi is not None]
        return max(scored, key=lambda f: f.psi) if scored else None


def active_baseline(ml_model: MLModel) -> DriftBaseline | None:
    return DriftBaseline.objects.filter(ml_model=ml_model, is_active=True).first()


def _drift_row(name: str, kind: str, dist: dict, current: list[float], n: int) -> FeatureDrift:
    expected = dist["shares"]
    value = psi(expected, current) if n else None
    bins = list(zip(distribution_bins(dist), expected, current, strict=True))
    return FeatureDrift(name=name, kind=kind, psi=value, status=psi_status(value), bins=bins)


def drift_report(
    ml_model: MLModel,
    *,
    start: datetime,
    end: datetime,
    baseline: DriftBaseline | None = None,
    features: bool = True,
    cap: int = FEATURE_SAMPLE_CAP,
) -> DriftReport:
    """PSI of the confidence distribution and of each input feature against the active
    baseline, over the window's latest ``cap`` cases (one bounded query: its cost does not
    grow with the window's volume)."""
    baseline = baseline or active_baseline(ml_model)
    report = DriftReport(baseline=baseline, sample_cap=cap)
    if baseline is None:
        return report
    conf_dist = baseline.confidence_distribution
    with_features = features and bool(baseline.feature_distributions)
    if conf_dist.get("edges") is None and not with_features:
        return report
    sample = case_sample(ml_model, start=start, end=end, cap=cap, inputs=with_features)
    report.n_sampled = len(sample)
    if conf_dist.get("edges") is not None:
        current = numeric_shares([confidence for confidence, _ in sample], conf_dist)
        report.confidence = _drift_row("confidence", "numeric", conf_dist, current, len(sample))
    if not with_features:
        return report
    inputs = [data for _, data in sample]
    for name, dist in sorted(baseline.feature_distributions.items()):
        values = [data.get(name) if isinstance(data, dict) else None for data in inputs]
        current = shares_against(dist, values)
        report.features.append(_drift_row(name, dist["type"], dist, current, len(inputs)))
    report.features.sort(key=lambda f: (-(f.psi or 0), f.name))
    return report


# --- tripwires and alerts ----------------------------------------------------------------

TRIPWIRES_SHOWN = 50
RECENT_ALERTS_SHOWN = 5


@dataclass(frozen=True)
class HealthWatch:
    """The model's tripwires (enabled first, newest first), its open alerts (newest first)
    and the last alerts resolved."""

    tripwires: list[Tripwire]
    open_alerts: list[Alert]
    recent_alerts: list[Alert]


def health_watch(ml_model: MLModel) -> HealthWatch:
    """What watches the model and what it raised (three bounded queries)."""
    return HealthWatch(
        tripwires=list(
            Tripwire.objects.filter(ml_model=ml_model).order_by("-enabled", "-id")[:TRIPWIRES_SHOWN]
        ),
        open_alerts=list(
            Alert.objects.filter(ml_model=ml_model, resolved_at__isnull=True).order_by("-raised_at")
        ),
        recent_alerts=list(
            Alert.objects.filter(ml_model=ml_model, resolved_at__isnull=False)
            .select_related("resolved_by")
            .order_by("-resolved_at")[:RECENT_ALERTS_SHOWN]
        ),
    )
