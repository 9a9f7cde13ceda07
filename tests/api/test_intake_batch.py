"""Batch intake: one result per item in order, valid items kept, duplicates and conflicts."""

import pytest
from django.db import connection

from reviewapp.models import AuditEvent, Case, CaseStatus
from tests.factories import case_payload

pytestmark = pytest.mark.django_db

BATCH_URL = "/api/v1/cases/batch"


def test_mixed_batch_keeps_valid_items_and_answers_in_order(sa_client):
    """Valid, invalid, replayed and conflicting items each get their own result, in order."""
    stored = sa_client.post("/api/v1/cases", case_payload(external_id="old"), format="json")
    assert stored.status_code == 201
    items = [
        case_payload(external_id="a"),
        case_payload(external_id="b", label="cat"),
        case_payload(external_id="old"),
        case_payload(external_id="old", confidence=0.99),
        "not an object",
        case_payload(external_id="c", confidence=0.95),
    ]
    # "old" twice with different bodies: the first replays, the second differs in-batch.
    response = sa_client.post(BATCH_URL, {"cases": items}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r["status"] for r in results] == [
        "created",
        "error",
        "duplicate",
        "error",
        "error",
        "created",
    ]
    assert results[1]["error"]["code"] == "invalid"
    assert "prediction.label" in results[1]["error"]["details"]
    assert results[2]["id"] == stored.json()["id"]
    assert results[3]["error"]["code"] == "conflict"
    assert results[4]["error"]["details"] == {
        "non_field_errors": ["Each case must be a JSON object."]
    }
    assert response.json()["counts"] == {"created": 2, "duplicate": 1, "error": 3}
    assert set(Case.objects.values_list("external_id", flat=True)) == {"old", "a", "c"}
    by_ext = dict(Case.objects.values_list("external_id", "status"))
    assert by_ext["a"] == CaseStatus.QUEUED
    assert by_ext["c"] == CaseStatus.AUTO_APPROVED
    assert results[0]["id"] == Case.objects.get(external_id="a").pk


def test_conflict_with_stored_case_is_an_item_error(sa_client):
    """A stored external_id submitted with a different body is a per-item conflict."""
    sa_client.post("/api/v1/cases", case_payload(external_id="x"), format="json")
    response = sa_client.post(
        BATCH_URL, {"cases": [case_payload(external_id="x", confidence=0.9)]}, format="json"
    )
    [result] = response.json()["results"]
    assert result["status"] == "error"
    assert result["error"]["code"] == "conflict"
    assert Case.objects.count() == 1


def test_in_batch_identical_repeat_is_duplicate_of_first(sa_client):
    """The same body twice in one batch: created once, the repeat points at the same case."""
    item = case_payload(external_id="rep")
    response = sa_client.post(BATCH_URL, [item, dict(item)], format="json")
    first, second = response.json()["results"]
    assert (first["status"], second["status"]) == ("created", "duplicate")
    assert second["id"] == first["id"]
    assert Case.objects.filter(external_id="rep").count() == 1


def test_in_batch_repeat_with_different_body_is_conflict(sa_client):
    """The same external_id with a different body later in the batch is a conflict error."""
    response = sa_client.post(
        BATCH_URL,
        [case_payload(external_id="rep"), case_payload(external_id="rep", confidence=0.9)],
        format="json",
    )
    first, second = response.json()["results"]
    assert first["status"] == "created"
    assert second["status"] == "error"
    assert second["error"]["code"] == "conflict"
    assert Case.objects.get(external_id="rep").confidence == pytest.approx(0.62)


def test_in_batch_repeat_of_a_conflicting_item_is_also_a_conflict(sa_client):
    """A repeat of an item that conflicts with a stored case is not reported as a duplicate."""
    sa_client.post("/api/v1/cases", case_payload(external_id="x"), format="json")
    changed = case_payload(external_id="x", confidence=0.9)
    response = sa_client.post(BATCH_URL, [changed, dict(changed)], format="json")
    statuses = [(r["status"], r.get("error", {}).get("code")) for r in response.json()["results"]]
    assert statuses == [("error", "conflict"), ("error", "conflict")]


def test_batch_replay_is_all_duplicates(sa_client):
    """Replaying a whole batch creates nothing new and writes no new submission events."""
    items = [case_payload(external_id=f"r-{i}") for i in range(20)]
    first = sa_client.post(BATCH_URL, {"cases": items}, format="json").json()
    events = AuditEvent.objects.filter(action="case.submitted").count()
    again = sa_client.post(BATCH_URL, {"cases": items}, format="json").json()
    assert again["counts"] == {"created": 0, "duplicate": 20, "error": 0}
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert AuditEvent.objects.filter(action="case.submitted").count() == events == 20
    assert Case.objects.count() == 20


