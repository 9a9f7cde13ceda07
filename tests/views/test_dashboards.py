"""The adoption dashboard page: roles, filters, charts, htmx partial, CSV and refresh."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from reviewapp.models import AuditEvent, DecisionDailyRollup, Role
from reviewapp.services.rollups import rollups_refresh
from tests.factories import make_model, make_user
from tests.metrics_data import DAY, auto_approved_cases, decided_cases

URL = "/dashboards/"
PERIOD = {"from": (DAY - timedelta(days=2)).isoformat(), "to": DAY.isoformat()}


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def data(ml_model, reviewer):
    decided_cases(ml_model, reviewer, accepts=7, overrides=3, reasons=["policy", "wrong_label"])
    auto_approved_cases(ml_model, 10)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    return ml_model


def test_url_name_resolves():
    """The page is the named route dashboard-adoption under /dashboards/."""
    assert reverse("dashboard-adoption") == URL


def test_manager_sees_tiles_charts_and_tables(manager, data):
    """A manager sees the headline figures, SVG charts and the reviewer table."""
    response = _client(manager).get(URL, PERIOD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acceptance" in html
    assert "70%" in html
    assert "30%" in html
    assert html.count("<svg") >= 4
    assert "chart-line series-0" in html
    assert "rita" in html
    assert 'style="' not in html  # CSP: no inline styles


def test_reviewer_gets_403(reviewer, data):
    """Reviewers cannot see dashboards, and the denial is audited."""
    response = _client(reviewer).get(URL)
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="permission.denied", actor=reviewer).exists()


def test_lead_gets_403(lead):
    """Leads cannot see the adoption dashboard."""
    assert _client(lead).get(URL).status_code == 403


def test_manager_of_other_team_cannot_pick_this_model(other_team, data):
    """A manager of another team gets 404 for this model and does not see its figures."""
    outsider = make_user(Role.MANAGER, team=other_team)
    assert _client(outsider).get(URL, {"model": data.slug}).status_code == 404
    page = _client(outsider).get(URL, PERIOD).content.decode()
    assert data.slug not in page


def test_auditor_sees_every_team(auditor, data, other_team, reviewer):
    """Auditors read every team's figures."""
    other_model = make_model(team=other_team, slug="claims-triage")
    page = _client(auditor).get(URL, PERIOD).content.decode()
    assert data.slug in page
    assert other_model.slug in page
    assert _client(auditor).get(URL, {"model": other_model.slug}).status_code == 200


def test_htmx_request_renders_the_results_partial(manager, data):
    """With HX-Request the view answers the results partial only."""
    response = _client(manager).get(URL, PERIOD, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="results"')
    assert "<html" not in html


def test_filters_narrow_the_figures(manager, data, reviewer):
    """Filtering by label shows only that label's cases."""
    decided_cases(data, reviewer, accepts=2, label="legit", confidence=0.3)
    rollups_refresh(days=[DAY], ml_model=data)
    html = _client(manager).get(URL, {**PERIOD, "model": data.slug, "label": "legit"})
    assert "2 of 2 decided" in html.content.decode()
    html = _client(manager).get(URL, {**PERIOD, "model": data.slug})
    assert "9 of 12 decided" in html.content.decode()


def test_presets_and_bad_dates(manager, data):
    """Presets select 7/30/90 days; a bad date falls back to the default with a message."""
    html = _client(manager).get(URL, {"days": "7"}).content.decode()
    assert 'aria-current="true">7 days' in html
    response = _client(manager).get(URL, {"from": "yesterday"})
    assert response.status_code == 200
    assert "Showing the last 30 days instead" in response.content.decode()


def test_missing_rollups_are_enqueued_not_computed_on_view(
    manager, ml_model, reviewer, django_capture_on_commit_callbacks
):
    """Opening a period whose days lack rollups enqueues them; the GET itself writes nothing."""
    decided_cases(ml_model, reviewer, accepts=4)
    with django_capture_on_commit_callbacks() as enqueued:
        html = _client(manager).get(URL, PERIOD).content.decode()
    assert not DecisionDailyRollup.objects.exists()
    assert "being prepared" in html
    assert len(enqueued) == 1
    enqueued[0]()  # the worker takes the job
    assert DecisionDailyRollup.objects.exists()
    assert "4 of 4 decided" in _client(manager).get(URL, PERIOD).content.decode()


def test_csv_download_has_one_row_per_day(manager, data):
    """The CSV link gives the daily rows of the selection."""
    response = _client(manager).get(reverse("dashboard-adoption-csv"), PERIOD)
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().strip().splitlines()
    assert lines[0].startswith("date,received")
    assert len(lines) == 1 + 3
    assert lines[-1].startswith(DAY.isoformat() + ",20,10,10")


def test_manager_refresh_is_audited(manager, data, reviewer):
    """The refresh button recomputes the period and writes an audit event."""
    decided_cases(data, reviewer, accepts=1)
    response = _client(manager).post(reverse("dashboard-adoption-refresh"), PERIOD)
    assert response.status_code == 302
    assert sum(r.decided for r in DecisionDailyRollup.objects.all()) == 11
    assert AuditEvent.objects.filter(action="rollups.refresh_requested", actor=manager).exists()


def test_auditor_cannot_refresh(auditor, data):
    """Auditors read only: the refresh button is refused."""
    assert _client(auditor).post(reverse("dashboard-adoption-refresh"), PERIOD).status_code == 403


def test_page_query_count_is_bounded(manager, data, django_assert_max_num_queries):
    """A warm dashboard page costs a bounded number of queries."""
    client = _client(manager)
    client.get(URL, PERIOD)
    with django_assert_max_num_queries(14):
        assert client.get(URL, PERIOD).status_code == 200


def test_no_models_shows_empty_state(make_user, team):
    """A manager whose team has no models sees a friendly empty state."""
    lonely = make_user(Role.MANAGER, team=team)
    html = _client(lonely).get(URL).content.decode()
    assert "No models of your teams yet" in html
