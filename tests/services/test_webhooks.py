"""Webhook deliveries against a real HTTP receiver on 127.0.0.1."""

import ipaddress
import json
import threading
import time
from collections import deque
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.utils import timezone

from config.celery_app import app as celery_app
from reviewapp.errors import Conflict, InvalidInput, PermissionDenied
from reviewapp.models import (
    Alert,
    AuditEvent,
    Case,
    Decision,
    DeliveryStatus,
    FeedEvent,
    Role,
    RoutingPolicy,
    TripwireKind,
    WebhookAttempt,
    WebhookDelivery,
)
from reviewapp.outbound import (
    address_problem,
    embedded_ipv4,
    signature,
    signature_verify,
    url_check,
)
from reviewapp.services.decisions import case_decide
from reviewapp.services.health import tripwire_create, tripwires_check
from reviewapp.services.queue import case_claim_next, cases_expire
from reviewapp.services.webhooks import (
    delivery_claim,
    delivery_resend,
    delivery_send,
    webhook_secret_rotate,
    webhook_set,
)
from reviewapp.tasks.webhooks import webhooks_send_due_task
from tests.factories import make_cases, make_model, make_team, make_user
from tests.selectors.health_data import cases_at, decide


class Receiver:
    """A local HTTP server answering POSTs by a plan: each item is a status code or
    (sleep seconds, status code); the last item repeats."""

    def __init__(self) -> None:
        self.plan: deque = deque([200])
        self.received: list[dict] = []
        self.url = ""

    def next_answer(self) -> tuple[float, int]:
        item = self.plan.popleft() if len(self.plan) > 1 else self.plan[0]
        return item if isinstance(item, tuple) else (0.0, item)

    @property
    def accepted(self) -> list[dict]:
        return [r for r in self.received if 200 <= r["answered"] < 300]


@pytest.fixture
def receiver():
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            sleep_s, status = rec.next_answer()
            rec.received.append(
                {"headers": dict(self.headers), "body": body, "answered": status, "path": self.path}
            )
            time.sleep(sleep_s)
            try:
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"answered.")
            except OSError:
                pass  # the client timed out and hung up

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_port}/hooks/reviewapp"
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_private(settings):
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    return settings


@pytest.fixture
def hooked(ml_model, model_owner, receiver, allow_private):
    """The model with the receiver registered; returns the signing secret."""
    return webhook_set(ml_model=ml_model, url=receiver.url, actor=model_owner)


