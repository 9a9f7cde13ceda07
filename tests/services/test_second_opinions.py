"""Second opinions (two-person review): routing asks for N independent reviewers, each answer
is an opinion, agreement decides and publishes once, disagreement goes to a lead who sees
every opinion and decides; claims never serve a case to someone who already answered it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.errors import Conflict
from reviewapp.models import (
    AuditEvent,
    Case,
    CaseOpinion,
    CaseStatus,
    Decision,
    EscalationSource,
    Role,
    RoutingPolicy,
    RoutingReason,
    WebhookDelivery,
)
from reviewapp.permissions import user_may_see_opinions
from reviewapp.selectors.opinions import case_opinions, opinion_agreement
from reviewapp.services.decisions import case_decide, decision_reopen, decision_undo
from reviewapp.services.queue import case_claim_next
from reviewapp.services.routing import second_opinions_required
from tests.factories import make_cases, make_model, make_user
from tests.services import test_webhooks

pytestmark = pytest.mark.django_db

receiver = test_webhooks.receiver
allow_private = test_webhooks.allow_private
hooked = test_webhooks.hooked


@pytest.fixture
def two_person(ml_model):
    """The model's policy asks two independent reviewers for every case that goes to people."""
    RoutingPolicy.objects.filter(ml_model=ml_model, status="active").update(reviewers_required=2)
    return ml_model


@pytest.fixture
def ron(team):
    return make_user(Role.REVIEWER, team=team, username="ron")


def _claim(ml_model, user) -> Case:
    case = case_claim_next(ml_model=ml_model, reviewer=user)
    assert case is not None
    return case


def _answer(ml_model, user, label: str = "fraud", case_id: int | None = None):
    case = _claim(ml_model, user)
    if case_id is not None:
        assert case.pk == case_id
    if label == case.predicted_label:
        return case_decide(case=case, reviewer=user, action="accept")
    return case_decide(
        case=case, reviewer=user, action="override", final_label=label, reason_code="wrong_label"
    )


@pytest.mark.parametrize(
    ("rules", "label", "confidence", "expected"),
    [
        ({"reviewers_required": 1}, "fraud", 0.5, 1),
        ({"reviewers_required": 2}, "fraud", 0.5, 2),  # no selectors: every queued case
        ({"reviewers_required": 3, "second_opinion_labels": ["fraud"]}, "fraud", 0.9, 3),
        ({"reviewers_required": 3, "second_opinion_labels": ["fraud"]}, "legit", 0.1, 1),
        ({"reviewers_required": 2, "second_opinion_below": 0.6}, "legit", 0.55, 2),
        ({"reviewers_required": 2, "second_opinion_below": 0.6}, "legit", 0.6, 1),
    ],
)
def test_policy_selects_the_cases_that_need_independent_reviewers(
    rules, label, confidence, expected
):
    """Labels and a confidence band select the cases; with neither, every queued case."""
    policy = RoutingPolicy(**rules)
    assert second_opinions_required(policy=policy, label=label, confidence=confidence) == expected


def test_routing_stores_the_requirement_and_the_reason(team):
    """A selected case is queued needing N reviewers, with the second_opinion reason code."""
    ml_model = make_model(team=team, reviewers_required=2, second_opinion_labels=["fraud"])
    fraud, legit = (
        make_cases(ml_model, 1, label="fraud")[0],
        make_cases(ml_model, 1, label="legit")[0],
    )
    case = Case.objects.get(pk=fraud)
    assert case.reviews_required == 2
    assert RoutingReason.SECOND_OPINION in case.routing_reasons
    assert "2 independent reviewers" in case.routing_detail
    assert Case.objects.get(pk=legit).reviews_required == 1


def test_agreement_decides_once_from_the_last_opinion(two_person, reviewer, ron, hooked):
    """The first answer is an opinion (nothing published, case back in the queue); the second
    reviewer's agreeing answer decides the case: one Decision, one webhook outbox row."""
    (case_id,) = make_cases(two_person, 1)
    first = _answer(two_person, reviewer, "fraud", case_id)
    assert isinstance(first, CaseOpinion)
    case = Case.objects.get(pk=case_id)
    assert (case.status, case.assigned_to_id) == (CaseStatus.QUEUED, None)
    assert not Decision.objects.filter(case_id=case_id).exists()
    assert not WebhookDelivery.objects.exists()
    assert AuditEvent.objects.filter(action="case.opinion_given", target_id=str(case_id)).count()
    decision = _answer(two_person, ron, "fraud", case_id)
    assert isinstance(decision, Decision)
    assert (decision.reviewer, decision.final_label) == (ron, "fraud")
    assert Case.objects.get(pk=case_id).status == CaseStatus.DECIDED
    assert Decision.objects.filter(case_id=case_id).count() == 1
    assert WebhookDelivery.objects.filter(decision__case_id=case_id).count() == 1
    assert CaseOpinion.objects.filter(case_id=case_id, undone_at=None).count() == 2


