"""Unit tests of the explanation shaping for the reviewer's page (pure functions)."""

from reviewapp.presentation.explanations import (
    BARS_LEFT,
    BARS_RIGHT,
    Factor,
    explanation_chart,
    explanation_factors,
    explanation_scale,
    explanation_sentence,
    explanation_view,
    percent_text,
    reconciliation,
    score_rows,
    value_text,
    weight_text,
)

EXAMPLE = {
    "method": "shap",
    "base_value": 0.1,
    "contributions": [
        {"feature": "amount", "value": 1200.5, "weight": 0.12},
        {"feature": "account_age_days", "value": 3, "weight": 0.31},
    ],
    "summary": "New account, large amount.",
}


def test_factors_are_sorted_by_absolute_weight():
    """The strongest contribution comes first whatever its sign."""
    factors = explanation_factors(
        {
            "contributions": [
                {"feature": "a", "value": 1, "weight": 0.05},
                {"feature": "b", "value": 2, "weight": -0.4},
                {"feature": "c", "value": 3, "weight": 0.2},
            ]
        }
    )
    assert [f.feature for f in factors] == ["b", "c", "a"]


def test_factor_without_value_takes_it_from_the_input():
    """A contribution that omits its value shows the case input's value."""
    factors = explanation_factors(
        {"contributions": [{"feature": "country", "weight": 0.2}]}, data={"country": "DE"}
    )
    assert factors[0].text == "country = DE"


def test_malformed_contributions_are_skipped():
    """Items without a feature name or a finite numeric weight are left out."""
    factors = explanation_factors(
        {
            "contributions": [
                {"feature": "ok", "value": 1, "weight": 0.1},
                {"feature": "bool", "value": 1, "weight": True},
                {"value": 1, "weight": 0.3},
                {"feature": "nan", "value": 1, "weight": float("nan")},
                "junk",
            ]
        }
    )
    assert [f.feature for f in factors] == ["ok"]


def test_no_explanation_gives_no_factors():
    """A case without an explanation has nothing to chart."""
    assert explanation_factors(None) == []
    assert explanation_view(None, label="fraud") is None


def test_sentence_matches_the_contract_example():
    """The sentence names the top factors with their signed weights."""
    factors = explanation_factors(EXAMPLE)
    assert explanation_sentence(factors) == (
        "Mostly because account_age_days = 3 (+0.31) and amount = 1200.5 (+0.12)."
    )


def test_sentence_stops_once_most_of_the_push_is_covered():
    """A dominant factor is named alone."""
    factors = [Factor("a", 1, 0.9), Factor("b", 2, 0.05), Factor("c", 3, 0.05)]
    assert explanation_sentence(factors) == "Mostly because a = 1 (+0.90)."


def test_sentence_names_at_most_three_factors():
    """Even with an even spread, the sentence stays short."""
    factors = [Factor(name, 1, 0.1) for name in "abcdef"]
    sentence = explanation_sentence(factors)
    assert sentence == "Mostly because a = 1 (+0.10), b = 1 (+0.10) and c = 1 (+0.10)."


def test_sentence_mentions_a_strong_push_away():
    """A factor pushing the other way is mentioned when it matters."""
    factors = explanation_factors(
        {
            "contributions": [
                {"feature": "age", "value": 3, "weight": 0.3},
                {"feature": "country", "value": "DE", "weight": -0.1},
            ]
        }
    )
    assert explanation_sentence(factors) == (
        "Mostly because age = 3 (+0.30), despite country = DE (-0.10)."
    )


def test_sentence_when_nothing_pushes_toward_the_label():
    """Only negative contributions still produce a sentence."""
    factors = [Factor("x", 1, -0.2)]
    assert explanation_sentence(factors, label="fraud") == (
        "No factor pushes toward fraud; the strongest push away is x = 1 (-0.20)."
    )
    assert explanation_sentence([]) == ""


def test_chart_positive_bars_start_at_the_axis_and_negative_end_there():
    """Bars diverge from the zero axis, lengths proportional to |weight|."""
    factors = [Factor("a", 1, 0.3), Factor("b", 2, -0.1)]
    chart = explanation_chart(factors)
    pos, neg = chart.bars
    area = BARS_RIGHT - BARS_LEFT
    assert chart.axis_x == round(BARS_LEFT + area * 0.1 / 0.4, 2)
    assert pos.bar_x == chart.axis_x
    assert round(pos.bar_x + pos.bar_width, 1) == BARS_RIGHT
    assert round(neg.bar_x + neg.bar_width, 2) == chart.axis_x
    assert neg.bar_x == BARS_LEFT
    assert pos.bar_width == round(3 * neg.bar_width, 2)
    assert (pos.css_class, neg.css_class) == ("xbar-pos", "xbar-neg")


