"""Deciding cases and reopening decisions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.errors import Conflict, InvalidInput, PermissionDenied
from reviewapp.models import AuditEvent, Case, CaseStatus, Decision, Role
from reviewapp.permissions import user_team_ids
from reviewapp.services.decisions import case_decide, decision_reopen
from reviewapp.services.queue import case_claim_next, case_escalate
from tests.factories import make_cases, make_user

pytestmark = pytest.mark.django_db


def _claimed(ml_model, reviewer, **overrides) -> Case:
    make_cases(ml_model, 1, **overrides)
    return case_claim_next(ml_model=ml_model, reviewer=reviewer)


def test_accept_keeps_the_model_label_and_ends_the_claim(ml_model, reviewer):
    """Accept records the predicted label, time spent and closes the case."""
    case = _claimed(ml_model, reviewer)
    decision = case_decide(case=case, reviewer=reviewer, action="accept", feedback="fine")
    assert (decision.final_label, decision.action, decision.feedback) == ("fraud", "accept", "fine")
    assert decision.time_spent_ms >= 0
    stored = Case.objects.get(pk=case.pk)
    assert stored.status == CaseStatus.DECIDED
    assert stored.decided_at is not None
    assert (stored.assigned_to_id, stored.lease_expires_at) == (None, None)
    (event,) = AuditEvent.objects.filter(action="case.decided", target_id=str(case.pk))
    assert event.changes["status"] == ["assigned", "decided"]
    assert event.changes["decision"] == decision.pk


def test_override_needs_a_label_of_the_set_and_a_reason(ml_model, reviewer):
    """Override: another label of the set with one of the policy's reason codes."""
    case = _claimed(ml_model, reviewer)
    bad = [
        {"final_label": "maybe", "reason_code": "other"},
        {"final_label": "fraud", "reason_code": "other"},
        {"final_label": "legit", "reason_code": ""},
        {"final_label": "legit", "reason_code": "made_up"},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidInput):
            case_decide(case=case, reviewer=reviewer, action="override", **kwargs)
    with pytest.raises(InvalidInput):
        case_decide(case=case, reviewer=reviewer, action="shrug")
    decision = case_decide(
        case=case,
        reviewer=reviewer,
        action="override",
        final_label="legit",
        reason_code="missing_context",
        explanation_helpful=False,
    )
    assert (decision.final_label, decision.reason_code) == ("legit", "missing_context")
    assert decision.explanation_helpful is False
    assert Decision.objects.count() == 1


def test_decide_without_claim_is_a_conflict(ml_model, reviewer):
    """No live claim: 409, and nothing is recorded."""
    (case_id,) = make_cases(ml_model, 1)
    with pytest.raises(Conflict) as exc:
        case_decide(case=Case.objects.get(pk=case_id), reviewer=reviewer, action="accept")
    assert exc.value.code == "no_live_claim"
    assert not Decision.objects.exists()


def test_decide_with_lapsed_lease_is_a_conflict(ml_model, reviewer):
    """A lease that ran out is no longer a live claim."""
    case = _claimed(ml_model, reviewer)
    Case.objects.filter(pk=case.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict):
        case_decide(case=case, reviewer=reviewer, action="accept")


def test_decide_twice_is_a_conflict(ml_model, reviewer):
    """A decided case cannot be decided again."""
    case = _claimed(ml_model, reviewer)
    case_decide(case=case, reviewer=reviewer, action="accept")
    with pytest.raises(Conflict) as exc:
        case_decide(case=case, reviewer=reviewer, action="accept")
    assert exc.value.code == "already_decided"
    assert Decision.objects.filter(case_id=case.pk).count() == 1


def test_someone_elses_claim_cannot_be_decided(ml_model, reviewer):
    """Only the claimant decides."""
    case = _claimed(ml_model, reviewer)
    other = make_user(Role.REVIEWER, team=ml_model.team)
    with pytest.raises(Conflict):
        case_decide(case=case, reviewer=other, action="accept")


