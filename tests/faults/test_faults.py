"""Real faults against real processes (README, "Failure modes"): our own redis-server on a
free port, gunicorn with the production settings, a Celery worker and beat under
scripts/worker.sh, a PostgreSQL database of our own. Scenarios: bench/fault_scenarios.py.

Needs PostgreSQL at BENCH_PG (default postgres://postgres@127.0.0.1:5432) and redis-server:
skipped with the reason when either is missing, an error under CI=true."""

from __future__ import annotations

import os

import pytest
from fault_scenarios import (
    FaultResult,
    Stack,
    missing_prerequisites,
    result_failures,
    scenario_gunicorn,
    scenario_postgres,
    scenario_redis,
    scenario_worker,
    stack_running,
)

from tests.faults.conftest import RESULTS, report_write

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def stack():
    """One stack for the module (about 30 s to start): database, Redis, gunicorn, worker."""
    missing = missing_prerequisites()
    if missing:
        if IN_CI:
            pytest.fail("CI=true but the fault tests cannot run: " + "; ".join(missing))
        pytest.skip("fault tests need " + "; ".join(missing))
    with stack_running() as running:
        yield running


def _record(result: FaultResult) -> list[str]:
    RESULTS.append(result)
    report_write()
    return result_failures(result)


def test_redis_killed_during_intake_and_decisions(stack: Stack):
    """Redis down: every request answered, pages and readiness degrade, webhooks follow."""
    result = scenario_redis(stack)
    assert _record(result) == []
    assert result.checks["readyz while Redis is down"] == "200 degraded"
    assert result.checks["adoption metrics (cache) while down"] == 200
    assert set(result.checks["pages while down"].values()) == {200}
    assert result.checks["readyz after restart"] == "200 ok"
    assert result.checks["webhooks received after the restart"] > 0
    assert result.stats.unavailable == 0  # nothing needed Redis to answer


def test_worker_killed_mid_delivery(stack: Stack):
    """SIGKILL of the worker while a POST is in flight: a new worker delivers every decision."""
    result = scenario_worker(stack)
    assert _record(result) == []
    assert result.checks["kill landed mid-delivery"] is True
    assert result.checks["worker restarted by scripts/worker.sh"] is True


def test_gunicorn_worker_killed_mid_batch(stack: Stack):
    """SIGKILL of gunicorn workers mid-batch: retried batches store every case once."""
    result = scenario_gunicorn(stack)
    assert _record(result) == []
    assert 1 <= result.checks["kill rounds"] <= 5
    assert result.checks["requests dropped by the kills"] >= 1  # the kills hit requests
    assert result.checks["master respawned workers"] is True


def test_postgres_connections_terminated(stack: Stack):
    """Backends terminated during intake and decisions: 503s, retried, nothing lost or 500."""
    result = scenario_postgres(stack)
    assert _record(result) == []
    assert result.checks["backends terminated"] > 0
