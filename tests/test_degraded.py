"""Degrade, don't fail: readiness, the stale-outbox banner, the fail-safe cache, broker
outages in reviewapp.jobs and 503s for lost databases (README, "Failure modes"). The same
faults against real processes: tests/faults/."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from config.celery_app import app as celery_app
from reviewapp import jobs
from reviewapp.api.exceptions import api_exception_handler
from reviewapp.cache_backends import FailSafeRedisCache
from reviewapp.error_pages import ErrorPageMiddleware
from reviewapp.errors import ServiceUnavailable
from reviewapp.models import DeliveryStatus, Role, WebhookDelivery
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next
from reviewapp.services.webhooks import deliveries_due_claim
from tests import factories
from tests.conftest import REDIS_URL

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused
DEAD_CACHES = {
    "default": {"BACKEND": "reviewapp.cache_backends.FailSafeRedisCache", "LOCATION": DEAD_REDIS},
    "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl"},
}


@pytest.fixture
def broker_down(monkeypatch):
    """Tasks go to a broker that refuses every message (as kombu raises when Redis is down)."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    calls = []

    def refuse(*args, **kwargs):
        calls.append(kwargs)
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for name in jobs.JOB_NAMES:
        monkeypatch.setattr(jobs.job_task(name), "delay", refuse)
        monkeypatch.setattr(jobs.job_task(name), "apply_async", refuse)
    jobs.job_broker_reset()
    yield calls
    celery_app.conf.task_always_eager = eager
    jobs.job_broker_reset()


def stale_delivery(ml_model, age_s: float) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        ml_model=ml_model,
        url="https://receiver.example/hook",
        payload={"event": "case.decided"},
        created_at=timezone.now() - timedelta(seconds=age_s),
    )


@pytest.mark.django_db
def test_readyz_is_200_degraded_when_redis_is_down(client):
    """Broker and cache down: 200 "degraded" naming both, so the node keeps its traffic."""
    with override_settings(CELERY_BROKER_URL=DEAD_REDIS, CACHES=DEAD_CACHES):
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")
    assert body["checks"]["cache"].startswith("error: ")
    assert body["degraded"] == ["broker", "cache"]


@pytest.mark.django_db
def test_readyz_reports_a_stale_outbox(client, ml_model, settings):
    """An undelivered delivery older than REVIEWAPP_OUTBOX_STALE_S: degraded, with its age."""
    settings.REVIEWAPP_OUTBOX_STALE_S = 600
    stale_delivery(ml_model, 700)
    body = client.get("/readyz").json()
    assert body["status"] == "degraded"
    assert body["degraded"] == ["outbox"]
    assert body["checks"]["outbox"].startswith("stale: oldest undelivered is 70")
    assert body["outbox"]["undelivered"] == 1
    assert 699 < body["outbox"]["oldest_undelivered_age_s"] < 760


@pytest.mark.django_db
def test_readyz_ignores_delivered_and_young_deliveries(client, ml_model, settings):
    """Delivered rows and undelivered ones younger than the limit keep the outbox "ok"."""
    settings.REVIEWAPP_OUTBOX_STALE_S = 600
    old = stale_delivery(ml_model, 5000)
    WebhookDelivery.objects.filter(pk=old.pk).update(status=DeliveryStatus.DELIVERED)
    stale_delivery(ml_model, 30)
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert body["checks"]["outbox"] == "ok"
    assert body["outbox"]["undelivered"] == 1


@pytest.mark.django_db
def test_model_page_shows_the_stale_outbox_banner(ml_model, model_owner, settings):
    """The model page warns with the oldest undelivered age once the outbox is stale."""
    settings.REVIEWAPP_OUTBOX_STALE_S = 600
    client = Client()
    client.force_login(model_owner)
    stale_delivery(ml_model, 60)
    assert 'id="outbox-stale"' not in client.get("/models/fraud-screening/").content.decode()
    stale_delivery(ml_model, 900)
    body = client.get("/models/fraud-screening/").content.decode()
    assert 'id="outbox-stale"' in body
    assert "Deliveries are late." in body
    assert "2 deliveries of this model are waiting" in body
    assert "more than the 600 s allowed" in body


