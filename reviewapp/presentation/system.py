"""The system page's wording: the figures of ``selectors.system.SystemSnapshot`` (the same
ones /metrics exports) as rows with a tone (good, warn, bad) and readable ages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from reviewapp.selectors.system import HEARTBEAT_JOB, SystemSnapshot

HEARTBEAT_LATE_S = 90  # three missed beats
HEARTBEAT_DOWN_S = 300
SEAL_LATE_S = 300  # five missed seals (beat seals every minute)
QUEUE_OLD_S = 3600  # the default SLA


def duration_text(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``; "never" for None or infinity."""
    if seconds is None or math.isinf(seconds):
        return "never"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def schedule_text(schedule: object) -> str:
    """A beat schedule entry's period: ``every 30 s`` or the crontab's own text."""
    if isinstance(schedule, int | float):
        return f"every {duration_text(schedule)}"
    seconds = getattr(schedule, "seconds", None)  # celery.schedules.schedule
    if isinstance(seconds, int | float):
        return f"every {duration_text(seconds)}"
    minute = getattr(schedule, "_orig_minute", None)  # celery.schedules.crontab
    if minute is not None:
        return f"cron: minute {minute}, hour {getattr(schedule, '_orig_hour', '*')}"
    return str(schedule)


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    tone: str = ""  # "", "good", "warn" or "bad"
    detail: str = ""


@dataclass(frozen=True)
class JobRow:
    name: str
    schedule: str
    last_run: str
    last_finished_at: datetime | None
    duration: str
    outcome: str
    tone: str
    error: str
    runs: int
    failures: int


def _tone_for_age(age_s: float, *, late: float, down: float) -> str:
    return "bad" if age_s > down else "warn" if age_s > late else "good"


def service_rows(snapshot: SystemSnapshot) -> list[Row]:
    rows = []
    for name, status in snapshot.services.items():
        tone = "good" if status == "ok" else "" if status.startswith("not configured") else "bad"
        rows.append(Row(label=name.capitalize(), value=status, tone=tone))
    return rows


def headline_rows(snapshot: SystemSnapshot) -> list[Row]:
    """Worker heartbeat, seal lag, outbox lag, oldest waiting case, open alerts."""
    if not snapshot.database_ok:
        return []
    heartbeat = snapshot.heartbeat_age_s
    audit = snapshot.audit
    seal_age = audit.oldest_unsealed_age_s if audit else 0.0
    stale_after = int(getattr(settings, "REVIEWAPP_OUTBOX_STALE_S", 600))
    outbox_age = snapshot.outbox_oldest_age_s
    alerts = sum(n for _, n in snapshot.open_alerts.items())
    return [
        Row(
            "Worker heartbeat",
            "never seen" if math.isinf(heartbeat) else f"{duration_text(heartbeat)} ago",
            _tone_for_age(heartbeat, late=HEARTBEAT_LATE_S, down=HEARTBEAT_DOWN_S),
            "beat queues a heartbeat every 30 s; a worker records it",
        ),
        Row(
            "Seal lag",
            duration_text(seal_age) if audit and audit.unsealed else "all sealed",
            _tone_for_age(seal_age, late=SEAL_LATE_S, down=4 * SEAL_LATE_S),
            f"{audit.unsealed if audit else 0} audit events not yet sealed",
        ),
        Row(
            "Outbox lag",
            duration_text(outbox_age) if snapshot.outbox_pending else "nothing waiting",
            _tone_for_age(outbox_age, late=stale_after / 2, down=stale_after),
            f"{snapshot.outbox_pending} deliveries not yet delivered",
        ),
        Row(
            "Oldest waiting case",
            duration_text(snapshot.oldest_waiting_s) if snapshot.oldest_waiting_s else "none",
            _tone_for_age(snapshot.oldest_waiting_s, late=QUEUE_OLD_S / 2, down=QUEUE_OLD_S),
            f"{sum(q.waiting for q in snapshot.queues)} cases waiting",
        ),
        Row("Open alerts", str(alerts), "warn" if alerts else "good", "tripwires that fired"),
    ]


def job_rows(snapshot: SystemSnapshot) -> list[JobRow]:
    """Every periodic job with its schedule and last run."""
    schedules = {
        entry["task"]: entry.get("schedule")
        for _, entry in (getattr(settings, "CELERY_BEAT_SCHEDULE", {}) or {}).items()
    }
    rows = []
    for job in snapshot.jobs:
        period = schedules.get(job.name)
        if job.age_s is None:
            outcome, tone = "never ran", "warn"
        elif job.last_ok:
            outcome, tone = "succeeded", "good"
        else:
            outcome, tone = "failed", "bad"
        rows.append(
            JobRow(
                name=job.name.rsplit(".", 1)[-1],
                schedule=schedule_text(period) if period is not None else "on demand",
                last_run="never" if job.age_s is None else f"{duration_text(job.age_s)} ago",
                last_finished_at=job.last_finished_at,
                duration=f"{job.last_duration_ms} ms" if job.age_s is not None else "",
                outcome=outcome,
                tone=tone,
                error=job.last_error,
                runs=job.runs,
                failures=job.failures,
            )
        )
    return rows


def system_page_context(snapshot: SystemSnapshot) -> dict:
    """Everything the system page template reads."""
    totals = snapshot.totals
    return {
        "snapshot": snapshot,
        "services": service_rows(snapshot),
        "headlines": headline_rows(snapshot),
        "jobs": job_rows(snapshot),
        "heartbeat_job": HEARTBEAT_JOB.rsplit(".", 1)[-1],
        "queues": [
            {"figures": q, "oldest": duration_text(q.oldest_waiting_s) if q.waiting else "none"}
            for q in snapshot.queues
        ],
        "outbox": [
            {
                "figures": o,
                "oldest": duration_text(o.oldest_age_s) if o.pending else "none",
                "failures": totals.delivery_failures.get(o.model, 0) if totals else 0,
            }
            for o in snapshot.outbox
        ],
        "alerts": sorted(snapshot.open_alerts.items()),
        "received": sorted(totals.received.items()) if totals else [],
        "decisions": sorted(totals.decisions.items()) if totals else [],
        "totals": totals,
    }
