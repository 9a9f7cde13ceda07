"""Hostile input (NUL, lone surrogates, 1e400, deep nesting) is a 4xx per item, never a 500:
nothing is written for the bad item and the valid items of a batch are kept."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from reviewapp.models import AuditEvent, Case, CaseStatus, Decision
from reviewapp.services import intake
from reviewapp.services.accounts import token_create
from reviewapp.validation import json_problems
from tests.conftest import bearer_client
from tests.factories import case_payload, make_cases

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases"
BATCH_URL = "/api/v1/cases/batch"
INF = "__INF__"  # placeholder, written into the body text as 1e400 (parses as a float inf)


def _deep(levels: int) -> str:
    """A placeholder for a value nested ``levels`` lists deep, written into the body text
    (lists: 100,000 levels stay under the 256 KiB limit of a single case)."""
    return f"__DEEP_{levels}__"


def _raw(body: Any) -> str:
    """The body as JSON text. ``json.dumps`` escapes NUL as \\u0000 and a lone surrogate as
    \\ud800, so they reach the server as JSON escapes; placeholders become 1e400 or nesting."""
    text = json.dumps(body)
    text = text.replace(f'"{INF}"', "1e400")
    for levels in (400, 1000, 100_000):
        text = text.replace(f'"{_deep(levels)}"', "[" * levels + "1" + "]" * levels)
    return text


def _post_raw(client: APIClient, url: str, body: Any):
    return client.post(url, data=_raw(body), content_type="application/json")


def _set(path: tuple, value: Any) -> Callable[[dict], dict]:
    def change(body: dict) -> dict:
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return body

    return change


def _add_input_key(key: str) -> Callable[[dict], dict]:
    def change(body: dict) -> dict:
        body["input"][key] = 1
        return body

    return change


# name -> (change to a valid case, the error's path in "details"; None: the body is refused)
HOSTILE_ITEMS: dict[str, tuple[Callable[[dict], dict], str | None]] = {
    "NUL in external_id": (_set(("external_id",), "txn\x00-1"), "external_id"),
    "NUL in a feature name": (_add_input_key("amo\x00unt"), "input.amo\\u0000unt"),
    "NUL in a value": (_set(("input", "country"), "D\x00E"), "input.country"),
    "NUL in metadata": (_set(("metadata", "source"), "check\x00out"), "metadata.source"),
    "NUL in model_version": (_set(("model_version",), "2.3\x00"), "model_version"),
    "NUL in an explanation feature": (
        _set(("explanation", "contributions", 0, "feature"), "age\x00"),
        "explanation.contributions[0].feature",
    ),
    "lone surrogate in a value": (_set(("input", "country"), "\ud800"), "input.country"),
    "lone surrogate in external_id": (_set(("external_id",), "txn-\ud800"), "external_id"),
    "lone surrogate in a feature name": (_add_input_key("\ud800"), "input.\\ud800"),
    "lone surrogate in the summary": (
        _set(("explanation", "summary"), "odd \udfff"),
        "explanation.summary",
    ),
    "lone surrogate in priority": (_set(("priority",), "\ud800"), "priority"),
    "1e400 in input": (_set(("input", "amount"), INF), "input.amount"),
    "1e400 in metadata": (_set(("metadata", "score"), INF), "metadata.score"),
    "1e400 as an explanation weight": (
        _set(("explanation", "contributions", 0, "weight"), INF),
        "explanation.contributions[0].weight",
    ),
    "1e400 as the base value": (_set(("explanation", "base_value"), INF), "explanation.base_value"),
    "nested 400 deep": (_set(("input", "nested"), _deep(400)), "input.nested"),
    "nested 1,000 deep": (_set(("input", "nested"), _deep(1000)), None),
    "nested 100,000 deep": (_set(("metadata", "nested"), _deep(100_000)), None),
}
ITEM_IDS = list(HOSTILE_ITEMS)


def _hostile(name: str) -> tuple[dict, str | None]:
    change, path = HOSTILE_ITEMS[name]
    return change(case_payload(external_id="bad-1")), path


def _error_path_matches(details: dict, path: str) -> bool:
    """The error names the field (deep nesting is reported where the limit is crossed)."""
    return any(key == path or key.startswith((f"{path}.", f"{path}[")) for key in details)


def _submitted_audit_targets() -> set[str]:
    return set(
        AuditEvent.objects.filter(action="case.submitted").values_list("target_id", flat=True)
    )


@pytest.mark.parametrize("name", ITEM_IDS)
def test_single_submit_refuses_hostile_input(sa_client, name):
    """Single submit: 400 with the field's path; no case and no audit row are written."""
    body, path = _hostile(name)
    response = _post_raw(sa_client, URL, body)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["message"].strip()
    if path is None:
        assert error["code"] == "malformed"
    else:
        assert error["code"] == "invalid"
        assert _error_path_matches(error["details"], path), error["details"]
    assert Case.objects.count() == 0
    assert _submitted_audit_targets() == set()


