"""Decisions back to the calling systems: the transactional outbox of webhook deliveries.

``decision_publish`` writes a WebhookDelivery row in the decision's own transaction and asks a
worker to send it once that transaction commits, so a slow or dead receiver never slows a
decision down. A worker claims a due delivery (SELECT ... FOR UPDATE SKIP LOCKED, then a short
lease), POSTs it outside any transaction, records the attempt and schedules the next one with
exponential backoff and jitter; after REVIEWAPP_WEBHOOK_MAX_ATTEMPTS it is dead-lettered until
a model owner re-sends it. The HTTP side lives in ``reviewapp.outbound``: callback URLs pass its
SSRF guard at registration and again at every send, the body is signed with the model's secret
(``X-Reviewapp-Signature``), and the connection goes to the address that was checked (no DNS
rebinding).
"""

import json
import logging
import random
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.errors import Conflict
from reviewapp.jobs import WEBHOOK_DELIVER, job_enqueue_on_commit
from reviewapp.models import (
    Decision,
    DeliveryStatus,
    MLModel,
    User,
    WebhookAttempt,
    WebhookDelivery,
)
from reviewapp.outbound import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    HttpOutcome,
    signed_post,
    url_check,
)
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.feed import decision_event
from reviewapp.services.access import refuse
from reviewapp.services.audit import audit_record

logger = logging.getLogger(__name__)

DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
USER_AGENT = "reviewapp-webhooks/1"


# --- registering the callback -------------------------------------------------------------


def _require_owner(actor: User | None, ml_model: MLModel) -> None:
    """People must own the model; ``None`` is an operator at the command line."""
    if actor is not None:
        refuse(
            user_has(actor, Capability.MANAGE_MODEL, ml_model),
            user=actor,
            action="webhook.manage",
            target_type="mlmodel",
            target_id=ml_model.slug,
            message="Only the model's owners may manage its webhook.",
        )


@transaction.atomic
def webhook_set(*, ml_model: MLModel, url: str, actor: User | None) -> str:
    """Register (or change) the model's callback URL with a new signing secret, returned once."""
    _require_owner(actor, ml_model)
    checked = url_check(url)
    ml_model = MLModel.objects.select_for_update().get(pk=ml_model.pk)
    before = ml_model.webhook_url
    secret = secrets.token_hex(32)
    ml_model.webhook_url, ml_model.webhook_secret = checked.url, secret
    ml_model.save(update_fields=["webhook_url", "webhook_secret"])
    audit_record(
        actor=actor,
        action="webhook.set",
        target=ml_model,
        changes={"webhook_url": [before, checked.url], "webhook_secret": "new secret issued"},
    )
    return secret


@transaction.atomic
def webhook_secret_rotate(*, ml_model: MLModel, actor: User | None) -> str:
    """A new signing secret for the registered URL, returned once."""
    _require_owner(actor, ml_model)
    ml_model = MLModel.objects.select_for_update().get(pk=ml_model.pk)
    if not ml_model.webhook_url:
        raise Conflict("The model has no webhook URL; set one first.")
    secret = secrets.token_hex(32)
    ml_model.webhook_secret = secret
    ml_model.save(update_fields=["webhook_secret"])
    audit_record(
        actor=actor,
        action="webhook.secret_rotated",
        target=ml_model,
        changes={"webhook_secret": "new secret issued"},
    )
    return secret


@transaction.atomic
def webhook_remove(*, ml_model: MLModel, actor: User | None) -> MLModel:
    """Stop calling back; deliveries still waiting are dead-lettered when next attempted."""
    _require_owner(actor, ml_model)
    ml_model = MLModel.objects.select_for_update().get(pk=ml_model.pk)
    before = ml_model.webhook_url
    ml_model.webhook_url, ml_model.webhook_secret = "", ""
    ml_model.save(update_fields=["webhook_url", "webhook_secret"])
    audit_record(
        actor=actor,
        action="webhook.removed",
        target=ml_model,
        changes={"webhook_url": [before, ""]},
    )
    return ml_model


# --- the outbox ---------------------------------------------------------------------------


def decision_publish(*, decision: Decision) -> WebhookDelivery | None:
    """Called by case_decide inside its transaction: queue the decision for the model's
    webhook (when one is registered). The pull feed needs nothing here: it reads decisions."""
    ml_model = decision.ml_model
    if not ml_model.webhook_url:
        return None
    delivery = WebhookDelivery.objects.create(
        ml_model=ml_model,
        decision=decision,
        event="case.decided",
        url=ml_model.webhook_url,
        payload=decision_event(decision),
    )
    _enqueue_after_commit(delivery.pk)
    return delivery


