"""The model-health page's charts and table rows, drawn from hand-built reports (no queries)."""

from django.utils.safestring import SafeString

from reviewapp.presentation.health import (
    DASH,
    NO_DECISIONS,
    accuracy_ci_chart,
    accuracy_rows,
    curve_rows,
    reliability_chart,
)
from reviewapp.selectors.calibration import Band
from reviewapp.selectors.health import AccuracyRow


def test_accuracy_chart_draws_one_whisker_per_decided_group():
    """Groups without decisions are left out; each decided group has a dot and a whisker."""
    rows = [
        AccuracyRow(key="2.3.0", decided=40, correct=30),
        AccuracyRow(key="2.4.0", decided=0, correct=0),
        AccuracyRow(key="<b>3.0</b>", decided=10, correct=9),
    ]
    svg = accuracy_ci_chart(rows)
    assert isinstance(svg, SafeString)
    assert svg.startswith('<svg class="chart chart-ci"')
    assert svg.endswith("</svg>")
    assert svg.count('class="ci-dot"') == 2
    assert svg.count('class="ci-whisker"') == 2
    assert "2.4.0" not in svg
    assert "<b>" not in svg
    assert "&lt;b&gt;3.0&lt;/b&gt;" in svg
    assert "2.3.0: 75.0% of 40" in svg
    assert "style=" not in svg


def test_accuracy_chart_without_decisions_says_so():
    """No decided group: the empty frame with its message."""
    svg = accuracy_ci_chart([AccuracyRow(key="2.3.0")])
    assert 'class="chart-empty"' in svg
    assert NO_DECISIONS in svg


def test_reliability_chart_has_diagonal_and_dot_per_decided_band():
    """The curve joins the decided bands; the ideal diagonal is always drawn."""
    bands = [
        Band(index=5, low=0.5, high=0.6, received=20, decided=10, correct=6, confidence_sum=5.5),
        Band(index=6, low=0.6, high=0.7, received=5, decided=0),
        Band(index=9, low=0.9, high=1.0, received=40, decided=30, correct=29, confidence_sum=28),
    ]
    svg = reliability_chart(bands)
    assert svg.count('class="reliability-dot"') == 2
    assert 'class="reliability-ideal"' in svg
    path = svg.split('class="reliability-line" d="')[1].split('"')[0]
    assert path.startswith("M")
    assert path.count("L") == 1
    assert "confidence 0.50 to 0.60: accuracy 60.0% of 10 decided" in svg
    assert NO_DECISIONS in reliability_chart(bands[1:2])


def test_accuracy_rows_print_rate_and_interval_or_a_dash():
    """A decided group shows its rate and 95% interval; an empty one shows dashes."""
    rows = accuracy_rows([AccuracyRow(key="all", decided=100, correct=90), AccuracyRow(key="x")])
    assert rows[0]["accuracy"] == "90%"
    low, high = rows[0]["ci"].split(" to ")
    assert float(low.rstrip("%")) < 90 < float(high.rstrip("%"))
    assert rows[1]["accuracy"] == DASH
    assert rows[1]["ci"] == DASH


def test_curve_rows_show_mean_confidence_only_when_decided():
    """Mean confidence is printed with two decimals for decided bands, a dash otherwise."""
    rows = curve_rows(
        [
            Band(index=8, low=0.8, high=0.9, received=3, decided=2, correct=2, confidence_sum=1.7),
            Band(index=9, low=0.9, high=1.0, received=1),
        ]
    )
    assert rows[0]["mean_confidence"] == "0.85"
    assert rows[0]["accuracy"] == "100%"
    assert rows[1]["mean_confidence"] == DASH
    assert rows[1]["label"] == "0.90 to 1.00"
