"""Browser test of two-person review, with DEBUG on (as `make run` has it) and off (as in
production): two reviewers disagree, the case ends at a lead who sees both answers and
decides, and exactly one decision is published (one webhook outbox row, one feed row)."""

import pytest

from reviewapp.models import (
    Case,
    CaseOpinion,
    CaseStatus,
    Decision,
    Role,
    RoutingPolicy,
    WebhookDelivery,
)
from reviewapp.selectors.feed import decision_feed_page
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def mode(request, settings):
    """DEBUG on or off for the live server; returns the screenshot name prefix."""
    settings.DEBUG = request.param
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    return "debug" if request.param else "production"


@pytest.fixture
def two_person(db):
    """One waiting case that needs two independent reviewers; rita and ron review, leo leads;
    the model has a webhook registered (nothing listens: only the outbox rows count)."""
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening")
    RoutingPolicy.objects.filter(ml_model=ml_model, status="active").update(reviewers_required=2)
    type(ml_model).objects.filter(pk=ml_model.pk).update(
        webhook_url="http://127.0.0.1:9/hooks", webhook_secret="s" * 32
    )
    for name, role in (("rita", Role.REVIEWER), ("ron", Role.REVIEWER), ("leo", Role.LEAD)):
        factories.make_user(role, team=team, username=name)
    (case_id,) = factories.make_cases(ml_model, 1, confidence=0.62)
    return ml_model, case_id


def _shows(page, case_id: int) -> None:
    page.wait_for_selector(f'#case-panel[data-case-id="{case_id}"][data-keys-armed]')


def _override(page, label: str, reason: str) -> None:
    page.locator("#override-drawer > summary").click()
    page.select_option("#id_final_label", label)
    page.select_option("#id_reason_code", reason)
    page.locator("#override-drawer button[data-submit]").click()


def _sign_out(page) -> None:
    page.context.clear_cookies()


def test_disagreement_ends_at_a_lead_and_publishes_one_decision(
    page, login, screenshot, mode, two_person
):
    """rita accepts fraud, ron overrides to legit without seeing rita's answer; leo is served
    the escalated case, sees both opinions, decides; one decision is published."""
    ml_model, case_id = two_person
    login("rita")
    page.keyboard.press("n")
    _shows(page, case_id)
    assert "2 independent reviewers" in page.get_by_test_id("second-opinion").inner_text()
    page.keyboard.press("a")
    page.wait_for_selector("[data-testid=outcome]")
    assert "next independent reviewer" in page.get_by_test_id("outcome").inner_text()
    assert Case.objects.get(pk=case_id).status == CaseStatus.QUEUED
    assert not Decision.objects.exists()

    _sign_out(page)
    login("ron")
    page.keyboard.press("n")
    _shows(page, case_id)
    panel = page.locator("#case-panel").inner_text()
    assert "rita" not in panel
    assert page.get_by_test_id("opinions").count() == 0
    _override(page, "legit", "wrong_label")
    page.wait_for_selector("[data-testid=outcome]")
    assert "a lead decides it" in page.get_by_test_id("outcome").inner_text()
    case = Case.objects.get(pk=case_id)
    assert (case.status, case.escalation_source) == (CaseStatus.ESCALATED, "disagreement")
    assert not Decision.objects.exists()
    assert not WebhookDelivery.objects.exists()

    _sign_out(page)
    login("leo")
    page.keyboard.press("n")
    _shows(page, case_id)
    opinions = page.get_by_test_id("opinion")
    assert opinions.count() == 2
    first, second = opinions.nth(0).inner_text(), opinions.nth(1).inner_text()
    assert ("rita" in first, "fraud" in first) == (True, True)
    assert ("ron" in second, "legit" in second) == (True, True)
    screenshot(f"second-opinions-lead-{mode}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_test_id("opinions").scroll_into_view_if_needed()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(f"second-opinions-lead-phone-{mode}")
    page.set_viewport_size({"width": 1400, "height": 1000})
    _override(page, "legit", "policy")
    page.wait_for_selector("[data-testid=outcome]")

    decisions = list(Decision.objects.filter(case_id=case_id))
    assert [(d.reviewer.username, d.final_label) for d in decisions] == [("leo", "legit")]
    assert WebhookDelivery.objects.filter(decision__case_id=case_id).count() == 1
    assert CaseOpinion.objects.filter(case_id=case_id).count() == 2
    feed = [
        row["case_id"]
        for row in decision_feed_page(ml_model=ml_model, limit=100).results
        if row["event"] == "case.decided"
    ]
    assert feed == [case_id]
