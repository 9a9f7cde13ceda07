"""A reviewer opens "My decisions" from the navigation, then one case's read-only page, then
"My stats", in both modes (DEBUG on as `make run` has it, and off) at desktop and phone width."""

import pytest

from reviewapp.models import Role, User
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next
from reviewapp.services.rollups import rollups_refresh
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1400, "height": 1000}, "phone": {"width": 390, "height": 844}}
MODES = {"debug": True, "production": False}


@pytest.fixture(params=[(m, v) for m in MODES for v in VIEWPORTS], ids=lambda p: f"{p[0]}-{p[1]}")
def shown(request, browser, live_server, settings):
    """A browser page in one mode at one width; yields (page, name suffix for screenshots)."""
    mode, viewport = request.param
    settings.DEBUG = MODES[mode]
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page, f"{mode}-{viewport}"
    context.close()


@pytest.fixture
def decided(db):
    """A reviewer who accepted one case and overrode another."""
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening")
    reviewer = factories.make_user(Role.REVIEWER, team=team, username="rita")
    User.objects.filter(pk=reviewer.pk).update(first_name="Rita")
    factories.make_cases(ml_model, 3, confidence=0.62)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_decide(case=case, reviewer=reviewer, action="accept", feedback="Clear case.")
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_decide(
        case=case,
        reviewer=reviewer,
        action="override",
        final_label="legit",
        reason_code="missing_context",
        feedback="Known customer; the model cannot see the loyalty history.",
    )
    rollups_refresh(ml_model=ml_model)
    return reviewer, case


def _shot(page, name: str) -> None:
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _fits(page) -> bool:
    """Nothing makes the page scroll sideways."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_my_decisions_to_a_case_read_only(shown, decided):
    """Navigation -> My decisions (newest first) -> the overridden case's record -> My stats."""
    page, suffix = shown
    reviewer, overridden = decided
    page.goto("/accounts/login/")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")

    menu = page.locator("[data-topnav] > summary")
    if menu.is_visible():  # phone width: the navigation sits behind the menu button
        menu.click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My decisions").click()
    page.wait_for_selector("h1:has-text('My decisions')")
    rows = page.get_by_test_id("history-row")
    assert rows.count() == 2
    assert "Overrode fraud with legit" in rows.first.inner_text()
    assert _fits(page)
    _shot(page, f"my-decisions-{suffix}")

    rows.first.get_by_role("link", name=f"Case #{overridden.pk}").click()
    page.wait_for_selector("#case-title")
    assert page.get_by_role("heading", name=f"Case #{overridden.pk}").is_visible()
    decisions = page.get_by_test_id("decisions")
    assert "Rita: Overrode fraud with legit" in decisions.inner_text()
    assert "missing context" in decisions.inner_text()
    assert page.get_by_test_id("model-answer").is_visible()
    trail = page.get_by_test_id("audit-trail").inner_text()
    assert "decided the case" in trail
    assert "viewed the case" in trail
    assert not page.get_by_role("button", name="Reopen").count()
    assert _fits(page)
    _shot(page, f"case-read-only-{suffix}")

    page.goto("/review/stats/")
    acceptance = page.get_by_test_id("stat-acceptance").inner_text()
    assert "50%" in acceptance
    assert "Team median" in acceptance
    assert "Missing context" in page.get_by_test_id("stat-reasons").inner_text()
    assert _fits(page)
    _shot(page, f"my-stats-{suffix}")
