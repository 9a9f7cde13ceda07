"""The model-health page's charts and tables: live accuracy with its Wilson interval, feature
drift (PSI) and threshold calibration (reliability curve, what-if grid), shaped from the
reports of ``selectors.health`` and ``selectors.calibration``.

The two charts of this page are drawn with the primitives of ``presentation.charts``
(``svg_open``, ``svg_empty``, ``svg_close``, ``esc``) and its CSS classes
(``ci-whisker``, ``ci-cap``, ``ci-dot``, ``reliability-*`` in dashboards.css).
"""

from __future__ import annotations

from typing import Any

from django.utils.safestring import SafeString

from reviewapp.presentation.charts import (
    esc,
    format_value,
    hbar_chart,
    svg_close,
    svg_empty,
    svg_open,
)
from reviewapp.selectors.calibration import Band, Calibration
from reviewapp.selectors.health import AccuracyReport, AccuracyRow, DriftReport

DASH = "\u2013"
NO_DECISIONS = "No decisions in this period"
MAX_FEATURES_CHARTED = 15
TICKS = (0, 0.25, 0.5, 0.75, 1.0)


def pct(value: float | None) -> str:
    """A rate as the page prints it (a dash when there is none)."""
    return format_value(value, "percent") if value is not None else DASH


# --- charts --------------------------------------------------------------------------------


def accuracy_ci_chart(rows: list[AccuracyRow], *, width: int = 560) -> SafeString:
    """Live accuracy per group as a dot with its 95% Wilson interval as a whisker (0..100%)."""
    rows = [r for r in rows if r.decided]
    label = "Live accuracy per model version with 95% confidence intervals"
    if not rows:
        return svg_empty("ci", width, 80, label, NO_DECISIONS)
    row_h, left, right, top = 30, 110, width - 20, 24
    height = top + row_h * len(rows) + 8
    plot_w = right - left

    def x_of(v: float) -> float:
        return left + plot_w * v

    out = [svg_open("ci", width, height, label)]
    for tick in TICKS:
        x = x_of(tick)
        out.append(
            f'<line class="chart-grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" '
            f'y2="{height - 6}"/><text class="chart-tick" x="{x:.1f}" y="{top - 10}" '
            f'text-anchor="middle">{tick:.0%}</text>'
        )
    for i, row in enumerate(rows):
        y = top + row_h * i + row_h / 2
        low, high = row.interval
        title = esc(
            f"{row.key}: {row.accuracy:.1%} of {row.decided} (95% CI {low:.1%} to {high:.1%})"
        )
        out.append(
            f'<text class="chart-tick" x="{left - 10}" y="{y + 4:.1f}" text-anchor="end">'
            f"{esc(row.key)}</text>"
            f'<line class="ci-whisker" x1="{x_of(low):.1f}" x2="{x_of(high):.1f}" '
            f'y1="{y:.1f}" y2="{y:.1f}"><title>{title}</title></line>'
            f'<line class="ci-cap" x1="{x_of(low):.1f}" x2="{x_of(low):.1f}" '
            f'y1="{y - 6:.1f}" y2="{y + 6:.1f}"/>'
            f'<line class="ci-cap" x1="{x_of(high):.1f}" x2="{x_of(high):.1f}" '
            f'y1="{y - 6:.1f}" y2="{y + 6:.1f}"/>'
            f'<circle class="ci-dot" cx="{x_of(row.accuracy or 0):.1f}" cy="{y:.1f}" r="5">'
            f"<title>{title}</title></circle>"
        )
    return svg_close(out)


