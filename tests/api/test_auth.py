"""Bearer tokens, who may submit, and who may read which case."""

import hashlib

import pytest
from django.utils import timezone

from reviewapp.models import ApiToken, AuditEvent, Case, Role
from reviewapp.services.accounts import token_create, token_revoke
from tests.conftest import bearer_client
from tests.factories import case_payload, make_model, make_service_account, make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases"


def _assert_401(response) -> None:
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert error["message"]
    assert error["details"] == {}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_no_token_is_401_with_error_body(client):
    """Without credentials the API answers 401 with the error body and a Bearer challenge."""
    _assert_401(client.post(URL, case_payload(), content_type="application/json"))
    _assert_401(client.get("/api/v1/cases?external_id=x"))
    assert Case.objects.count() == 0


@pytest.mark.parametrize(
    "header",
    ["Bearer rva_not-a-real-token", "Bearer", "Bearer a b", "Bearer \u00e9t\u00e9"],
    ids=["unknown", "empty", "two-parts", "non-ascii"],
)
def test_bad_token_is_401(service_account, header):
    """Unknown or malformed bearer tokens answer 401."""
    from rest_framework.test import APIClient

    client = APIClient()
    response = client.post(
        URL, case_payload(), format="json", HTTP_AUTHORIZATION=header.encode().decode("latin-1")
    )
    _assert_401(response)
    assert Case.objects.count() == 0


def test_revoked_token_is_401(service_account):
    """A revoked token stops working at once."""
    user, raw = service_account
    client = bearer_client(raw)
    assert client.post(URL, case_payload(), format="json").status_code == 201
    token_revoke(token=ApiToken.objects.get(user=user), actor=None)
    _assert_401(client.post(URL, case_payload(), format="json"))


def test_token_of_deactivated_account_is_401(service_account):
    """A deactivated service account's token is refused."""
    user, raw = service_account
    user.is_active = False
    user.save(update_fields=["is_active"])
    _assert_401(bearer_client(raw).post(URL, case_payload(), format="json"))


def test_tokens_are_stored_only_as_sha256_digests(service_account):
    """The raw token appears nowhere in the token rows or audit log; the digest is its SHA-256."""
    user, raw = service_account
    token = ApiToken.objects.get(user=user)
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    for row in ApiToken.objects.values():
        assert all(raw not in str(value) for value in row.values())
    secret_part = raw[len(token.prefix) :]
    assert len(secret_part) >= 32
    for row in AuditEvent.objects.values():
        assert all(raw not in str(v) and secret_part not in str(v) for v in row.values())
    assert token.prefix == raw[:12]


def test_last_used_at_is_recorded(service_account):
    """Using a token stamps last_used_at."""
    user, raw = service_account
    assert ApiToken.objects.get(user=user).last_used_at is None
    before = timezone.now()
    bearer_client(raw).get("/api/v1/cases?external_id=nothing")
    used = ApiToken.objects.get(user=user).last_used_at
    assert used is not None
    assert used >= before


def test_last_used_at_write_is_throttled(service_account):
    """A token used twice in a minute is stamped once (no write on every request)."""
    user, raw = service_account
    client = bearer_client(raw)
    client.get("/api/v1/cases?external_id=nothing")
    first = ApiToken.objects.get(user=user).last_used_at
    client.get("/api/v1/cases?external_id=nothing")
    assert ApiToken.objects.get(user=user).last_used_at == first


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.MODEL_OWNER, Role.ADMIN, Role.AUDITOR])
def test_person_session_cannot_submit(ml_model, session_client, role):
    """People cannot submit cases with their session: 403, and the denial is audited."""
    person = make_user(role, team=ml_model.team)
    client = session_client(person)
    response = client.post(URL, case_payload(), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    batch = client.post(URL + "/batch", [case_payload()], format="json")
    assert batch.status_code == 403
    assert Case.objects.count() == 0
    denials = AuditEvent.objects.filter(action="permission.denied", actor=person)
    assert sorted(e.changes["attempted"] for e in denials) == ["case.submit", "case.submit_batch"]
    assert {e.target_id for e in denials} == {URL, URL + "/batch"}


def test_person_token_cannot_submit(ml_model):
    """A person's personal access token cannot submit either (403, audited)."""
    person = make_user(Role.MODEL_OWNER, team=ml_model.team)
    _token, raw = token_create(user=person)
    response = bearer_client(raw).post(URL, case_payload(), format="json")
    assert response.status_code == 403
    assert Case.objects.count() == 0
    assert AuditEvent.objects.filter(action="permission.denied", actor=person).count() == 1


@pytest.fixture
def other_model_case(other_team):
    """A case of another team's model, and that model's service account."""
    other = make_model(team=other_team, slug="claims-triage")
    _user, raw = make_service_account(other)
    response = bearer_client(raw).post(URL, case_payload(external_id="shared-id"), format="json")
    return response.json()["id"]


def test_service_account_cannot_read_another_models_case(
    sa_client, service_account, other_model_case
):
    """Another model's case is 404 (as if missing), and the denial is audited."""
    response = sa_client.get(f"{URL}/{other_model_case}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    missing = sa_client.get(f"{URL}/999999")
    assert missing.json() == response.json()
    denial = AuditEvent.objects.get(action="permission.denied", actor=service_account[0])
    assert denial.target_type == "case"
    assert denial.target_id == str(other_model_case)
    assert not AuditEvent.objects.filter(action="case.viewed", actor=service_account[0]).exists()


def test_service_account_lookup_by_external_id_sees_own_model_only(sa_client, other_model_case):
    """Looking up another model's external_id returns an empty result; its own id is found."""
    response = sa_client.get(URL, {"external_id": "shared-id"})
    assert response.status_code == 200
    assert response.json()["results"] == []
    own = sa_client.post(URL, case_payload(external_id="shared-id"), format="json").json()
    found = sa_client.get(URL, {"external_id": "shared-id"}).json()["results"]
    assert [c["id"] for c in found] == [own["id"]]
    assert own["id"] != other_model_case


def test_service_account_reads_own_case(sa_client):
    """A service account reads its own case with status, reasons and decision."""
    created = sa_client.post(URL, case_payload(external_id="mine"), format="json").json()
    body = sa_client.get(f"{URL}/{created['id']}").json()
    assert body["id"] == created["id"]
    assert body["status"] == "queued"
    assert body["routing_reasons"] == ["low_confidence"]
    assert body["decision"] is None
    assert body["url"] == f"/api/v1/cases/{created['id']}"
    assert AuditEvent.objects.filter(action="case.viewed", target_id=str(created["id"])).exists()


def test_lookup_without_external_id_is_400(sa_client):
    """The look-up needs an external_id."""
    response = sa_client.get(URL)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"external_id": ["Required."]}


def test_reviewer_of_other_team_cannot_read_case(sa_client, other_team, session_client):
    """A reviewer outside the model's team gets 404 for its case."""
    case_id = sa_client.post(URL, case_payload(), format="json").json()["id"]
    outsider = make_user(Role.REVIEWER, team=other_team)
    assert session_client(outsider).get(f"{URL}/{case_id}").status_code == 404
    insider = make_user(Role.REVIEWER, team=Case.objects.get(pk=case_id).ml_model.team)
    assert session_client(insider).get(f"{URL}/{case_id}").status_code == 200