@pytest.mark.parametrize("name", ITEM_IDS)
def test_batch_keeps_valid_items_around_a_hostile_one(sa_client, name):
    """Batch: the hostile item is its own error (or the unreadable body a 400); the rest stay."""
    bad, path = _hostile(name)
    items = [case_payload(external_id="good-a"), bad, case_payload(external_id="good-b")]
    response = _post_raw(sa_client, BATCH_URL, {"cases": items})
    if path is None:
        assert response.status_code == 400, response.content[:300]
        assert response.json()["error"]["code"] == "malformed"
        assert Case.objects.count() == 0
        assert _submitted_audit_targets() == set()
        return
    assert response.status_code == 200, response.content[:300]
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "created"]
    error = results[1]["error"]
    assert error["code"] == "invalid"
    assert error["message"].strip()
    assert _error_path_matches(error["details"], path), error["details"]
    assert set(Case.objects.values_list("external_id", flat=True)) == {"good-a", "good-b"}
    assert _submitted_audit_targets() == {str(results[0]["id"]), str(results[2]["id"])}


@pytest.mark.parametrize(
    ("bad_external_id", "bad_input"),
    [
        pytest.param("bad-\ud800", None, id="lone surrogate that cannot be encoded"),
        pytest.param("bad-inf", {"amount": float("inf")}, id="inf the database refuses"),
        pytest.param("bad-\x00", None, id="NUL PostgreSQL refuses", marks=pytest.mark.postgres),
    ],
)
@pytest.mark.parametrize("size", [3, 60], ids=["small batch", "COPY-sized batch"])
def test_database_refusal_is_the_items_own_error(
    service_account, ml_model, monkeypatch, bad_external_id, bad_input, size
):
    """With the validator switched off, a row the database refuses still fails alone."""
    monkeypatch.setattr(intake, "json_problems", lambda *args, **kwargs: [])
    user, _token = service_account
    items = [case_payload(external_id=f"ok-{i:03}") for i in range(size)]
    bad = case_payload(external_id=bad_external_id)
    if bad_input is not None:
        bad["input"] = bad_input
    items.insert(1, bad)
    results = intake.cases_submit(ml_model=ml_model, items=items, submitted_by=user)
    assert results[1].status == "error"
    assert results[1].message().startswith(intake.NOT_STORED)
    assert results[1].as_dict()["error"]["message"].strip()
    assert [r.status for r in results[:1] + results[2:]] == ["created"] * size
    assert Case.objects.count() == size
    assert all(e.startswith("ok-") for e in Case.objects.values_list("external_id", flat=True))
    assert len(_submitted_audit_targets()) == size


def test_single_submit_refused_by_the_database_is_a_400(sa_client, monkeypatch):
    """No StopIteration: a single case the database refuses answers 400 with a message."""
    monkeypatch.setattr(intake, "json_problems", lambda *args, **kwargs: [])
    body = case_payload(external_id="bad-\ud800")
    response = _post_raw(sa_client, URL, body)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["message"].startswith(intake.NOT_STORED)
    assert Case.objects.count() == 0


def test_walker_does_not_recurse_and_reports_the_path():
    """100,000 levels of Python lists are walked without RecursionError; the path is exact."""
    root: list = []
    node = root
    for _ in range(100_000):
        child: list = []
        node.append(child)
        node = child
    [(path, message)] = json_problems(root, path="input", max_depth=3)
    assert path == "input[0][0][0]"
    assert message == "Nested deeper than 3 levels."
    assert json_problems({"k" * 201: 1, "s": "x" * 100_001}, limit=5) == [
        ("k" * 40 + "…", "Keys may be at most 200 characters."),
        ("s", "At most 100,000 characters."),
    ]


