"""Readiness probes of the backing services that the app reads from, and the state of the
outbox (what /readyz and the model page say is degraded; README, "Failure modes").

Below them, the operational figures that /metrics exports and the system page shows
(``system_snapshot``; docs/operations.md): queue depth and age, outbox lag, seal lag, open
alerts, the last run of each periodic job, and the running totals (cases received, decisions,
claims, escalations, expiries, delivery failures) counted from the database.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Case as SqlCase
from django.db.models import Count, IntegerField, Max, Min, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from reviewapp.models import (
    Alert,
    AuditEvent,
    AuditSeal,
    Case,
    CaseStatus,
    Decision,
    DeliveryStatus,
    JobRun,
    MLModel,
    WebhookAttempt,
    WebhookDelivery,
)

UNDELIVERED_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
REDIS_SCHEMES = ("redis://", "rediss://")


def database_ping() -> None:
    """One round trip to the database; raises whatever the driver raises when it is down."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def redis_ping(url: str, *, timeout_s: float = 1.0) -> None:
    """One PING to the Redis at URL; raises redis-py's error when it is down or hangs."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    finally:
        client.close()


def broker_url() -> str:
    """The Celery broker's URL when it is a Redis server, else "" (embedded transports)."""
    url = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    return url if url.startswith(REDIS_SCHEMES) else ""


def cache_url() -> str:
    """The default cache's Redis URL, else "" (a local-memory cache)."""
    cache = settings.CACHES.get("default", {})
    location = cache.get("LOCATION", "")
    url = location[0] if isinstance(location, list | tuple) and location else location
    is_redis = "redis" in cache.get("BACKEND", "").lower()
    return str(url) if is_redis and str(url).startswith(REDIS_SCHEMES) else ""


def outbox_stale_after_s() -> int:
    return int(getattr(settings, "REVIEWAPP_OUTBOX_STALE_S", 600))


@dataclass(frozen=True)
class OutboxState:
    """Deliveries not yet delivered (pending or retrying; dead ones wait for a person) and how
    old the oldest is. ``stale``: the oldest waits longer than REVIEWAPP_OUTBOX_STALE_S, so
    the worker, beat or the broker are not doing their job (or a receiver keeps failing)."""

    undelivered: int
    oldest_created_at: datetime | None
    oldest_age_s: float | None
    stale_after_s: int

    @property
    def stale(self) -> bool:
        return self.oldest_age_s is not None and self.oldest_age_s > self.stale_after_s


def outbox_state(*, ml_model: MLModel | None = None, now: datetime | None = None) -> OutboxState:
    """The undelivered deliveries of the whole outbox, or of one model. One query."""
    rows = WebhookDelivery.objects.filter(status__in=UNDELIVERED_STATUSES)
    if ml_model is not None:
        rows = rows.filter(ml_model=ml_model)
    figures = rows.aggregate(n=Count("id"), oldest=Min("created_at"))
    oldest = figures["oldest"]
    now = now or timezone.now()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
    return OutboxState(
        undelivered=figures["n"],
        oldest_created_at=oldest,
        oldest_age_s=age,
        stale_after_s=outbox_stale_after_s(),
    )


# --- operational figures (/metrics and the system page) -------------------------------------

HEARTBEAT_JOB = "reviewapp.tasks.worker_heartbeat_task"
# Rows older than this are final for the running totals: no transaction stays open that long
# (task time limit 300 s), so no row with a smaller id can still appear.
TALLY_SETTLE_S = 600


@dataclass(frozen=True)
class QueueFigures:
    """One model's queue: cases waiting for a person (queued, or escalated to the leads),
    of which escalated, claims held now, and how long the oldest waiting case has waited."""

    model: str
    waiting: int
    escalated: int
    claimed: int
    oldest_waiting_s: float


@dataclass(frozen=True)
class OutboxFigures:
    """One model's undelivered deliveries (pending or retrying) and the oldest one's age."""

    model: str
    pending: int
    oldest_age_s: float


@dataclass(frozen=True)
class AuditSealFigures:
    """Audit events not yet covered by a seal, and the age of the oldest of them."""

    unsealed: int
    oldest_unsealed_age_s: float


@dataclass(frozen=True)
class JobFigures:
    """The last run of one periodic job (None: it never ran on this database)."""

    name: str
    last_finished_at: datetime | None
    age_s: float | None
    last_duration_ms: int
    last_ok: bool
    last_error: str
    last_success_at: datetime | None
    runs: int
    failures: int


