"""Real responses of every JSON operation validate against the schema /api/schema/ documents
for their status code, with undocumented fields refused (tests/api/openapi.py)."""

import copy

import jsonschema
import pytest
from django.core.cache import cache

from reviewapp.models import Case, Role, RoutingPolicy
from reviewapp.services.accounts import token_create
from reviewapp.services.rollups import rollups_refresh
from tests.api.openapi import Contract, fetch_openapi
from tests.api.test_feed import expire_new_cases, settle, settle_all
from tests.conftest import bearer_client
from tests.factories import case_payload, make_cases, make_user
from tests.metrics_data import DAY, auto_approved_cases, decided_cases

pytestmark = pytest.mark.django_db

JSON_OPERATIONS = {
    "case_submit",
    "case_lookup",
    "cases_submit_batch",
    "case_retrieve",
    "queue_claim",
    "case_decide",
    "case_release",
    "case_skip",
    "case_undo",
    "case_escalate",
    "case_renew",
    "case_reassign",
    "case_reopen",
    "case_comment_add",
    "decisions_feed",
    "metrics_adoption",
    "outcomes_record",
    "metrics_quality",
    "model_documentation",
}


@pytest.fixture(scope="module")
def contract(django_db_setup, django_db_blocker) -> Contract:
    with django_db_blocker.unblock():
        return Contract(fetch_openapi())


@pytest.fixture
def rita(reviewer):
    return bearer_client(token_create(user=reviewer)[1])


@pytest.fixture
def leo(lead):
    return bearer_client(token_create(user=lead)[1])


def _claim(client, slug="fraud-screening"):
    return client.post(f"/api/v1/queues/{slug}/claim", format="json")


def test_every_operation_has_a_stable_id_and_documents_its_errors(contract):
    """Each operation has a named id, a component for its 2xx body and Error for its 4xx."""
    assert set(contract.operations) == JSON_OPERATIONS | {"export_labels"}
    for operation_id, operation in contract.operations.items():
        codes = set(operation["responses"])
        assert "401" in codes, operation_id
        for code, response in operation["responses"].items():
            for media_type, content in response.get("content", {}).items():
                ref = content["schema"].get("$ref", "")
                if code.startswith("4"):
                    assert ref == "#/components/schemas/Error", (operation_id, code)
                elif media_type == "application/json":
                    assert ref.startswith("#/components/schemas/"), (operation_id, code)


def test_response_components_have_no_loose_objects(contract):
    """Every object in a response component names its fields or declares itself a map."""
    loose = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and not (
                "properties" in node or "additionalProperties" in node
            ):
                loose.append(where)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    for name, schema in contract.document["components"]["schemas"].items():
        if not name.endswith("Request"):
            walk(schema, name)
    assert not loose


def test_case_component_documents_every_field(contract):
    """The Case component lists all 26 fields and marks them required."""
    case = contract.document["components"]["schemas"]["Case"]
    assert len(case["properties"]) == 26
    assert set(case["required"]) == set(case["properties"])


def test_an_undocumented_field_fails_validation(contract):
    """The contract refuses a field the schema does not name, and a missing one."""
    schema = contract.schema_for("case_release", 200, "application/json")
    body = {
        "id": 1,
        "status": "queued",
        "assigned_to": None,
        "lease_expires_at": None,
        "escalated": False,
    }
    contract.validator(schema).validate(body)
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        contract.validator(schema).validate({**body, "secret": 1})
    with pytest.raises(jsonschema.ValidationError, match="required"):
        contract.validator(schema).validate({k: v for k, v in body.items() if k != "escalated"})