# --- the decision body ------------------------------------------------------------------


@pytest.fixture
def claimed(ml_model, reviewer):
    """(a reviewer's API client, the id of the case that reviewer holds a live claim on)."""
    make_cases(ml_model, 1)
    client = bearer_client(token_create(user=reviewer)[1])
    claim = client.post(f"/api/v1/queues/{ml_model.slug}/claim", format="json")
    assert claim.status_code == 200, claim.content[:300]
    return client, claim.json()["id"]


OVERRIDE = {"action": "override", "final_label": "legit", "reason_code": "other"}
HOSTILE_DECISIONS = {
    "NUL in feedback": {**OVERRIDE, "feedback": "fine\x00"},
    "NUL in final_label": {**OVERRIDE, "final_label": "legit\x00"},
    "NUL in reason_code": {**OVERRIDE, "reason_code": "other\x00"},
    "lone surrogate in feedback": {**OVERRIDE, "feedback": "fine \ud800"},
    "lone surrogate in final_label": {**OVERRIDE, "final_label": "\udfff"},
    "lone surrogate in action": {**OVERRIDE, "action": "\ud800"},
    "1e400 as final_label": {**OVERRIDE, "final_label": INF},
    "nested 400 deep feedback": {**OVERRIDE, "feedback": _deep(400)},
    "nested 1,000 deep feedback": {**OVERRIDE, "feedback": _deep(1000)},
    "nested 100,000 deep feedback": {**OVERRIDE, "feedback": _deep(100_000)},
}


@pytest.mark.parametrize("name", list(HOSTILE_DECISIONS))
def test_decision_refuses_hostile_input(claimed, name):
    """Decision: 400 with a message; the case stays claimed and undecided, nothing audited."""
    client, case_id = claimed
    response = _post_raw(client, f"/api/v1/cases/{case_id}/decision", HOSTILE_DECISIONS[name])
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["message"].strip()
    case = Case.objects.get(pk=case_id)
    assert case.status == CaseStatus.ASSIGNED
    assert case.decided_at is None
    assert not Decision.objects.filter(case_id=case_id).exists()
    assert not AuditEvent.objects.filter(action="case.decided").exists()


def test_decision_with_nul_or_surrogate_in_feedback_then_a_clean_one(claimed):
    """NUL / lone surrogate in feedback and final_label are 400s; a clean retry decides."""
    client, case_id = claimed
    url = f"/api/v1/cases/{case_id}/decision"
    for body in (
        {**OVERRIDE, "feedback": "a\x00b"},
        {**OVERRIDE, "final_label": "legit\x00"},
        {**OVERRIDE, "feedback": "\ud800"},
        {**OVERRIDE, "final_label": "\ud800"},
    ):
        response = _post_raw(client, url, body)
        assert response.status_code == 400, response.content[:300]
        assert Case.objects.get(pk=case_id).decided_at is None
    assert _post_raw(client, url, {**OVERRIDE, "feedback": "ok"}).status_code == 200
    assert Decision.objects.get(case_id=case_id).feedback == "ok"


def test_review_page_refuses_nul_in_feedback_and_note(client, reviewer, ml_model):
    """The reviewer's page: a NUL in the posted feedback or note is a 400, not a 500 (a plain
    form post is sent back with the message), and nothing is decided or escalated."""
    make_cases(ml_model, 1)
    client.force_login(reviewer)
    claim = client.post(reverse("review-claim-next", args=[ml_model.slug]))
    assert claim.status_code == 302
    case_id = int(claim.url.rstrip("/").rsplit("/", 1)[-1])
    decide_url = reverse("review-decide", args=[case_id])
    escalate_url = reverse("review-escalate", args=[case_id])
    nul_feedback = {"action": "accept", "feedback": "a\x00b"}
    assert client.post(decide_url, nul_feedback, HTTP_HX_REQUEST="true").status_code == 400
    assert client.post(escalate_url, {"note": "why\x00"}, HTTP_HX_REQUEST="true").status_code == 400
    assert client.post(decide_url, nul_feedback).status_code == 302  # back, with the message
    case = Case.objects.get(pk=case_id)
    assert case.status == CaseStatus.ASSIGNED
    assert case.escalated_at is None
    assert not Decision.objects.filter(case_id=case_id).exists()
