"""The review queue: claims, leases, release, reassign and escalation by a reviewer."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reviewapp.errors import Conflict, InvalidInput, PermissionDenied
from reviewapp.models import AuditEvent, Case, CaseSkip, CaseStatus, Priority, Role
from reviewapp.services.queue import (
    case_claim_next,
    case_escalate,
    case_lease_renew,
    case_release,
    claim_reassign,
    leases_expire,
)
from tests.factories import make_cases, make_user

pytestmark = pytest.mark.django_db


def _audits(case_id: int, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(target_id=str(case_id), action=action))


def test_claim_leases_the_oldest_highest_priority_case(ml_model, reviewer):
    """Claims serve priority first, then age, and set the lease from the policy."""
    first, _second = make_cases(ml_model, 2)
    (urgent,) = make_cases(ml_model, 1, priority="urgent")
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert case.pk == urgent
    stored = Case.objects.get(pk=urgent)
    assert stored.status == CaseStatus.ASSIGNED
    assert stored.assigned_to == reviewer
    lease = stored.lease_expires_at - stored.claimed_at
    assert lease == timedelta(minutes=stored.policy.lease_minutes)
    assert stored.priority == Priority.URGENT
    other = make_user(Role.REVIEWER, team=ml_model.team)
    assert case_claim_next(ml_model=ml_model, reviewer=other).pk == first


def test_claim_twice_returns_the_same_case(ml_model, reviewer):
    """A reviewer with a live claim on the model gets that case again."""
    make_cases(ml_model, 3)
    one = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    two = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert one.pk == two.pk
    assert Case.objects.filter(status=CaseStatus.ASSIGNED).count() == 1
    assert len(_audits(one.pk, "case.claimed")) == 1


def test_two_reviewers_get_different_cases(ml_model, reviewer):
    """Two callers never get the same case."""
    make_cases(ml_model, 2)
    other = make_user(Role.REVIEWER, team=ml_model.team)
    a = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    b = case_claim_next(ml_model=ml_model, reviewer=other)
    assert a.pk != b.pk


def test_claim_on_empty_queue_returns_none(ml_model, reviewer):
    """Nothing waiting: no case and nothing audited."""
    assert case_claim_next(ml_model=ml_model, reviewer=reviewer) is None
    assert not AuditEvent.objects.filter(action="case.claimed").exists()


def test_claim_audited_with_before_and_after(ml_model, reviewer):
    """The claim event records the changed fields."""
    (case_id,) = make_cases(ml_model, 1)
    case_claim_next(ml_model=ml_model, reviewer=reviewer)
    (event,) = _audits(case_id, "case.claimed")
    assert event.actor == reviewer
    assert event.changes["status"] == ["queued", "assigned"]
    assert event.changes["assigned_to"] == [None, reviewer.pk]


def test_claim_refused_outside_team_and_for_managers(ml_model, other_team, manager):
    """Only reviewers and leads of the model's team may claim; refusals are audited."""
    make_cases(ml_model, 1)
    outsider = make_user(Role.REVIEWER, team=other_team)
    for user in (outsider, manager):
        with pytest.raises(PermissionDenied):
            case_claim_next(ml_model=ml_model, reviewer=user)
    assert AuditEvent.objects.filter(action="permission.denied").count() == 2
    assert Case.objects.get().status == CaseStatus.QUEUED


