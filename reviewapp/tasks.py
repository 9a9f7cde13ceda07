"""Celery tasks: fetch by id, call a service, own their retries."""

from celery import shared_task

from reviewapp.services.audit import audit_seal


@shared_task(name="reviewapp.tasks.audit_seal_task")
def audit_seal_task() -> int:
    return audit_seal()
