"""Events back to the calling systems: the transactional outbox of webhook and email deliveries.

Every notification is one WebhookDelivery row written in the transaction of the change it
reports, sent by a worker once that transaction commits, so a slow or dead receiver never
slows the change down and a broker outage loses nothing (the periodic sweep sends what was
not enqueued):

- ``case.decided`` (``decision_publish``, in case_decide's transaction) and ``case.expired``
  (``cases_expired_publish``, in the availability job's transaction, which also writes the
  FeedEvent the pull feed serves) go to the model's callback URL as registered at send time;
- ``alert.raised`` (a tripwire's alert, written by services.health through ``event_publish``)
  goes to the URL it was written with (the tripwire's ``notify_url``);
- ``alert.email`` is the same alert as an email (``url`` is ``mailto:<address>``), sent with
  Django's mail backend (EMAIL_URL) from REVIEWAPP_ALERT_FROM_EMAIL.

All of them share the signing, the attempt log, backoff, dead-lettering and the re-send.

A worker claims a due delivery (SELECT ... FOR UPDATE SKIP LOCKED, then a short lease), sends
it outside any transaction, records the attempt and schedules the next one with exponential
backoff and jitter; after REVIEWAPP_WEBHOOK_MAX_ATTEMPTS it is dead-lettered until a model
owner re-sends it. The HTTP side lives in ``reviewapp.outbound``: URLs pass its SSRF guard at
registration and again at every send, the body is signed (``X-Reviewapp-Signature``, see
``delivery_destination`` for the secret), and the connection goes to the address that was
checked (no DNS rebinding).
"""

import json
import logging
import random
import secrets
import time
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from reviewapp.case_rules import decision_publish_at
from reviewapp.errors import Conflict
from reviewapp.jobs import WEBHOOK_DELIVER, job_enqueue_on_commit
from reviewapp.models import (
    Alert,
    Case,
    Decision,
    DeliveryStatus,
    FeedEvent,
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
from reviewapp.selectors.feed import case_expired_event, decision_event, feed_event_body
from reviewapp.services.access import refuse
from reviewapp.services.audit import audit_record

logger = logging.getLogger(__name__)

DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
USER_AGENT = "reviewapp-webhooks/1"
CASE_DECIDED = "case.decided"
CASE_EXPIRED = "case.expired"
ALERT_RAISED = "alert.raised"
ALERT_EMAIL = "alert.email"
# Events that go where they were written to (not to the model's callback URL).
OWN_DESTINATION_EVENTS = frozenset({ALERT_RAISED, ALERT_EMAIL})
MAILTO = "mailto:"


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


def event_publish(
    *,
    ml_model: MLModel,
    event: str,
    url: str,
    payload: dict,
    decision: Decision | None = None,
    alert: Alert | None = None,
    not_before: datetime | None = None,
) -> WebhookDelivery:
    """Write one outbox row in the caller's transaction; a worker sends it after commit (not
    before NOT_BEFORE when given)."""
    now = timezone.now()
    due = max(now, not_before or now)
    delivery = WebhookDelivery.objects.create(
        ml_model=ml_model,
        decision=decision,
        alert=alert,
        event=event,
        url=url,
        payload=payload,
        next_attempt_at=due,
    )
    _enqueue_after_commit(delivery.pk, countdown=(due - now).total_seconds())
    return delivery


def decision_publish(*, decision: Decision) -> WebhookDelivery | None:
    """Called by case_decide inside its transaction: queue the decision for the model's
    webhook (when one is registered), due once its undo window has closed
    (``case_rules.decision_publish_at``). The pull feed needs nothing here: it reads
    decisions."""
    ml_model = decision.ml_model
    if not ml_model.webhook_url:
        return None
    return event_publish(
        ml_model=ml_model,
        event=CASE_DECIDED,
        url=ml_model.webhook_url,
        payload=decision_event(decision),
        decision=decision,
        not_before=decision_publish_at(decision.decided_at),
    )


def decision_deliveries_cancel(*, decision: Decision) -> bool:
    """Called by decision_undo inside its transaction: cancel the undone decision's outbox
    rows. False, changing nothing, when a sender has already taken one (publication began:
    too late to undo); the row locks keep senders off until the undo commits."""
    deliveries = list(WebhookDelivery.objects.select_for_update().filter(decision=decision))
    due = decision_publish_at(decision.decided_at)
    if any(
        d.status != DeliveryStatus.PENDING or d.attempts or d.next_attempt_at > due
        for d in deliveries
    ):
        return False
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=DeliveryStatus.CANCELLED, last_error="Cancelled: the decision was undone."
    )
    return True


def feed_event_record(
    *, ml_model: MLModel, event: str, payload: dict, case: Case | None = None
) -> FeedEvent:
    """One event other than a decision (``model.*``, ``alert.raised``) in the model's pull
    feed, written in the caller's transaction. On SQLite it records the model's greatest
    decision id, its place in the feed (the transaction holds the write lock)."""
    position = None
    if connection.vendor != "postgresql":
        position = Decision.objects.filter(ml_model=ml_model).aggregate(last=Max("id"))["last"] or 0
    return FeedEvent.objects.create(
        ml_model=ml_model, case=case, event=event, payload=payload, feed_after_decision=position
    )