@pytest.mark.parametrize(
    "variant",
    ["full", "no_explanation", "no_scores", "open_contribution", "auto_approved"],
)
def test_submit_created_and_replayed(contract, ml_model, sa_client, variant):
    """POST /cases: 201 on create and 200 on an identical replay match the Case component."""
    payload = case_payload()
    if variant == "no_explanation":
        del payload["explanation"]
    elif variant == "no_scores":
        del payload["prediction"]["scores"]
        payload["explanation"] = {"contributions": []}
    elif variant == "open_contribution":
        payload["explanation"] = {
            "base_value": None,
            "summary": None,
            "contributions": [{"feature": "amount", "weight": 0.2, "note": "kept as sent"}],
        }
    elif variant == "auto_approved":
        payload = case_payload(confidence=0.97)
    created = sa_client.post("/api/v1/cases", payload, format="json")
    assert created.status_code == 201, created.content
    body = contract.check(created, "case_submit")
    replay = sa_client.post("/api/v1/cases", copy.deepcopy(payload), format="json")
    assert replay.status_code == 200, replay.content
    assert contract.check(replay, "case_submit")["id"] == body["id"]


def test_submit_errors_use_the_error_component(contract, ml_model, sa_client, reviewer):
    """400, 401, 403, 409 and 415 answers of submit match the Error component."""
    bad = sa_client.post("/api/v1/cases", {"external_id": ""}, format="json")
    assert bad.status_code == 400
    contract.check(bad, "case_submit")
    payload = case_payload()
    sa_client.post("/api/v1/cases", payload, format="json")
    conflict = sa_client.post(
        "/api/v1/cases", {**payload, "metadata": {"source": "other"}}, format="json"
    )
    assert conflict.status_code == 409
    contract.check(conflict, "case_submit")
    wrong_type = sa_client.post("/api/v1/cases", "x=1", content_type="text/plain")
    assert wrong_type.status_code == 415
    contract.check(wrong_type, "case_submit")
    person = bearer_client(token_create(user=reviewer)[1])
    forbidden = person.post("/api/v1/cases", payload, format="json")
    assert forbidden.status_code == 403
    contract.check(forbidden, "case_submit")
    anonymous = bearer_client("not-a-token").post("/api/v1/cases", payload, format="json")
    assert anonymous.status_code == 401
    contract.check(anonymous, "case_submit")


def test_batch_results(contract, ml_model, sa_client):
    """POST /cases/batch with created, duplicate and error items matches BatchResult."""
    first = case_payload()
    items = [first, case_payload(), copy.deepcopy(first), {"external_id": "x"}, "not an object"]
    response = sa_client.post("/api/v1/cases/batch", {"cases": items}, format="json")
    assert response.status_code == 200, response.content
    body = contract.check(response, "cases_submit_batch")
    assert [r["status"] for r in body["results"]] == [
        "created",
        "created",
        "duplicate",
        "error",
        "error",
    ]
    empty = sa_client.post("/api/v1/cases/batch", {"cases": []}, format="json")
    assert empty.status_code == 400
    contract.check(empty, "cases_submit_batch")


def test_read_by_id_and_look_up(contract, ml_model, sa_client, reviewer, rita):
    """GET /cases/{id} and GET /cases?external_id= match Case and CaseList, decided or not."""
    (waiting, blind) = make_cases(ml_model, 2)
    Case.objects.filter(pk=blind).update(is_blind=True)
    claimed = _claim(rita).json()["id"]
    rita.post(f"/api/v1/cases/{claimed}/decision", {"action": "accept"}, format="json")
    for case_id in (waiting, blind):
        body = contract.check(sa_client.get(f"/api/v1/cases/{case_id}"), "case_retrieve")
        assert body["id"] == case_id
    decided = contract.check(sa_client.get(f"/api/v1/cases/{claimed}"), "case_retrieve")
    assert decided["decision"] is not None
    external_id = Case.objects.get(pk=claimed).external_id
    found = contract.check(
        sa_client.get("/api/v1/cases", {"external_id": external_id}), "case_lookup"
    )
    assert [c["id"] for c in found["results"]] == [claimed]
    missing = sa_client.get("/api/v1/cases/999999")
    assert missing.status_code == 404
    contract.check(missing, "case_retrieve")
    no_param = sa_client.get("/api/v1/cases")
    assert no_param.status_code == 400
    contract.check(no_param, "case_lookup")