@dataclass(frozen=True)
class Totals:
    """Running totals since the database began (they never go down): cases received by
    (model, route), decisions taken by (model, action) including undone and superseded ones,
    claims, escalations by source ("reviewer" or "sla"; the SLA ones are the SLA breaches),
    expiries, and failed delivery attempts by model."""

    received: dict[tuple[str, str], int]
    decisions: dict[tuple[str, str], int]
    claims: int
    escalations: dict[str, int]
    expiries: int
    delivery_failures: dict[str, int]


@dataclass(frozen=True)
class SystemSnapshot:
    """Everything /metrics and the system page report, read at one moment. When the database
    is down only ``services`` is filled."""

    at: datetime
    services: dict[str, str]
    database_ok: bool
    queues: list[QueueFigures] = field(default_factory=list)
    outbox: list[OutboxFigures] = field(default_factory=list)
    audit: AuditSealFigures | None = None
    open_alerts: dict[tuple[str, str], int] = field(default_factory=dict)
    jobs: list[JobFigures] = field(default_factory=list)
    totals: Totals | None = None

    @property
    def heartbeat_age_s(self) -> float:
        """Seconds since the worker last ran the heartbeat job (infinite: never)."""
        for job in self.jobs:
            if job.name == HEARTBEAT_JOB and job.age_s is not None:
                return job.age_s
        return math.inf

    @property
    def oldest_waiting_s(self) -> float:
        return max((q.oldest_waiting_s for q in self.queues), default=0.0)

    @property
    def outbox_pending(self) -> int:
        return sum(o.pending for o in self.outbox)

    @property
    def outbox_oldest_age_s(self) -> float:
        return max((o.oldest_age_s for o in self.outbox), default=0.0)


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def model_slugs() -> dict[int, str]:
    """Every model's id -> slug."""
    return dict(MLModel.objects.values_list("id", "slug"))