def test_expired_lease_goes_back_to_the_queue(ml_model, reviewer):
    """leases_expire returns lapsed claims to the queue and audits it."""
    (case_id,) = make_cases(ml_model, 1)
    case_claim_next(ml_model=ml_model, reviewer=reviewer)
    Case.objects.filter(pk=case_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases_expire() == 1
    case = Case.objects.get(pk=case_id)
    assert (case.status, case.assigned_to_id, case.lease_expires_at) == ("queued", None, None)
    (event,) = _audits(case_id, "case.lease_expired")
    assert event.changes["status"] == ["assigned", "queued"]
    assert leases_expire() == 0


def test_expired_lease_is_reclaimable_at_claim_time(ml_model, reviewer):
    """Another reviewer's claim takes a lapsed lease back without waiting for the task."""
    (case_id,) = make_cases(ml_model, 1)
    case_claim_next(ml_model=ml_model, reviewer=reviewer)
    Case.objects.filter(pk=case_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    other = make_user(Role.REVIEWER, team=ml_model.team)
    case = case_claim_next(ml_model=ml_model, reviewer=other)
    assert case.pk == case_id
    assert Case.objects.get(pk=case_id).assigned_to == other
    assert len(_audits(case_id, "case.lease_expired")) == 1


def test_renew_extends_the_claimants_lease(ml_model, reviewer):
    """Only the claimant with a live lease may renew it."""
    make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    Case.objects.filter(pk=case.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=5))
    renewed = case_lease_renew(case=case, reviewer=reviewer)
    assert renewed.lease_expires_at > timezone.now() + timedelta(minutes=5)
    other = make_user(Role.REVIEWER, team=ml_model.team)
    with pytest.raises(Conflict):
        case_lease_renew(case=case, reviewer=other)
    assert len(_audits(case.pk, "case.lease_renewed")) == 1


def test_release_by_claimant_and_refused_for_others(ml_model, reviewer):
    """The claimant gives the case back; another reviewer may not."""
    make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    other = make_user(Role.REVIEWER, team=ml_model.team)
    with pytest.raises(PermissionDenied):
        case_release(case=case, actor=other)
    released = case_release(case=case, actor=reviewer)
    assert released.status == CaseStatus.QUEUED
    assert Case.objects.get(pk=case.pk).assigned_to_id is None
    (event,) = _audits(case.pk, "case.released")
    assert event.changes["status"] == ["assigned", "queued"]
    with pytest.raises(Conflict):
        case_release(case=case, actor=reviewer)


def test_lead_releases_someone_elses_claim(ml_model, reviewer, lead):
    """A lead of the team may release any claim of the team."""
    make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert case_release(case=case, actor=lead).status == CaseStatus.QUEUED
    assert _audits(case.pk, "case.released")[0].actor == lead


def test_reassign_moves_the_claim_to_another_reviewer(ml_model, reviewer, lead):
    """A lead hands a claim to another reviewer of the team with a fresh lease."""
    make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    other = make_user(Role.REVIEWER, team=ml_model.team)
    moved = claim_reassign(case=case, lead=lead, to_user=other)
    assert moved.assigned_to == other
    assert Case.objects.get(pk=case.pk).assigned_to == other
    (event,) = _audits(case.pk, "case.reassigned")
    assert event.changes["assigned_to"] == [reviewer.pk, other.pk]
    assert case_claim_next(ml_model=ml_model, reviewer=other).pk == case.pk


def test_reassign_refused_for_reviewers_and_outsiders(ml_model, reviewer, other_team, lead):
    """Only leads reassign, and only to reviewers of the model's team."""
    make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    other = make_user(Role.REVIEWER, team=ml_model.team)
    with pytest.raises(PermissionDenied):
        claim_reassign(case=case, lead=reviewer, to_user=other)
    outsider = make_user(Role.REVIEWER, team=other_team)
    with pytest.raises(InvalidInput):
        claim_reassign(case=case, lead=lead, to_user=outsider)
    assert Case.objects.get(pk=case.pk).assigned_to == reviewer


def test_escalate_needs_a_note_and_goes_to_the_leads(ml_model, reviewer, lead):
    """A reviewer escalates with a note; the case leaves their hands; a lead is served it."""
    make_cases(ml_model, 2)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    with pytest.raises(InvalidInput):
        case_escalate(case=case, actor=reviewer, note="  ")
    escalated = case_escalate(case=case, actor=reviewer, note="Needs a policy call.")
    stored = Case.objects.get(pk=case.pk)
    assert stored.status == CaseStatus.ESCALATED
    assert stored.escalation_source == "reviewer"
    assert stored.assigned_to_id is None
    assert escalated.escalation_note == "Needs a policy call."
    (event,) = _audits(case.pk, "case.escalated")
    assert event.changes["note"] == "Needs a policy call."
    assert event.changes["status"] == ["assigned", "escalated"]
    # reviewers no longer get it; the lead is served escalated cases first
    assert case_claim_next(ml_model=ml_model, reviewer=reviewer).pk != case.pk
    served = case_claim_next(ml_model=ml_model, reviewer=lead)
    assert served.pk == case.pk
    assert served.escalated_at is not None


def test_escalate_without_claim_is_a_conflict(ml_model, reviewer):
    """Escalating needs a live claim."""
    (case_id,) = make_cases(ml_model, 1)
    with pytest.raises(Conflict):
        case_escalate(case=Case.objects.get(pk=case_id), actor=reviewer, note="why")


def test_lead_release_of_an_escalated_claim_returns_it_to_the_leads(ml_model, reviewer, lead):
    """A released or lapsed escalated claim goes back to the escalated queue, not the queue."""
    make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_escalate(case=case, actor=reviewer, note="help")
    claimed = case_claim_next(ml_model=ml_model, reviewer=lead)
    assert case_release(case=claimed, actor=lead).status == CaseStatus.ESCALATED
    claimed = case_claim_next(ml_model=ml_model, reviewer=lead)
    Case.objects.filter(pk=case.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases_expire() == 1
    assert Case.objects.get(pk=claimed.pk).status == CaseStatus.ESCALATED


def test_claim_queries_are_pinned(ml_model, reviewer, django_assert_num_queries):
    """A claim is a fixed handful of queries whatever the queue length: the team look-up,
    held claims, the pick-and-lease (one UPDATE ... RETURNING on PostgreSQL, after the
    per-reviewer advisory lock; a SELECT then a conditional UPDATE on SQLite), the audit
    event, and the test's savepoint pair."""
    make_cases(ml_model, 30)
    with django_assert_num_queries(7):
        case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert case is not None
    stored = Case.objects.get(pk=case.pk)
    assert (stored.status, stored.assigned_to_id) == ("assigned", reviewer.pk)
    assert stored.lease_expires_at == case.lease_expires_at


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("lead", "avoid_skipped", "indexes"),
    [
        (False, False, ["case_queue_idx"]),
        (False, True, ["case_queue_idx", "caseskip_pick_idx"]),
        (True, True, ["case_escalated_idx", "case_queue_idx", "caseskip_pick_idx"]),
    ],
)
def test_claim_pick_walks_the_partial_index(ml_model, reviewer, lead, avoid_skipped, indexes):
    """EXPLAIN of the claim statement shows the partial indexes (and the skip index for the
    "not skipped lately" probe), no sort of the table, and row locks."""
    from reviewapp.services.queue import _PICK_SQL_BY_ORDER

    ids = make_cases(ml_model, 60)
    # A realistic shape (most of the model's cases already decided, a few skips), analysed,
    # so that the plan does not depend on what earlier tests left in the statistics.
    Case.objects.filter(pk__in=ids[:45]).update(status=CaseStatus.DECIDED)
    now = timezone.now()
    CaseSkip.objects.bulk_create(
        CaseSkip(case_id=pk, ml_model=ml_model, reviewer=reviewer, skipped_at=now)
        for pk in ids[45:48]
    )
    params = {"reviewer": reviewer.pk, "now": now, "model": ml_model.pk, "skipped_since": now}
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reviewapp_case, reviewapp_caseskip")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + _PICK_SQL_BY_ORDER[(lead, avoid_skipped)], params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in indexes:
        assert index in plan, plan
    assert "Sort" not in plan, plan
    assert "LockRows" in plan, plan