def test_blind_case_as_its_reviewer_sees_it(contract, ml_model, rita):
    """A blind case read by its reviewer (claim, then by id) has null prediction and
    explanation and still matches Case."""
    (case_id,) = make_cases(ml_model, 1)
    Case.objects.filter(pk=case_id).update(is_blind=True)
    claimed = contract.check(_claim(rita), "queue_claim")
    assert claimed["prediction"] is None
    assert claimed["explanation"] is None
    read = contract.check(rita.get(f"/api/v1/cases/{case_id}"), "case_retrieve")
    assert read["prediction"] is None


def test_review_workflow(contract, ml_model, rita, leo, lead):
    """Claim, decide, release, escalate, renew, reassign and reopen match their components."""
    make_cases(ml_model, 3)
    first = contract.check(_claim(rita), "queue_claim")
    decided = rita.post(
        f"/api/v1/cases/{first['id']}/decision",
        {"action": "override", "final_label": "legit", "reason_code": "wrong_label"},
        format="json",
    )
    assert decided.status_code == 200, decided.content
    assert contract.check(decided, "case_decide")["decision"]["action"] == "override"
    again = rita.post(f"/api/v1/cases/{first['id']}/decision", {"action": "accept"}, format="json")
    assert again.status_code == 409
    contract.check(again, "case_decide")

    second = _claim(rita).json()["id"]
    renewed = rita.post(f"/api/v1/cases/{second}/renew", format="json")
    assert renewed.status_code == 200, renewed.content
    contract.check(renewed, "case_renew")
    released = rita.post(f"/api/v1/cases/{second}/release", format="json")
    assert released.status_code == 200, released.content
    assert contract.check(released, "case_release")["assigned_to"] is None
    not_claimed = rita.post(f"/api/v1/cases/{second}/release", format="json")
    assert not_claimed.status_code == 409
    contract.check(not_claimed, "case_release")

    third = _claim(rita).json()["id"]
    reassigned = leo.post(f"/api/v1/cases/{third}/reassign", {"to": lead.username}, format="json")
    assert reassigned.status_code == 200, reassigned.content
    contract.check(reassigned, "case_reassign")
    escalated = leo.post(f"/api/v1/cases/{third}/escalate", {"note": "unsure"}, format="json")
    assert escalated.status_code == 200, escalated.content
    assert contract.check(escalated, "case_escalate")["escalated"] is True
    no_note = leo.post(f"/api/v1/cases/{third}/escalate", {}, format="json")
    assert no_note.status_code == 400
    contract.check(no_note, "case_escalate")

    reopened = leo.post(f"/api/v1/cases/{first['id']}/reopen", {"note": "recheck"}, format="json")
    assert reopened.status_code == 200, reopened.content
    contract.check(reopened, "case_reopen")
    missing = rita.post("/api/v1/cases/999999/release", format="json")
    assert missing.status_code == 404
    contract.check(missing, "case_release")


def test_case_comment(contract, ml_model, rita, leo, auditor):
    """A comment, a bad comment and an auditor's refused comment match their components."""
    (case_id,) = make_cases(ml_model, 1)
    url = f"/api/v1/cases/{case_id}/comments"
    added = rita.post(url, {"text": "Ask @leo <b>please</b>"}, format="json")
    assert added.status_code == 201, added.content
    body = contract.check(added, "case_comment_add")
    assert body["text"] == "Ask @leo <b>please</b>"
    assert len(body["mentions"]) == 1
    nul = leo.post(url, {"text": "a\u0000b"}, format="json")
    assert nul.status_code == 400
    contract.check(nul, "case_comment_add")
    refused = bearer_client(token_create(user=auditor)[1]).post(url, {"text": "x"}, format="json")
    assert refused.status_code == 403
    contract.check(refused, "case_comment_add")


