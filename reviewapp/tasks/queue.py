"""Celery tasks (queue): the periodic jobs of the review queue, run by beat."""

from celery import shared_task

from reviewapp.services.queue import cases_escalate_overdue, cases_expire, leases_expire

__all__ = ["cases_expire_task", "leases_expire_task", "sla_escalate_task"]


@shared_task(name="reviewapp.tasks.leases_expire_task")
def leases_expire_task() -> int:
    """Return claims whose lease ran out to their queue (beat: every 30 s)."""
    return leases_expire()


@shared_task(name="reviewapp.tasks.sla_escalate_task")
def sla_escalate_task() -> int:
    """Escalate waiting or claimed cases past their SLA to the leads (beat: every minute)."""
    return cases_escalate_overdue()


@shared_task(name="reviewapp.tasks.cases_expire_task")
def cases_expire_task() -> int:
    """Expire cases past their availability lifetime, applying the fallback (every 5 min)."""
    return cases_expire()
