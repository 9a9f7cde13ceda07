"""Server-side SVG charts: safe markup, no inline styles, gaps and empty states."""

from django.utils.safestring import SafeString

from reviewapp.presentation.charts import (
    bar_chart,
    format_value,
    hbar_chart,
    line_chart,
    stacked_bar_chart,
)


def test_line_chart_is_safe_svg_with_series_classes():
    """A line chart is a SafeString <svg> with one path per series and escaped labels."""
    svg = line_chart(
        [("Accept <b>", [("d1", 0.5), ("d2", 0.7)]), ("Override", [("d1", 0.5), ("d2", 0.3)])],
        y_format="percent",
    )
    assert isinstance(svg, SafeString)
    assert svg.startswith("<svg")
    assert svg.count('class="chart-line series-0"') == 1
    assert svg.count('class="chart-line series-1"') == 1
    assert "<b>" not in svg
    assert "Accept &lt;b&gt;" in svg
    assert "style=" not in svg


def test_line_chart_breaks_at_missing_values():
    """A None value starts a new segment instead of drawing through zero."""
    svg = line_chart([("a", [("1", 1), ("2", None), ("3", 2)])])
    path = svg.split('d="')[1].split('"')[0]
    assert path.count("M") == 2
    assert "L" not in path


def test_empty_charts_say_no_data():
    """Charts without values say so instead of drawing empty axes."""
    for svg in (line_chart([]), bar_chart([]), hbar_chart([("x", 0)])):
        assert "No data for this period" in svg


def test_stacked_bars_have_one_rect_per_nonzero_segment():
    """Stacked bars draw one rectangle per non-zero value, with a tooltip title."""
    svg = stacked_bar_chart(["a", "b"], [("auto", [3, 0]), ("people", [1, 2])])
    assert svg.count('<rect class="chart-bar') == 3
    assert "<title>people · b: 2</title>" in svg


def test_hbar_prints_values():
    """Horizontal bars print each value at the bar's end."""
    svg = hbar_chart([("wrong_label", 12), ("policy", 3)])
    assert ">12</text>" in svg
    assert ">3</text>" in svg


def test_format_value():
    """Values print as counts, percentages and durations."""
    assert format_value(1234) == "1,234"
    assert format_value(0.731, "percent") == "73%"
    assert format_value(0.05, "percent") == "5.0%"
    assert format_value(45, "duration") == "45s"
    assert format_value(900, "duration") == "15m"
    assert format_value(7200, "duration") == "2.0h"
    assert format_value(None) == "\u2013"