def test_skip_and_undo(contract, ml_model, rita, settings):
    """Skip (200, 409) and undo (200 with the case, 409 after the window) match their
    components."""
    settings.REVIEWAPP_UNDO_WINDOW_S = 10
    make_cases(ml_model, 2)
    held = _claim(rita).json()["id"]
    skipped = rita.post(f"/api/v1/cases/{held}/skip", format="json")
    assert skipped.status_code == 200, skipped.content
    assert contract.check(skipped, "case_skip")["status"] == "queued"
    again = rita.post(f"/api/v1/cases/{held}/skip", format="json")
    assert again.status_code == 409
    contract.check(again, "case_skip")
    other = _claim(rita).json()["id"]
    rita.post(f"/api/v1/cases/{other}/decision", {"action": "accept"}, format="json")
    undone = rita.post(f"/api/v1/cases/{other}/undo", format="json")
    assert undone.status_code == 200, undone.content
    assert contract.check(undone, "case_undo")["status"] == "assigned"
    nothing = rita.post(f"/api/v1/cases/{other}/undo", format="json")
    assert nothing.status_code == 409
    contract.check(nothing, "case_undo")


def test_claim_errors(contract, ml_model, manager):
    """A manager may not claim (403) and unknown models look missing (404)."""
    client = bearer_client(token_create(user=manager)[1])
    forbidden = _claim(client)
    assert forbidden.status_code == 403
    contract.check(forbidden, "queue_claim")
    missing = _claim(client, "no-such-model")
    assert missing.status_code in (403, 404)
    contract.check(missing, "queue_claim")


@pytest.mark.django_db(transaction=True)
def test_decision_feed(contract, ml_model, reviewer, sa_client):
    """GET /decisions pages match DecisionFeed (with a next URL, then without)."""
    rita = bearer_client(token_create(user=reviewer)[1])
    make_cases(ml_model, 2)
    for _ in range(2):
        case_id = _claim(rita).json()["id"]
        rita.post(f"/api/v1/cases/{case_id}/decision", {"action": "accept"}, format="json")
    settle(ml_model)
    page = contract.check(sa_client.get("/api/v1/decisions", {"limit": 1}), "decisions_feed")
    assert len(page["results"]) == 1
    assert page["next"]
    rest = contract.check(sa_client.get(page["next"]), "decisions_feed")
    assert rest["next"] is None
    bad = sa_client.get("/api/v1/decisions", {"after": "%%%"})
    assert bad.status_code == 400
    contract.check(bad, "decisions_feed")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fallback", ["apply_model", "hold"])
def test_decision_feed_with_expired_rows(contract, ml_model, reviewer, sa_client, fallback):
    """A feed page mixing case.decided and case.expired rows matches DecisionFeed."""
    RoutingPolicy.objects.filter(ml_model=ml_model).update(fallback_action=fallback)
    rita = bearer_client(token_create(user=reviewer)[1])
    make_cases(ml_model, 1)
    case_id = _claim(rita).json()["id"]
    rita.post(f"/api/v1/cases/{case_id}/decision", {"action": "accept"}, format="json")
    expire_new_cases(ml_model, 1)
    settle_all(ml_model)
    page = contract.check(sa_client.get("/api/v1/decisions"), "decisions_feed")
    assert [r["event"] for r in page["results"]] == ["case.decided", "case.expired"]
    assert page["results"][1]["fallback_applied"] == fallback


def test_adoption_metrics(contract, ml_model, reviewer, manager):
    """GET /metrics/adoption with decisions, breakdowns and trust rows matches
    AdoptionMetrics; a bad date is the Error component."""
    cache.clear()
    other = make_user(Role.REVIEWER, team=ml_model.team)
    decided_cases(ml_model, reviewer, accepts=5, overrides=2, reasons=["policy"])
    decided_cases(ml_model, other, accepts=1, blind=True)
    auto_approved_cases(ml_model, 3)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    client = bearer_client(token_create(user=manager)[1])
    params = {"model": ml_model.slug, "from": DAY.isoformat(), "to": DAY.isoformat()}
    response = client.get("/api/v1/metrics/adoption", params)
    assert response.status_code == 200, response.content
    body = contract.check(response, "metrics_adoption")
    assert body["by_reviewer"]
    assert body["by_band"]
    assert body["daily"]
    filtered = client.get("/api/v1/metrics/adoption", {**params, "band": 5, "label": "fraud"})
    contract.check(filtered, "metrics_adoption")
    bad = client.get("/api/v1/metrics/adoption", {**params, "from": "yesterday"})
    assert bad.status_code == 400
    contract.check(bad, "metrics_adoption")
    csv = client.get("/api/v1/metrics/adoption", {**params, "format": "csv"})
    assert csv.status_code == 200
    contract.schema_for("metrics_adoption", 200, csv["Content-Type"].split(";")[0])
    cache.clear()


