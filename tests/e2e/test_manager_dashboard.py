"""A manager opens the adoption dashboard, filters a period and sees the charts."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from reviewapp.models import Role
from reviewapp.services.rollups import rollups_refresh
from tests.factories import make_model, make_team, make_user
from tests.metrics_data import auto_approved_cases, decided_cases


def _history(ml_model, team, days: int = 30) -> None:
    """A month of decisions by four reviewers, one of them much faster than the rest."""
    today = timezone.localdate()
    people = [make_user(Role.REVIEWER, team=team, username=n) for n in ("ada", "ben", "cy", "dee")]
    reasons = ["wrong_label", "missing_context", "policy", "data_error", "other"]
    for i in range(days):
        day = today - timedelta(days=days - 1 - i)
        for j, person in enumerate(people):
            accepts = 3 + (i + j) % 3
            overrides = {0: 1, 3: 4}.get(j, 1 + (i * (j + 1)) % 3)
            decided_cases(
                ml_model,
                person,
                accepts=accepts,
                overrides=overrides if i % 2 == 0 else overrides - 1,
                reasons=reasons[j:] + reasons[:j],
                day=day,
                ttd_s=300 + 600 * ((i + j) % 5),
                spent_ms=4_000 if j == 0 else 30_000 + 5_000 * j,
                blind=(i + j) % 6 == 0,
                model_version="2.3.0" if i < days // 2 else "2.4.0",
            )
        auto_approved_cases(ml_model, 12 + i % 7, day=day)
    rollups_refresh(days=[today - timedelta(days=d) for d in range(days)], ml_model=ml_model)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_filters_the_dashboard(page, login, screenshot, live_server):
    """The manager sees tiles and SVG charts, then narrows the period to a week."""
    cache.clear()
    team = make_team("payments-risk")
    ml_model = make_model(team=team, slug="fraud-screening")
    make_model(team=team, slug="chargeback-risk")
    make_user(Role.MANAGER, team=team, username="mona")
    _history(ml_model, team)

    login("mona")
    page.goto(f"/dashboards/?model={ml_model.slug}&days=30")
    page.wait_for_selector("svg.chart-line")
    assert page.locator("#results svg.chart").count() >= 4
    assert page.locator(".tile").count() == 8
    assert page.locator("text=Fast accepts?").count() >= 1
    screenshot("manager-dashboard")

    page.click(".presets a:has-text('7 days')")
    page.wait_for_selector(".presets a[aria-current='true']:has-text('7 days')")
    assert "days=7" in page.url
    assert page.locator("#results svg.chart-line").count() >= 1
    assert page.locator(".period").first.inner_text().count("7 days") == 1
    page.select_option("select[name=version]", "2.4.0")
    page.wait_for_selector(".period:has-text('version 2.4.0')")
    assert page.locator("#results rect.chart-bar").count() >= 1
    screenshot("manager-dashboard-filtered")
