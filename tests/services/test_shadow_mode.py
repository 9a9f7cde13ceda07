"""Shadow mode (issue 10, point 6): every case goes to people, reviewed blind, none
auto-approved, with routing text that gives nothing away; turning it on takes the usual
four-eyes policy change."""

import random

import pytest
from django.test import Client
from django.urls import reverse

from reviewapp.case_rules import BLIND_ROUTING_TEXT, routing_codes, routing_text
from reviewapp.models import Case, CaseStatus, DecisionAction, PolicyStatus, RoutingReason
from reviewapp.services.decisions import case_decide
from reviewapp.services.policies import policy_decide, policy_propose
from reviewapp.services.queue import case_claim_next
from reviewapp.services.routing import route_case
from tests.factories import make_cases, make_model

pytestmark = pytest.mark.django_db


def shadow_on(ml_model, model_owner, manager):
    """Turn shadow mode on the way owners do: a proposal a manager approves."""
    proposal = policy_propose(
        ml_model=ml_model, proposer=model_owner, changes={"shadow_mode": True}
    )
    return policy_decide(policy=proposal, manager=manager, approve=True)


@pytest.mark.parametrize("shadow", [False, True])
def test_route_case_in_shadow_mode_reviews_every_case_blind(ml_model, shadow):
    """A confident, unsampled case is auto-approved normally; in shadow mode it is queued with
    reason shadow_mode and is blind even with a blind sample rate of 0."""
    policy = ml_model.policies.get(status=PolicyStatus.ACTIVE)
    policy.shadow_mode = shadow
    outcome = route_case(
        policy=policy,
        ml_model=ml_model,
        label="fraud",
        confidence=0.99,
        data={},
        rng=random.Random(1),
    )
    if shadow:
        assert outcome.status == CaseStatus.QUEUED
        assert outcome.reasons == [RoutingReason.SHADOW_MODE]
        assert outcome.is_blind is True
        assert "shadow mode" in outcome.detail
    else:
        assert outcome.status == CaseStatus.AUTO_APPROVED
        assert outcome.is_blind is False


def test_shadow_cases_from_intake_are_queued_blind_and_none_auto_approved(
    ml_model, model_owner, manager
):
    """After the shadow policy is approved, 20 confident cases all wait for people, blind;
    the cases received before stay auto-approved under the old policy."""
    before = make_cases(ml_model, 3, confidence=0.97)
    shadow_on(ml_model, model_owner, manager)
    after = make_cases(ml_model, 20, confidence=0.97)
    assert set(Case.objects.filter(pk__in=before).values_list("status", flat=True)) == {
        CaseStatus.AUTO_APPROVED
    }
    cases = list(Case.objects.filter(pk__in=after))
    assert {c.status for c in cases} == {CaseStatus.QUEUED}
    assert all(c.is_blind for c in cases)
    assert all(RoutingReason.SHADOW_MODE in c.routing_reasons for c in cases)


def test_reviewer_sees_no_trace_of_the_answer_then_agreement_counts_as_accept(
    ml_model, model_owner, manager, reviewer
):
    """The claimant of a shadow case reads the neutral reason, not "shadow mode" or the
    confidence; naming the model's label blind is recorded as an accept."""
    shadow_on(ml_model, model_owner, manager)
    make_cases(ml_model, 1, confidence=0.97, label="fraud")
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert routing_text(case, reviewer) == BLIND_ROUTING_TEXT
    assert routing_codes(case, reviewer) == ["blind_review"]
    assert "shadow" in routing_text(case, manager).lower(), "managers read the real reason"
    client = Client()
    client.force_login(reviewer)
    html = client.get(reverse("review-case", args=[case.pk])).content.decode()
    assert BLIND_ROUTING_TEXT in html
    assert "shadow mode" not in html.lower()
    assert "0.97" not in html
    assert "97%" not in html
    decision = case_decide(
        case=case, reviewer=reviewer, action="override", final_label="fraud", reason_code=""
    )
    assert decision.action == DecisionAction.ACCEPT
    assert decision.was_blind is True


def test_shadow_mode_stays_on_a_new_model_until_changed(team):
    """A model registered with shadow mode on its policy routes even a certain case to people
    (the factory sets the active policy's rules)."""
    ml_model = make_model(team=team, shadow_mode=True)
    [pk] = make_cases(ml_model, 1, confidence=1.0)
    assert Case.objects.get(pk=pk).status == CaseStatus.QUEUED
