"""Browser tests of the reviewer's page: claim, read the explanation, override with the keyboard
alone, and see the next case arrive without a page load; blind cases hide the model's answer."""

import pytest

from reviewapp.models import Decision, Role
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPLANATION = {
    "method": "shap",
    "scale": "log_odds",
    "base_value": 0.1,
    "contributions": [
        {"feature": "amount", "value": 1200.5, "weight": 0.12},
        {"feature": "country", "value": "DE", "weight": -0.08},
        {"feature": "account_age_days", "value": 3, "weight": 0.31},
        {"feature": "merchant_category", "value": "electronics", "weight": 0.05},
        {"feature": "hour_of_day", "value": 23, "weight": 0.03},
        {"feature": "previous_chargebacks", "value": 0, "weight": -0.04},
    ],
    "summary": "New account making a large electronics purchase late at night.",
}
INPUT = {
    "amount": 1200.5,
    "country": "DE",
    "account_age_days": 3,
    "merchant_category": "electronics",
    "hour_of_day": 23,
    "previous_chargebacks": 0,
}


def test_reviewer_overrides_with_the_keyboard_and_gets_the_next_case(page, login, screenshot):
    """Claim, read the chart and routing reason, override by keyboard, next case in place."""
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening")
    reviewer = factories.make_user(Role.REVIEWER, team=team, username="rita")
    first, second = sorted(
        factories.make_cases(
            ml_model,
            2,
            confidence=0.62,
            explanation=EXPLANATION,
            input=INPUT,
            priority="high",
        )
    )

    login(reviewer.username)
    assert page.url.endswith("/review/")
    page.evaluate("window.__reviewMarker = 'still here'")
    page.get_by_role("button", name="Next case").click()
    # Decision keys work once the new case has been on screen for 400 ms (review.js).
    page.wait_for_selector(f'#case-panel[data-case-id="{first}"][data-keys-armed]')
    assert page.url.endswith(f"/review/case/{first}/")

    bars = page.locator("svg.xchart g.xrow")
    assert bars.count() == 6
    assert bars.first.get_attribute("data-feature") == "account_age_days"
    assert page.locator("svg.xchart rect.xbar-neg").count() == 2
    assert "below the review threshold" in page.get_by_test_id("routing-reason").inner_text()
    assert (
        page.get_by_test_id("sentence")
        .inner_text()
        .startswith("Mostly because account_age_days = 3 (+0.31)")
    )
    assert page.get_by_test_id("reconciliation").inner_text() == (
        "Base 0.10 + contributions +0.39 = 0.49 log-odds → 62%, the model's score for fraud."
    )
    legend = page.locator(".rv-legend").inner_text()
    assert "pushes towards fraud" in legend
    assert "pushes away from fraud" in legend
    shots = screenshot("reviewer-case").parent
    explanation = page.get_by_test_id("explanation")
    explanation.screenshot(path=str(shots / "reviewer-explanation.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    explanation.scroll_into_view_if_needed()
    explanation.screenshot(path=str(shots / "reviewer-explanation-phone.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})

    page.keyboard.press("o")
    label = page.locator("#id_final_label")
    assert page.locator("#override-drawer").get_attribute("open") is not None
    assert label.evaluate("el => el === document.activeElement")
    assert label.input_value() == "legit"
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")
    assert page.locator("#id_reason_code").input_value() == "wrong_label"
    screenshot("reviewer-override-open")
    page.keyboard.press("Enter")

    page.wait_for_selector(f'#case-panel[data-case-id="{second}"]')
    assert page.evaluate("window.__reviewMarker") == "still here"
    assert page.url.endswith(f"/review/case/{second}/")
    assert (
        "you overrode fraud with legit (wrong label)" in page.get_by_test_id("outcome").inner_text()
    )
    decision = Decision.objects.get(case_id=first)
    assert (decision.action, decision.final_label, decision.reason_code) == (
        "override",
        "legit",
        "wrong_label",
    )
    assert decision.time_spent_ms > 0
    screenshot("reviewer-after-decision")

    page.wait_for_selector(f'#case-panel[data-case-id="{second}"][data-keys-armed]')
    page.keyboard.press("a")
    page.wait_for_selector("#case-panel.rv-home")
    assert page.evaluate("window.__reviewMarker") == "still here"
    assert "queue is empty" in page.locator("#case-panel").inner_text()
    assert Decision.objects.get(case_id=second).action == "accept"


def test_blind_case_hides_the_recommendation_until_decided(page, login, screenshot):
    """A blind case shows no model answer; after the decision the model's answer appears."""
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening", blind_sample_rate=1.0)
    reviewer = factories.make_user(Role.REVIEWER, team=team, username="rita")
    factories.make_cases(ml_model, 1, confidence=0.62, explanation=EXPLANATION, input=INPUT)

    login(reviewer.username)
    page.keyboard.press("n")
    page.wait_for_selector("#case-panel[data-keys-armed] [data-testid=blind-note]")
    text = page.locator("#case-panel").inner_text()
    assert "Blind review: the model's answer is hidden until you decide" in text
    assert page.get_by_test_id("predicted-label").count() == 0
    assert page.locator("svg.xchart").count() == 0
    assert "62%" not in text
    assert "Mostly because" not in text
    screenshot("reviewer-blind-case")

    page.keyboard.press("o")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.locator("#id_final_label").input_value() == "legit"
    page.keyboard.press("Tab")
    page.keyboard.press("1")  # no reason is preset: the first one, picked by its number
    assert page.locator("#id_reason_code").input_value() == "wrong_label"
    page.keyboard.press("Enter")
    outcome = page.get_by_test_id("outcome")
    outcome.wait_for()
    assert "The model said fraud (62%); you said legit." in outcome.inner_text().replace(
        "Blind review: the", "The"
    )
    assert Decision.objects.get().was_blind
    screenshot("reviewer-blind-after-decision")
