"""Operations records: the last run of each periodic job (what the system page and /metrics
read to tell whether the worker and beat are alive)."""

from django.db import models


class JobRun(models.Model):
    """The latest run of one Celery task that beat schedules (one row per task name), written
    by the worker after every run. ``reviewapp.tasks.worker_heartbeat_task`` runs every 30 s,
    so the age of its row is the worker heartbeat."""

    name = models.CharField(max_length=200, unique=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(default=0)
    last_ok = models.BooleanField(default=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} (last run {self.last_finished_at})"
