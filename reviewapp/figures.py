"""Figure math shared by the rollup service and the metrics selectors: confidence bands and
log-spaced duration histograms. Pure functions on numbers and dicts (no ORM, no settings), so
any layer may import them.

Histograms are ``{bucket upper bound in ms: count}`` over log-spaced buckets
(``HIST_BOUNDS_MS``: each bound is 2^(1/4) ≈ 1.19 times the one before, from 125 ms to about
388 days, then a catch-all). Keys may be ints or their strings (JSON columns store strings).
A quantile is read back by linear interpolation inside its bucket (``hist_quantile``), so it
is within one bucket width (≈ 19%) of the exact value.
"""

from __future__ import annotations

from collections.abc import Mapping

# Log-spaced bucket upper bounds in ms: 1000 * 2^(k/4) for k = -12..100, then a catch-all.
HIST_BOUNDS_MS: tuple[int, ...] = (
    *(round(1000 * 2 ** (k / 4)) for k in range(-12, 101)),
    10**13,
)
# Confidence bands: band b holds confidences in [b/10, (b+1)/10), with 1.0 in the last band.
BAND_COUNT = 10

_LOWER_OF: dict[int, int] = dict(zip(HIST_BOUNDS_MS[1:], HIST_BOUNDS_MS[:-1], strict=True))


def band_of(confidence: float) -> int:
    """The confidence band of a prediction: floor(confidence * 10), with 1.0 in band 9 (the
    same arithmetic as the rollup SQL)."""
    return min(int(confidence * 10), BAND_COUNT - 1)


def bucket_of(ms: int) -> int:
    """The histogram key (bucket upper bound in ms) a duration falls in."""
    for bound in HIST_BOUNDS_MS:
        if ms <= bound:
            return bound
    return HIST_BOUNDS_MS[-1]


def hist_quantile(hist: Mapping, q: float) -> float | None:
    """The q-quantile (0..1) in ms of a histogram ``{upper bound ms: count}``, interpolated
    linearly inside the bucket that holds the rank ``q * n`` (None for an empty histogram)."""
    items = sorted((int(k), int(v)) for k, v in hist.items() if int(v) > 0)
    total = sum(v for _, v in items)
    if not total:
        return None
    rank = max(q * total, 1e-9)
    cum = 0
    for bound, count in items:
        if cum + count >= rank:
            lower = _LOWER_OF.get(bound, 0)
            return lower + (bound - lower) * (rank - cum) / count
        cum += count
    return float(items[-1][0])  # pragma: no cover - rank <= total always stops the loop


def hist_merge(into: dict, other: Mapping) -> dict:
    """Add histogram ``other`` into ``into`` (keys as ints) and return ``into``."""
    for k, v in other.items():
        key = int(k)
        into[key] = into.get(key, 0) + int(v)
    return into


def segment_disparity(
    *,
    n: int,
    ci: tuple[float, float] | list[float] | None,
    rest_n: int,
    rest_ci: tuple[float, float] | list[float] | None,
    min_sample: int,
) -> bool:
    """Whether a segment does worse than the rest of the population beyond chance: both sides
    have at least ``min_sample`` cases and the segment's 95% interval lies wholly below the
    rest's (its upper bound under the rest's lower bound). Non-overlapping intervals are a
    cautious test (well under a 5% false-flag rate per segment), so many segments can be
    screened without a flood of flags; a real gap of 15 points is flagged from a few hundred
    cases a side."""
    if ci is None or rest_ci is None or n < min_sample or rest_n < min_sample:
        return False
    return ci[1] < rest_ci[0]
