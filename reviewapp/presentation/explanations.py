"""Shaping a case's explanation and scores for the reviewer's page: pure functions, no queries.

An explanation is the submitted ``{"method", "base_value", "contributions", "summary"}`` object;
each contribution is ``{"feature", "value", "weight"}`` where a positive weight pushes the
prediction toward the recommended label and a negative weight pushes away from it.
"""

import json
import math
from dataclasses import dataclass
from typing import Any

TOP_FACTORS = 10
MAX_TEXT = 36
MAX_LABEL = 36

# Chart geometry. The chart is drawn without a viewBox so that its text keeps the page's font
# size at any width (a scaled-down SVG shrank it to a few pixels on phones). Each factor is a
# row that stacks its "feature = value" text (left) and signed weight (right) over its bar;
# horizontal positions are percentages of the chart's width, vertical ones pixels.
CHART_WIDTH = 100  # percent of the container
BARS_LEFT = 0  # percent
BARS_RIGHT = 100  # percent
LABEL_LEFT = 0  # percent: "feature = value" text starts here
VALUE_RIGHT = 100  # percent: signed weight text is right-aligned here
ROW_HEIGHT = 42  # px: text line, then the bar
TEXT_BASELINE = 15  # px below the row's top
BAR_TOP = 21  # px below the row's top
BAR_HEIGHT = 14
TOP_MARGIN = 2
BOTTOM_MARGIN = 4


def value_text(value: Any, *, limit: int = MAX_TEXT) -> str:
    """A feature value as a reader expects it: ``3``, ``1200.5``, ``DE``, ``true``, ``missing``."""
    if value is None:
        text = "missing"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            text = str(value)
        elif value.is_integer() and abs(value) < 1e15:
            text = str(int(value))
        elif abs(value) >= 1e-4:
            text = f"{value:.4f}".rstrip("0").rstrip(".")
        else:
            text = f"{value:.3g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def weight_text(weight: float) -> str:
    """A signed contribution: ``+0.31``, ``-0.05``, ``+0.004`` (small weights keep a digit)."""
    if weight == 0:
        return "0.00"
    if abs(weight) >= 0.005:
        return f"{weight:+.2f}"
    return f"{weight:+.2g}"


@dataclass(frozen=True)
class Factor:
    """One signed contribution, ready to show."""

    feature: str
    value: Any
    weight: float

    @property
    def pushes_toward(self) -> bool:
        return self.weight > 0

    @property
    def value_text(self) -> str:
        return value_text(self.value)

    @property
    def weight_text(self) -> str:
        return weight_text(self.weight)

    @property
    def text(self) -> str:
        """``account_age_days = 3``."""
        return f"{self.feature} = {self.value_text}"

    @property
    def short_text(self) -> str:
        """``text`` cut to fit the chart's label column."""
        text = self.text
        return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def explanation_factors(explanation: dict | None, *, data: dict | None = None) -> list[Factor]:
    """The contributions sorted by strength (|weight| descending, then feature name). A
    contribution without a ``value`` takes the feature's value from the case input."""
    if not isinstance(explanation, dict):
        return []
    data = data if isinstance(data, dict) else {}
    factors = []
    for item in explanation.get("contributions") or []:
        if not isinstance(item, dict) or not isinstance(item.get("feature"), str):
            continue
        weight = item.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            continue
        if not math.isfinite(weight):
            continue
        feature = item["feature"]
        value = item["value"] if "value" in item else data.get(feature)
        factors.append(Factor(feature=feature, value=value, weight=float(weight)))
    factors.sort(key=lambda f: (-abs(f.weight), f.feature))
    return factors


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def explanation_sentence(
    factors: list[Factor], *, label: str = "", max_named: int = 3, coverage: float = 0.75
) -> str:
    """One sentence in words: "Mostly because account_age_days = 3 (+0.31) and amount = 1200.5
    (+0.12)." Names the strongest factors pushing toward the label until they cover
    ``coverage`` of the total push (at most ``max_named``), and the strongest push away when it
    matters (at least a tenth of the push toward)."""
    toward = sorted((f for f in factors if f.weight > 0), key=lambda f: -f.weight)
    away = sorted((f for f in factors if f.weight < 0), key=lambda f: f.weight)
    if not toward and not away:
        return ""
    if not toward:
        target = f" toward {label}" if label else ""
        return (
            f"No factor pushes{target}; the strongest push away is "
            f"{away[0].text} ({away[0].weight_text})."
        )
    total = sum(f.weight for f in toward)
    named: list[Factor] = []
    for factor in toward:
        named.append(factor)
        if len(named) >= max_named or sum(f.weight for f in named) >= coverage * total:
            break
    sentence = "Mostly because " + _join([f"{f.text} ({f.weight_text})" for f in named])
    if away and abs(away[0].weight) >= 0.1 * total:
        sentence += f", despite {away[0].text} ({away[0].weight_text})"
    return sentence + "."


@dataclass(frozen=True)
class ChartBar:
    """One bar of the contribution chart, with its SVG geometry."""

    factor: Factor
    row_y: float
    bar_x: float
    bar_y: float
    bar_width: float
    text_y: float

    @property
    def axis_y1(self) -> float:
        """Top of this row's piece of the zero axis (the axis stays clear of the text)."""
        return self.bar_y - 3

    @property
    def axis_y2(self) -> float:
        return self.bar_y + BAR_HEIGHT + 3

    @property
    def css_class(self) -> str:
        return "xbar-pos" if self.factor.pushes_toward else "xbar-neg"


