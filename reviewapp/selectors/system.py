"""Readiness probes of the backing services that the app reads from, and the state of the
outbox (what /readyz and the model page say is degraded; README, "Failure modes")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min
from django.utils import timezone

from reviewapp.models import DeliveryStatus, MLModel, WebhookDelivery

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
    is_redis = "redis" in cache.get("BACKEND", "").lower() or "Redis" in cache.get("BACKEND", "")
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