def cases_expired_publish(*, cases: list[Case]) -> list[FeedEvent]:
    """Called by the availability job inside its transaction once CASES are stored as expired
    (with ``expired_at`` and ``fallback_applied`` set, ``ml_model`` and ``model_version``
    loaded): one ``case.expired`` FeedEvent per case for the pull feed, and one outbox row
    per case whose model has a callback URL. On SQLite each event records its model's
    greatest decision id, its place in the feed (this transaction holds the write lock)."""
    if not cases:
        return []
    after: dict[int, int] = {}
    sqlite = connection.vendor != "postgresql"
    if sqlite:
        after = dict(
            Decision.objects.filter(ml_model_id__in={c.ml_model_id for c in cases})
            .values("ml_model_id")
            .annotate(last=Max("id"))
            .values_list("ml_model_id", "last")
        )
    events = FeedEvent.objects.bulk_create(
        [
            FeedEvent(
                ml_model_id=case.ml_model_id,
                case=case,
                event=CASE_EXPIRED,
                payload=case_expired_event(case),
                created_at=case.expired_at,
                feed_after_decision=after.get(case.ml_model_id, 0) if sqlite else None,
            )
            for case in cases
        ]
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                ml_model_id=case.ml_model_id,
                event=CASE_EXPIRED,
                url=case.ml_model.webhook_url,
                payload=feed_event_body(event),
            )
            for case, event in zip(cases, events, strict=True)
            if case.ml_model.webhook_url
        ]
    )
    for delivery in deliveries:
        _enqueue_after_commit(delivery.pk)
    return events


def _enqueue_after_commit(delivery_id: int, *, countdown: float = 0) -> None:
    # robust: a broker outage must not turn a committed decision into an error; the periodic
    # webhooks_send_due_task picks the delivery up anyway.
    job_enqueue_on_commit(
        WEBHOOK_DELIVER, robust=True, countdown=countdown, delivery_id=delivery_id
    )


@transaction.atomic
def delivery_resend(*, delivery: WebhookDelivery, actor: User) -> WebhookDelivery:
    """A model owner sends a delivery again by hand (dead, delivered or waiting to retry)."""
    delivery = (
        WebhookDelivery.objects.select_for_update().select_related("ml_model").get(pk=delivery.pk)
    )
    _require_owner(actor, delivery.ml_model)
    own_destination = delivery.event in OWN_DESTINATION_EVENTS
    if not own_destination and not delivery.ml_model.webhook_url:
        raise Conflict("The model has no webhook URL; set one before re-sending.")
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("This delivery is already waiting to be sent.")
    if delivery.status == DeliveryStatus.CANCELLED:
        raise Conflict("This delivery was cancelled: its decision was undone.")
    before = delivery.status
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    if not own_destination:
        delivery.url = delivery.ml_model.webhook_url
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "url"])
    audit_record(
        actor=actor,
        action="webhook.resent",
        target=delivery,
        changes={
            "status": [before, DeliveryStatus.PENDING],
            "event": delivery.event,
            "decision_id": delivery.decision_id,
            "alert_id": delivery.alert_id,
        },
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


def delivery_destination(delivery: WebhookDelivery, ml_model: MLModel) -> tuple[str, str]:
    """Where a webhook delivery goes now and the secret that signs it. Model events go to the
    model's callback URL as registered now, signed with its secret. ``alert.raised`` goes to
    the URL it was written with (the tripwire's notify URL), signed with the model's webhook
    secret, or REVIEWAPP_ALERT_SIGNING_SECRET when the model has none (unsigned when neither
    is set)."""
    if delivery.event == ALERT_RAISED:
        return delivery.url, ml_model.webhook_secret or settings.REVIEWAPP_ALERT_SIGNING_SECRET
    return ml_model.webhook_url, ml_model.webhook_secret


def _email_send(delivery: WebhookDelivery) -> HttpOutcome:
    """Send an ``alert.email`` delivery once; the outcome has no status code, and an error
    when the backend failed."""
    payload = delivery.payload
    started = time.monotonic()
    error = ""
    try:
        if not send_mail(
            subject=str(payload["subject"]),
            message=str(payload["body"]),
            from_email=settings.REVIEWAPP_ALERT_FROM_EMAIL or None,
            recipient_list=[str(payload["to"])],
        ):
            error = "The mail backend sent nothing."
    except Exception as exc:  # any backend failure (SMTP, DNS, TLS) is this attempt's error
        error = f"{exc.__class__.__name__}: {exc}"
    elapsed = int((time.monotonic() - started) * 1000)
    excerpt = "" if error else f"sent to {payload.get('to', '')}"
    return HttpOutcome(None, error[:1000], excerpt, elapsed)


def delivery_attempt(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a claimed delivery once (POST, or email for ``alert.email``) and record the
    attempt: delivered on 2xx (or a sent email); otherwise retry later with backoff, or
    dead-letter after REVIEWAPP_WEBHOOK_MAX_ATTEMPTS (at once when the model's callback URL is
    gone)."""
    ml_model = MLModel.objects.get(pk=delivery.ml_model_id)
    if delivery.event == ALERT_EMAIL:
        outcome = _email_send(delivery)
        return _attempt_record(delivery=delivery, outcome=outcome, ok=not outcome.error)
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    url, secret = delivery_destination(delivery, ml_model)
    if not url:
        outcome = HttpOutcome(None, "The model no longer has a webhook URL.", "", 0)
        return _attempt_record(delivery=delivery, outcome=outcome, ok=False, gone=True)
    outcome = signed_post(
        url=url,
        body=body,
        secret=secret,
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: str(delivery.pk),
            EVENT_HEADER: delivery.event,
        },
    )
    if outcome.refused:
        outcome = replace(outcome, error=f"Refused: {outcome.error}")
    delivery.url = url
    return _attempt_record(delivery=delivery, outcome=outcome, ok=outcome.ok)


def _attempt_record(
    *, delivery: WebhookDelivery, outcome: HttpOutcome, ok: bool, gone: bool = False
) -> WebhookDelivery:
    """Store one attempt and what follows: delivered, retrying after backoff, or dead (after
    the last attempt, or at once when GONE: nowhere left to send it)."""
    now = timezone.now()
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
        elif gone or current.attempts >= settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS:
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