@pytest.fixture
def no_eager_celery():
    """Tasks go to the in-memory broker instead of running inline (as with a real worker)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = before


def decide_next(ml_model, reviewer, **outcome) -> Decision:
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert case is not None
    return case_decide(case=case, reviewer=reviewer, **{"action": "accept", **outcome})


def make_due() -> None:
    WebhookDelivery.objects.filter(status__in=["pending", "retrying"]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
def test_decision_is_posted_signed_with_the_secret(
    ml_model, reviewer, receiver, hooked, django_capture_on_commit_callbacks
):
    """The receiver gets the decision object, and its signature verifies with the secret."""
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=True):
        decision = decide_next(ml_model, reviewer, feedback="looks right")
    assert len(receiver.received) == 1
    request = receiver.received[0]
    headers = request["headers"]
    assert signature_verify(
        secret=hooked, header=headers["X-Reviewapp-Signature"], body=request["body"]
    )
    assert not signature_verify(
        secret="0" * 64, header=headers["X-Reviewapp-Signature"], body=request["body"]
    )
    body = json.loads(request["body"])
    assert body["event"] == "case.decided"
    assert body["case_id"] == decision.case_id
    assert body["model"] == "fraud-screening"
    assert body["model_version"] == "2.3.0"
    assert (body["action"], body["final_label"], body["feedback"]) == (
        "accept",
        "fraud",
        "looks right",
    )
    assert headers["X-Reviewapp-Event"] == "case.decided"
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert headers["X-Reviewapp-Delivery"] == str(delivery.pk)
    assert request["path"] == "/hooks/reviewapp"
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempt_log.get().status_code == 200


def test_signature_is_hmac_of_timestamp_dot_body():
    """The header is t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, and stale timestamps fail."""
    import hashlib
    import hmac

    body = b'{"a":1}'
    header = signature(secret="s3cret", timestamp=1700000000, body=body)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert signature_verify(secret="s3cret", header=header, body=body, now=1700000100)
    assert not signature_verify(secret="s3cret", header=header, body=body, now=1700009999)
    assert not signature_verify(secret="s3cret", header="garbage", body=body)


@pytest.mark.django_db
def test_no_webhook_no_delivery(ml_model, reviewer, django_capture_on_commit_callbacks):
    """A model without a callback URL gets no outbox rows."""
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        decide_next(ml_model, reviewer)
    assert WebhookDelivery.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_fails_twice_then_delivered_exactly_once(
    ml_model, reviewer, receiver, hooked, django_capture_on_commit_callbacks
):
    """Two 500s then a 200: delivered once, three attempts recorded, backoff between them."""
    receiver.plan = deque([500, 503, 200])
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=True):
        decision = decide_next(ml_model, reviewer)
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.next_attempt_at > timezone.now()
    assert webhooks_send_due_task() == 0  # not due yet: backoff
    make_due()
    webhooks_send_due_task()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 2)
    make_due()
    webhooks_send_due_task()
    make_due()
    webhooks_send_due_task()  # nothing left to send
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.delivered_at is not None
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 503, 200]
    assert delivery.attempt_log.first().error == "HTTP 500"
    assert len(receiver.received) == 3
    assert len(receiver.accepted) == 1


@pytest.mark.django_db
def test_timeouts_dead_letter_then_resend_by_hand(
    ml_model, reviewer, model_owner, receiver, hooked, settings, django_capture_on_commit_callbacks
):
    """A receiver that never answers in time is dead-lettered; an owner re-sends it later."""
    settings.REVIEWAPP_WEBHOOK_TIMEOUT_S = 0.3
    settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.plan = deque([(1.0, 200), (1.0, 200), 200])
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=True):
        decision = decide_next(ml_model, reviewer)
    make_due()
    webhooks_send_due_task()
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 2)
    attempts = list(delivery.attempt_log.all())
    assert all(a.status_code is None and "Timed out" in a.error for a in attempts)
    assert all(a.duration_ms >= 250 for a in attempts)
    make_due()
    assert webhooks_send_due_task() == 0  # dead stays dead
    with django_capture_on_commit_callbacks(execute=True):
        delivery_resend(delivery=delivery, actor=model_owner)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempt_log.count() == 3
    assert AuditEvent.objects.filter(
        action="webhook.resent", target_id=str(delivery.pk), actor=model_owner
    ).exists()


@pytest.mark.django_db
def test_always_500_dead_letters_after_max_attempts(
    ml_model, reviewer, receiver, hooked, settings, django_capture_on_commit_callbacks
):
    """A receiver that always fails ends dead after REVIEWAPP_WEBHOOK_MAX_ATTEMPTS attempts."""
    settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.plan = deque([500])
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=True):
        decide_next(ml_model, reviewer)
    for _ in range(5):
        make_due()
        webhooks_send_due_task()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("dead", 3, "HTTP 500")
    assert len(receiver.received) == 3
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 3


@pytest.mark.django_db
def test_redirect_is_not_followed(
    ml_model, reviewer, receiver, hooked, django_capture_on_commit_callbacks
):
    """A 302 (here towards a metadata address) is a failed attempt, never followed."""
    receiver.plan = deque([302])
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=True):
        decide_next(ml_model, reviewer)
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 302
    assert attempt.error.startswith("Redirect refused")
    assert WebhookDelivery.objects.get().status == DeliveryStatus.RETRYING
    assert len(receiver.received) == 1


@pytest.mark.django_db
def test_private_url_refused_at_registration(ml_model, model_owner, receiver):
    """Without the setting, a loopback callback URL is refused with a clear message."""
    with pytest.raises(InvalidInput, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        webhook_set(ml_model=ml_model, url=receiver.url, actor=model_owner)
    ml_model.refresh_from_db()
    assert ml_model.webhook_url == ""


@pytest.mark.django_db
def test_private_url_refused_at_send_time(
    ml_model, reviewer, receiver, hooked, settings, django_capture_on_commit_callbacks
):
    """A URL accepted earlier is checked again at send time: nothing reaches the receiver."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=True):
        decide_next(ml_model, reviewer)
    attempt = WebhookAttempt.objects.get()
    assert attempt.error.startswith("Refused: ")
    assert "loopback" in attempt.error
    assert receiver.received == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "must start with http:// or https://"),
        ("http://user:pw@93.184.216.34/", "credentials"),
        ("http://10.1.2.3/hook", "a private address"),
        ("http://169.254.169.254/latest", "a link-local address"),
        ("http://[::1]:8000/", "a loopback address"),
        ("http://0.0.0.0/", "an unspecified address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://240.0.0.1/", "a reserved address"),
        ("http://[::ffff:127.0.0.1]/", "a loopback address (IPv4-mapped for 127.0.0.1)"),
        ("http://[::ffff:10.0.0.1]/", "a private address (IPv4-mapped for 10.0.0.1)"),
        ("http://[2002:7f00:1::]/", "a loopback address (6to4 for 127.0.0.1)"),
        ("http://[2002:a9fe:a9fe::1]/", "a link-local address (6to4 for 169.254.169.254)"),
        ("http://[2002:c0a8:101::]:8080/", "a private address (6to4 for 192.168.1.1)"),
        # Teredo: server 65.54.227.120, client = NOT(last 32 bits) = NOT(80ff:fffe) = 127.0.0.1
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "a loopback address (Teredo for"),
        ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "a private address (Teredo for 10."),
        # Teredo around a public client is still refused: 2001::/32 is not a public range
        ("http://[2001:0:4136:e378:8000:63bf:a247:27dd]/", "a private address."),
        ("http://[64:ff9b::7f00:1]/", "a reserved address"),
        ("http://100.64.0.1/", "a non-public address"),
        ("http://localhost:8000/", "loopback"),
        ("http:///nohost", "no host name"),
        ("http://no-such-host.invalid/", "does not resolve"),
    ],
)
def test_url_guard_refuses(url, message, settings):
    """Non-http(s), credentials, unresolvable and non-public addresses are refused."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(InvalidInput) as info:
        url_check(url)
    assert message in info.value.message
    assert info.value.code == "invalid_webhook_url"


def test_url_guard_accepts_public_and_allowed_private(settings):
    """A public address passes; a private one passes only when the setting allows it."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
    checked = url_check("https://93.184.216.34/hooks?x=1")
    assert (checked.scheme, checked.port, checked.address) == ("https", 443, "93.184.216.34")
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    assert url_check("http://10.1.2.3:8080/").address == "10.1.2.3"