def test_escalated_case_is_lead_only(ml_model, reviewer, lead):
    """An escalated case claimed by a reviewer (reassigned) may only be decided by a lead."""
    from reviewapp.services.queue import claim_reassign

    case = _claimed(ml_model, reviewer)
    case_escalate(case=case, actor=reviewer, note="unsure")
    claimed = case_claim_next(ml_model=ml_model, reviewer=lead)
    assert claimed.pk == case.pk
    # force the escalated case into a reviewer's hands to prove the rule holds at decide time
    Case.objects.filter(pk=case.pk).update(assigned_to=reviewer)
    with pytest.raises(PermissionDenied):
        case_decide(case=case, reviewer=reviewer, action="accept")
    denial = AuditEvent.objects.get(action="permission.denied", actor=reviewer)
    assert denial.changes == {"attempted": "case.decide"}
    assert not Decision.objects.exists()
    claim_reassign(case=case, lead=lead, to_user=lead)
    decision = case_decide(case=case, reviewer=lead, action="accept")
    assert decision.reviewer == lead


def test_blind_case_decision_is_marked_blind(ml_model, reviewer):
    """was_blind copies the case's blind flag."""
    case = _claimed(ml_model, reviewer)
    Case.objects.filter(pk=case.pk).update(is_blind=True)
    decision = case_decide(case=case, reviewer=reviewer, action="accept")
    assert decision.was_blind is True


def test_blind_case_naming_the_models_label_is_an_accept(ml_model, reviewer):
    """In a blind case, naming the hidden label is agreement (accept); another is an override."""
    agree = _claimed(ml_model, reviewer)
    Case.objects.filter(pk=agree.pk).update(is_blind=True)
    agree.refresh_from_db()
    decision = case_decide(
        case=agree, reviewer=reviewer, action="override", final_label="fraud", reason_code="other"
    )
    assert (decision.action, decision.final_label, decision.reason_code) == ("accept", "fraud", "")
    differ = _claimed(ml_model, reviewer)
    Case.objects.filter(pk=differ.pk).update(is_blind=True)
    differ.refresh_from_db()
    decision = case_decide(
        case=differ, reviewer=reviewer, action="override", final_label="legit", reason_code="other"
    )
    assert (decision.action, decision.final_label) == ("override", "legit")
    shown = _claimed(ml_model, reviewer)
    with pytest.raises(InvalidInput, match="must change the label"):
        case_decide(
            case=shown,
            reviewer=reviewer,
            action="override",
            final_label="fraud",
            reason_code="other",
        )


def test_reopen_supersedes_the_decision_and_requeues(ml_model, reviewer, lead):
    """A lead reopens with a note; the decision is superseded and the case waits again."""
    case = _claimed(ml_model, reviewer)
    first = case_decide(case=case, reviewer=reviewer, action="accept")
    with pytest.raises(PermissionDenied):
        decision_reopen(case=case, lead=reviewer, note="no")
    with pytest.raises(InvalidInput):
        decision_reopen(case=case, lead=lead, note="")
    reopened = decision_reopen(case=case, lead=lead, note="Label policy changed.")
    assert reopened.status == CaseStatus.QUEUED
    first.refresh_from_db()
    assert first.superseded_at is not None
    (event,) = AuditEvent.objects.filter(action="case.reopened", target_id=str(case.pk))
    assert event.changes["note"] == "Label policy changed."
    assert event.changes["status"] == ["decided", "queued"]
    # Claims never serve a case to the person who decided it: another reviewer takes it.
    assert case_claim_next(ml_model=ml_model, reviewer=reviewer) is None
    other = make_user(Role.REVIEWER, team=ml_model.team, username="ron")
    again = case_claim_next(ml_model=ml_model, reviewer=other)
    assert again.pk == case.pk
    second = case_decide(
        case=again, reviewer=other, action="override", final_label="legit", reason_code="policy"
    )
    assert Decision.objects.filter(case_id=case.pk, superseded_at__isnull=True).get() == second
    with pytest.raises(Conflict):
        decision_reopen(case=Case.objects.get(pk=make_cases(ml_model, 1)[0]), lead=lead, note="x")


def test_decide_queries_are_pinned(ml_model, reviewer, django_assert_max_num_queries):
    """A decision is a fixed handful of queries: lock, decision, case, audit, the test's
    savepoint pair, and at most one for the webhook outbox (none without a webhook)."""
    case = _claimed(ml_model, reviewer)
    user_team_ids(reviewer)
    with django_assert_max_num_queries(8):
        case_decide(case=case, reviewer=reviewer, action="accept")
