"""Background jobs by name: how services hand work to a Celery task without importing the
task modules (tasks sit above services and import them, so the import would point up).

The names are the ones the tasks are registered under (``@shared_task(name=...)``); the app
config imports ``reviewapp.tasks`` at start-up, so every Django process has them registered.
A task runs inline when ``CELERY_TASK_ALWAYS_EAGER`` is on (tests), else it goes to the
broker. An unknown name raises ``KeyError`` rather than sending a message no worker would take.

Broker outages degrade, they never fail a request with a 500 (README, "Failure modes"):

- ``job_enqueue`` raises ``ServiceUnavailable`` (503 with ``Retry-After``) when the broker
  cannot take the message, for work the caller must know was not queued;
- ``job_enqueue_on_commit(..., robust=True)`` logs a warning instead, for work a periodic
  task picks up anyway (webhook deliveries: the outbox row is already committed and the
  ``webhooks-due`` sweep sends it once the broker is back);
- after one failure the broker is left alone for ``REVIEWAPP_BROKER_RETRY_S`` seconds (5 by
  default), so that a dead Redis costs a request nothing instead of a second of retries.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from typing import Any

from celery import current_app
from celery.app.task import Task
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from reviewapp.backoff import Backoff
from reviewapp.errors import ServiceUnavailable

logger = logging.getLogger("reviewapp.jobs")

ALERT_NOTIFY = "reviewapp.tasks.alert_notify_task"
ROLLUPS_REFRESH = "reviewapp.tasks.rollups_refresh_task"
WEBHOOK_DELIVER = "reviewapp.tasks.webhook_deliver_task"
JOB_NAMES = (ALERT_NOTIFY, ROLLUPS_REFRESH, WEBHOOK_DELIVER)
# What a publish raises when the broker cannot take a message (redis-py's ConnectionError and
# TimeoutError are OSError-free subclasses of RedisError, so they are named too).
try:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    BROKER_ERRORS: tuple[type[BaseException], ...] = (
        KombuOperationalError,
        RedisConnectionError,
        RedisTimeoutError,
        OSError,
    )
except ImportError:  # pragma: no cover - redis is installed with celery[redis]
    BROKER_ERRORS = (KombuOperationalError, OSError)


def job_task(name: str) -> Task:
    """The registered task called ``name`` (KeyError when there is none)."""
    return current_app.tasks[name]


def _retry_s() -> float:
    return float(getattr(settings, "REVIEWAPP_BROKER_RETRY_S", 5.0))


_broker = Backoff("task broker", retry_s=_retry_s, log=logger)


def _unavailable(name: str) -> ServiceUnavailable:
    retry = max(1, math.ceil(_retry_s()))
    return ServiceUnavailable(
        "The task queue is unavailable; try again shortly.",
        code="queue_unavailable",
        details={"retry_after_s": retry, "job": name.rsplit(".", 1)[-1]},
    )


def job_broker_down() -> bool:
    """Whether this process saw the broker fail within the last REVIEWAPP_BROKER_RETRY_S."""
    return _broker.is_down()


def job_broker_reset() -> None:
    """Forget a broker failure (tests; the next enqueue tries the broker again)."""
    _broker.reset()


def job_enqueue(name: str, /, *, countdown: float = 0, **kwargs: Any) -> None:
    """Queue the task ``name`` with keyword arguments now (to run COUNTDOWN seconds later when
    given). Raises ServiceUnavailable (503) when the broker cannot take it, at once while a
    recent failure is fresh."""
    task = job_task(name)
    if current_app.conf.task_always_eager:  # no broker: the task runs here and now
        task.delay(**kwargs)
        return
    if job_broker_down():
        raise _unavailable(name)
    try:
        if countdown > 0:
            task.apply_async(kwargs=kwargs, countdown=countdown)
        else:
            task.delay(**kwargs)
    except BROKER_ERRORS as exc:
        _broker.failed(exc, f"{name} not queued")
        raise _unavailable(name) from exc


def _enqueue_or_log(name: str, kwargs: dict[str, Any], *, countdown: float = 0) -> None:
    try:
        job_enqueue(name, countdown=countdown, **kwargs)
    except ServiceUnavailable:
        logger.info("%s %s left for its periodic sweep (broker unavailable)", name, kwargs)


def job_enqueue_on_commit(
    name: str, /, *, robust: bool = False, countdown: float = 0, **kwargs: Any
) -> None:
    """Queue the task ``name`` once the current transaction commits (at once outside one),
    to run COUNTDOWN seconds later when given. ``robust``: a broker outage is logged instead
    of raised, for work a periodic task picks up anyway; the committed transaction's request
    still succeeds."""
    job_task(name)  # an unknown name fails now, inside the transaction
    if robust:
        transaction.on_commit(
            lambda: _enqueue_or_log(name, kwargs, countdown=countdown), robust=True
        )
    else:
        transaction.on_commit(lambda: job_enqueue(name, countdown=countdown, **kwargs))


# --- periodic jobs: at most one run per period, however many beats send them -----------------
#
# Exactly one beat should run (README, "Cluster"), but a second one started by mistake, or
# two during a rolling deploy, must not run every periodic job twice. Beat marks its messages
# with the ``celery_beat_task`` header (Celery 5.5+); before such a run the task claims its
# period: an atomic add of the key ``reviewapp:job:<task>:<slot>`` in the shared cache
# (REVIEWAPP_JOB_LOCK_CACHE, Redis when REDIS_URL is set), where slot = floor(now / period)
# and period is the task's interval in CELERY_BEAT_SCHEDULE. The run that finds the key taken
# returns at once. A cache error fails open (the run goes ahead: every job is safe to run
# twice, the lock only saves the work). Calls that do not come from beat (tests, the
# dashboard's refresh button, ``manage.py`` commands) are never held back.

JOB_LOCK_PREFIX = "reviewapp:job:"
BEAT_HEADER = "celery_beat_task"


def job_period_s(task_name: str) -> float | None:
    """The shortest interval at which CELERY_BEAT_SCHEDULE runs TASK_NAME (seconds), or None
    when beat does not schedule it. A crontab counts its smallest gap between minutes (every
    hour) or between hours (some hours of the day: a daily job's period is a day)."""
    periods = []
    for entry in (getattr(settings, "CELERY_BEAT_SCHEDULE", {}) or {}).values():
        if entry.get("task") != task_name:
            continue
        schedule = entry.get("schedule")
        if isinstance(schedule, int | float):
            periods.append(float(schedule))
        elif hasattr(schedule, "run_every") and not hasattr(schedule, "minute"):
            periods.append(schedule.run_every.total_seconds())
        elif hasattr(schedule, "minute"):
            hours = sorted(getattr(schedule, "hour", range(24)))
            if len(hours) == 24:  # every hour: the smallest gap between its minutes
                periods.append(60.0 * _smallest_gap(sorted(schedule.minute), 60))
            else:  # some hours of the day: the smallest gap between them
                periods.append(3600.0 * _smallest_gap(hours, 24))
    return min(periods) if periods else None


def _smallest_gap(values: list[int], cycle: int) -> int:
    """The smallest distance between consecutive VALUES on a clock of CYCLE (one value: CYCLE)."""
    gaps = [b - a for a, b in itertools.pairwise(values)]
    gaps.append(values[0] + cycle - values[-1])
    return min(gaps)


def job_period_claim(task_name: str, *, now: float | None = None) -> bool:
    """Claim the current period of the periodic job TASK_NAME: True for the first caller of
    the period (and when the job has no period or the cache fails), False for the others."""
    from django.core.cache import caches

    period = job_period_s(task_name)
    if not period or period <= 0:
        return True
    now = time.time() if now is None else now
    slot = math.floor(now / period)
    alias = getattr(settings, "REVIEWAPP_JOB_LOCK_CACHE", "ratelimit")
    try:
        return bool(
            caches[alias].add(
                f"{JOB_LOCK_PREFIX}{task_name}:{slot}", os.getpid(), timeout=max(2, 2 * period)
            )
        )
    except Exception:  # the cache is down: run (fail open), the job is safe to run twice
        logger.warning("job lock of %s not taken (cache error); running", task_name)
        return True


def _sent_by_beat(request: Any) -> bool:
    if request is None or getattr(request, "called_directly", True):
        return False
    if getattr(request, BEAT_HEADER, None):
        return True
    return bool((getattr(request, "headers", None) or {}).get(BEAT_HEADER))


class JobTask(Task):
    """The app's task class (config/celery_app.py): a run that beat sent first claims its
    period (``job_period_claim``) and is skipped, returning None, when another run has it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _sent_by_beat(self.request) and not job_period_claim(self.name):
            logger.info("%s skipped: another run has this period", self.name)
            return None
        return super().__call__(*args, **kwargs)
