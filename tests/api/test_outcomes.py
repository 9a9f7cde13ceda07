"""POST /api/v1/outcomes and GET /api/v1/metrics/quality: per-item results kept apart,
idempotence per case, roles, limits and one audit event per request."""

import json
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, Outcome, Role
from reviewapp.services.accounts import token_create
from tests.conftest import bearer_client
from tests.factories import make_cases, make_model, make_service_account, make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/outcomes"
QUALITY = "/api/v1/metrics/quality"
WHEN = "2025-03-10T09:30:00Z"


def item(external_id: str, label: str = "fraud", observed_at: str = WHEN, **extra) -> dict:
    return {"external_id": external_id, "label": label, "observed_at": observed_at, **extra}


@pytest.fixture
def ext(ml_model) -> list[str]:
    """External ids of three cases of the model."""
    ids = make_cases(ml_model, 3)
    return list(
        Case.objects.filter(pk__in=ids).order_by("pk").values_list("external_id", flat=True)
    )


def post(client, items):
    return client.post(URL, {"outcomes": items}, format="json")


def test_each_item_gets_its_own_result_in_order(sa_client, ext):
    """created, duplicate, conflict, unknown_case and error are kept apart; valid items are
    stored although others fail, and a conflict keeps the first label."""
    response = post(
        sa_client,
        [
            item(ext[0]),
            item(ext[0]),
            item(ext[0], "legit"),
            item("no-such-case"),
            item(ext[1], "cat"),
            item(ext[2]),
        ],
    )
    assert response.status_code == 200, response.content
    body = response.json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["created", "duplicate", "conflict", "unknown_case", "error", "created"]
    assert [r["index"] for r in body["results"]] == list(range(6))
    assert body["counts"] == {
        "created": 2,
        "duplicate": 1,
        "conflict": 1,
        "unknown_case": 1,
        "error": 1,
    }
    assert body["results"][2]["error"]["code"] == "conflict"
    assert "fraud" in body["results"][2]["error"]["message"]
    assert body["results"][4]["error"]["details"]["label"]
    stored = dict(Outcome.objects.values_list("case__external_id", "label"))
    assert stored == {ext[0]: "fraud", ext[2]: "fraud"}


def test_idempotent_per_case_across_requests(sa_client, ext):
    """Sending the same outcomes again stores nothing new: duplicates, or conflicts."""
    assert post(sa_client, [item(ext[0]), item(ext[1])]).json()["counts"]["created"] == 2
    again = post(sa_client, [item(ext[0]), item(ext[1], "legit")]).json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "conflict"]
    assert Outcome.objects.count() == 2
    assert Outcome.objects.get(case__external_id=ext[1]).label == "fraud"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"label": "fraud", "observed_at": WHEN}, "external_id"),
        ({"external_id": "x", "observed_at": WHEN}, "label"),
        ({"external_id": "x", "label": "fraud"}, "observed_at"),
        (item("x", observed_at="2025-03-10T09:30:00"), "observed_at"),  # no timezone
        (item("x", observed_at="2025-13-40T09:30:00Z"), "observed_at"),
        (item("x", observed_at="soon"), "observed_at"),
        (item("x", observed_at="0001-01-01T00:30:00+01:00"), "observed_at"),
        (item("x", observed_at="2025-03-10T09:30:00+99:00"), "observed_at"),
        (item("x", observed_at=12), "observed_at"),
        (item("x", label=["fraud"]), "label"),
        (item("x\x00y"), "external_id"),
        (json.dumps(item("x"))[:-1] + ', "label": "fr\\ud800"}', "label"),
        (json.dumps(item("x"))[:-1] + ', "n": 1e999}', "n"),
        (item("x", note="n"), "non_field_errors"),
        (item("x" * 201), "external_id"),
    ],
)
def test_malformed_items_are_errors_naming_the_field(sa_client, ext, bad, field):
    """A malformed item is an error with a message for its field; the others still count.
    (A string is sent as raw JSON: a lone surrogate or 1e999 the test client cannot encode.)"""
    if isinstance(bad, str):
        raw = '{"outcomes": [' + bad + ", " + json.dumps(item(ext[0])) + "]}"
        response = sa_client.post(URL, raw, content_type="application/json")
    else:
        response = post(sa_client, [bad, item(ext[0])])
    assert response.status_code == 200, response.content
    first, second = response.json()["results"]
    assert first["status"] == "error"
    assert field in first["error"]["details"]
    assert second["status"] == "created"