def test_disagreement_goes_to_a_lead_who_sees_both_and_decides_once(
    two_person, reviewer, ron, lead, hooked
):
    """Different labels escalate the case (source disagreement) without a decision; the lead
    is served it, sees both opinions, and the lead's decision is the one published."""
    (case_id,) = make_cases(two_person, 1)
    _answer(two_person, reviewer, "fraud", case_id)
    second = _answer(two_person, ron, "legit", case_id)
    assert isinstance(second, CaseOpinion)
    case = Case.objects.get(pk=case_id)
    assert (case.status, case.escalation_source) == (
        CaseStatus.ESCALATED,
        EscalationSource.DISAGREEMENT,
    )
    assert not Decision.objects.filter(case_id=case_id).exists()
    assert not WebhookDelivery.objects.exists()
    held = _claim(two_person, lead)
    assert held.pk == case_id
    assert user_may_see_opinions(lead, held)
    assert [(o.reviewer.username, o.final_label) for o in case_opinions(held)] == [
        ("rita", "fraud"),
        ("ron", "legit"),
    ]
    decision = case_decide(
        case=held, reviewer=lead, action="override", final_label="legit", reason_code="policy"
    )
    assert isinstance(decision, Decision)
    assert Decision.objects.filter(case_id=case_id).count() == 1
    assert WebhookDelivery.objects.filter(decision__case_id=case_id).count() == 1


def test_the_next_reviewer_does_not_see_earlier_opinions(two_person, reviewer, ron, lead, manager):
    """While opinions are missing, whoever may still answer sees none (a lead too); people
    who do not review and everyone after the decision see them."""
    (case_id,) = make_cases(two_person, 1)
    _answer(two_person, reviewer, "fraud", case_id)
    held = _claim(two_person, ron)
    assert not user_may_see_opinions(ron, held)
    assert not user_may_see_opinions(lead, held)
    assert user_may_see_opinions(manager, held)
    case_decide(case=held, reviewer=ron, action="accept")
    assert user_may_see_opinions(ron, Case.objects.get(pk=case_id))


def test_claims_never_serve_a_case_to_someone_who_answered_it(two_person, reviewer):
    """After an opinion the same reviewer's claims pass the case over, for good."""
    first, second = make_cases(two_person, 2)
    _answer(two_person, reviewer, "fraud", first)
    assert _claim(two_person, reviewer).pk == second
    _answer(two_person, reviewer, "fraud", second)
    assert case_claim_next(ml_model=two_person, reviewer=reviewer) is None


def test_a_lead_who_gave_an_opinion_is_not_served_the_disagreement(
    two_person, reviewer, lead, team
):
    """The lead answered as one of the reviewers: the disagreement goes to another lead."""
    other_lead = make_user(Role.LEAD, team=team, username="lara")
    (case_id,) = make_cases(two_person, 1)
    _answer(two_person, lead, "fraud", case_id)
    _answer(two_person, reviewer, "legit", case_id)
    assert case_claim_next(ml_model=two_person, reviewer=lead) is None
    assert _claim(two_person, other_lead).pk == case_id


def test_reopened_case_is_not_served_to_its_decider(ml_model, reviewer, ron, lead):
    """A lead reopens a decided case: it waits again, but not for the person who decided."""
    (case_id,) = make_cases(ml_model, 1)
    _answer(ml_model, reviewer, "fraud", case_id)
    decision_reopen(case=Case.objects.get(pk=case_id), lead=lead, note="check again")
    assert case_claim_next(ml_model=ml_model, reviewer=reviewer) is None
    assert _claim(ml_model, ron).pk == case_id