def test_batch_key_order_does_not_matter_for_replay(sa_client):
    """A replay with the JSON keys in another order is still a duplicate."""
    item = case_payload(external_id="k")
    reordered = dict(reversed(list(item.items())))
    sa_client.post(BATCH_URL, [item], format="json")
    [result] = sa_client.post(BATCH_URL, [reordered], format="json").json()["results"]
    assert result["status"] == "duplicate"


def test_batch_audits_each_created_case_with_request_context(sa_client):
    """Each created case leaves case.submitted with request id, IP and user agent."""
    items = [case_payload(external_id=f"au-{i}") for i in range(3)]
    response = sa_client.post(
        BATCH_URL,
        {"cases": items},
        format="json",
        HTTP_X_REQUEST_ID="req-batch-1",
        HTTP_USER_AGENT="scorer/1.0",
        REMOTE_ADDR="10.1.2.3",
    )
    ids = {str(r["id"]) for r in response.json()["results"]}
    events = AuditEvent.objects.filter(action="case.submitted")
    assert {e.target_id for e in events} == ids
    for event in events:
        assert event.target_type == "case"
        assert event.request_id == response["X-Request-ID"]  # the server's id
        assert event.changes["client_request_id"] == "req-batch-1"
        assert event.ip == "10.1.2.3"
        assert event.user_agent == "scorer/1.0"
        assert event.actor.username.startswith("svc-")
        assert event.actor_role == "service_account"
        assert event.changes["status"] == "queued"
        assert event.changes["routing_reasons"] == ["low_confidence"]
    assert len(response["X-Request-ID"]) == 32


def test_batch_query_count_does_not_grow_with_size(sa_client, django_assert_max_num_queries):
    """A batch of 200 new cases costs a fixed handful of queries, not one per item (SQLite
    splits multi-row INSERTs at 999 parameters, so it gets a few more)."""
    sa_client.post(BATCH_URL, [case_payload(external_id="warm")], format="json")
    items = [case_payload(external_id=f"q-{i}") for i in range(200)]
    with django_assert_max_num_queries(10 if connection.vendor == "postgresql" else 20):
        response = sa_client.post(BATCH_URL, {"cases": items}, format="json")
    assert response.json()["counts"]["created"] == 200


def test_single_submit_query_count(sa_client, django_assert_max_num_queries):
    """One new case (known model version) costs a fixed small number of queries."""
    sa_client.post("/api/v1/cases", case_payload(external_id="warm"), format="json")
    with django_assert_max_num_queries(10):
        response = sa_client.post("/api/v1/cases", case_payload(external_id="n1"), format="json")
    assert response.status_code == 201


def test_large_batch_stores_every_field_and_audits(sa_client):
    """A batch big enough for the bulk-load path stores each case exactly as submitted and
    audits each one with the request context; the events seal and verify."""
    from reviewapp.services.audit import audit_seal, audit_verify

    items = [case_payload(external_id=f"big-{i:03d}") for i in range(120)]
    items[7]["explanation"] = None
    items[8].pop("metadata")
    items[9]["priority"] = "urgent"
    response = sa_client.post(
        BATCH_URL, {"cases": items}, format="json", HTTP_X_REQUEST_ID="req-big"
    )
    assert response.json()["counts"] == {"created": 120, "duplicate": 0, "error": 0}
    results = response.json()["results"]
    for item, result in zip(items, results, strict=True):
        case = Case.objects.select_related("model_version", "submitted_by").get(pk=result["id"])
        assert case.external_id == item["external_id"] == result["external_id"]
        assert case.input == item["input"]
        assert case.predicted_label == item["prediction"]["label"]
        assert case.confidence == item["prediction"]["confidence"]
        assert case.scores == item["prediction"]["scores"]
        assert case.explanation == item.get("explanation")
        assert case.metadata == item.get("metadata", {})
        assert case.model_version.version == item["model_version"]
        assert case.submitted_by.is_service_account
        assert case.status == "queued"
        assert case.routing_reasons == ["low_confidence"]
        assert case.sla_due_at > case.created_at
    assert Case.objects.get(external_id="big-009").priority_name == "urgent"
    events = AuditEvent.objects.filter(action="case.submitted")
    assert sorted(int(e.target_id) for e in events) == sorted(r["id"] for r in results)
    assert {e.request_id for e in events} == {response["X-Request-ID"]}
    assert {e.changes["client_request_id"] for e in events} == {"req-big"}
    assert {e.changes["status"] for e in events} == {"queued"}
    audit_seal()
    assert audit_verify().ok
    replay = sa_client.post(BATCH_URL, {"cases": items}, format="json").json()
    assert replay["counts"] == {"created": 0, "duplicate": 120, "error": 0}
