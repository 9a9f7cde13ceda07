"""Celery tasks, one module per area. Celery's autodiscovery imports this package."""

from reviewapp.tasks.audit import audit_seal_task, audit_verify_task
from reviewapp.tasks.health import *  # noqa: F403
from reviewapp.tasks.metrics import *  # noqa: F403
from reviewapp.tasks.queue import *  # noqa: F403
from reviewapp.tasks.retention import *  # noqa: F403
from reviewapp.tasks.system import *  # noqa: F403
from reviewapp.tasks.webhooks import *  # noqa: F403

__all__ = ["audit_seal_task", "audit_verify_task"]
