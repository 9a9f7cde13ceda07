"""The adoption dashboard's "By segment" card in a browser, DEBUG on and off, desktop and
phone width: the planted weak site is named in words, the page does not scroll sideways, and
the card has no critical or serious axe-core violation."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache

from reviewapp.models import Role
from reviewapp.services.model_settings import model_configure
from reviewapp.services.rollups import rollups_refresh
from tests import factories
from tests.e2e.conftest import SCREENSHOTS
from tests.metrics_data import DAY
from tests.services.test_segments import plant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1400, "height": 1000}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def gap(db):
    team = factories.make_team("payments-risk")
    ml_model = factories.make_model(team=team, slug="fraud-screening")
    owner = factories.make_user(Role.MODEL_OWNER, team=team, username="otto")
    factories.make_user(Role.MANAGER, team=team, username="mona")
    reviewer = factories.make_user(Role.REVIEWER, team=team, username="rita")
    model_configure(ml_model=ml_model, actor=owner, segment_fields=["site"])
    plant(ml_model, reviewer, site="north", n=200, right=180)
    plant(ml_model, reviewer, site="south", n=200, right=150)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    cache.clear()
    return ml_model


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def mode(request, settings):
    """DEBUG on (as `make run` has it) or off for the live server."""
    settings.DEBUG = request.param
    return "debug" if request.param else "production"


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_segment_card_names_the_weak_site(browser, live_server, gap, viewport, mode):
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto("/accounts/login/")
        page.fill("#id_username", "mona")
        page.fill("#id_password", factories.PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"/dashboards/?model={gap.slug}&from={DAY.isoformat()}&to={DAY.isoformat()}")
        card = page.locator('[data-testid="segments-card"]')
        card.scroll_into_view_if_needed()
        assert card.is_visible()
        south = card.locator("tr", has_text="south")
        assert "Worse than the rest" in south.inner_text()
        assert "Worse than the rest" not in card.locator("tr", has_text="north").inner_text()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        card.screenshot(path=str(SCREENSHOTS / f"segments-card-{mode}-{viewport}.png"))
        results = Axe().run(page, context='[data-testid="segments-card"]')
        serious = [
            v["id"]
            for v in results.response["violations"]
            if v["impact"] in {"critical", "serious"}
        ]
        assert serious == []
    finally:
        context.close()