def test_observed_at_may_be_a_little_ahead_but_not_in_the_future(sa_client, ext):
    """Within the clock skew (5 minutes) is accepted, an hour ahead is refused; offsets work."""
    now = timezone.now()
    soon = (now + timedelta(minutes=2)).isoformat()
    later = (now + timedelta(hours=1)).isoformat()
    body = post(
        sa_client,
        [
            item(ext[0], observed_at=soon),
            item(ext[1], observed_at=later),
            item(ext[2], observed_at="2025-03-10T11:30:00+02:00"),
        ],
    ).json()
    assert [r["status"] for r in body["results"]] == ["created", "error", "created"]
    assert "future" in body["results"][1]["error"]["message"]
    third = Outcome.objects.get(case__external_id=ext[2])
    assert third.observed_at.isoformat() == "2025-03-10T09:30:00+00:00"


def test_service_account_of_another_model_sees_unknown_cases(ml_model, ext):
    """Another model's service account reports for its own model: these ids are unknown."""
    other = make_model(slug="claims-triage")
    client = bearer_client(make_service_account(other)[1])
    body = post(client, [item(ext[0], "legit")]).json()
    assert body["results"][0]["status"] == "unknown_case"
    assert "id" not in body["results"][0]
    assert not Outcome.objects.exists()


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.MANAGER, Role.MODEL_OWNER])
def test_people_may_not_report_outcomes(ml_model, ext, role):
    """Only a model's service account reports outcomes: people get 403."""
    person = make_user(role, team=ml_model.team)
    response = post(bearer_client(token_create(user=person)[1]), [item(ext[0])])
    assert response.status_code == 403
    assert not Outcome.objects.exists()


def test_one_audit_event_per_request_with_counts(sa_client, ext, ml_model):
    """A request writes one outcome.record event with the counts, however many items."""
    before = AuditEvent.objects.filter(action="outcome.record").count()
    post(sa_client, [item(ext[0]), item(ext[1]), item(ext[1], "legit"), item("nope")])
    events = AuditEvent.objects.filter(action="outcome.record")
    assert events.count() == before + 1
    event = events.latest("pk")
    assert event.changes["created"] == 2
    assert event.changes["conflict"] == 1
    assert event.changes["unknown_case"] == 1
    assert event.changes["items"] == 4
    assert (event.target_type, event.target_id) == ("mlmodel", str(ml_model.pk))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"outcomes": []}, 400),
        ({"outcomes": {"external_id": "x"}}, 400),
        ([item("x")], 400),
    ],
)
def test_bad_bodies_are_400(sa_client, body, status):
    """A body that is not {"outcomes": [...]} with at least one item is a 400."""
    assert sa_client.post(URL, body, format="json").status_code == status
    assert not AuditEvent.objects.filter(action="outcome.record").exists()


def test_more_than_the_batch_limit_is_413(sa_client, settings):
    """More items than REVIEWAPP_MAX_BATCH_ITEMS is a 413 and stores nothing."""
    settings.REVIEWAPP_MAX_BATCH_ITEMS = 3
    response = post(sa_client, [item(f"x{i}") for i in range(4)])
    assert response.status_code == 413
    assert "at most 3" in response.json()["error"]["message"]


def test_quality_metrics_roles(ml_model, ext, sa_client, manager, auditor, other_team):
    """Managers of the team and auditors read quality; a reviewer gets 403, a manager of
    another team 404, and the service account 403."""
    post(sa_client, [item(ext[0])])
    params = {"model": ml_model.slug, "from": "2025-03-10", "to": "2025-03-10"}
    for person in (manager, auditor):
        response = bearer_client(token_create(user=person)[1]).get(QUALITY, params)
        assert response.status_code == 200, response.content
        assert response.json()["outcomes"] == 1
    reviewer = make_user(Role.REVIEWER, team=ml_model.team)
    outsider = make_user(Role.MANAGER, team=other_team)
    assert bearer_client(token_create(user=reviewer)[1]).get(QUALITY, params).status_code == 403
    assert bearer_client(token_create(user=outsider)[1]).get(QUALITY, params).status_code == 404
    assert sa_client.get(QUALITY, params).status_code == 403


@pytest.mark.parametrize(
    "params",
    [{}, {"model": "fraud-screening", "from": "x"}, {"model": "fraud-screening", "days": "0"}],
)
def test_quality_metrics_bad_parameters_are_400(ml_model, manager, params):
    """A missing model or a bad period is a 400."""
    client = bearer_client(token_create(user=manager)[1])
    assert client.get(QUALITY, params).status_code == 400


def test_the_database_holds_one_outcome_per_case(sa_client, ext):
    """The unique constraint on the case refuses a second outcome row, whatever the label."""
    post(sa_client, [item(ext[0])])
    first = Outcome.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Outcome.objects.create(
            case_id=first.case_id,
            ml_model_id=first.ml_model_id,
            label="legit",
            observed_at=first.observed_at,
            request_key=uuid.uuid4(),
        )
    assert Outcome.objects.count() == 1
