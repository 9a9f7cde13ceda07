"""POST /api/v1/cases/{id}/decision on a case that needs two independent reviewers: the first
answer is an opinion (200, case back in the queue, nothing published), the next reviewer's
case body hides it, the lead's shows both; every body matches the documented schema."""

import pytest

from reviewapp.models import Decision, Role, RoutingPolicy
from reviewapp.services.accounts import token_create
from tests.api.openapi import Contract, fetch_openapi
from tests.conftest import bearer_client
from tests.factories import make_cases, make_model, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def contract(django_db_setup, django_db_blocker) -> Contract:
    with django_db_blocker.unblock():
        return Contract(fetch_openapi())


def _client(user):
    return bearer_client(token_create(user=user)[1])


def test_two_person_review_over_the_api(contract, ml_model, reviewer, lead, team):
    """Opinion, hidden from the next reviewer, disagreement to the lead, one decision."""
    RoutingPolicy.objects.filter(ml_model=ml_model, status="active").update(reviewers_required=2)
    (case_id,) = make_cases(ml_model, 1)
    rita, leo = _client(reviewer), _client(lead)
    ron = _client(make_user(Role.REVIEWER, team=team, username="ron"))
    claimed = rita.post("/api/v1/queues/fraud-screening/claim", format="json")
    body = contract.check(claimed, "queue_claim")
    assert (body["reviews_required"], body["opinions_given"], body["opinions"]) == (2, 0, None)
    given = rita.post(f"/api/v1/cases/{case_id}/decision", {"action": "accept"}, format="json")
    assert given.status_code == 200, given.content
    body = contract.check(given, "case_decide")
    assert (body["status"], body["decision"], body["opinions_given"]) == ("queued", None, 1)
    assert body["opinion"]["final_label"] == "fraud"
    assert not Decision.objects.exists()
    again = rita.post("/api/v1/queues/fraud-screening/claim", format="json")
    assert again.status_code == 204  # never the case she answered
    seen = contract.check(
        ron.post("/api/v1/queues/fraud-screening/claim", format="json"), "queue_claim"
    )
    assert (seen["id"], seen["opinions_given"], seen["opinions"]) == (case_id, 1, None)
    by_id = contract.check(ron.get(f"/api/v1/cases/{case_id}"), "case_retrieve")
    assert by_id["opinions"] is None
    override = {"action": "override", "final_label": "legit", "reason_code": "wrong_label"}
    second = ron.post(f"/api/v1/cases/{case_id}/decision", override, format="json")
    assert contract.check(second, "case_decide")["status"] == "escalated"
    lead_view = contract.check(
        leo.post("/api/v1/queues/fraud-screening/claim", format="json"), "queue_claim"
    )
    assert [o["final_label"] for o in lead_view["opinions"]] == ["fraud", "legit"]
    decided = leo.post(f"/api/v1/cases/{case_id}/decision", override, format="json")
    assert contract.check(decided, "case_decide")["status"] == "decided"
    assert Decision.objects.filter(case_id=case_id).count() == 1


def test_blind_case_hides_how_many_reviewers_it_needs(contract, team):
    """ "Needs two reviewers" could give a high-stakes label away: hidden with the answer."""
    ml_model = make_model(
        team=team,
        slug="blind-two",
        blind_sample_rate=1.0,
        reviewers_required=2,
        second_opinion_labels=["fraud"],
    )
    (case_id,) = make_cases(ml_model, 1)
    rita = _client(make_user(Role.REVIEWER, team=team, username="rita"))
    body = contract.check(rita.post("/api/v1/queues/blind-two/claim", format="json"), "queue_claim")
    assert body["id"] == case_id
    assert (body["reviews_required"], body["opinions_given"], body["opinions"]) == (
        None,
        None,
        None,
    )
    assert body["routing_reasons"] == ["blind_review"]
    labelled = {"action": "override", "final_label": "fraud", "reason_code": "wrong_label"}
    given = rita.post(f"/api/v1/cases/{case_id}/decision", labelled, format="json")
    body = contract.check(given, "case_decide")
    assert (body["status"], body["reviews_required"]) == ("queued", None)
    assert body["opinion"]["action"] == "accept"  # the model's own label, named blind
