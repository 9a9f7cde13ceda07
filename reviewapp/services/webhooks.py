"""Decisions back to the calling systems: the transactional outbox of webhook deliveries.

``decision_publish`` writes a WebhookDelivery row in the decision's own transaction and asks a
worker to send it once that transaction commits, so a slow or dead receiver never slows a
decision down. A worker claims a due delivery (SELECT ... FOR UPDATE SKIP LOCKED, then a short
lease), POSTs it outside any transaction, records the attempt and schedules the next one with
exponential backoff and jitter; after REVIEWAPP_WEBHOOK_MAX_ATTEMPTS it is dead-lettered until
a model owner re-sends it. Callback URLs are checked against SSRF at registration and again at
every send, and the connection goes to the address that was checked (no DNS rebinding).
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from requests.adapters import HTTPAdapter

from reviewapp.errors import Conflict, InvalidInput, PermissionDenied
from reviewapp.models import (
    Decision,
    DeliveryStatus,
    MLModel,
    User,
    WebhookAttempt,
    WebhookDelivery,
)
from reviewapp.permissions import user_can_manage_model
from reviewapp.selectors.feed import decision_event
from reviewapp.services.audit import audit_record

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Reviewapp-Signature"
DELIVERY_HEADER = "X-Reviewapp-Delivery"
EVENT_HEADER = "X-Reviewapp-Event"
DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
RESPONSE_EXCERPT_CHARS = 500
USER_AGENT = "reviewapp-webhooks/1"


# --- the SSRF guard -----------------------------------------------------------------------


def _address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why an address may not be called back ("" when it is a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    ):
        if flag:
            return kind
    return ""


@dataclass(frozen=True)
class CheckedUrl:
    """A callback URL that passed the guard, with the address to connect to."""

    url: str
    scheme: str
    hostname: str
    port: int
    address: str


def webhook_url_check(url: str, *, allow_private: bool | None = None) -> CheckedUrl:
    """Parse and resolve a callback URL; refuse what is not http(s) or resolves to a loopback,
    private, link-local, multicast, reserved or unspecified address (unless allowed)."""
    if allow_private is None:
        allow_private = settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE
    url = (url or "").strip()

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(message, details={"url": [message]}, code="invalid_webhook_url")

    if not url:
        raise refuse("Give a callback URL such as https://example.com/hooks/reviewapp.")
    if len(url) > 500:
        raise refuse("The callback URL is longer than 500 characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse(f"'{url}' is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise refuse("The callback URL must start with http:// or https://.")
    hostname = parts.hostname
    if not hostname:
        raise refuse("The callback URL has no host name.")
    if parts.username or parts.password:
        raise refuse(
            "Do not put credentials in the callback URL; receivers should verify the "
            f"{SIGNATURE_HEADER} header instead."
        )
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise refuse(f"The callback host '{hostname}' does not resolve ({exc}).") from None
    addresses = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not allow_private:
        for address in addresses:
            problem = _address_problem(ipaddress.ip_address(address))
            if problem:
                raise refuse(
                    f"The callback host '{hostname}' resolves to {address}, "
                    f"{'an' if problem[0] in 'aeiou' else 'a'} {problem} address. "
                    "Callbacks to loopback, private, link-local, multicast, reserved or "
                    "unspecified addresses are refused (REVIEWAPP_WEBHOOK_ALLOW_PRIVATE allows "
                    "them, for local development only)."
                )
    if not addresses:
        raise refuse(f"The callback host '{hostname}' does not resolve.")
    return CheckedUrl(
        url=url, scheme=parts.scheme, hostname=hostname, port=port, address=addresses[0]
    )


# --- registering the callback -------------------------------------------------------------


def _require_owner(actor: User | None, ml_model: MLModel) -> None:
    """People must own the model; ``None`` is an operator at the command line."""
    if actor is not None and not user_can_manage_model(actor, ml_model):
        raise PermissionDenied("Only the model's owners may manage its webhook.")


@transaction.atomic
def webhook_set(*, ml_model: MLModel, url: str, actor: User | None) -> str:
    """Register (or change) the model's callback URL with a new signing secret, returned once."""
    _require_owner(actor, ml_model)
    checked = webhook_url_check(url)
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
    from reviewapp.tasks.webhooks import webhook_deliver_task

    # robust: a broker outage must not turn a committed decision into an error; the periodic
    # webhooks_send_due_task picks the delivery up anyway.
    transaction.on_commit(lambda: webhook_deliver_task.delay(delivery_id=delivery_id), robust=True)


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


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The header value: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def webhook_signature_verify(
    *, secret: str, header: str, body: bytes, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: check the HMAC and that the timestamp is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp, given = int(fields["t"]), fields["v1"]
    except (ValueError, KeyError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), given)


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


