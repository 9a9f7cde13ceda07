"""Liveness and readiness probes."""

import pytest
from django.test import override_settings

from tests.conftest import REDIS_URL


def test_healthz_is_200_without_database(client):
    """/healthz answers 200 and touches nothing."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_database_ok(client):
    """/readyz checks the database and answers 200 when it answers."""
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_reports_broker_ok(client):
    """With a Redis broker configured, /readyz pings it."""
    with override_settings(CELERY_BROKER_URL=REDIS_URL):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_readyz_is_200_degraded_when_broker_is_down(client):
    """An unreachable broker is "degraded" (200: the product works without it), named."""
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")
    assert body["degraded"] == ["broker"]


def test_probes_refuse_post(client):
    """The probes are GET only."""
    assert client.post("/healthz").status_code == 405
