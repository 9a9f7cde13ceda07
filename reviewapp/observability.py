"""Observability glue: the request middleware (latency histogram and one access log line per
request) and the Celery signal receivers (request id carried from the request that queued a
task into the task, task metrics, last runs of periodic jobs). Connected once, from the app
config's ``ready()``; the log format itself is ``config.logconfig``.

Following one decision from the click to the webhook: the decision request's id is bound in
``reviewapp.request_context``; ``before_task_publish`` copies it into the message headers of
every task queued while it is bound (the webhook delivery after commit included);
``task_prerun`` binds it again in the worker, so the task's log lines, and the audit events
it writes, carry the same ``request_id``. In eager mode (tests, no broker) the task runs inside
the request and keeps its context.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import structlog
from celery import signals
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from reviewapp.metrics.instruments import (
    http_observe,
    short_name,
    task_failure_observe,
    task_observe,
)
from reviewapp.request_context import request_context_bind, request_context_current
from reviewapp.selectors.system import periodic_job_names
from reviewapp.services.jobruns import job_run_record

REQUEST_ID_HEADER = "reviewapp_request_id"
UNMATCHED_ROUTE = "unmatched"

access_logger = logging.getLogger("reviewapp.access")
task_logger = logging.getLogger("reviewapp.tasks")
logger = logging.getLogger("reviewapp.observability")


def user_pseudonym(request: HttpRequest) -> str:
    """The pseudonym of the request's user if it is already known (no query is made for it),
    else "". Never the username."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return str(getattr(user, "pseudonym", "") or "")


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match is not None else "") or UNMATCHED_ROUTE


class ObservabilityMiddleware:
    """Times each request and, once answered, observes the latency histogram (route = URL
    name, so that cardinality stays bounded) and writes one ``request_finished`` log line with
    method, route, status, duration and the user's pseudonym. Place it just inside
    ``RequestContextMiddleware``, so the line carries the request id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("route", "user")
        elapsed = time.perf_counter() - started
        route = route_of(request)
        http_observe(
            route=route, method=request.method or "", status=response.status_code, seconds=elapsed
        )
        access_logger.info(
            "request_finished",
            extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "user": user_pseudonym(request),
            },
        )
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict
    ) -> None:
        """Bind the route (and the user when the session already named one) for the log
        lines written while the view runs."""
        bound = {"route": route_of(request)}
        pseudonym = user_pseudonym(request)
        if pseudonym:
            bound["user"] = pseudonym
        structlog.contextvars.bind_contextvars(**bound)


# --- Celery ----------------------------------------------------------------------------------

_running: dict[str, tuple[float, ExitStack]] = {}
_running_lock = threading.Lock()
_last_errors: dict[str, str] = {}


@signals.before_task_publish.connect(weak=False, dispatch_uid="reviewapp_request_id_header")
def request_id_into_headers(headers: dict | None = None, **kwargs: Any) -> None:
    """Carry the bound request id in the message headers of a task being queued."""
    request_id = request_context_current().request_id
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def _header_request_id(task: Any) -> str:
    request = getattr(task, "request", None)
    if request is None:
        return ""
    value = getattr(request, REQUEST_ID_HEADER, None)
    if not value:
        value = (getattr(request, "headers", None) or {}).get(REQUEST_ID_HEADER)
    return str(value)[:64] if value else ""


@signals.task_prerun.connect(weak=False, dispatch_uid="reviewapp_task_prerun")
def task_started(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    """Bind the request id the task was queued under (a worker), and the task's name and id
    for its log lines; note the start time."""
    stack = ExitStack()
    header_id = _header_request_id(task)
    if header_id and header_id != request_context_current().request_id:
        stack.enter_context(request_context_bind(request_id=header_id))
    name = short_name(getattr(task, "name", "") or "")
    stack.enter_context(structlog.contextvars.bound_contextvars(task=name, task_id=task_id))
    with _running_lock:
        _running[task_id] = (time.perf_counter(), stack)
    task_logger.info("task_started")


@signals.task_postrun.connect(weak=False, dispatch_uid="reviewapp_task_postrun")
def task_finished(
    task_id: str = "", task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    """Observe the run, log it, record the last run of a periodic job, unbind."""
    with _running_lock:
        started, stack = _running.pop(task_id, (None, ExitStack()))
    seconds = None if started is None else time.perf_counter() - started
    task_name = getattr(task, "name", "") or ""
    try:
        task_observe(task_name=task_name, state=state or "", seconds=seconds)
        task_logger.info(
            "task_finished",
            extra={
                "state": state,
                "duration_ms": None if seconds is None else round(seconds * 1000, 1),
            },
        )
        if task_name in periodic_job_names():
            _job_run_record(task_name, state=state or "", seconds=seconds or 0.0)
    finally:
        stack.close()


def _job_run_record(task_name: str, *, state: str, seconds: float) -> None:
    error = ""
    if state != "SUCCESS":
        error = _last_errors.pop(task_name, "") or state
    try:
        job_run_record(name=task_name, duration_s=seconds, ok=state == "SUCCESS", error=error)
    except Exception:  # the database may be down: the run happened, the record is lost
        logger.warning("could not record the run of %s", task_name, exc_info=True)


@signals.task_failure.connect(weak=False, dispatch_uid="reviewapp_task_failure")
def task_failed(sender: Any = None, exception: BaseException | None = None, **kwargs: Any) -> None:
    """Count the failure and keep its message for the job's last-run record."""
    task_name = getattr(sender, "name", "") or ""
    task_failure_observe(task_name=task_name)
    _last_errors[task_name] = f"{type(exception).__name__}: {exception}"[:500]
    task_logger.warning("task_failed", extra={"error": _last_errors[task_name]})


@signals.worker_init.connect(weak=False, dispatch_uid="reviewapp_worker_metrics")
def worker_metrics_serve(**kwargs: Any) -> None:
    """With REVIEWAPP_WORKER_METRICS_PORT set, the worker's main process serves its task
    metrics (all pool processes' in multiprocess mode) on that port, for workers on hosts
    where no web process shares their PROMETHEUS_MULTIPROC_DIR. The database figures come
    from the web's /metrics only."""
    from django.conf import settings

    port = int(getattr(settings, "REVIEWAPP_WORKER_METRICS_PORT", 0) or 0)
    if not port:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    from reviewapp.metrics.instruments import PROCESS_REGISTRY, multiprocess_enabled

    registry = PROCESS_REGISTRY
    if multiprocess_enabled():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    address = str(getattr(settings, "REVIEWAPP_WORKER_METRICS_ADDR", "127.0.0.1"))
    start_http_server(port, addr=address, registry=registry)
    logger.info("worker metrics served", extra={"port": port, "addr": address})