def _per_model_status(status: str) -> dict[int, dict[str, Any]]:
    # One status per query, so that PostgreSQL reads the status's partial index.
    rows = (
        Case.objects.filter(status=status)
        .values("ml_model_id")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    return {row["ml_model_id"]: row for row in rows}


def queue_figures(*, slugs: dict[int, str], now: datetime) -> list[QueueFigures]:
    """Every model's queue (zeros for a model with nothing waiting). Three small queries, each
    on a partial index (queued, escalated, assigned)."""
    queued = _per_model_status(CaseStatus.QUEUED)
    escalated = _per_model_status(CaseStatus.ESCALATED)
    claimed = _per_model_status(CaseStatus.ASSIGNED)
    figures = []
    for model_id, slug in sorted(slugs.items(), key=lambda item: item[1]):
        waiting_rows = [r for r in (queued.get(model_id), escalated.get(model_id)) if r]
        oldest = min((r["oldest"] for r in waiting_rows), default=None)
        figures.append(
            QueueFigures(
                model=slug,
                waiting=sum(r["n"] for r in waiting_rows),
                escalated=escalated.get(model_id, {}).get("n", 0),
                claimed=claimed.get(model_id, {}).get("n", 0),
                oldest_waiting_s=_age(now, oldest),
            )
        )
    return figures


def outbox_figures(*, slugs: dict[int, str], now: datetime) -> list[OutboxFigures]:
    """Every model's undelivered deliveries (the outbox's partial index; zeros included)."""
    rows = {
        row["ml_model_id"]: row
        for row in WebhookDelivery.objects.filter(status__in=UNDELIVERED_STATUSES)
        .values("ml_model_id")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    }
    return [
        OutboxFigures(
            model=slug,
            pending=rows.get(model_id, {}).get("n", 0),
            oldest_age_s=_age(now, rows.get(model_id, {}).get("oldest")),
        )
        for model_id, slug in sorted(slugs.items(), key=lambda item: item[1])
    ]


# Beyond this many unsealed ids the count is read from the id range instead of counted, so
# that /metrics and /system/ stay fast when sealing has fallen far behind (or after a bulk
# load): ids are handed out in order, and the few lost to rolled-back transactions make it
# an upper bound.
EXACT_UNSEALED_COUNT_UP_TO = 100_000


def audit_seal_figures(*, now: datetime) -> AuditSealFigures:
    """Events after the last seal (the newest seal found by its unique first event id: seals
    cover contiguous, increasing ranges): the lowest and highest unsealed id by primary key,
    then the count and oldest time, counted exactly while few, else read from the id range
    and the lowest id's event."""
    last_sealed = Coalesce(
        Subquery(AuditSeal.objects.order_by("-first_event_id").values("last_event_id")[:1]),
        Value(0),
    )
    after = AuditEvent.objects.filter(pk__gt=last_sealed)
    ids = after.aggregate(lo=Min("pk"), hi=Max("pk"))
    if ids["lo"] is None:
        return AuditSealFigures(unsealed=0, oldest_unsealed_age_s=0.0)
    span = ids["hi"] - ids["lo"] + 1
    if span <= EXACT_UNSEALED_COUNT_UP_TO:
        figures = after.aggregate(n=Count("id"), oldest=Min("occurred_at"))
        return AuditSealFigures(
            unsealed=figures["n"], oldest_unsealed_age_s=_age(now, figures["oldest"])
        )
    oldest = AuditEvent.objects.filter(pk=ids["lo"]).values_list("occurred_at", flat=True)
    return AuditSealFigures(unsealed=span, oldest_unsealed_age_s=_age(now, oldest.first()))


def open_alert_counts(*, slugs: dict[int, str]) -> dict[tuple[str, str], int]:
    """Open (unresolved) tripwire alerts by (model, kind)."""
    rows = (
        Alert.objects.filter(resolved_at__isnull=True)
        .values("ml_model_id", "kind")
        .annotate(n=Count("id"))
    )
    return {
        (slugs.get(row["ml_model_id"], str(row["ml_model_id"])), row["kind"]): row["n"]
        for row in rows
    }


def periodic_job_names() -> list[str]:
    """The tasks beat schedules (CELERY_BEAT_SCHEDULE), in schedule order."""
    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", {}) or {}
    return list(dict.fromkeys(entry["task"] for entry in schedule.values()))


def job_figures(*, now: datetime) -> list[JobFigures]:
    """The last run of every periodic job, scheduled ones first (never run: no times)."""
    runs = {run.name: run for run in JobRun.objects.all()}
    names = periodic_job_names()
    names += sorted(set(runs) - set(names))
    figures = []
    for name in names:
        run = runs.get(name)
        figures.append(
            JobFigures(
                name=name,
                last_finished_at=run.last_finished_at if run else None,
                age_s=_age(now, run.last_finished_at) if run and run.last_finished_at else None,
                last_duration_ms=run.last_duration_ms if run else 0,
                last_ok=run.last_ok if run else True,
                last_error=run.last_error if run else "",
                last_success_at=run.last_success_at if run else None,
                runs=run.runs if run else 0,
                failures=run.failures if run else 0,
            )
        )
    return figures


# Running totals. Counting whole tables on every scrape would grow with the data, so each
# process keeps, per table, the counts of the rows up to a settled id (rows older than
# TALLY_SETTLE_S) and counts only the rows after it on each read: a primary-key range of the
# last few minutes. Every process derives the same figures from the same rows, so it does not
# matter which gunicorn worker answers a scrape, nor that the work happened on another host.


@dataclass
class _Tally:
    settled_id: int = 0
    settled: dict[tuple, int] = field(default_factory=dict)


_tallies: dict[str, _Tally] = {}
_tallies_lock = threading.Lock()


def tallies_reset() -> None:
    """Forget the settled counts (tests; after restoring an older database the web processes
    are restarted instead)."""
    with _tallies_lock:
        _tallies.clear()


def _tally(
    name: str,
    rows: QuerySet,
    *,
    time_field: str,
    labels: dict[str, Any],
    now: datetime,
) -> dict[tuple, int]:
    """Counts of ROWS grouped by LABELS (name -> field name or expression): the settled
    counts plus the rows after the settled id, which then moves up to the newest row older
    than TALLY_SETTLE_S. Two queries over the tail."""
    exprs = {key: value for key, value in labels.items() if not isinstance(value, str)}
    fields = [value if isinstance(value, str) else key for key, value in labels.items()]
    with _tallies_lock:
        tally = _tallies.setdefault(name, _Tally())
        tail = rows.filter(pk__gt=tally.settled_id)
        cutoff = now - timedelta(seconds=TALLY_SETTLE_S)
        settle_to = (
            tail.filter(**{f"{time_field}__lt": cutoff}).aggregate(m=Max("pk"))["m"]
            or tally.settled_id
        )
        grouped = (
            tail.annotate(
                **exprs,
                settled_row=SqlCase(
                    When(pk__lte=settle_to, then=Value(1)),
                    default=Value(0),
                    output_field=IntegerField(),
                ),
            )
            .values(*fields, "settled_row")
            .annotate(n=Count("pk"))
            .order_by()
        )
        totals = dict(tally.settled)
        for row in grouped:
            key = tuple(row[f] for f in fields)
            totals[key] = totals.get(key, 0) + row["n"]
            if row["settled_row"]:
                tally.settled[key] = tally.settled.get(key, 0) + row["n"]
        tally.settled_id = settle_to
        return totals


def _failed_attempt() -> Q:
    non_2xx = Q(status_code__lt=200) | Q(status_code__gte=300)
    return ~Q(error="") | (Q(status_code__isnull=False) & non_2xx)


def running_totals(*, slugs: dict[int, str], now: datetime) -> Totals:
    """The running totals (see ``Totals``): cases and decisions from their tables, claims,
    escalations and expiries from the audit log, failures from the delivery attempts."""

    def slug(model_id: int) -> str:
        return slugs.get(model_id, str(model_id))

    received = _tally(
        "cases",
        Case.objects.all(),
        time_field="created_at",
        labels={
            "ml_model_id": "ml_model_id",
            "route": SqlCase(
                When(status=CaseStatus.AUTO_APPROVED, then=Value("auto_approved")),
                default=Value("review"),
            ),
        },
        now=now,
    )
    decisions = _tally(
        "decisions",
        Decision.objects.all(),
        time_field="decided_at",
        labels={"ml_model_id": "ml_model_id", "action": "action"},
        now=now,
    )
    events = _tally(
        "audit",
        AuditEvent.objects.filter(action__in=("case.claimed", "case.escalated", "case.expired")),
        time_field="occurred_at",
        labels={
            "action": "action",
            "source": SqlCase(When(actor_label="system", then=Value("sla")), default=Value("")),
        },
        now=now,
    )
    failures = _tally(
        "delivery_failures",
        WebhookAttempt.objects.filter(_failed_attempt()),
        time_field="attempted_at",
        labels={"ml_model_id": "delivery__ml_model_id"},
        now=now,
    )
    escalations = {"reviewer": 0, "sla": 0}
    for (action, source), n in events.items():
        if action == "case.escalated":
            escalations[source or "reviewer"] += n
    return Totals(
        received={(slug(m), route): n for (m, route), n in received.items()},
        decisions={(slug(m), action): n for (m, action), n in decisions.items()},
        claims=sum(n for (action, _), n in events.items() if action == "case.claimed"),
        escalations=escalations,
        expiries=sum(n for (action, _), n in events.items() if action == "case.expired"),
        delivery_failures={slug(m): n for (m,), n in failures.items()},
    )


def service_checks() -> dict[str, str]:
    """The database, and the Redis broker and cache when configured: "ok", "error: <kind>"
    or "not configured (embedded)" (the same checks as /readyz)."""
    checks: dict[str, str] = {}
    try:
        database_ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    pinged: dict[str, str] = {}
    for name, url in (("broker", broker_url()), ("cache", cache_url())):
        if not url:
            checks[name] = "not configured (embedded)"
            continue
        if url not in pinged:
            try:
                redis_ping(url)
                pinged[url] = "ok"
            except Exception as exc:
                pinged[url] = f"error: {exc.__class__.__name__}"
        checks[name] = pinged[url]
    return checks


def system_snapshot(*, now: datetime | None = None) -> SystemSnapshot:
    """Every operational figure, for /metrics and the system page (about a dozen small
    queries, each on an index; see the functions above)."""
    now = now or timezone.now()
    services = service_checks()
    if services["database"] != "ok":
        return SystemSnapshot(at=now, services=services, database_ok=False)
    slugs = model_slugs()
    return SystemSnapshot(
        at=now,
        services=services,
        database_ok=True,
        queues=queue_figures(slugs=slugs, now=now),
        outbox=outbox_figures(slugs=slugs, now=now),
        audit=audit_seal_figures(now=now),
        open_alerts=open_alert_counts(slugs=slugs),
        jobs=job_figures(now=now),
        totals=running_totals(slugs=slugs, now=now),
    )
