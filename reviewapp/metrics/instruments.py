"""Counters and histograms updated by the process doing the work (requests, Celery tasks).

They live in ``PROCESS_REGISTRY``. With ``PROMETHEUS_MULTIPROC_DIR`` set (before this module is
imported) prometheus-client writes every value to files in that directory, and the exposition
reads all processes' files instead of this registry.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram

PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_DURATION = Histogram(
    "reviewapp_http_request_duration_seconds",
    "Time to answer a request, by route (URL name), method and status code.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=PROCESS_REGISTRY,
)
TASK_RUNS = Counter(
    "reviewapp_task_runs",
    "Celery task runs that finished, by task and final state (SUCCESS, FAILURE, RETRY...).",
    ["task", "state"],
    registry=PROCESS_REGISTRY,
)
TASK_FAILURES = Counter(
    "reviewapp_task_failures",
    "Celery task runs that raised, by task.",
    ["task"],
    registry=PROCESS_REGISTRY,
)
TASK_DURATION = Histogram(
    "reviewapp_task_duration_seconds",
    "Time a Celery task run took, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
    registry=PROCESS_REGISTRY,
)


def multiprocess_enabled() -> bool:
    """Whether values go to PROMETHEUS_MULTIPROC_DIR (several processes per host)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def short_name(task_name: str) -> str:
    """``reviewapp.tasks.audit_seal_task`` -> ``audit_seal_task`` (the label value)."""
    return task_name.rsplit(".", 1)[-1]


def http_observe(*, route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    method = method if method in HTTP_METHODS else "other"
    HTTP_DURATION.labels(route=route, method=method, status=str(status)).observe(seconds)


def task_observe(*, task_name: str, state: str, seconds: float | None) -> None:
    """Count one finished task run (SECONDS is None when its start was not seen)."""
    name = short_name(task_name)
    TASK_RUNS.labels(task=name, state=state or "UNKNOWN").inc()
    if seconds is not None:
        TASK_DURATION.labels(task=name).observe(seconds)


def task_failure_observe(*, task_name: str) -> None:
    TASK_FAILURES.labels(task=short_name(task_name)).inc()