def test_embedded_ipv4_unwraps_mapped_6to4_and_teredo():
    """The IPv4 inside an IPv6 address is found for each wrapping, and only for those."""
    ip = ipaddress.ip_address
    assert embedded_ipv4(ip("::ffff:127.0.0.1")) == (ip("127.0.0.1"), "IPv4-mapped")
    assert embedded_ipv4(ip("2002:7f00:1::")) == (ip("127.0.0.1"), "6to4")
    assert embedded_ipv4(ip("2002:5db8:d822:1::5")) == (ip("93.184.216.34"), "6to4")
    teredo = ip("2001:0:4136:e378:8000:63bf:80ff:fffe")
    assert embedded_ipv4(teredo) == (ip("127.0.0.1"), "Teredo")
    assert embedded_ipv4(ip("2606:4700::1111")) is None
    assert embedded_ipv4(ip("127.0.0.1")) is None


def test_address_problem_judges_the_embedded_ipv4():
    """A wrapped private address is refused; wrapped public ones pass like plain ones."""
    ip = ipaddress.ip_address
    assert address_problem(ip("2002:7f00:1::")) == "a loopback address (6to4 for 127.0.0.1)"
    assert address_problem(ip("2002:5db8:d822::")) == ""
    assert address_problem(ip("::ffff:93.184.216.34")) == ""
    assert address_problem(ip("93.184.216.34")) == ""
    assert address_problem(ip("2606:4700::1111")) == ""


def test_url_guard_allows_wrapped_private_addresses_only_when_allowed(settings):
    """The setting that allows private callbacks also allows them wrapped in IPv6."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(InvalidInput):
        url_check("http://[2002:7f00:1::]/")
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    assert url_check("http://[2002:7f00:1::]:9000/x").address == "2002:7f00:1::"


@pytest.mark.django_db
def test_set_and_rotate_are_owner_only_and_audited(ml_model, model_owner, manager, allow_private):
    """Only the model's owners set the URL or rotate the secret; both are audited."""
    with pytest.raises(PermissionDenied):
        webhook_set(ml_model=ml_model, url="http://10.0.0.5/h", actor=manager)
    other_owner = make_user(Role.MODEL_OWNER, team=make_team("elsewhere"))
    with pytest.raises(PermissionDenied):
        webhook_set(ml_model=ml_model, url="http://10.0.0.5/h", actor=other_owner)
    with pytest.raises(Conflict):
        webhook_secret_rotate(ml_model=ml_model, actor=model_owner)
    first = webhook_set(ml_model=ml_model, url="http://10.0.0.5/h", actor=model_owner)
    second = webhook_secret_rotate(ml_model=ml_model, actor=model_owner)
    ml_model.refresh_from_db()
    assert first != second
    assert len(second) == 64
    assert ml_model.webhook_secret == second
    events = AuditEvent.objects.filter(target_type="mlmodel", target_id=str(ml_model.pk))
    actions = list(events.values_list("action", flat=True))
    assert "webhook.set" in actions
    assert "webhook.secret_rotated" in actions
    assert all(second not in json.dumps(e.changes) for e in events)


