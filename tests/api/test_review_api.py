"""The review workflow over REST: claim, decide, release, escalate, renew, reassign, reopen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, CaseStatus, Decision, Role
from reviewapp.services.accounts import token_create
from tests.conftest import bearer_client
from tests.factories import make_cases, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(reviewer):
    return bearer_client(token_create(user=reviewer)[1])


@pytest.fixture
def leo(lead):
    return bearer_client(token_create(user=lead)[1])


def _claim(client, slug="fraud-screening"):
    return client.post(f"/api/v1/queues/{slug}/claim", format="json")


def test_claim_returns_the_case_then_the_same_case(ml_model, rita):
    """200 with the case body; claiming again returns the same case."""
    make_cases(ml_model, 2)
    first = _claim(rita)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["status"] == "assigned"
    assert body["prediction"]["label"] == "fraud"
    assert body["lease_expires_at"] is not None
    assert body["decision"] is None
    assert _claim(rita).json()["id"] == body["id"]


def test_claim_on_empty_queue_is_204(ml_model, rita):
    """Nothing waiting: 204 with no body."""
    response = _claim(rita)
    assert response.status_code == 204
    assert response.content == b""


def test_claim_blind_case_hides_the_model_answer(ml_model, rita):
    """Blind-sampled cases come without prediction and explanation."""
    (case_id,) = make_cases(ml_model, 1)
    Case.objects.filter(pk=case_id).update(is_blind=True)
    body = _claim(rita).json()
    assert body["blind"] is True
    assert body["prediction"] is None
    assert body["explanation"] is None


def test_claim_unknown_or_foreign_model_is_404(ml_model, other_team, make_user):
    """Models of teams you are not in look missing; managers of the team get 403."""
    outsider = make_user(Role.REVIEWER, team=other_team)
    client = bearer_client(token_create(user=outsider)[1])
    assert _claim(client).status_code == 404
    assert _claim(client, "no-such-model").status_code == 404
    manager = make_user(Role.MANAGER, team=ml_model.team)
    response = _claim(bearer_client(token_create(user=manager)[1]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_decide_accept_and_override(ml_model, rita):
    """Decide by claimant: accept, then override with a reason."""
    make_cases(ml_model, 2)
    case_id = _claim(rita).json()["id"]
    response = rita.post(
        f"/api/v1/cases/{case_id}/decision", {"action": "accept", "feedback": "ok"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["decision"]["final_label"] == "fraud"
    case_id = _claim(rita).json()["id"]
    response = rita.post(
        f"/api/v1/cases/{case_id}/decision",
        {"action": "override", "final_label": "legit", "reason_code": "data_error"},
        format="json",
    )
    assert response.status_code == 200
    assert Decision.objects.get(case_id=case_id).reason_code == "data_error"


def test_decide_errors(ml_model, rita):
    """400 for bad label or reason, 409 without claim and when decided."""
    a, b = make_cases(ml_model, 2)
    no_claim = rita.post(f"/api/v1/cases/{b}/decision", {"action": "accept"}, format="json")
    assert no_claim.status_code == 409
    assert no_claim.json()["error"]["code"] == "no_live_claim"
    case_id = _claim(rita).json()["id"]
    assert case_id == a
    url = f"/api/v1/cases/{case_id}/decision"
    bad_label = rita.post(
        url, {"action": "override", "final_label": "nope", "reason_code": "other"}, format="json"
    )
    assert bad_label.status_code == 400
    assert "final_label" in bad_label.json()["error"]["details"]
    bad_reason = rita.post(
        url, {"action": "override", "final_label": "legit", "reason_code": "x"}, format="json"
    )
    assert bad_reason.status_code == 400
    assert rita.post(url, {"action": "maybe"}, format="json").status_code == 400
    assert rita.post(url, {"action": "accept"}, format="json").status_code == 200
    again = rita.post(url, {"action": "accept"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_decided"


def test_release_and_escalate(ml_model, rita, leo):
    """Release gives the case back; escalate needs a note and reaches the leads."""
    make_cases(ml_model, 1)
    case_id = _claim(rita).json()["id"]
    released = rita.post(f"/api/v1/cases/{case_id}/release", format="json")
    assert released.status_code == 200
    assert released.json()["status"] == "queued"
    assert _claim(rita).json()["id"] == case_id
    no_note = rita.post(f"/api/v1/cases/{case_id}/escalate", {}, format="json")
    assert no_note.status_code == 400
    escalated = rita.post(f"/api/v1/cases/{case_id}/escalate", {"note": "odd"}, format="json")
    assert escalated.json()["status"] == "escalated"
    assert _claim(rita).status_code == 204
    lead_claim = _claim(leo).json()
    assert (lead_claim["id"], lead_claim["escalated"]) == (case_id, True)


def test_renew_extends_the_lease(ml_model, rita, leo):
    """The claimant renews; anyone else gets 409."""
    make_cases(ml_model, 1)
    case_id = _claim(rita).json()["id"]
    Case.objects.filter(pk=case_id).update(lease_expires_at=timezone.now() + timedelta(seconds=3))
    response = rita.post(f"/api/v1/cases/{case_id}/renew", format="json")
    assert response.status_code == 200
    assert Case.objects.get(pk=case_id).lease_expires_at > timezone.now() + timedelta(minutes=5)
    assert leo.post(f"/api/v1/cases/{case_id}/renew", format="json").status_code == 409


def test_reassign_by_lead_only(ml_model, reviewer, rita, leo):
    """A lead reassigns a claim by username; reviewers get 403; unknown users 400."""
    make_cases(ml_model, 1)
    case_id = _claim(rita).json()["id"]
    other = make_user(Role.REVIEWER, team=ml_model.team, username="olga")
    url = f"/api/v1/cases/{case_id}/reassign"
    assert rita.post(url, {"to": "olga"}, format="json").status_code == 403
    assert leo.post(url, {"to": "nobody"}, format="json").status_code == 400
    response = leo.post(url, {"to": "olga"}, format="json")
    assert response.status_code == 200
    assert response.json()["assigned_to"] == other.pseudonym
    assert Case.objects.get(pk=case_id).assigned_to == other
    assert AuditEvent.objects.filter(action="case.reassigned", target_id=str(case_id)).exists()


def test_reopen_by_lead(ml_model, rita, leo):
    """A lead reopens a decided case with a note; it waits again."""
    make_cases(ml_model, 1)
    case_id = _claim(rita).json()["id"]
    rita.post(f"/api/v1/cases/{case_id}/decision", {"action": "accept"}, format="json")
    url = f"/api/v1/cases/{case_id}/reopen"
    assert rita.post(url, {"note": "x"}, format="json").status_code == 403
    assert leo.post(url, {}, format="json").status_code == 400
    response = leo.post(url, {"note": "wrong policy"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == CaseStatus.QUEUED
    assert leo.post(url, {"note": "again"}, format="json").status_code == 409
    detail = rita.get(f"/api/v1/cases/{case_id}").json()
    assert detail["status"] == "queued"
    assert detail["decision"] is None


def test_foreign_case_is_404(ml_model, other_team, make_user):
    """Case ids of other teams look missing for every review endpoint."""
    (case_id,) = make_cases(ml_model, 1)
    outsider = make_user(Role.LEAD, team=other_team)
    client = bearer_client(token_create(user=outsider)[1])
    for op in ("decision", "release", "escalate", "renew", "reassign", "reopen"):
        body = {"action": "accept", "note": "x", "to": "rita"}
        response = client.post(f"/api/v1/cases/{case_id}/{op}", body, format="json")
        assert response.status_code == 404, op
    assert AuditEvent.objects.filter(action="permission.denied", actor=outsider).count() == 6
    assert client.post("/api/v1/cases/99999/release", format="json").status_code == 404


def test_claim_and_decide_request_queries(ml_model, rita, django_assert_max_num_queries):
    """Claim and decide over HTTP stay within a fixed number of queries."""
    make_cases(ml_model, 5)
    with django_assert_max_num_queries(11):
        case_id = _claim(rita).json()["id"]
    with django_assert_max_num_queries(11):
        response = rita.post(
            f"/api/v1/cases/{case_id}/decision", {"action": "accept"}, format="json"
        )
    assert response.status_code == 200


def test_schema_documents_the_review_endpoints(rita, ml_model):
    """The OpenAPI schema lists the review operations."""
    schema = rita.get("/api/schema/?format=json").json()
    for p in ("/api/v1/queues/{model}/claim", "/api/v1/cases/{case_id}/decision"):
        assert p in schema["paths"]