def test_failsafe_cache_misses_and_backs_off_while_redis_is_down():
    """Reads are misses, writes no-ops; after one failure Redis is left alone (no wait)."""
    cache = FailSafeRedisCache(DEAD_REDIS, {"OPTIONS": {"retry_s": 30}})
    assert cache.get("k", "fallback") == "fallback"
    assert cache.is_down()
    started = time.monotonic()
    cache.set("k", 1)
    assert cache.get_many(["a", "b"]) == {}
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.get_or_set("k", lambda: 42) == 42
    assert cache.add("k", 1) is False
    assert cache.delete("k") is False
    assert time.monotonic() - started < 0.05


@pytest.mark.redis
def test_failsafe_cache_is_a_cache_when_redis_answers():
    """With Redis up the backend stores and reads like Django's RedisCache."""
    cache = FailSafeRedisCache(REDIS_URL, {"KEY_PREFIX": "h9-degraded-test"})
    cache.set("k", {"v": 1}, timeout=30)
    assert cache.get("k") == {"v": 1}
    assert cache.get_many(["k"]) == {"k": {"v": 1}}
    assert cache.delete("k") is True
    assert not cache.is_down()


def test_enqueue_raises_503_and_backs_off_while_the_broker_is_down(broker_down, settings):
    """A refused publish is ServiceUnavailable with a retry hint; the next one fails fast."""
    settings.REVIEWAPP_BROKER_RETRY_S = 5
    with pytest.raises(ServiceUnavailable) as raised:
        jobs.job_enqueue(jobs.ROLLUPS_REFRESH, days=[], ml_model_id=1)
    assert raised.value.status_code == 503
    assert raised.value.details["retry_after_s"] == 5
    assert jobs.job_broker_down()
    with pytest.raises(ServiceUnavailable):
        jobs.job_enqueue(jobs.ROLLUPS_REFRESH, days=[], ml_model_id=1)
    assert len(broker_down) == 1  # the second call did not try the broker


@pytest.mark.django_db
def test_robust_enqueue_after_commit_logs_instead_of_raising(
    broker_down, django_capture_on_commit_callbacks, caplog
):
    """A robust job whose broker is down leaves the committed work alone and logs."""
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_enqueue_on_commit(jobs.WEBHOOK_DELIVER, robust=True, delivery_id=7)
    assert broker_down == [{"delivery_id": 7}]
    assert "task broker unavailable" in caplog.text


@pytest.mark.django_db
def test_decision_whose_enqueue_failed_is_left_for_the_sweep(
    ml_model, broker_down, allow_private_webhooks, django_capture_on_commit_callbacks
):
    """Broker down at decide: the decision stands and its delivery is due for the sweep."""
    reviewer = factories.make_user(Role.REVIEWER, team=ml_model.team)
    factories.make_cases(ml_model, 1)
    ml_model.webhook_url, ml_model.webhook_secret = "http://127.0.0.1:9/hook", "s"
    ml_model.save(update_fields=["webhook_url", "webhook_secret"])
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        decision = case_decide(case=case, reviewer=reviewer, action="accept")
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert broker_down, "the enqueue was attempted and refused"
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at <= timezone.now()
    assert deliveries_due_claim() == [delivery.pk]


@pytest.fixture
def allow_private_webhooks(settings):
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    settings.REVIEWAPP_UNDO_WINDOW_S = 0


def test_service_unavailable_api_error_has_retry_after():
    """The API's exception handler gives a 503 its Retry-After from the error's details."""
    exc = ServiceUnavailable("down", details={"retry_after_s": 7})
    response = api_exception_handler(exc, {})
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response.data["error"]["code"] == "unavailable"


@pytest.mark.parametrize(
    ("path", "content_type"), [("/api/v1/cases", "application/json"), ("/review/", "text/plain")]
)
def test_lost_database_is_503_with_retry_after(path, content_type):
    """A database connection lost mid-request is a 503 with Retry-After, never a 500."""
    request = RequestFactory().post(path)
    middleware = ErrorPageMiddleware(lambda r: None)
    response = middleware.process_exception(
        request, OperationalError("terminating connection due to administrator command")
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith(content_type)
    if content_type == "application/json":
        assert b'"database_unavailable"' in response.content