def _enqueue_after_commit(delivery_id: int) -> None:
    # robust: a broker outage must not turn a committed decision into an error; the periodic
    # webhooks_send_due_task picks the delivery up anyway.
    job_enqueue_on_commit(WEBHOOK_DELIVER, robust=True, delivery_id=delivery_id)


@transaction.atomic
def delivery_resend(*, delivery: WebhookDelivery, actor: User) -> WebhookDelivery:
    """A model owner sends a delivery again by hand (dead, delivered or waiting to retry)."""
    delivery = (
        WebhookDelivery.objects.select_for_update().select_related("ml_model").get(pk=delivery.pk)
    )
    _require_owner(actor, delivery.ml_model)
    if not delivery.ml_model.webhook_url:
        raise Conflict("The model has no webhook URL; set one before re-sending.")
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("This delivery is already waiting to be sent.")
    before = delivery.status
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.url = delivery.ml_model.webhook_url
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "url"])
    audit_record(
        actor=actor,
        action="webhook.resent",
        target=delivery,
        changes={"status": [before, DeliveryStatus.PENDING], "decision_id": delivery.decision_id},
    )
    _enqueue_after_commit(delivery.pk)
    return delivery


# --- sending ------------------------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter in [50%, 100%] of base * 2^(n-1), capped."""
    base = getattr(settings, "REVIEWAPP_WEBHOOK_BACKOFF_BASE_S", 10.0)
    cap = getattr(settings, "REVIEWAPP_WEBHOOK_BACKOFF_MAX_S", 3600.0)
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto


def _lease() -> timedelta:
    """How long a claimed delivery is hidden from other workers (longer than one attempt)."""
    return timedelta(seconds=2 * float(settings.REVIEWAPP_WEBHOOK_TIMEOUT_S) + 30)


def delivery_claim(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Take a due delivery for one attempt, or None when it is not due or another worker has
    it. The row lock is held only for this short transaction; the lease keeps others off."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        delivery.next_attempt_at = now + _lease()
        delivery.save(update_fields=["next_attempt_at"])
    return delivery


def deliveries_due_claim(*, limit: int = 100, now: datetime | None = None) -> list[int]:
    """Ids of due deliveries, oldest first, skipping rows another worker holds locked."""
    now = now or timezone.now()
    with transaction.atomic():
        return list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )


def delivery_attempt(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """POST a claimed delivery once and record the attempt: delivered on 2xx; otherwise retry
    later with backoff, or dead-letter after REVIEWAPP_WEBHOOK_MAX_ATTEMPTS."""
    ml_model = MLModel.objects.get(pk=delivery.ml_model_id)
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    outcome: HttpOutcome
    if not ml_model.webhook_url:
        outcome = HttpOutcome(None, "The model no longer has a webhook URL.", "", 0)
    else:
        outcome = signed_post(
            url=ml_model.webhook_url,
            body=body,
            secret=ml_model.webhook_secret,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                DELIVERY_HEADER: str(delivery.pk),
                EVENT_HEADER: delivery.event,
            },
        )
        if outcome.refused:
            outcome = replace(outcome, error=f"Refused: {outcome.error}")
        delivery.url = ml_model.webhook_url
    return _attempt_record(delivery=delivery, outcome=outcome, ml_model=ml_model)


def _attempt_record(
    *, delivery: WebhookDelivery, outcome: HttpOutcome, ml_model: MLModel
) -> WebhookDelivery:
    now = timezone.now()
    ok = outcome.ok
    with transaction.atomic():
        current = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        WebhookAttempt.objects.create(
            delivery=current,
            attempted_at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            response_excerpt=outcome.excerpt,
        )
        current.attempts += 1
        current.url = delivery.url
        if ok:
            current.status, current.delivered_at, current.last_error = (
                DeliveryStatus.DELIVERED,
                now,
                "",
            )
        elif (
            not ml_model.webhook_url or current.attempts >= settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS
        ):
            current.status, current.last_error = DeliveryStatus.DEAD, outcome.error
        else:
            current.status, current.last_error = DeliveryStatus.RETRYING, outcome.error
            current.next_attempt_at = now + _backoff(current.attempts)
        current.save(
            update_fields=[
                "status",
                "attempts",
                "next_attempt_at",
                "last_error",
                "delivered_at",
                "url",
            ]
        )
    if current.status == DeliveryStatus.DEAD:
        logger.warning(
            "webhook delivery %s dead-lettered after %s attempts: %s",
            current.pk,
            current.attempts,
            current.last_error,
        )
    return current


def delivery_send(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Claim and attempt one delivery if it is due (what webhook_deliver_task does)."""
    delivery = delivery_claim(delivery_id=delivery_id, now=now)
    if delivery is None:
        return None
    return delivery_attempt(delivery=delivery)
