"""The text served at /metrics: the process instruments (or every process's, in multiprocess
mode) and the figures read from the database at scrape time."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from reviewapp.metrics.instruments import PROCESS_REGISTRY, multiprocess_enabled, short_name
from reviewapp.selectors.system import SystemSnapshot, system_snapshot

# The classic text format, which every Prometheus version reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=labels)


def snapshot_families(snapshot: SystemSnapshot) -> list[Metric]:
    """The metric families of one snapshot (what the system page shows, for Prometheus)."""
    up = _gauge("reviewapp_database_up", "1 when the database answered this scrape, else 0.")
    up.add_metric([], 1 if snapshot.database_ok else 0)
    redis = _gauge(
        "reviewapp_redis_up", "1 when the Redis broker or cache answers a PING, else 0.", ["role"]
    )
    for role in ("broker", "cache"):
        status = snapshot.services.get(role, "")
        if not status.startswith("not configured"):
            redis.add_metric([role], 1 if status == "ok" else 0)
    families: list[Metric] = [up, redis]
    if not snapshot.database_ok:
        return families

    waiting = _gauge(
        "reviewapp_queue_waiting_cases",
        "Cases waiting for a person (queued, or escalated to the leads), by model.",
        ["model"],
    )
    escalated = _gauge(
        "reviewapp_queue_escalated_cases", "Escalated cases waiting for a lead.", ["model"]
    )
    claimed = _gauge("reviewapp_queue_claimed_cases", "Cases claimed right now.", ["model"])
    oldest = _gauge(
        "reviewapp_queue_oldest_waiting_seconds",
        "Age of the oldest waiting case (0 when none waits), by model.",
        ["model"],
    )
    for queue in snapshot.queues:
        waiting.add_metric([queue.model], queue.waiting)
        escalated.add_metric([queue.model], queue.escalated)
        claimed.add_metric([queue.model], queue.claimed)
        oldest.add_metric([queue.model], queue.oldest_waiting_s)
    families += [waiting, escalated, claimed, oldest]

    pending = _gauge(
        "reviewapp_webhook_outbox_pending",
        "Deliveries (webhooks, alert emails) not yet delivered: pending or retrying.",
        ["model"],
    )
    outbox_age = _gauge(
        "reviewapp_webhook_outbox_oldest_seconds",
        "Age of the oldest undelivered delivery (0 when none), by model.",
        ["model"],
    )
    for outbox in snapshot.outbox:
        pending.add_metric([outbox.model], outbox.pending)
        outbox_age.add_metric([outbox.model], outbox.oldest_age_s)
    families += [pending, outbox_age]

    unsealed = _gauge("reviewapp_audit_unsealed_events", "Audit events not yet covered by a seal.")
    unsealed_age = _gauge(
        "reviewapp_audit_oldest_unsealed_seconds",
        "Age of the oldest audit event not yet sealed (0 when all are sealed).",
    )
    if snapshot.audit is not None:
        unsealed.add_metric([], snapshot.audit.unsealed)
        unsealed_age.add_metric([], snapshot.audit.oldest_unsealed_age_s)
    families += [unsealed, unsealed_age]

    alerts = _gauge(
        "reviewapp_alerts_open",
        "Open (unresolved) tripwire alerts, by model and kind.",
        ["model", "kind"],
    )
    for (model, kind), n in sorted(snapshot.open_alerts.items()):
        alerts.add_metric([model, kind], n)
    families.append(alerts)

    heartbeat = _gauge(
        "reviewapp_worker_heartbeat_age_seconds",
        "Seconds since a Celery worker last ran the heartbeat job that beat sends every 30 s "
        "(+Inf: never on this database).",
    )
    heartbeat.add_metric([], snapshot.heartbeat_age_s)
    job_age = _gauge(
        "reviewapp_job_last_run_age_seconds",
        "Seconds since each periodic job last finished (jobs that ran at least once).",
        ["job"],
    )
    job_ok = _gauge(
        "reviewapp_job_last_run_ok", "1 when the job's last run succeeded, else 0.", ["job"]
    )
    for job in snapshot.jobs:
        if job.age_s is not None:
            job_age.add_metric([short_name(job.name)], job.age_s)
            job_ok.add_metric([short_name(job.name)], 1 if job.last_ok else 0)
    families += [heartbeat, job_age, job_ok]

    totals = snapshot.totals
    if totals is None:  # pragma: no cover - filled whenever the database answered
        return families
    received = _counter(
        "reviewapp_cases_received",
        "Cases received, by model and route (auto_approved, or review: sent to people).",
        ["model", "route"],
    )
    for (model, route), n in sorted(totals.received.items()):
        received.add_metric([model, route], n)
    decisions = _counter(
        "reviewapp_decisions",
        "Decisions taken (including later undone or superseded ones), by model and action.",
        ["model", "action"],
    )
    for (model, action), n in sorted(totals.decisions.items()):
        decisions.add_metric([model, action], n)
    claims = _counter("reviewapp_claims", "Cases claimed by a reviewer or lead.")
    claims.add_metric([], totals.claims)
    escalations = _counter(
        "reviewapp_escalations", "Escalations, by source (reviewer, or sla).", ["source"]
    )
    for source, n in sorted(totals.escalations.items()):
        escalations.add_metric([source], n)
    breaches = _counter(
        "reviewapp_sla_breaches",
        "Cases escalated because they waited past their SLA.",
    )
    breaches.add_metric([], totals.escalations.get("sla", 0))
    expiries = _counter("reviewapp_expiries", "Cases expired past their availability lifetime.")
    expiries.add_metric([], totals.expiries)
    failures = _counter(
        "reviewapp_webhook_delivery_failures",
        "Failed delivery attempts (error or non-2xx answer), by model.",
        ["model"],
    )
    for model, n in sorted(totals.delivery_failures.items()):
        failures.add_metric([model], n)
    families += [received, decisions, claims, escalations, breaches, expiries, failures]
    return families


class DatabaseCollector(Collector):
    """The snapshot's families, plus how long reading it took."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        yield from snapshot_families(system_snapshot())
        took = _gauge(
            "reviewapp_metrics_scrape_duration_seconds",
            "Time spent reading the database figures of this scrape.",
        )
        took.add_metric([], time.perf_counter() - started)
        yield took


class _ProcessCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from PROCESS_REGISTRY.collect()


def metrics_text() -> bytes:
    """The exposition of this scrape (Prometheus text format)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_enabled():
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())
    registry.register(DatabaseCollector())
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE", "DatabaseCollector", "metrics_text", "snapshot_families"]