def reliability_chart(curve: list[Band], *, size: int = 320) -> SafeString:
    """Accuracy against mean confidence per band, with the diagonal of perfect calibration;
    dot area follows the number of decided cases."""
    label = "Reliability curve: accuracy by confidence band"
    points = [b for b in curve if b.decided]
    if not points:
        return svg_empty("reliability", size + 60, size + 50, label, NO_DECISIONS)
    left, top, plot = 46, 12, size
    width, height = left + plot + 16, top + plot + 40

    def x_of(v: float) -> float:
        return left + plot * v

    def y_of(v: float) -> float:
        return top + plot * (1 - v)

    out = [svg_open("reliability", width, height, label)]
    out.extend(
        f'<line class="chart-grid" x1="{left}" x2="{left + plot}" y1="{y_of(tick):.1f}" '
        f'y2="{y_of(tick):.1f}"/><text class="chart-tick" x="{left - 6}" '
        f'y="{y_of(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>'
        f'<text class="chart-tick" x="{x_of(tick):.1f}" y="{top + plot + 16}" '
        f'text-anchor="middle">{tick:.2f}</text>'
        for tick in TICKS
    )
    out.append(
        f'<line class="reliability-ideal" x1="{x_of(0):.1f}" y1="{y_of(0):.1f}" '
        f'x2="{x_of(1):.1f}" y2="{y_of(1):.1f}"><title>Perfect calibration</title></line>'
        f'<text class="chart-tick" x="{left + plot / 2:.1f}" y="{top + plot + 34}" '
        'text-anchor="middle">model confidence</text>'
    )
    biggest = max(b.decided for b in points)
    path = []
    dots = []
    for band in points:
        x, y = x_of(band.mean_confidence or 0), y_of(band.accuracy or 0)
        path.append(f"{'M' if not path else 'L'}{x:.1f} {y:.1f}")
        radius = 3 + 7 * (band.decided / biggest) ** 0.5
        title = esc(
            f"confidence {band.label}: accuracy {band.accuracy:.1%} of {band.decided} decided "
            f"(mean confidence {band.mean_confidence:.2f})"
        )
        dots.append(
            f'<circle class="reliability-dot" cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}">'
            f"<title>{title}</title></circle>"
        )
    out.append(f'<path class="reliability-line" d="{" ".join(path)}" fill="none"/>')
    out.extend(dots)
    return svg_close(out)


def drift_chart(drift: DriftReport) -> SafeString:
    """PSI of the most drifted input features (at most MAX_FEATURES_CHARTED) as bars."""
    return hbar_chart(
        [(f.name, round(f.psi, 4)) for f in drift.features if f.psi is not None][
            :MAX_FEATURES_CHARTED
        ],
        y_format="decimal",
        label="PSI per input feature",
        series_index=3,
        width=560,
    )


# --- tables --------------------------------------------------------------------------------


def accuracy_rows(rows: list[AccuracyRow]) -> list[dict[str, Any]]:
    """Accuracy table rows: counts, the rate and its 95% interval as text."""
    return [
        {
            "key": r.key,
            "decided": r.decided,
            "correct": r.correct,
            "accuracy": pct(r.accuracy),
            "ci": f"{r.ci_low:.1%} to {r.ci_high:.1%}" if r.decided else DASH,
        }
        for r in rows
    ]


def what_if_rows(calibration: Calibration) -> list[dict[str, Any]]:
    """The what-if grid: per candidate threshold the share and hours sent to people and the
    auto-approved error rate, with the current and recommended thresholds marked."""
    current = calibration.current_threshold
    recommended = calibration.recommended
    return [
        {
            "threshold": f"{row.threshold:.2f}",
            "value": row.threshold,
            "share": pct(row.share_to_people),
            "to_people": f"{row.to_people:,.0f}",
            "hours": f"{row.reviewer_hours:,.1f}" if row.reviewer_hours is not None else DASH,
            "error": pct(row.error_rate),
            "sample": row.sample_size,
            "errors": row.errors_in_sample,
            "enough": row.enough_data,
            "meets": row.meets_target,
            "is_current": current is not None and abs(row.threshold - current) < 1e-9,
            "is_recommended": recommended is not None and row.threshold == recommended.threshold,
        }
        for row in calibration.what_if
    ]


def curve_rows(curve: list[Band]) -> list[dict[str, Any]]:
    """The reliability curve as table rows."""
    return [
        {
            "label": b.label,
            "decided": b.decided,
            "received": b.received,
            "accuracy": pct(b.accuracy),
            "mean_confidence": f"{b.mean_confidence:.2f}" if b.decided else DASH,
        }
        for b in curve
    ]


def health_figures(
    *, accuracy: AccuracyReport, drift: DriftReport, calibration: Calibration
) -> dict[str, Any]:
    """Everything the page draws from the three reports (charts, table rows, texts)."""
    recommended = calibration.recommended
    return {
        "overall_accuracy": pct(accuracy.overall.accuracy),
        "overall_ci": accuracy_rows([accuracy.overall])[0]["ci"],
        "version_rows": accuracy_rows(accuracy.by_version),
        "label_rows": accuracy_rows(accuracy.by_label),
        "accuracy_chart": accuracy_ci_chart(accuracy.by_version),
        "label_chart": accuracy_ci_chart(accuracy.by_label),
        "features_chart": drift_chart(drift),
        "what_if": what_if_rows(calibration),
        "reliability_chart": reliability_chart(calibration.curve),
        "curve_rows": curve_rows(calibration.curve),
        "recommended": recommended,
        "recommended_error": pct(recommended.error_rate) if recommended else DASH,
        "median_time_s": calibration.median_time_ms / 1000
        if calibration.median_time_ms is not None
        else None,
    }
