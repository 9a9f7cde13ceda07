"""The transactional outbox (webhook and email deliveries with their per-attempt log) and the
feed's non-decision events."""

from django.db import models
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    RETRYING = "retrying", "Retrying"
    DEAD = "dead", "Dead-lettered"
    CANCELLED = "cancelled", "Cancelled (decision undone)"


class WebhookDelivery(models.Model):
    """One event to send, written in the transaction of the change it reports: a POST to the
    model's callback URL (``case.decided``, ``case.expired``), to a tripwire's notify URL
    (``alert.raised``, ``url`` is that URL) or an email (``alert.email``, ``url`` is
    ``mailto:<address>``)."""

    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="deliveries"
    )
    decision = models.ForeignKey(
        "reviewapp.Decision",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    alert = models.ForeignKey(
        "reviewapp.Alert",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    event = models.CharField(max_length=64, default="case.decided")
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "retrying"]),
                name="delivery_due_idx",
            )
        ]


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what came back, or the error."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["attempted_at", "id"]


class FeedEvent(models.Model):
    """One event other than a decision in a model's pull feed (``case.expired``), written in
    the transaction of the change it reports; ``payload`` is its body. Decisions are feed rows
    of their own (``Decision``); the feed merges both in one order (selectors/feed.py)."""

    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="feed_events"
    )
    case = models.ForeignKey(
        "reviewapp.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="feed_events",
    )
    event = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    feed_txid = models.BigIntegerField(
        null=True, blank=True, help_text="PostgreSQL transaction id (trigger), as on Decision."
    )
    feed_after_decision = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="SQLite: the model's greatest decision id when written (the feed's order).",
    )

    class Meta:
        indexes = [
            models.Index(fields=["ml_model", "feed_txid", "id"], name="feedevent_txid_idx"),
            models.Index(
                fields=["ml_model", "feed_after_decision", "id"], name="feedevent_seq_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} ({self.ml_model_id})"
