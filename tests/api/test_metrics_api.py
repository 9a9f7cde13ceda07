"""GET /api/v1/metrics/adoption: figures as JSON or daily CSV, for the right people only."""

from datetime import timedelta

import pytest
from django.core.cache import cache

from reviewapp.models import DecisionDailyRollup, Role
from reviewapp.services.rollups import rollups_refresh
from tests.conftest import bearer_client
from tests.factories import make_model, make_user
from tests.metrics_data import DAY, auto_approved_cases, decided_cases

URL = "/api/v1/metrics/adoption"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def data(ml_model, reviewer):
    decided_cases(
        ml_model, reviewer, accepts=7, overrides=3, reasons=["policy", "wrong_label", "policy"]
    )
    auto_approved_cases(ml_model, 5)
    rollups_refresh(days=[DAY], ml_model=ml_model)  # the worker's job: GETs never write
    return ml_model


def _params(model, **extra):
    return {"model": model.slug, "from": DAY.isoformat(), "to": DAY.isoformat(), **extra}


def test_manager_reads_the_design_keys(session_client, manager, data):
    """A manager gets every key DESIGN.md names, read from the rollups, with their age."""
    response = session_client(manager).get(URL, _params(data))
    assert response.status_code == 200
    body = response.json()
    for key in (
        "received",
        "auto_approved",
        "queued",
        "decided",
        "accepted",
        "overridden",
        "acceptance_rate",
        "override_rate",
        "override_reasons",
        "time_to_decision_p50_s",
        "time_to_decision_p90_s",
        "active_reviewers",
        "escalated",
        "expired",
        "daily",
        "sla_breached",
        "helpful_rate",
        "by_reviewer",
        "by_version",
        "by_label",
        "by_band",
    ):
        assert key in body, key
    assert (body["acceptance_rate"], body["override_rate"]) == (0.7, 0.3)
    assert body["override_reasons"] == {"policy": 2, "wrong_label": 1}
    assert (body["received"], body["auto_approved"], body["queued"]) == (15, 5, 10)
    assert body["daily"][0]["decided"] == 10
    assert body["pending_days"] == []
    assert body["figures_as_of"] is not None


def test_a_read_enqueues_missing_rollups_and_writes_nothing(
    session_client, manager, ml_model, reviewer, django_capture_on_commit_callbacks
):
    """GET never refreshes rollups inline: it reports the pending days and enqueues them."""
    decided_cases(ml_model, reviewer, accepts=4)
    with django_capture_on_commit_callbacks() as enqueued:
        body = session_client(manager).get(URL, _params(ml_model)).json()
    assert body["pending_days"] == [DAY.isoformat()]
    assert body["decided"] == 0
    assert not DecisionDailyRollup.objects.exists()
    assert len(enqueued) == 1
    enqueued[0]()  # the worker takes the job
    assert session_client(manager).get(URL, _params(ml_model)).json()["decided"] == 4


def test_csv_format_gives_daily_rows(session_client, manager, data):
    """format=csv returns one CSV row per day of the period."""
    params = _params(data, format="csv", **{"from": (DAY - timedelta(days=1)).isoformat()})
    response = session_client(manager).get(URL, params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().strip().splitlines()
    assert len(lines) == 3
    assert lines[2].startswith(f"{DAY.isoformat()},15,5,10")


def test_reviewer_gets_403(session_client, reviewer, data):
    """Reviewers may not read adoption metrics."""
    response = session_client(reviewer).get(URL, _params(data))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_service_account_gets_403(sa_client, data):
    """A model's service account may not read adoption metrics."""
    assert sa_client.get(URL, _params(data)).status_code == 403


def test_other_teams_model_is_404(session_client, other_team, data):
    """A manager of another team gets 404, as for a model that does not exist."""
    outsider = make_user(Role.MANAGER, team=other_team)
    response = session_client(outsider).get(URL, _params(data))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    missing = session_client(outsider).get(URL, {"model": "no-such-model"})
    assert missing.status_code == 404


def test_auditor_reads_any_team(session_client, auditor, data):
    """Auditors read every model's metrics."""
    response = session_client(auditor).get(URL, _params(data))
    assert response.status_code == 200
    assert response.json()["decided"] == 10


def test_bearer_token_of_a_manager_works(manager, data):
    """People's personal tokens authenticate the metrics API."""
    from reviewapp.models import ApiToken, token_digest

    raw = "rva_" + "m" * 40
    ApiToken.objects.create(user=manager, prefix=raw[:8], digest=token_digest(raw))
    assert bearer_client(raw).get(URL, _params(data)).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-13-01"}, "from"),
        ({"to": "soon"}, "to"),
        ({"from": "2025-03-10", "to": "2025-03-01"}, "from"),
        ({"from": "2020-01-01", "to": "2025-03-01"}, "from"),
        ({"format": "xml"}, "format"),
        ({"band": "12"}, "band"),
        ({"reviewer": "rita"}, "reviewer"),
        ({"days": "0"}, "days"),
    ],
)
def test_bad_parameters_are_400(session_client, manager, data, params, field):
    """Bad parameters answer 400 with the error body naming the field."""
    response = session_client(manager).get(URL, {"model": data.slug, **params})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]


def test_missing_model_parameter_is_400(session_client, manager):
    """?model= is required."""
    response = session_client(manager).get(URL)
    assert response.status_code == 400
    assert "model" in response.json()["error"]["details"]


def test_version_filter(session_client, manager, data, reviewer):
    """version= narrows the figures to that model version."""
    decided_cases(data, reviewer, overrides=2, model_version="3.0.0")
    rollups_refresh(days=[DAY], ml_model=data)
    body = session_client(manager).get(URL, _params(data, version="3.0.0")).json()
    assert (body["decided"], body["overridden"]) == (2, 2)


def test_two_models_stay_apart(session_client, manager, data, reviewer):
    """Another model of the same team does not leak into this model's figures."""
    other = make_model(team=data.team, slug="chargebacks")
    decided_cases(other, reviewer, accepts=4)
    rollups_refresh(days=[DAY], ml_model=other)
    assert session_client(manager).get(URL, _params(data)).json()["decided"] == 10
    assert session_client(manager).get(URL, _params(other)).json()["decided"] == 4
