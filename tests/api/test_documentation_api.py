"""GET /api/v1/models/{model}/versions/{version}/documentation: the card in force and its
revisions, validated against /api/schema/; who may read it; 404s."""

import pytest

from reviewapp.models import ModelVersion, Role
from reviewapp.services.accounts import token_create
from tests.api.openapi import Contract, fetch_openapi
from tests.conftest import bearer_client
from tests.factories import make_cases, make_documentation, make_team, make_user

pytestmark = pytest.mark.django_db

OPERATION = "model_documentation"


@pytest.fixture(scope="module")
def contract(django_db_setup, django_db_blocker) -> Contract:
    with django_db_blocker.unblock():
        return Contract(fetch_openapi())


def client_for(user):
    return bearer_client(token_create(user=user)[1])


def path(ml_model, version: str) -> str:
    return f"/api/v1/models/{ml_model.slug}/versions/{version}/documentation"


def test_undocumented_then_documented(contract, ml_model, reviewer, model_owner):
    """Before: documented false, current null; after two saves: revision 2 in force and
    both revisions listed newest first, each matching the schema."""
    make_cases(ml_model, 1, model_version="2.3.0")
    version = ModelVersion.objects.get(ml_model=ml_model, version="2.3.0")
    rita = client_for(reviewer)
    body = contract.check(rita.get(path(ml_model, "2.3.0")), OPERATION)
    assert body["documented"] is False
    assert body["current"] is None
    assert body["version_status"] == "active"
    make_documentation(version, model_owner)
    make_documentation(version, model_owner, oncall_contact="pager 555")
    body = contract.check(rita.get(path(ml_model, "2.3.0")), OPERATION)
    assert body["documented"] is True
    assert body["current"]["revision"] == 2
    assert body["current"]["oncall_contact"] == "pager 555"
    assert body["current"]["created_by"] == model_owner.pseudonym
    assert [r["revision"] for r in body["revisions"]] == [2, 1]


def test_service_account_reads_its_own_model_only(contract, ml_model, sa_client):
    """The model's service account reads it; an unknown version and another team's model are
    404s documented with the Error component."""
    make_cases(ml_model, 1, model_version="1.0.0")
    assert sa_client.get(path(ml_model, "1.0.0")).status_code == 200
    missing = sa_client.get(path(ml_model, "nope"))
    assert missing.status_code == 404
    contract.check(missing, OPERATION)
    outsider = client_for(make_user(Role.REVIEWER, team=make_team("elsewhere")))
    hidden = outsider.get(path(ml_model, "1.0.0"))
    assert hidden.status_code == 404
    contract.check(hidden, OPERATION)
    admin = client_for(make_user(Role.ADMIN))
    assert admin.get(path(ml_model, "1.0.0")).status_code == 403