class _PinnedAdapter(HTTPAdapter):
    """Connects to the checked address while TLS still verifies the original host name."""

    def __init__(self, *, hostname: str) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


@dataclass(frozen=True)
class HttpOutcome:
    status_code: int | None
    error: str
    excerpt: str
    duration_ms: int


def _post(*, checked: CheckedUrl, body: bytes, headers: dict[str, str]) -> HttpOutcome:
    """One POST to the checked address, no redirects, bounded time and response size."""
    parts = urlsplit(checked.url)
    ip = ipaddress.ip_address(checked.address)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = urlunsplit(
        (parts.scheme, f"{host}:{checked.port}", parts.path or "/", parts.query, "")
    )
    name = parts.hostname or ""
    name = f"[{name}]" if ":" in name else name
    host_header = name if parts.port is None else f"{name}:{parts.port}"
    timeout = float(settings.REVIEWAPP_WEBHOOK_TIMEOUT_S)
    started = time.monotonic()
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: we call the checked address
    session.mount(f"{parts.scheme}://", _PinnedAdapter(hostname=checked.hostname))
    try:
        response = session.post(
            pinned,
            data=body,
            headers={**headers, "Host": host_header},
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
        try:
            raw = response.raw.read(RESPONSE_EXCERPT_CHARS * 4, decode_content=True) or b""
        finally:
            response.close()
        excerpt = raw.decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS]
        error = ""
        if response.is_redirect:
            location = response.headers.get("Location", "?")
            error = f"Redirect refused ({response.status_code} to {location})."
        elif not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
        return HttpOutcome(
            response.status_code, error[:1000], excerpt, int((time.monotonic() - started) * 1000)
        )
    except requests.Timeout:
        error = f"Timed out after {timeout:g} s."
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {exc}"
    finally:
        session.close()
    return HttpOutcome(None, error[:1000], "", int((time.monotonic() - started) * 1000))


def delivery_attempt(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """POST a claimed delivery once and record the attempt: delivered on 2xx; otherwise retry
    later with backoff, or dead-letter after REVIEWAPP_WEBHOOK_MAX_ATTEMPTS."""
    ml_model = MLModel.objects.get(pk=delivery.ml_model_id)
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    outcome: HttpOutcome
    if not ml_model.webhook_url:
        outcome = HttpOutcome(None, "The model no longer has a webhook URL.", "", 0)
    else:
        url = ml_model.webhook_url
        try:
            checked = webhook_url_check(url)
        except InvalidInput as exc:
            outcome = HttpOutcome(None, f"Refused: {exc.message}", "", 0)
        else:
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: webhook_signature(
                    secret=ml_model.webhook_secret, timestamp=timestamp, body=body
                ),
                DELIVERY_HEADER: str(delivery.pk),
                EVENT_HEADER: delivery.event,
            }
            outcome = _post(checked=checked, body=body, headers=headers)
        delivery.url = url
    return _attempt_record(delivery=delivery, outcome=outcome, ml_model=ml_model)


def _attempt_record(
    *, delivery: WebhookDelivery, outcome: HttpOutcome, ml_model: MLModel
) -> WebhookDelivery:
    now = timezone.now()
    ok = outcome.status_code is not None and 200 <= outcome.status_code < 300 and not outcome.error
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
