"""Periodic jobs under two beats (reviewapp.jobs.JobTask): a run that beat sent claims its
period in the shared cache first, so each job runs once per period however many beats send
it; calls that beat did not send are never held back."""

from __future__ import annotations

import pytest
from celery import shared_task
from celery.schedules import crontab
from django.core.cache import caches
from django.test import override_settings

from reviewapp import jobs
from reviewapp.jobs import BEAT_HEADER, JobTask, job_period_claim, job_period_s
from reviewapp.tasks import worker_heartbeat_task

COUNTED = "tests.cluster.counted_job"
RUNS: list[int] = []
SCHEDULE = {"counted": {"task": COUNTED, "schedule": 30.0}}


@shared_task(name=COUNTED)
def counted_job() -> int:
    RUNS.append(1)
    return len(RUNS)


@pytest.fixture(autouse=True)
def _fresh_locks():
    RUNS.clear()
    caches["ratelimit"].clear()
    yield
    caches["ratelimit"].clear()


class Clock:
    """time.time() of reviewapp.jobs, set by the test (the period slots depend on it)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def _beat_sends(task) -> object:
    return task.apply_async(headers={BEAT_HEADER: True}).get()


def test_every_task_is_a_job_task():
    """The app's task class is JobTask, so every periodic task takes the lock."""
    assert isinstance(worker_heartbeat_task._get_current_object(), JobTask)
    assert isinstance(counted_job._get_current_object(), JobTask)


@override_settings(CELERY_BEAT_SCHEDULE=SCHEDULE)
def test_two_beats_run_each_job_once_per_period(monkeypatch):
    """Beats A and B both send the job in each of 4 periods (B 12 s after A): it runs 4 times."""
    clock = Clock()
    monkeypatch.setattr(jobs, "time", clock)
    start = clock.now - clock.now % 30
    for period in range(4):
        clock.now = start + period * 30 + 3  # beat A
        _beat_sends(counted_job)
        clock.now = start + period * 30 + 15  # beat B, started 12 s later
        _beat_sends(counted_job)
    assert len(RUNS) == 4


@override_settings(CELERY_BEAT_SCHEDULE=SCHEDULE)
def test_one_beat_is_never_held_back(monkeypatch):
    """A single beat sending once per period runs every time, late runs included."""
    clock = Clock()
    monkeypatch.setattr(jobs, "time", clock)
    start = clock.now - clock.now % 30
    for period, delay in enumerate([1, 29, 2, 28]):  # runs delayed by a busy worker
        clock.now = start + period * 30 + delay
        _beat_sends(counted_job)
    assert len(RUNS) == 4


@override_settings(CELERY_BEAT_SCHEDULE=SCHEDULE)
def test_calls_not_from_beat_always_run():
    """Direct calls and queued calls without the beat header are not locked."""
    counted_job()
    counted_job()
    counted_job.delay().get()
    counted_job.delay().get()
    assert len(RUNS) == 4


def test_a_real_periodic_task_is_skipped_by_the_second_beat():
    """The worker heartbeat sent twice by beats in one period runs once (None the second time)."""
    first = _beat_sends(worker_heartbeat_task)
    second = _beat_sends(worker_heartbeat_task)
    assert isinstance(first, str)
    assert second is None


def test_periods_come_from_the_beat_schedule():
    """Intervals are read as seconds; crontabs as their smallest gap; unknown tasks have none."""
    assert job_period_s("reviewapp.tasks.worker_heartbeat_task") == 30.0
    assert job_period_s("reviewapp.tasks.rollups_refresh_task") == 300.0
    assert job_period_s("reviewapp.tasks.tripwires_check_task") == 600.0
    assert job_period_s("reviewapp.tasks.no_such_task") is None


@override_settings(
    CELERY_BEAT_SCHEDULE={
        "daily": {"task": "t.daily", "schedule": crontab(minute=17, hour=3)},
        "twice": {"task": "t.twice", "schedule": crontab(minute=0, hour="6,18")},
        "quarter": {"task": "t.quarter", "schedule": crontab(minute="*/15")},
    }
)
def test_crontab_periods():
    """A daily crontab's period is a day, twice a day 12 h, every 15 minutes 15 min."""
    assert job_period_s("t.daily") == 86400.0
    assert job_period_s("t.twice") == 43200.0
    assert job_period_s("t.quarter") == 900.0
    assert job_period_claim("reviewapp.tasks.no_such_task") is True


@override_settings(
    CELERY_BEAT_SCHEDULE=SCHEDULE,
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.1, "socket_timeout": 0.1},
        },
    },
)
def test_a_cache_failure_fails_open():
    """With the lock cache down every run goes ahead (the jobs are safe to run twice)."""
    _beat_sends(counted_job)
    _beat_sends(counted_job)
    assert len(RUNS) == 2
