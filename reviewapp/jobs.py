"""Background jobs by name: how services hand work to a Celery task without importing the
task modules (tasks sit above services and import them, so the import would point up).

The names are the ones the tasks are registered under (``@shared_task(name=...)``); the app
config imports ``reviewapp.tasks`` at start-up, so every Django process has them registered.
A task runs inline when ``CELERY_TASK_ALWAYS_EAGER`` is on (tests), else it goes to the
broker. An unknown name raises ``KeyError`` rather than sending a message no worker would take.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from celery.app.task import Task
from django.db import transaction

ALERT_NOTIFY = "reviewapp.tasks.alert_notify_task"
ROLLUPS_REFRESH = "reviewapp.tasks.rollups_refresh_task"
WEBHOOK_DELIVER = "reviewapp.tasks.webhook_deliver_task"
JOB_NAMES = (ALERT_NOTIFY, ROLLUPS_REFRESH, WEBHOOK_DELIVER)


def job_task(name: str) -> Task:
    """The registered task called ``name`` (KeyError when there is none)."""
    return current_app.tasks[name]


def job_enqueue(name: str, /, **kwargs: Any) -> None:
    """Queue the task ``name`` with keyword arguments now."""
    job_task(name).delay(**kwargs)


def job_enqueue_on_commit(name: str, /, *, robust: bool = False, **kwargs: Any) -> None:
    """Queue the task ``name`` once the current transaction commits (at once outside one).
    ``robust``: a broker outage is logged instead of raised, for work a periodic task picks
    up anyway."""
    transaction.on_commit(lambda: job_enqueue(name, **kwargs), robust=robust)