@pytest.mark.django_db
def test_resend_refused_for_other_team_and_pending(
    ml_model, reviewer, hooked, receiver, django_capture_on_commit_callbacks
):
    """A reviewer or another team's owner cannot re-send; a pending delivery is already queued."""
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=False):
        decide_next(ml_model, reviewer)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    with pytest.raises(PermissionDenied):
        delivery_resend(delivery=delivery, actor=reviewer)
    other_owner = make_user(Role.MODEL_OWNER, team=make_team("elsewhere"))
    with pytest.raises(PermissionDenied):
        delivery_resend(delivery=delivery, actor=other_owner)
    owner = make_user(Role.MODEL_OWNER, team=ml_model.team)
    with pytest.raises(Conflict, match="already waiting"):
        delivery_resend(delivery=delivery, actor=owner)


@pytest.mark.django_db
def test_a_claimed_delivery_is_not_claimed_twice(
    ml_model, reviewer, hooked, django_capture_on_commit_callbacks
):
    """Once a worker claims a delivery, another claim finds nothing until the lease ends."""
    make_cases(ml_model, 1)
    with django_capture_on_commit_callbacks(execute=False):
        decide_next(ml_model, reviewer)
    delivery = WebhookDelivery.objects.get()
    assert delivery_claim(delivery_id=delivery.pk) is not None
    assert delivery_claim(delivery_id=delivery.pk) is None
    assert delivery_send(delivery_id=delivery.pk) is None
    later = timezone.now() + timedelta(minutes=5)
    assert delivery_claim(delivery_id=delivery.pk, now=later) is not None


@pytest.mark.django_db(transaction=True)
def test_decide_is_fast_with_a_sleeping_receiver(receiver, allow_private, no_eager_celery):
    """The decision commits without calling the receiver; a worker delivers it afterwards."""
    team = make_team("t-fast")
    ml_model = make_model(team=team, slug="fast-model")
    owner = make_user(Role.MODEL_OWNER, team=team)
    reviewer = make_user(Role.REVIEWER, team=team)
    webhook_set(ml_model=ml_model, url=receiver.url, actor=owner)
    receiver.plan = deque([(2.0, 200)])
    make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    started = time.monotonic()
    decision = case_decide(case=case, reviewer=reviewer, action="accept")
    elapsed = time.monotonic() - started
    assert elapsed < 0.5, elapsed
    assert receiver.received == []
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert delivery.status == DeliveryStatus.PENDING
    delivered = delivery_send(delivery_id=delivery.pk)  # what the worker does
    assert delivered.status == DeliveryStatus.DELIVERED
    assert len(receiver.received) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_attempt_each_delivery_once(receiver, allow_private, no_eager_celery):
    """Workers sweeping the same due deliveries at once never POST one delivery twice."""
    from django.db import connection

    from reviewapp.services.webhooks import deliveries_due_claim

    team = make_team("t-workers")
    ml_model = make_model(team=team, slug="workers-model")
    owner = make_user(Role.MODEL_OWNER, team=team)
    reviewer = make_user(Role.REVIEWER, team=team)
    webhook_set(ml_model=ml_model, url=receiver.url, actor=owner)
    receiver.plan = deque([(0.05, 200)])
    make_cases(ml_model, 12)
    for _ in range(12):
        decide_next(ml_model, reviewer)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for delivery_id in deliveries_due_claim(limit=100):
                delivery_send(delivery_id=delivery_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    posted = [r["headers"]["X-Reviewapp-Delivery"] for r in receiver.received]
    assert len(posted) == 12
    assert len(set(posted)) == 12
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 12
    assert WebhookAttempt.objects.count() == 12


# --- alerts and expiries through the same outbox --------------------------------------------


def trip_alert(ml_model, manager, reviewer, on_commit, **notify) -> Alert:
    """An accuracy tripwire with NOTIFY targets trips (5 of 10 overridden) after commit."""
    tripwire_create(
        ml_model=ml_model, actor=manager, kind=TripwireKind.ACCURACY_DROP, threshold=0.8, **notify
    )
    decide(cases_at(ml_model, 10, confidence=0.6), reviewer=reviewer, overrides=5)
    with on_commit(execute=True):
        assert tripwires_check()["raised"] == 1
    return Alert.objects.get()


@pytest.mark.django_db
def test_alert_fails_twice_then_delivered_with_three_attempts(
    ml_model, manager, reviewer, model_owner, receiver, hooked, django_capture_on_commit_callbacks
):
    """An alert.raised delivery is retried like a decision: 500, 503, then 200 is delivered
    once with three attempts, signed with the model's secret, and listed on the model page."""
    receiver.plan = deque([500, 503, 200])
    alert = trip_alert(
        ml_model, manager, reviewer, django_capture_on_commit_callbacks, notify_url=receiver.url
    )
    delivery = WebhookDelivery.objects.get(alert=alert)
    assert (delivery.event, delivery.decision_id) == ("alert.raised", None)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 1)
    for _ in range(3):
        make_due()
        webhooks_send_due_task()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 503, 200]
    assert len(receiver.received) == 3
    assert len(receiver.accepted) == 1
    last = receiver.received[-1]
    assert last["headers"]["X-Reviewapp-Event"] == "alert.raised"
    assert signature_verify(
        secret=hooked, header=last["headers"]["X-Reviewapp-Signature"], body=last["body"]
    )
    body = json.loads(last["body"])
    assert (body["event"], body["alert_id"], body["model"]) == (
        "alert.raised",
        alert.pk,
        "fraud-screening",
    )
    page = Client()
    page.force_login(model_owner)
    html = page.get("/models/fraud-screening/deliveries").content.decode()
    assert f'id="delivery-{delivery.pk}"' in html
    assert "alert.raised" in html
    assert "HTTP 503" in html


