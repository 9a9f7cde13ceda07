from celery import shared_task

from reviewapp.services.audit import audit_seal


@shared_task(name="reviewapp.tasks.audit_seal_task")
def audit_seal_task() -> int:
    """Seal every audit event not yet sealed (beat runs this every minute)."""
    return audit_seal()