@dataclass(frozen=True)
class ExplanationChart:
    """The data behind the server-rendered SVG bar chart of an explanation."""

    bars: list[ChartBar]
    hidden_count: int
    hidden_weight: float
    width: int
    height: int
    axis_x: float
    label_left: int
    value_right: int

    @property
    def is_empty(self) -> bool:
        return not self.bars

    @property
    def hidden_weight_text(self) -> str:
        return weight_text(self.hidden_weight)


def explanation_chart(factors: list[Factor], *, top: int = TOP_FACTORS) -> ExplanationChart:
    """The ``top`` strongest factors as horizontal bars around a zero axis: positive weights
    extend right of the axis, negative ones left, lengths proportional to |weight|. The axis
    sits where the largest push each way fits the bar area exactly."""
    shown = factors[:top]
    hidden = factors[top:]
    max_pos = max((f.weight for f in shown if f.weight > 0), default=0.0)
    max_neg = max((-f.weight for f in shown if f.weight < 0), default=0.0)
    span = max_pos + max_neg
    area = BARS_RIGHT - BARS_LEFT
    if span <= 0:
        axis_x = float(BARS_LEFT)
        scale = 0.0
    else:
        axis_x = BARS_LEFT + area * (max_neg / span)
        scale = area / span
    bars = []
    for i, factor in enumerate(shown):
        row_y = TOP_MARGIN + i * ROW_HEIGHT
        length = abs(factor.weight) * scale
        # A visible sliver (1.5% of the width) for tiny non-zero weights, so every listed
        # factor has a bar.
        if factor.weight != 0:
            length = max(length, 1.5)
        bar_x = axis_x if factor.weight >= 0 else axis_x - length
        bars.append(
            ChartBar(
                factor=factor,
                row_y=row_y,
                bar_x=round(bar_x, 2),
                bar_y=row_y + BAR_TOP,
                bar_width=round(length, 2),
                text_y=row_y + TEXT_BASELINE,
            )
        )
    height = TOP_MARGIN + len(shown) * ROW_HEIGHT + BOTTOM_MARGIN
    return ExplanationChart(
        bars=bars,
        hidden_count=len(hidden),
        hidden_weight=sum(f.weight for f in hidden),
        width=CHART_WIDTH,
        height=height,
        axis_x=round(axis_x, 2),
        label_left=LABEL_LEFT,
        value_right=VALUE_RIGHT,
    )


@dataclass(frozen=True)
class ExplanationView:
    """Everything the page shows about why the model said what it said."""

    factors: list[Factor]
    chart: ExplanationChart
    sentence: str
    base_value: float | None
    summary: str
    method: str

    @property
    def contributions_total(self) -> float:
        return sum(f.weight for f in self.factors)

    @property
    def contributions_total_text(self) -> str:
        return weight_text(self.contributions_total)

    @property
    def base_value_text(self) -> str:
        return "" if self.base_value is None else value_text(self.base_value)


def explanation_view(
    explanation: dict | None, *, label: str, data: dict | None = None, top: int = TOP_FACTORS
) -> ExplanationView | None:
    """The explanation ready for the page, or None when the model sent none."""
    if not isinstance(explanation, dict):
        return None
    factors = explanation_factors(explanation, data=data)
    base = explanation.get("base_value")
    summary = explanation.get("summary")
    method = explanation.get("method")
    if not factors and not summary:
        return None
    return ExplanationView(
        factors=factors,
        chart=explanation_chart(factors, top=top),
        sentence=explanation_sentence(factors, label=label),
        base_value=float(base)
        if isinstance(base, int | float) and not isinstance(base, bool)
        else None,
        summary=summary if isinstance(summary, str) else "",
        method=method if isinstance(method, str) else "",
    )


@dataclass(frozen=True)
class ScoreRow:
    label: str
    score: float
    is_predicted: bool

    @property
    def percent_text(self) -> str:
        return f"{self.score:.0%}" if self.score >= 0.01 or self.score == 0 else f"{self.score:.1%}"

    @property
    def bar_width(self) -> float:
        """Width out of 100 for a small SVG bar."""
        return round(max(0.0, min(1.0, self.score)) * 100, 2)


def score_rows(scores: dict | None, *, predicted_label: str) -> list[ScoreRow]:
    """Per-label scores, highest first (numbers only; anything else is skipped)."""
    if not isinstance(scores, dict):
        return []
    rows = [
        ScoreRow(label=str(label), score=float(score), is_predicted=label == predicted_label)
        for label, score in scores.items()
        if isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)
    ]
    rows.sort(key=lambda r: (-r.score, r.label))
    return rows


@dataclass(frozen=True)
class InputRow:
    """One feature of the case input, with its contribution when the explanation has one."""

    feature: str
    value: Any
    factor: Factor | None

    @property
    def value_text(self) -> str:
        return value_text(self.value, limit=200)


def input_rows(data: dict | None, factors: list[Factor]) -> list[InputRow]:
    """The case input as table rows, in the submitted order."""
    if not isinstance(data, dict):
        return []
    by_feature = {f.feature: f for f in factors}
    return [InputRow(feature=str(k), value=v, factor=by_feature.get(k)) for k, v in data.items()]
