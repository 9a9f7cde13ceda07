"""Shared fixtures. Tests marked ``postgres``, ``redis`` or ``browser`` skip with a reason when
the service is missing, except under CI=true where a missing service is an error."""

import os
import shutil
import socket

import pytest
from django.db import connection
from rest_framework.test import APIClient

from reviewapp.models import Role
from tests import factories

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _redis_answers() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    is_pg = connection.vendor == "postgresql"
    redis_ok = None
    for item in items:
        if "postgres" in item.keywords and not is_pg:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs PostgreSQL: set DATABASE_URL=postgres://… (make test does)"
                )
            )
        if "redis" in item.keywords:
            redis_ok = _redis_answers() if redis_ok is None else redis_ok
            if not redis_ok:
                if IN_CI:
                    raise pytest.UsageError(f"CI=true but Redis does not answer at {REDIS_URL}")
                item.add_marker(pytest.mark.skip(reason=f"needs Redis at {REDIS_URL}"))
        if "browser" in item.keywords and not shutil.which(CHROMIUM):
            if IN_CI:
                raise pytest.UsageError(f"CI=true but Chromium is missing at {CHROMIUM}")
            item.add_marker(pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM}"))


@pytest.fixture
def team(db):
    return factories.make_team("payments-risk")


@pytest.fixture
def other_team(db):
    return factories.make_team("claims")


@pytest.fixture
def ml_model(team):
    return factories.make_model(team=team, slug="fraud-screening")


@pytest.fixture
def service_account(ml_model):
    """(user, raw token) of the model's service account."""
    return factories.make_service_account(ml_model)


def bearer_client(raw_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client


@pytest.fixture
def sa_client(service_account) -> APIClient:
    return bearer_client(service_account[1])


@pytest.fixture
def make_user(db):
    return factories.make_user


@pytest.fixture
def reviewer(team):
    return factories.make_user(Role.REVIEWER, team=team, username="rita")


@pytest.fixture
def lead(team):
    return factories.make_user(Role.LEAD, team=team, username="leo")


@pytest.fixture
def manager(team):
    return factories.make_user(Role.MANAGER, team=team, username="mona")


@pytest.fixture
def model_owner(team):
    return factories.make_user(Role.MODEL_OWNER, team=team, username="otto")


@pytest.fixture
def auditor(db):
    return factories.make_user(Role.AUDITOR, username="audrey")


@pytest.fixture
def session_client():
    """An APIClient logged in as the given user (session auth, CSRF enforced)."""

    def _login(user) -> APIClient:
        client = APIClient(enforce_csrf_checks=False)
        client.force_login(user)
        return client

    return _login


@pytest.fixture(scope="session", autouse=True)
def _flush_past_audit_triggers():
    """On PostgreSQL the audit tables refuse TRUNCATE (migration 0002), which breaks the flush
    that ends every transactional test (transaction=True, live_server). Let only Django's test
    flush through, with user triggers off for that one call; the triggers stay on everywhere
    else, so tests can still prove that TRUNCATE, UPDATE and DELETE are refused."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with self.connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            return original(self, sql_list)
        finally:
            with self.connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = origin")

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _rate_limit_state():
    """Each test starts with no rate-limit counts, no unwritten audit tallies, no back-off."""
    from django.core.cache import caches

    from reviewapp.services.ratelimit import rate_limit_reset

    caches["ratelimit"].clear()
    rate_limit_reset()
    yield
    rate_limit_reset()
