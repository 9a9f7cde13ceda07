"""SLA escalation and availability expiry (the periodic jobs and their Celery tasks)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, CaseStatus, RoutingPolicy
from reviewapp.services.queue import case_claim_next, cases_escalate_overdue, cases_expire
from reviewapp.tasks import queue as queue_tasks
from tests.factories import make_cases

pytestmark = pytest.mark.django_db


def _past(**kwargs) -> object:
    return timezone.now() - timedelta(seconds=1, **kwargs)


def test_overdue_waiting_and_claimed_cases_escalate(ml_model, reviewer):
    """Queued and claimed cases past their SLA go to the leads (source sla), each audited."""
    waiting, claimed_id, fresh = make_cases(ml_model, 3)
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert claimed.pk == waiting
    Case.objects.filter(pk__in=[waiting, claimed_id]).update(sla_due_at=_past())
    assert cases_escalate_overdue() == 2
    for pk in (waiting, claimed_id):
        case = Case.objects.get(pk=pk)
        assert (case.status, case.escalation_source) == ("escalated", "sla")
        assert case.assigned_to_id is None
        (event,) = AuditEvent.objects.filter(action="case.escalated", target_id=str(pk))
        assert event.actor is None
        assert event.changes["escalation_source"] == ["", "sla"]
    assert Case.objects.get(pk=fresh).status == CaseStatus.QUEUED
    assert cases_escalate_overdue() == 0


def test_sla_task_runs_the_job(ml_model):
    """The beat task escalates too."""
    (case_id,) = make_cases(ml_model, 1)
    Case.objects.filter(pk=case_id).update(sla_due_at=_past())
    assert queue_tasks.sla_escalate_task.delay().get() == 1
    assert Case.objects.get(pk=case_id).status == CaseStatus.ESCALATED


def test_a_leads_claim_on_an_escalated_case_is_not_escalated_again(ml_model, lead):
    """Once a lead holds an escalated case the SLA timer leaves it alone."""
    (case_id,) = make_cases(ml_model, 1)
    Case.objects.filter(pk=case_id).update(sla_due_at=_past())
    cases_escalate_overdue()
    assert case_claim_next(ml_model=ml_model, reviewer=lead).pk == case_id
    assert cases_escalate_overdue() == 0
    assert Case.objects.get(pk=case_id).status == CaseStatus.ASSIGNED


@pytest.mark.parametrize("fallback", ["apply_model", "reject", "hold"])
def test_expiry_applies_the_policys_fallback(ml_model, fallback):
    """Cases past their lifetime expire with the fallback recorded and audited."""
    RoutingPolicy.objects.filter(ml_model=ml_model).update(fallback_action=fallback)
    queued, escalated, fresh = make_cases(ml_model, 3)
    Case.objects.filter(pk=escalated).update(status="escalated", escalated_at=timezone.now())
    Case.objects.filter(pk__in=[queued, escalated]).update(expires_at=_past())
    assert queue_tasks.cases_expire_task.delay().get() == 2
    for pk in (queued, escalated):
        case = Case.objects.get(pk=pk)
        assert (case.status, case.fallback_applied) == ("expired", fallback)
        assert case.expired_at is not None
        (event,) = AuditEvent.objects.filter(action="case.expired", target_id=str(pk))
        assert event.changes["fallback_applied"] == ["", fallback]
        assert ("final_label" in event.changes) == (fallback == "apply_model")
    assert Case.objects.get(pk=fresh).status == CaseStatus.QUEUED
    assert cases_expire() == 0


def test_claimed_cases_do_not_expire(ml_model, reviewer):
    """A case someone is working on is not expired under them."""
    (case_id,) = make_cases(ml_model, 1)
    case_claim_next(ml_model=ml_model, reviewer=reviewer)
    Case.objects.filter(pk=case_id).update(expires_at=_past())
    assert cases_expire() == 0
    assert Case.objects.get(pk=case_id).status == CaseStatus.ASSIGNED


def test_lease_task_returns_lapsed_claims(ml_model, reviewer):
    """The beat task for leases returns lapsed claims."""
    (case_id,) = make_cases(ml_model, 1)
    case_claim_next(ml_model=ml_model, reviewer=reviewer)
    Case.objects.filter(pk=case_id).update(lease_expires_at=_past())
    assert queue_tasks.leases_expire_task.delay().get() == 1
    assert Case.objects.get(pk=case_id).status == CaseStatus.QUEUED


def test_jobs_work_in_batches(ml_model, monkeypatch):
    """More overdue cases than one batch are all handled in one run."""
    monkeypatch.setattr("reviewapp.services.queue.BATCH_SIZE", 7)
    ids = make_cases(ml_model, 20)
    Case.objects.filter(pk__in=ids).update(sla_due_at=_past())
    assert cases_escalate_overdue() == 20
    assert AuditEvent.objects.filter(action="case.escalated").count() == 20