def test_label_export_documents_its_media_types(contract, ml_model, reviewer, manager):
    """GET /export/labels answers one of the text media types it documents."""
    decided_cases(ml_model, reviewer, accepts=1)
    client = bearer_client(token_create(user=manager)[1])
    for fmt in ("jsonl", "csv"):
        response = client.get("/api/v1/export/labels", {"model": ml_model.slug, "format": fmt})
        assert response.status_code == 200
        media_type = response["Content-Type"].split(";")[0]
        assert contract.schema_for("export_labels", 200, media_type) == {"type": "string"}
        b"".join(response.streaming_content)
    missing = client.get("/api/v1/export/labels", {"model": "no-such-model"})
    assert missing.status_code == 404
    contract.check(missing, "export_labels")


def test_outcomes_and_quality(contract, ml_model, sa_client, manager):
    """POST /outcomes with every item status and GET /metrics/quality (empty and with
    figures) match OutcomeBatchResult and QualityMetrics; their 400s the Error component."""
    ids = make_cases(ml_model, 2)
    external = list(Case.objects.filter(pk__in=ids).values_list("external_id", flat=True))
    items = [
        {"external_id": external[0], "label": "fraud", "observed_at": "2025-03-10T09:00:00Z"},
        {"external_id": external[0], "label": "fraud", "observed_at": "2025-03-10T09:00:00Z"},
        {"external_id": external[0], "label": "legit", "observed_at": "2025-03-10T09:00:00Z"},
        {"external_id": "nope", "label": "fraud", "observed_at": "2025-03-10T09:00:00Z"},
        {"external_id": external[1], "label": "cat", "observed_at": "yesterday"},
        "not an object",
    ]
    response = sa_client.post("/api/v1/outcomes", {"outcomes": items}, format="json")
    assert response.status_code == 200, response.content
    body = contract.check(response, "outcomes_record")
    assert [r["status"] for r in body["results"]] == [
        "created",
        "duplicate",
        "conflict",
        "unknown_case",
        "error",
        "error",
    ]
    contract.check(sa_client.post("/api/v1/outcomes", {}, format="json"), "outcomes_record")
    client = bearer_client(token_create(user=manager)[1])
    params = {"model": ml_model.slug, "from": "2025-03-10", "to": "2025-03-10"}
    body = contract.check(client.get("/api/v1/metrics/quality", params), "metrics_quality")
    assert body["outcomes"] == 1
    assert len(body["by_version"]) == 1
    empty = {**params, "from": "2025-03-01", "to": "2025-03-02"}
    nothing = contract.check(client.get("/api/v1/metrics/quality", empty), "metrics_quality")
    assert nothing["reviewed"]["model_accuracy_ci"] is None
    bad = client.get("/api/v1/metrics/quality", {**params, "to": "soon"})
    assert bad.status_code == 400
    contract.check(bad, "metrics_quality")


@pytest.mark.parametrize(
    ("operation_id", "url"),
    [
        ("case_lookup", "/api/v1/cases?external_id=a%00b"),
        ("case_lookup", "/api/v1/cases?external_id=a&model=%00"),
        ("decisions_feed", "/api/v1/decisions?model=a%00b"),
        ("metrics_adoption", "/api/v1/metrics/adoption?model=fraud-screening&version=%00"),
        ("metrics_quality", "/api/v1/metrics/quality?model=fraud%00screening"),
        ("export_labels", "/api/v1/export/labels?model=fraud-screening&label%00=x"),
    ],
)
def test_nul_in_a_query_parameter_is_a_400(contract, ml_model, manager, operation_id, url):
    """A NUL in a query parameter (PostgreSQL text cannot hold one) is a documented 400."""
    client = bearer_client(token_create(user=manager)[1])
    response = client.get(url)
    assert response.status_code == 400, response.content
    body = contract.check(response, operation_id)
    assert "NUL" in body["error"]["message"]