def test_chart_keeps_the_top_factors_and_counts_the_rest():
    """Only the strongest factors get bars; the rest are summarised."""
    factors = explanation_factors(
        {"contributions": [{"feature": f"f{i}", "value": i, "weight": i / 100} for i in range(15)]}
    )
    chart = explanation_chart(factors, top=10)
    assert [b.factor.feature for b in chart.bars] == [f"f{i}" for i in range(14, 4, -1)]
    assert chart.hidden_count == 5
    assert chart.hidden_weight_text == "+0.10"
    assert [b.row_y for b in chart.bars] == sorted(b.row_y for b in chart.bars)
    assert chart.height > chart.bars[-1].row_y


def test_chart_with_only_zero_weights_has_no_division_by_zero():
    """All-zero contributions render empty bars at the axis."""
    chart = explanation_chart([Factor("a", 1, 0.0)])
    assert chart.bars[0].bar_width == 0
    assert chart.axis_x == BARS_LEFT


def test_tiny_weights_still_get_a_visible_bar():
    """A non-zero weight next to a huge one keeps a sliver."""
    chart = explanation_chart([Factor("a", 1, 100.0), Factor("b", 1, 0.0001)])
    assert chart.bars[1].bar_width >= 1.5


def test_value_and_weight_text():
    """Values and weights read naturally."""
    assert value_text(3) == "3"
    assert value_text(1200.5) == "1200.5"
    assert value_text(3.0) == "3"
    assert value_text(0.123456789) == "0.1235"
    assert value_text(True) == "true"
    assert value_text(None) == "missing"
    assert value_text({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'
    assert value_text("x" * 50).endswith("…")
    assert len(value_text("x" * 50)) == 36
    assert weight_text(0.31) == "+0.31"
    assert weight_text(-0.05) == "-0.05"
    assert weight_text(0.0012) == "+0.0012"
    assert weight_text(0) == "0.00"


def test_explanation_view_carries_base_value_summary_and_sentence():
    """The page gets the base value, the model's summary and the sentence."""
    view = explanation_view(EXAMPLE, label="fraud", data={})
    assert view is not None
    assert view.base_value_text == "0.1"
    assert view.summary == "New account, large amount."
    assert view.method == "shap"
    assert view.contributions_total_text == "+0.43"
    assert view.sentence.startswith("Mostly because account_age_days = 3 (+0.31)")


def test_summary_only_explanation_is_kept():
    """A model that sends only a summary still shows it."""
    view = explanation_view({"summary": "Looks odd."}, label="fraud")
    assert view is not None
    assert view.chart.is_empty
    assert view.sentence == ""


def test_score_rows_sorted_and_marked():
    """Scores are listed highest first, the predicted label marked."""
    rows = score_rows({"legit": 0.38, "fraud": 0.62, "bad": "x"}, predicted_label="fraud")
    assert [(r.label, r.percent_text, r.is_predicted) for r in rows] == [
        ("fraud", "62%", True),
        ("legit", "38%", False),
    ]
    assert rows[0].bar_width == 62.0
    assert score_rows(None, predicted_label="fraud") == []


def _reconcile(explanation: dict, **kwargs):
    return reconciliation(explanation, explanation_factors(explanation), **kwargs)


LOG_ODDS = {
    "scale": "log_odds",
    "base_value": 0.1,
    "contributions": [
        {"feature": "a", "value": 1, "weight": 0.5},
        {"feature": "b", "value": 2, "weight": -0.07},
    ],
}


def test_log_odds_explanation_reconciles_through_the_sigmoid():
    """base + contributions = logit, and sigmoid(logit) is the shown confidence."""
    rec = _reconcile(LOG_ODDS, label="fraud", confidence=0.63)  # sigmoid(0.53) = 0.6295
    assert rec.reconciles
    assert rec.unit == "in log-odds"
    assert rec.sentence == (
        "Base 0.10 + contributions +0.43 = 0.53 log-odds → 63%, the model's score for fraud."
    )


def test_probability_explanation_reconciles_by_addition():
    """On the probability scale base + contributions is the score itself."""
    explanation = {**LOG_ODDS, "scale": "probability", "base_value": 0.4}
    rec = _reconcile(explanation, label="benign", confidence=0.83)
    assert rec.reconciles
    assert rec.sentence == (
        "Base 0.40 + contributions +0.43 = 0.83 → 83%, the model's score for benign."
    )


def test_parts_that_miss_the_confidence_are_called_approximate():
    """88% benign with parts summing to -0.18 log-odds is not presented as reconciling."""
    explanation = {**LOG_ODDS, "contributions": [{"feature": "a", "weight": -0.28}]}
    rec = _reconcile(explanation, label="benign", confidence=0.88)
    assert not rec.reconciles
    assert rec.sentence == (
        "This explanation is approximate: its parts add up to -0.18 log-odds (46%), "
        "the model's confidence in benign is 88%."
    )


def test_unknown_scale_is_approximate_and_says_so():
    """Without a scale (or a method that names one) nothing is claimed to add up."""
    explanation = {key: value for key, value in LOG_ODDS.items() if key != "scale"}
    rec = _reconcile(explanation | {"method": "shap"}, label="fraud", confidence=0.63)
    assert rec.scale == ""
    assert rec.unit == "scale not stated"
    assert not rec.reconciles
    assert rec.sentence == (
        "This explanation is approximate: its parts add up to 0.53 on a scale the model did "
        "not state, the model's confidence in fraud is 63%."
    )


def test_raw_scale_never_claims_to_reconcile():
    """A raw model score is not a probability, so it is reported as approximate."""
    rec = _reconcile({**LOG_ODDS, "scale": "raw"}, label="fraud", confidence=0.63)
    assert not rec.reconciles
    assert "0.53 on the model's raw score scale, not a probability" in rec.sentence


def test_multi_class_reconciles_against_the_predicted_labels_score():
    """With several labels the predicted label's score is the one the parts must give."""
    explanation = {**LOG_ODDS, "base_value": -0.53}  # sums to -0.10 log-odds -> 47.5%
    scores = {"barolo": 0.475, "grignolino": 0.3, "barbera": 0.225}
    rec = _reconcile(explanation, label="barolo", confidence=0.9, scores=scores)
    assert rec.confidence == 0.475
    assert rec.reconciles
    assert rec.sentence.endswith("-0.10 log-odds → 48%, the model's score for barolo.")
    wrong = _reconcile(explanation, label="grignolino", confidence=0.475, scores=scores)
    assert not wrong.reconciles


def test_method_hint_names_the_log_odds_scale():
    """A method such as shap_logit counts as log-odds; an explicit scale wins."""
    assert explanation_scale({"method": "shap_logit"}) == "log_odds"
    assert explanation_scale({"method": "linear-log-odds"}) == "log_odds"
    assert explanation_scale({"method": "shap_probability"}) == "probability"
    assert explanation_scale({"method": "shap"}) == ""
    assert explanation_scale({"method": "shap_logit", "scale": "raw"}) == "raw"
    assert explanation_scale({"scale": "bogus"}) == ""


def test_tolerance_is_half_a_percentage_point():
    """Parts landing 0.4 points off reconcile, 0.6 points off do not."""
    explanation = {"scale": "probability", "contributions": [{"feature": "a", "weight": 0.5}]}
    assert _reconcile(explanation, label="x", confidence=0.504).reconciles
    assert not _reconcile(explanation, label="x", confidence=0.506).reconciles


def test_no_contributions_no_reconciliation():
    """A summary-only explanation has nothing to add up."""
    assert _reconcile({"summary": "text", "scale": "log_odds"}, label="x", confidence=0.5) is None


def test_percent_text_near_the_ends():
    """Near 0 and 1 the percentage keeps a decimal and never rounds to 0% or 100%."""
    assert [percent_text(p) for p in (0.634, 0.004, 0.99998, 0.0, 1.0, 0.0001)] == [
        "63%",
        "0.4%",
        ">99.9%",
        "0%",
        "100%",
        "<0.1%",
    ]


def test_explanation_view_carries_the_reconciliation():
    """The page's view of an explanation includes the check against the confidence."""
    view = explanation_view(LOG_ODDS, label="fraud", confidence=0.63)
    assert view.reconciliation is not None
    assert view.reconciliation.reconciles
    assert explanation_view(LOG_ODDS, label="fraud").reconciliation.sentence.endswith(
        "the model's confidence in fraud is unknown."
    )
