"""Server-side SVG charts: pure functions that return a ``SafeString`` of inline ``<svg>``
markup, so pages need no JavaScript and no chart library. The generic charts live here; the
model-health page's own charts (``presentation.health``) are drawn with the same primitives
(``svg_open``, ``svg_empty``, ``svg_close``, ``esc``).

The CSP forbids inline ``style`` attributes, so the markup carries only SVG presentation
attributes (``width``, ``height``, ``viewBox``, ``x``, ``y``, ``d``, ``text-anchor``) and CSS
classes. Colours, strokes and fonts come from ``static/reviewapp/css/dashboards.css``:

==========================  ====================================================
class                       what it marks
==========================  ====================================================
``chart``                   the ``<svg>`` root (plus ``chart-line`` / ``chart-bar`` /
                            ``chart-hbar`` / ``chart-stacked`` for the kind)
``chart-grid``              horizontal grid lines
``chart-axis``              the x axis base line
``chart-tick``              tick label text (y values, x labels)
``chart-line series-N``     the ``<path>`` of line series N (N = 0, 1, ...)
``chart-dot series-N``      a point marker of series N (each carries a ``<title>``)
``chart-bar series-N``      a bar (vertical, horizontal or stack segment) of series N
``chart-value``             the value printed at the end of a horizontal bar
``chart-legend``            the legend group; ``chart-swatch series-N`` its colour keys
``chart-empty``             the "No data" text when there is nothing to draw
==========================  ====================================================

Series colours are assigned by index (``series-0`` … ``series-7``; more wrap around), so a
chart's legend and its marks always agree. Every mark has a ``<title>`` child with the exact
value, which browsers show as a tooltip and screen readers read; the root has
``role="img"`` and an ``aria-label``.

``y_format`` is one of ``"number"`` (1,234), ``"percent"`` (values in 0..1 shown as 73%),
``"duration"`` (seconds shown as 45s / 12m / 3.4h) or ``"decimal"`` (0.42).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number = float | int
SERIES_COLOURS = 8

__all__ = [
    "bar_chart",
    "esc",
    "format_value",
    "hbar_chart",
    "line_chart",
    "stacked_bar_chart",
    "svg_close",
    "svg_empty",
    "svg_open",
]


def format_value(value: Number | None, y_format: str = "number") -> str:
    """A value as the charts print it (also useful in tables next to a chart)."""
    if value is None:
        return "\u2013"
    if y_format == "percent":
        pct = value * 100
        return f"{pct:.0f}%" if abs(pct) >= 10 or pct == 0 else f"{pct:.1f}%"
    if y_format == "duration":
        seconds = float(value)
        if seconds == 0:
            return "0s"
        if seconds < 60:
            return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
        if seconds < 3600:
            return f"{seconds / 60:.0f}m" if seconds >= 600 else f"{seconds / 60:.1f}m"
        if seconds < 86400:
            return f"{seconds / 3600:.1f}h"
        return f"{seconds / 86400:.1f}d"
    if y_format == "decimal":
        return f"{value:.2f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


_DURATION_STEPS_S = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)


def _nice_ticks(value: float, y_format: str, intervals: int = 4) -> list[float]:
    """Round tick values from 0 up to at least ``value``: 0-100% in quarters for rates,
    whole numbers for counts, round units (30s, 5m, 1h...) for durations."""
    if y_format == "percent":
        top = 1.0 if value > 0.5 or value <= 0 else math.ceil(value * 10 + 1e-9) / 10
        return [top * i / intervals for i in range(intervals + 1)]
    if value <= 0:
        return [0.0, 1.0]
    raw = value / intervals
    if y_format == "duration":
        step = next((s for s in _DURATION_STEPS_S if s >= raw), None)
        if step is None:
            step = math.ceil(raw / 604800) * 604800
    else:
        exponent = math.floor(math.log10(raw))
        base = 10.0**exponent
        step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw - 1e-12)
        if y_format == "number" and step < 1:
            step = 1.0
        if y_format == "number" and not float(step).is_integer():
            step = math.ceil(step)
    n = max(1, math.ceil(value / step - 1e-9))
    return [step * i for i in range(n + 1)]


def esc(text: object) -> str:
    """Text made safe for SVG markup (a chart's labels and titles)."""
    return str(escape(str(text)))


def _num(x: float) -> str:
    """Coordinates with at most one decimal, no trailing zeros."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def svg_open(kind: str, width: int, height: int, label: str) -> str:
    """The opening <svg> tag of a chart, with its accessible label and title."""
    return (
        f'<svg class="chart chart-{kind}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet" role="img" aria-label="{esc(label)}">'
        f"<title>{esc(label)}</title>"
    )


def svg_close(parts: Sequence[str]) -> SafeString:
    """A chart's markup from its parts (the first one from ``svg_open``), closed."""
    return mark_safe("".join(parts) + "</svg>")


def svg_empty(
    kind: str, width: int, height: int, label: str, message: str = "No data for this period"
) -> SafeString:
    """A chart with no data: the frame and MESSAGE in its middle."""
    return mark_safe(
        svg_open(kind, width, height, label)
        + f'<text class="chart-empty" x="{width / 2:.0f}" y="{height / 2:.0f}" '
        f'text-anchor="middle">{esc(message)}</text></svg>'
    )


def _legend(names: Sequence[str], x: float, y: float, width: float, first: int = 0) -> str:
    """One row of colour keys with names, wrapping when it runs out of room."""
    parts = ['<g class="chart-legend">']
    cx, cy = x, y
    for i, name in enumerate(names):
        # Room for the text at the phone-size font too (dashboards.css enlarges it there).
        item_w = 18 + 9.5 * len(str(name)) + 14
        if cx + item_w > x + width and cx > x:
            cx, cy = x, cy + 16
        parts.append(
            f'<rect class="chart-swatch series-{(first + i) % SERIES_COLOURS}" x="{_num(cx)}" '
            f'y="{_num(cy - 9)}" width="12" height="10" rx="2"/>'
            f'<text class="chart-tick" x="{_num(cx + 16)}" y="{_num(cy)}">{esc(name)}</text>'
        )
        cx += item_w
    parts.append("</g>")
    return "".join(parts)


def _x_label_step(n: int, plot_w: float, label_w: float = 48) -> int:
    """Show every k-th x label so that they do not overlap."""
    if n <= 1:
        return 1
    fits = max(1, int(plot_w // label_w))
    return max(1, math.ceil(n / fits))


def _y_axis(ticks: list[float], y_format: str, left: float, right: float, y_of) -> str:
    parts = []
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line class="chart-grid" x1="{_num(left)}" x2="{_num(right)}" '
            f'y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<text class="chart-tick" x="{_num(left - 6)}" y="{_num(y + 4)}" '
            f'text-anchor="end">{esc(format_value(tick, y_format))}</text>'
        )
    return "".join(parts)


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[str, Number | None]]]],
    *,
    y_format: str = "number",
    height: int = 220,
    width: int = 640,
    y_max: float | None = None,
    label: str = "Line chart",
) -> SafeString:
    """Lines over shared x labels (the first series' x labels set the axis). A ``None`` value
    leaves a gap in its line. ``y_max`` fixes the top of the y axis (else a round bound)."""
    x_labels = [x for x, _ in series[0][1]] if series else []
    values = [v for _, points in series for _, v in points if v is not None]
    if not x_labels or not values:
        return svg_empty("line", width, height, label)
    legend_h = 22 if len(series) > 1 else 0
    left, right, top_pad, bottom = 52, width - 24, 10 + legend_h, height - 26
    ticks = _nice_ticks(y_max if y_max is not None else max(values), y_format)
    top = ticks[-1] or 1.0
    n = len(x_labels)
    plot_w = right - left

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return bottom - (bottom - top_pad) * min(max(v, 0.0), top) / top

    out = [svg_open("line", width, height, label)]
    if legend_h:
        out.append(_legend([name for name, _ in series], left, 14, plot_w))
    out.append(_y_axis(ticks, y_format, left, right, y_of))
    out.append(f'<line class="chart-axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    step = _x_label_step(n, plot_w)
    slot_px = plot_w / (n - 1) if n > 1 else plot_w
    for i, x_label in enumerate(x_labels):
        if i % step == 0 or (i == n - 1 and (n - 1) % step * slot_px >= 48):
            out.append(
                f'<text class="chart-tick" x="{_num(x_of(i))}" y="{bottom + 16}" '
                f'text-anchor="middle">{esc(x_label)}</text>'
            )
    for s_index, (name, points) in enumerate(series):
        css = f"series-{s_index % SERIES_COLOURS}"
        segments: list[str] = []
        pen_down = False
        dots: list[str] = []
        for i, (x_label, v) in enumerate(points[:n]):
            if v is None:
                pen_down = False
                continue
            x, y = x_of(i), y_of(v)
            segments.append(f"{'L' if pen_down else 'M'}{_num(x)} {_num(y)}")
            pen_down = True
            dots.append(
                f'<circle class="chart-dot {css}" cx="{_num(x)}" cy="{_num(y)}" r="2.5">'
                f"<title>{esc(name)} · {esc(x_label)}: {esc(format_value(v, y_format))}"
                "</title></circle>"
            )
        if segments:
            out.append(
                f'<path class="chart-line {css}" d="{" ".join(segments)}" fill="none">'
                f"<title>{esc(name)}</title></path>"
            )
        if n <= 120:
            out.extend(dots)
    out.append("</svg>")
    return mark_safe("".join(out))


def bar_chart(
    rows: Sequence[tuple[str, Number | None]],
    *,
    y_format: str = "number",
    height: int = 220,
    width: int = 640,
    y_max: float | None = None,
    label: str = "Bar chart",
    series_index: int = 0,
) -> SafeString:
    """Vertical bars, one per (x label, value); ``None`` draws no bar."""
    return stacked_bar_chart(
        [x for x, _ in rows],
        [("", [v for _, v in rows])],
        y_format=y_format,
        height=height,
        width=width,
        y_max=y_max,
        label=label,
        first_series=series_index,
    )


def stacked_bar_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number | None]]],
    *,
    y_format: str = "number",
    height: int = 220,
    width: int = 640,
    y_max: float | None = None,
    label: str = "Stacked bar chart",
    first_series: int = 0,
) -> SafeString:
    """Vertical bars stacked from several series (for example auto-approved under sent to
    people per day). Series names label the legend; a single unnamed series has none."""
    n = len(x_labels)
    totals = [sum((s[1][i] or 0) for s in series if i < len(s[1])) for i in range(n)]
    kind = "stacked" if len(series) > 1 else "bar"
    if not n or not any(totals):
        return svg_empty(kind, width, height, label)
    named = [name for name, _ in series if name]
    legend_h = 22 if named else 0
    left, right, top_pad, bottom = 52, width - 12, 10 + legend_h, height - 26
    ticks = _nice_ticks(y_max if y_max is not None else max(totals), y_format)
    top = ticks[-1] or 1.0
    plot_w = right - left
    slot = plot_w / n
    bar_w = max(1.0, slot * (0.72 if n > 3 else 0.5))

    def y_of(v: float) -> float:
        return bottom - (bottom - top_pad) * min(max(v, 0.0), top) / top

    out = [svg_open(kind, width, height, label)]
    if legend_h:
        out.append(_legend(named, left, 14, plot_w, first_series))
    out.append(_y_axis(ticks, y_format, left, right, y_of))
    out.append(f'<line class="chart-axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    step = _x_label_step(n, plot_w)
    for i, x_label in enumerate(x_labels):
        cx = left + slot * (i + 0.5)
        if i % step == 0:
            out.append(
                f'<text class="chart-tick" x="{_num(cx)}" y="{bottom + 16}" '
                f'text-anchor="middle">{esc(x_label)}</text>'
            )
        base = 0.0
        for s_index, (name, values) in enumerate(series):
            v = values[i] if i < len(values) else None
            if not v:
                continue
            y0, y1 = y_of(base), y_of(base + v)
            base += v
            css = f"series-{(first_series + s_index) % SERIES_COLOURS}"
            title = f"{name + ' · ' if name else ''}{x_label}: {format_value(v, y_format)}"
            out.append(
                f'<rect class="chart-bar {css}" x="{_num(cx - bar_w / 2)}" y="{_num(y1)}" '
                f'width="{_num(bar_w)}" height="{_num(max(0.5, y0 - y1))}">'
                f"<title>{esc(title)}</title></rect>"
            )
    out.append("</svg>")
    return mark_safe("".join(out))


def hbar_chart(
    rows: Sequence[tuple[str, Number | None]],
    *,
    y_format: str = "number",
    width: int = 640,
    bar_height: int = 22,
    label: str = "Bar chart",
    series_index: int = 0,
    label_width: int = 150,
) -> SafeString:
    """Horizontal bars, one row per (label, value), value printed at the bar's end; the
    height follows the number of rows. Good for categories with long names (override
    reasons, labels)."""
    rows = [(name, v) for name, v in rows]
    if not rows or not any(v for _, v in rows):
        return svg_empty("hbar", width, 60, label)
    gap = 6
    height = len(rows) * (bar_height + gap) + gap
    left, right = label_width, width - 60
    top = max(v or 0 for _, v in rows) or 1
    css = f"series-{series_index % SERIES_COLOURS}"
    out = [svg_open("hbar", width, height, label)]
    for i, (name, v) in enumerate(rows):
        y = gap + i * (bar_height + gap)
        text = str(name)
        short = text if len(text) <= label_width // 7 else text[: label_width // 7 - 1] + "…"
        out.append(
            f'<text class="chart-tick" x="{left - 8}" y="{_num(y + bar_height * 0.68)}" '
            f'text-anchor="end">{esc(short)}<title>{esc(text)}</title></text>'
        )
        w = (right - left) * (v or 0) / top
        if v:
            out.append(
                f'<rect class="chart-bar {css}" x="{left}" y="{y}" width="{_num(max(1.0, w))}" '
                f'height="{bar_height}" rx="2"><title>{esc(text)}: '
                f"{esc(format_value(v, y_format))}</title></rect>"
            )
        out.append(
            f'<text class="chart-value" x="{_num(left + w + 6)}" '
            f'y="{_num(y + bar_height * 0.68)}">{esc(format_value(v, y_format))}</text>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))