def test_opinion_undo_within_the_window(two_person, reviewer, ron, settings):
    """The reviewer undoes their opinion: it is kept, marked undone, the case is theirs again,
    and their next answer is their opinion. After the window, or once someone took the case,
    409."""
    settings.REVIEWAPP_UNDO_WINDOW_S = 10
    (case_id,) = make_cases(two_person, 1)
    opinion = _answer(two_person, reviewer, "fraud", case_id)
    case = decision_undo(case=Case.objects.get(pk=case_id), reviewer=reviewer)
    assert (case.status, case.assigned_to_id) == (CaseStatus.ASSIGNED, reviewer.pk)
    opinion.refresh_from_db()
    assert opinion.undone_at is not None
    assert AuditEvent.objects.filter(action="case.opinion_undone").count() == 1
    again = case_decide(
        case=Case.objects.get(pk=case_id),
        reviewer=reviewer,
        action="override",
        final_label="legit",
        reason_code="wrong_label",
    )
    assert isinstance(again, CaseOpinion)
    _claim(two_person, ron)  # someone took the case since
    with pytest.raises(Conflict) as refused:
        decision_undo(case=Case.objects.get(pk=case_id), reviewer=reviewer)
    assert refused.value.code == "undo_window_passed"


def test_opinion_undo_after_the_window_is_409(two_person, reviewer, settings):
    """Past the undo window the opinion stands."""
    settings.REVIEWAPP_UNDO_WINDOW_S = 10
    (case_id,) = make_cases(two_person, 1)
    opinion = _answer(two_person, reviewer, "fraud", case_id)
    CaseOpinion.objects.filter(pk=opinion.pk).update(
        given_at=timezone.now() - timedelta(seconds=11)
    )
    with pytest.raises(Conflict):
        decision_undo(case=Case.objects.get(pk=case_id), reviewer=reviewer)
    assert CaseOpinion.objects.get(pk=opinion.pk).undone_at is None


def test_undoing_the_disagreement_takes_the_case_back_from_the_leads(
    two_person, reviewer, ron, settings
):
    """The opinion that caused the escalation is undone: the case is its reviewer's again."""
    settings.REVIEWAPP_UNDO_WINDOW_S = 10
    (case_id,) = make_cases(two_person, 1)
    _answer(two_person, reviewer, "fraud", case_id)
    _answer(two_person, ron, "legit", case_id)
    case = decision_undo(case=Case.objects.get(pk=case_id), reviewer=ron)
    case = Case.objects.get(pk=case_id)
    assert (case.status, case.assigned_to_id, case.escalated_at) == (
        CaseStatus.ASSIGNED,
        ron.pk,
        None,
    )
    decision = case_decide(case=case, reviewer=ron, action="accept")
    assert isinstance(decision, Decision)


def test_undoing_an_agreeing_decision_withdraws_its_opinion(two_person, reviewer, ron, settings):
    """The decision an agreement produced is undone: the last opinion goes with it."""
    settings.REVIEWAPP_UNDO_WINDOW_S = 10
    (case_id,) = make_cases(two_person, 1)
    _answer(two_person, reviewer, "fraud", case_id)
    _answer(two_person, ron, "fraud", case_id)
    decision_undo(case=Case.objects.get(pk=case_id), reviewer=ron)
    assert CaseOpinion.objects.filter(case_id=case_id, undone_at=None).count() == 1
    result = case_decide(
        case=Case.objects.get(pk=case_id),
        reviewer=ron,
        action="override",
        final_label="legit",
        reason_code="wrong_label",
    )
    assert isinstance(result, CaseOpinion)
    assert Case.objects.get(pk=case_id).status == CaseStatus.ESCALATED


def test_agreement_rates_per_reviewer_and_pair(two_person, reviewer, ron, team):
    """Pairs of opinions on one case: agreement per reviewer and per pair."""
    sam = make_user(Role.REVIEWER, team=team, username="sam")
    a, b = make_cases(two_person, 2)
    _answer(two_person, reviewer, "fraud", a)
    _answer(two_person, ron, "fraud", a)
    _answer(two_person, reviewer, "fraud", b)
    _answer(two_person, sam, "legit", b)
    today = timezone.localdate()
    agreement = opinion_agreement(ml_models=[two_person], date_from=today, date_to=today)
    assert (agreement.cases, agreement.compared, agreement.agreed) == (2, 2, 1)
    rates = {r.names: (r.compared, r.agreed) for r in agreement.by_reviewer}
    assert rates == {("rita",): (2, 1), ("ron",): (1, 1), ("sam",): (1, 0)}
    pairs = {r.names: r.rate for r in agreement.by_pair}
    assert pairs == {("rita", "ron"): 1.0, ("rita", "sam"): 0.0}


def test_single_review_cases_are_unchanged(ml_model, reviewer):
    """A policy asking one reviewer keeps the usual path: the answer is the decision."""
    (case_id,) = make_cases(ml_model, 1)
    assert isinstance(_answer(ml_model, reviewer, "fraud", case_id), Decision)
    assert not CaseOpinion.objects.exists()
