"""Browser: a model owner opens the model-health page and sees its charts."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import Case, Role
from reviewapp.services.health import baseline_create, tripwire_create, tripwires_check
from tests.factories import make_model, make_team, make_user
from tests.selectors.health_data import cases_at, decide


def _seed():
    """A model with two versions, a baseline three weeks ago, drift now and an open alert."""
    team = make_team("payments-risk")
    owner = make_user(Role.MODEL_OWNER, team=team, username="otto")
    reviewer = make_user(Role.REVIEWER, team=team, username="rita")
    ml_model = make_model(team=team, slug="fraud-screening", qa_sample_rate=0.0)
    rng = random.Random(7)
    now = timezone.now()
    countries = ["DE", "FR", "NL", "US"]
    base_ids = []
    for confidence in (0.55, 0.65, 0.75, 0.85, 0.95):
        base_ids += cases_at(
            ml_model, 30, confidence=confidence, created_at=now - timedelta(days=21)
        )
    for case_id in base_ids:
        Case.objects.filter(pk=case_id).update(
            input={
                "amount": round(rng.lognormvariate(5, 1), 2),
                "country": rng.choice(countries[:3]),
                "account_age_days": rng.randint(1, 900),
            }
        )
    baseline_create(
        ml_model=ml_model,
        actor=owner,
        window_start=now - timedelta(days=22),
        window_end=now - timedelta(days=20),
    )
    for version, shift in (("2.3.0", 0), ("2.4.0", 1)):
        for confidence, overrides in ((0.52, 9), (0.63, 6), (0.74, 4), (0.83, 1), (0.93, 0)):
            ids = cases_at(ml_model, 20, confidence=confidence, model_version=version)
            for case_id in ids:
                Case.objects.filter(pk=case_id).update(
                    input={
                        "amount": round(rng.lognormvariate(5 + shift, 1), 2),
                        "country": rng.choice(countries),
                        "account_age_days": rng.randint(1, 900),
                    }
                )
            decide(
                ids,
                reviewer=reviewer,
                overrides=max(0, overrides - shift * 2),
                time_spent_ms=rng.randint(20_000, 60_000),
            )
    tripwire_create(ml_model=ml_model, actor=owner, kind="feature_psi", threshold=0.2)
    tripwire_create(ml_model=ml_model, actor=owner, kind="accuracy_drop", threshold=0.9)
    tripwires_check()
    return ml_model


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_model_owner_sees_the_health_page(page, login, screenshot, live_server):
    """Charts render, the PSI table is coloured, the recommendation can be proposed."""
    _seed()
    login("otto")
    page.goto("/dashboards/health/?model=fraud-screening&days=30&target=5")
    page.wait_for_selector("#health-body")
    assert page.locator(".alert-banner").is_visible()
    assert page.locator("svg.chart-ci").count() == 2
    assert page.locator("svg.chart-reliability circle.reliability-dot").count() >= 5
    assert page.locator("svg.chart-hbar").count() == 1
    assert page.locator(".psi-significant").count() >= 1
    assert page.locator("text=Propose this threshold").is_visible()
    screenshot("model-health")
    page.click("text=Propose this threshold")
    page.wait_for_load_state("networkidle")
    assert "takes effect once a manager approves it" in page.content()


# The elements sticking out of the viewport (not inside a scrolling box), for a failure.
WIDER_THAN_VIEWPORT = """() => {
  const clipped = e => { for (let a = e.parentElement; a; a = a.parentElement) {
    if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return true; }
    return false; };
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !clipped(e))
    .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id
      + ' ' + Math.round(e.getBoundingClientRect().right));
}"""
VIEWPORTS = {"desktop": {"width": 1400, "height": 1000}, "phone": {"width": 390, "height": 844}}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_health_and_model_pages_read_rollups_at_both_widths(browser, live_server, settings, debug):
    """With the band rollups refreshed and one more decision since, the health page and the
    model page show every decision once, at desktop and phone width, DEBUG on (as `make run`)
    and off; neither scrolls sideways."""
    from reviewapp.models import Decision
    from reviewapp.services.rollups import rollups_refresh
    from tests.e2e.conftest import SCREENSHOTS
    from tests.factories import PASSWORD

    settings.DEBUG = debug
    ml_model = _seed()
    rollups_refresh(days=[timezone.localdate() - timedelta(days=d) for d in range(22)])
    reviewer = make_user(Role.REVIEWER, team=ml_model.team, username="rex")
    decide(cases_at(ml_model, 1, confidence=0.99, model_version="2.4.0"), reviewer=reviewer)
    decided = Decision.objects.filter(ml_model=ml_model).count()
    assert decided == 201
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    mode = "debug" if debug else "production"
    for width, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/accounts/login/")
        page.fill("#id_username", "otto")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto("/dashboards/health/?model=fraud-screening&days=30&target=5")
        page.wait_for_selector("#health-body")
        assert f"{decided} decided in the period" in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=str(SCREENSHOTS / f"health-{mode}-{width}.png"), full_page=True)
        page.goto("/models/fraud-screening/")
        row = page.locator("#versions tr", has_text="2.4.0")
        cells = row.locator("td.num").all_inner_texts()
        assert cells[0] == "101"  # cases: 100 + the new one
        assert cells[2] == "101"  # decided
        page.screenshot(path=str(SCREENSHOTS / f"model-{mode}-{width}.png"), full_page=True)
        wide = page.evaluate(WIDER_THAN_VIEWPORT)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], wide
        context.close()
