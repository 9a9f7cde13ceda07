"""Recording the runs of periodic jobs (one ``JobRun`` row per task name), for the worker
heartbeat and the "last run" figures of the system page and /metrics."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from reviewapp.models import JobRun

ERROR_CHARS = 500


def job_run_record(
    *,
    name: str,
    duration_s: float,
    ok: bool,
    error: str = "",
    finished_at: datetime | None = None,
) -> None:
    """Record that the periodic job NAME just finished (OK or with ERROR) after DURATION_S.
    One UPDATE, plus an INSERT the first time a job runs."""
    finished_at = finished_at or timezone.now()
    started_at = finished_at - timedelta(seconds=max(0.0, duration_s))
    duration_ms = min(int(duration_s * 1000), 2**31 - 1)
    fields = {
        "last_started_at": started_at,
        "last_finished_at": finished_at,
        "last_duration_ms": duration_ms,
        "last_ok": ok,
        "last_error": "" if ok else error[:ERROR_CHARS],
        "runs": F("runs") + 1,
        "failures": F("failures") + (0 if ok else 1),
    }
    if ok:
        fields["last_success_at"] = finished_at
    if JobRun.objects.filter(name=name).update(**fields):
        return
    try:
        with transaction.atomic():
            JobRun.objects.create(
                name=name,
                runs=1,
                failures=0 if ok else 1,
                **{k: v for k, v in fields.items() if k not in ("runs", "failures")},
            )
    except IntegrityError:  # another worker recorded the first run of NAME meanwhile
        JobRun.objects.filter(name=name).update(**fields)
