"""Shaping a case's explanation and scores for the reviewer's page: pure functions, no queries.

An explanation is the submitted ``{"method", "scale", "base_value", "contributions", "summary"}``
object; each contribution is ``{"feature", "value", "weight"}`` where a positive weight pushes the
prediction toward the recommended label and a negative weight pushes away from it.

``scale`` says what base value plus contributions add up to: ``"log_odds"`` (the logit of the
predicted label's score, as a linear model's SHAP values on the logit scale give),
``"probability"`` (the score itself) or ``"raw"`` (a model-specific score). Without it, a method
naming the logit scale (``"shap_logit"``, ``"linear_log_odds"``) counts as ``"log_odds"``.
``reconciliation`` checks the sum against the confidence on the page and words the result.
"""

import json
import math
from dataclasses import dataclass
from typing import Any

TOP_FACTORS = 10
SCALES = ("log_odds", "probability", "raw")
# How far (in probability) base + contributions may land from the shown score and still
# count as reproducing it: half a percentage point, the rounding of the percent on the page.
RECONCILE_TOLERANCE = 0.005
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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def explanation_scale(explanation: dict | None) -> str:
    """``"log_odds"``, ``"probability"`` or ``"raw"`` as the explanation states it (or as its
    method names it), else ``""``: unknown."""
    if not isinstance(explanation, dict):
        return ""
    scale = explanation.get("scale")
    if scale in SCALES:
        return scale
    method = explanation.get("method")
    method = method.lower().replace("-", "_") if isinstance(method, str) else ""
    if "logit" in method or "log_odds" in method or "logodds" in method:
        return "log_odds"
    if "probab" in method:
        return "probability"
    return ""


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def percent_text(p: float) -> str:
    """``0.634`` -> ``63%``; near the ends one decimal, and never 0% or 100% unless exact:
    ``0.004`` -> ``0.4%``, ``0.99998`` -> ``>99.9%``."""
    if 0.01 <= p <= 0.99 or p in (0.0, 1.0) or not 0.0 <= p <= 1.0:
        return f"{p:.0%}"
    if p > 0.999:
        return ">99.9%"
    if p < 0.001:
        return "<0.1%"
    return f"{p:.1%}"


def _plain(x: float) -> str:
    """A sum or base value: two decimals, more when it is tiny (``0.10``, ``-0.28``, ``0.004``)."""
    if x == 0 or abs(x) >= 0.005:
        return f"{x:.2f}"
    return f"{x:.2g}"


@dataclass(frozen=True)
class Reconciliation:
    """How base value plus contributions relate to the score the page shows for the label."""

    scale: str  # "log_odds" | "probability" | "raw" | "" (unknown)
    base_value: float | None
    total: float  # sum of all contributions
    confidence: float | None  # the predicted label's score on the page
    label: str

    @property
    def end(self) -> float:
        """Base value (0 when absent) plus the contributions."""
        return (self.base_value or 0.0) + self.total

    @property
    def probability(self) -> float | None:
        """The score the parts imply, when the scale says how to get one."""
        if self.scale == "log_odds":
            return _sigmoid(self.end)
        if self.scale == "probability":
            return self.end
        return None

    @property
    def reconciles(self) -> bool:
        p = self.probability
        return (
            p is not None
            and self.confidence is not None
            and abs(p - self.confidence) <= RECONCILE_TOLERANCE
        )

    @property
    def unit(self) -> str:
        """What a contribution is measured in, for the chart's caption."""
        return {
            "log_odds": "in log-odds",
            "probability": "in probability",
            "raw": "in raw score",
        }.get(self.scale, "scale not stated")

    @property
    def equation(self) -> str:
        """``base 0.10 + contributions +0.43 = 0.53 log-odds``."""
        unit = " log-odds" if self.scale == "log_odds" else ""
        parts = f"contributions {weight_text(self.total)}"
        if self.base_value is not None:
            parts = f"base {_plain(self.base_value)} + {parts}"
        return f"{parts} = {_plain(self.end)}{unit}"

    @property
    def sentence(self) -> str:
        """Either how the parts give the shown score, or plainly that they do not."""
        shown = "unknown" if self.confidence is None else percent_text(self.confidence)
        if self.reconciles:
            equation = self.equation[0].upper() + self.equation[1:]
            return f"{equation} → {shown}, the model's score for {self.label}."
        if self.scale == "log_odds":
            parts = f"{_plain(self.end)} log-odds ({percent_text(_sigmoid(self.end))})"
        elif self.scale == "probability":
            parts = (
                f"{_plain(self.end)} ({percent_text(self.end)})"
                if 0 <= self.end <= 1
                else _plain(self.end)
            )
        elif self.scale == "raw":
            parts = f"{_plain(self.end)} on the model's raw score scale, not a probability"
        else:
            parts = f"{_plain(self.end)} on a scale the model did not state"
        return (
            f"This explanation is approximate: its parts add up to {parts}, "
            f"the model's confidence in {self.label} is {shown}."
        )


def _label_score(label: str, *, confidence: Any, scores: Any) -> float | None:
    """The predicted label's score: from ``scores`` when it has one (multi-class), else the
    confidence."""
    if isinstance(scores, dict):
        score = _number(scores.get(label))
        if score is not None:
            return score
    return _number(confidence)


def reconciliation(
    explanation: dict | None,
    factors: list[Factor],
    *,
    label: str,
    confidence: float | None = None,
    scores: dict | None = None,
) -> Reconciliation | None:
    """Base value and contributions checked against the label's shown score; None when there
    are no contributions to add up."""
    if not isinstance(explanation, dict) or not factors:
        return None
    return Reconciliation(
        scale=explanation_scale(explanation),
        base_value=_number(explanation.get("base_value")),
        total=sum(f.weight for f in factors),
        confidence=_label_score(label, confidence=confidence, scores=scores),
        label=label,
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
    reconciliation: Reconciliation | None = None

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
    explanation: dict | None,
    *,
    label: str,
    data: dict | None = None,
    top: int = TOP_FACTORS,
    confidence: float | None = None,
    scores: dict | None = None,
) -> ExplanationView | None:
    """The explanation ready for the page, or None when the model sent none. ``confidence``
    and ``scores`` are the case's, for checking that the parts add up to the shown score."""
    if not isinstance(explanation, dict):
        return None
    factors = explanation_factors(explanation, data=data)
    summary = explanation.get("summary")
    method = explanation.get("method")
    if not factors and not summary:
        return None
    return ExplanationView(
        factors=factors,
        chart=explanation_chart(factors, top=top),
        sentence=explanation_sentence(factors, label=label),
        base_value=_number(explanation.get("base_value")),
        summary=summary if isinstance(summary, str) else "",
        method=method if isinstance(method, str) else "",
        reconciliation=reconciliation(
            explanation, factors, label=label, confidence=confidence, scores=scores
        ),
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
