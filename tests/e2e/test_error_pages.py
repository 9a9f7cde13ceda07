"""Errors read as pages, in both modes (DEBUG on as `make run` has it, and off as in
production), at desktop and phone width: a refused or missing page is a styled page with the
navigation and a way back; a refused htmx action on the review page is a panel swapped in
place, and the page keeps its styles and keeps working; the API answers JSON."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import Case, Role
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1400, "height": 1000}, "phone": {"width": 390, "height": 844}}
MODES = {"debug": True, "production": False}


@pytest.fixture(params=[(m, v) for m in MODES for v in VIEWPORTS], ids=lambda p: f"{p[0]}-{p[1]}")
def shown(request, browser, live_server, settings):
    """A page in one mode at one width; yields (page, name prefix for screenshots)."""
    mode, viewport = request.param
    settings.DEBUG = MODES[mode]
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page, f"{mode}-{viewport}"
    context.close()


@pytest.fixture
def people(db):
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening")
    reviewer = factories.make_user(Role.REVIEWER, team=team, username="rita")
    return ml_model, reviewer


def _login(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _styled(page) -> bool:
    """The app's stylesheet is applied (the top bar is laid out as a flex row)."""
    return page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") not in (
        "",
        "block",
        "inline",
    )


def _shot(page, name: str) -> None:
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_refused_and_missing_pages_are_styled_with_a_way_back(shown, people):
    """403 and 404 pages carry the navigation, the app's styles and a link back."""
    page, prefix = shown
    _ml_model, reviewer = people
    _login(page, reviewer.username)

    response = page.goto("/dashboards/")
    assert response.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    menu = page.locator(".topnav > summary")
    if menu.is_visible():  # phone width: the navigation sits behind the menu button
        menu.click()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").count()
    assert _styled(page)
    back = page.get_by_role("link", name="Start page")
    assert back.is_visible()
    _shot(page, f"error-403-{prefix}")

    response = page.goto("/no/such/page/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert _styled(page)
    _shot(page, f"error-404-{prefix}")

    api = page.request.get("/api/v1/no-such-endpoint")
    assert api.status == 404
    assert api.json()["error"]["code"] == "not_found"


def test_review_errors_are_panels_in_place(shown, people):
    """A 400 (no reason given) and a 409 (the claim ran out) replace the case panel only; the
    page keeps its two stylesheets and htmx keeps working (no full page load)."""
    page, prefix = shown
    ml_model, reviewer = people
    factories.make_cases(ml_model, 2, confidence=0.62)
    _login(page, reviewer.username)
    page.get_by_role("button", name="Next case").click()
    # data-keys-armed: review.js ignores decision keys for a moment after a new case arrives.
    page.wait_for_selector("#case-panel[data-case-id][data-keys-armed]")
    page.evaluate("window.__marker = 'still here'")
    sheets = page.evaluate("document.styleSheets.length")
    assert sheets == 2

    page.keyboard.press("o")
    page.locator("#id_reason_code").select_option("")
    page.get_by_role("button", name="Save override").click()
    page.wait_for_selector("#case-panel [role=alert], #case-panel .msg-error")
    assert page.evaluate("document.styleSheets.length") == sheets
    assert page.evaluate("window.__marker") == "still here"
    _shot(page, f"review-400-panel-{prefix}")

    case_id = int(page.locator("#case-panel").get_attribute("data-case-id"))
    Case.objects.filter(pk=case_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    page.locator("#case-panel").click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    page.wait_for_selector("#case-panel[data-status='409']")
    panel = page.locator("#case-panel")
    assert "This case is no longer yours" in panel.inner_text()
    assert panel.get_by_role("link", name="Back to your queues").is_visible()
    assert page.evaluate("document.styleSheets.length") == sheets
    assert page.evaluate("window.__marker") == "still here"
    assert _styled(page)
    _shot(page, f"review-409-panel-{prefix}")