@pytest.mark.django_db
def test_alert_delivery_goes_to_its_own_url_and_resends_without_a_model_webhook(
    ml_model, manager, reviewer, model_owner, receiver, settings, django_capture_on_commit_callbacks
):
    """An alert notification does not need the model's callback URL: dead-lettered after its
    attempts, an owner re-sends it to the tripwire's URL."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.plan = deque([500, 500, 204])
    alert = trip_alert(
        ml_model, manager, reviewer, django_capture_on_commit_callbacks, notify_url=receiver.url
    )
    make_due()
    webhooks_send_due_task()
    delivery = WebhookDelivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 2)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_resend(delivery=delivery, actor=model_owner)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.url) == (DeliveryStatus.DELIVERED, receiver.url)
    assert [r["path"] for r in receiver.received] == ["/hooks/reviewapp"] * 3


@pytest.mark.django_db
@pytest.mark.parametrize("fallback", ["apply_model", "reject", "hold"])
def test_expired_case_is_posted_as_case_expired(
    ml_model, receiver, hooked, fallback, django_capture_on_commit_callbacks
):
    """Expiry writes a signed case.expired delivery in its transaction: the fallback applied,
    and for apply_model the model's label as the final label."""
    RoutingPolicy.objects.filter(ml_model=ml_model).update(fallback_action=fallback)
    (case_id,) = make_cases(ml_model, 1, label="fraud", confidence=0.55)
    Case.objects.filter(pk=case_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert cases_expire() == 1
    case = Case.objects.get(pk=case_id)
    [request] = receiver.received
    assert request["headers"]["X-Reviewapp-Event"] == "case.expired"
    assert signature_verify(
        secret=hooked, header=request["headers"]["X-Reviewapp-Signature"], body=request["body"]
    )
    body = json.loads(request["body"])
    event = FeedEvent.objects.get(case=case)
    assert body == {
        "event": "case.expired",
        "event_id": event.pk,
        "case_id": case.pk,
        "external_id": case.external_id,
        "model": "fraud-screening",
        "model_version": "2.3.0",
        "fallback_applied": fallback,
        "final_label": "fraud" if fallback == "apply_model" else None,
        "expired_at": case.expired_at.isoformat(),
    }
    delivery = WebhookDelivery.objects.get(event="case.expired")
    assert (delivery.status, delivery.payload) == (DeliveryStatus.DELIVERED, body)


@pytest.mark.django_db
def test_expiry_without_a_webhook_writes_only_the_feed_event(
    ml_model, django_capture_on_commit_callbacks
):
    """A model without a callback URL gets the feed event and no outbox row."""
    ids = make_cases(ml_model, 3)
    Case.objects.filter(pk__in=ids).update(expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert cases_expire() == 3
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 0
    assert sorted(FeedEvent.objects.values_list("case_id", flat=True)) == sorted(ids)
