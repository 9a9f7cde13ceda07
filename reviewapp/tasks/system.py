"""Celery tasks (operations): the worker heartbeat."""

from celery import shared_task
from django.utils import timezone

__all__ = ["worker_heartbeat_task"]


@shared_task(name="reviewapp.tasks.worker_heartbeat_task", ignore_result=True)
def worker_heartbeat_task() -> str:
    """Do nothing, visibly (beat: every 30 s). Like every periodic job, its run is recorded
    (``reviewapp.observability``); the age of that record is the worker heartbeat of /metrics
    and the system page: it grows when beat, the broker or every worker is down."""
    return timezone.now().isoformat()
