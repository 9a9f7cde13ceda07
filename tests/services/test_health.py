"""Model health writes: baselines, tripwires, alerts (raise once, resolve, notify) and the
calibration proposal."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from config.celery_app import app as celery_app
from reviewapp import jobs
from reviewapp.errors import Conflict, InvalidInput, PermissionDenied
from reviewapp.models import (
    Alert,
    AuditEvent,
    Case,
    CaseStatus,
    DeliveryStatus,
    DriftBaseline,
    PolicyStatus,
    RoutingPolicy,
    TripwireKind,
    WebhookDelivery,
)
from reviewapp.outbound import signature_verify
from reviewapp.services import webhooks as webhooks_service
from reviewapp.services.health import (
    alert_resolve,
    baseline_create,
    threshold_propose,
    tripwire_create,
    tripwire_disable,
    tripwire_measure,
    tripwires_check,
)
from reviewapp.services.policies import policy_decide
from reviewapp.tasks.webhooks import webhooks_send_due_task
from tests.selectors.health_data import cases_at, decide


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def _accuracy_tripwire(ml_model, actor, **kw):
    return tripwire_create(
        ml_model=ml_model, actor=actor, kind=TripwireKind.ACCURACY_DROP, threshold=0.8, **kw
    )


def test_baseline_create_is_audited_and_replaces_the_active_one(ml_model, model_owner):
    """A new baseline deactivates the previous one; both creations are audited."""
    now = timezone.now()
    cases_at(ml_model, 25, confidence=0.7, created_at=now - timedelta(days=3))
    first = baseline_create(
        ml_model=ml_model,
        actor=model_owner,
        window_start=now - timedelta(days=4),
        window_end=now - timedelta(days=2),
    )
    second = baseline_create(
        ml_model=ml_model,
        actor=model_owner,
        window_start=now - timedelta(days=5),
        window_end=now,
    )
    first.refresh_from_db()
    assert (first.is_active, second.is_active) == (False, True)
    assert DriftBaseline.objects.filter(ml_model=ml_model, is_active=True).count() == 1
    events = _events("baseline.created")
    assert len(events) == 2
    assert events[1].changes["replaces"] == first.pk
    assert events[1].actor == model_owner


def test_baseline_create_refuses_managers_empty_and_reversed_windows(
    ml_model, model_owner, manager
):
    """Only owners pick baselines; windows need cases and must end after they start."""
    now = timezone.now()
    with pytest.raises(PermissionDenied):
        baseline_create(
            ml_model=ml_model, actor=manager, window_start=now - timedelta(days=1), window_end=now
        )
    with pytest.raises(InvalidInput, match="at least"):
        baseline_create(
            ml_model=ml_model,
            actor=model_owner,
            window_start=now - timedelta(days=1),
            window_end=now,
        )
    with pytest.raises(InvalidInput, match="end after"):
        baseline_create(ml_model=ml_model, actor=model_owner, window_start=now, window_end=now)
    assert not DriftBaseline.objects.exists()


def test_tripwire_create_validates_and_audits(ml_model, manager, reviewer):
    """A manager adds a tripwire (audited); bad kinds and thresholds are 400, reviewers 403."""
    tripwire = _accuracy_tripwire(ml_model, manager, notify_email="oncall@example.com")
    assert tripwire.enabled
    [event] = _events("tripwire.created")
    assert event.changes["kind"] == "accuracy_drop"
    with pytest.raises(InvalidInput) as exc:
        tripwire_create(ml_model=ml_model, actor=manager, kind="nonsense", threshold=1)
    assert "kind" in exc.value.details
    with pytest.raises(InvalidInput) as exc:
        tripwire_create(
            ml_model=ml_model, actor=manager, kind=TripwireKind.ACCURACY_DROP, threshold=3
        )
    assert "threshold" in exc.value.details
    with pytest.raises(PermissionDenied):
        _accuracy_tripwire(ml_model, reviewer)


def test_tripwire_refuses_a_loopback_webhook_unless_allowed(ml_model, manager, settings):
    """SSRF guard: loopback notify URLs are refused unless the setting allows them."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(InvalidInput) as exc:
        _accuracy_tripwire(ml_model, manager, notify_url="http://127.0.0.1:9/hook")
    assert "notify_url" in exc.value.details
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    assert _accuracy_tripwire(ml_model, manager, notify_url="http://127.0.0.1:9/hook").pk


def test_tripwire_raises_exactly_one_alert_and_resolves_when_cleared(ml_model, manager, reviewer):
    """Accuracy 7/10 under 0.8 trips once however often it is checked, then clears."""
    tripwire = _accuracy_tripwire(ml_model, manager)
    decide(cases_at(ml_model, 10, confidence=0.6), reviewer=reviewer, overrides=3)
    assert tripwires_check()["raised"] == 1
    assert tripwires_check()["raised"] == 0
    [alert] = Alert.objects.filter(tripwire=tripwire)
    assert alert.resolved_at is None
    assert alert.value == pytest.approx(0.7)
    assert "70.0%" in alert.message
    assert len(_events("alert.raised")) == 1
    # 10 more accepts: 17/20 = 85% clears it
    decide(cases_at(ml_model, 10, confidence=0.6), reviewer=reviewer)
    assert tripwires_check()["resolved"] == 1
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert alert.resolved_by is None
    [resolved] = _events("alert.resolved")
    assert resolved.changes["reason"].startswith("cleared")
    # trips again later: a new alert (one open at a time)
    decide(cases_at(ml_model, 20, confidence=0.6), reviewer=reviewer, overrides=20)
    assert tripwires_check()["raised"] == 1
    assert Alert.objects.filter(tripwire=tripwire, resolved_at__isnull=True).count() == 1
    assert Alert.objects.filter(tripwire=tripwire).count() == 2


def test_override_rate_rise_compares_two_windows(ml_model, manager, reviewer):
    """10% overrides last week, 50% this week: +40 points trips a 5-point tripwire."""
    tripwire = tripwire_create(
        ml_model=ml_model,
        actor=manager,
        kind=TripwireKind.OVERRIDE_RATE_RISE,
        threshold=5,
        window_days=7,
    )
    now = timezone.now()
    decide(
        cases_at(ml_model, 40, confidence=0.6),
        reviewer=reviewer,
        overrides=4,
        decided_at=now - timedelta(days=10),
    )
    decide(cases_at(ml_model, 40, confidence=0.6), reviewer=reviewer, overrides=20)
    measurement = tripwire_measure(tripwire, now=now + timedelta(seconds=1))
    assert measurement.tripped
    assert measurement.value == pytest.approx(40.0)


def test_queue_age_uses_the_policy_sla(ml_model, manager):
    """A case waiting two hours breaks the 60-minute SLA (threshold 0 = the policy's SLA)."""
    tripwire = tripwire_create(
        ml_model=ml_model, actor=manager, kind=TripwireKind.QUEUE_AGE, threshold=0
    )
    assert not tripwire_measure(tripwire).tripped
    [case_id] = cases_at(ml_model, 1, confidence=0.3)
    assert Case.objects.get(pk=case_id).status == CaseStatus.QUEUED
    Case.objects.filter(pk=case_id).update(created_at=timezone.now() - timedelta(hours=2))
    measurement = tripwire_measure(tripwire)
    assert measurement.tripped
    assert 119 <= measurement.value <= 121


def test_feature_psi_tripwire(ml_model, manager, model_owner):
    """A categorical feature that moved trips "PSI > 0.2 on any feature"."""
    now = timezone.now()
    cases_at(ml_model, 40, confidence=0.9, created_at=now - timedelta(days=20))
    baseline_create(
        ml_model=ml_model,
        actor=model_owner,
        window_start=now - timedelta(days=21),
        window_end=now - timedelta(days=19),
    )
    tripwire = tripwire_create(
        ml_model=ml_model, actor=manager, kind=TripwireKind.FEATURE_PSI, threshold=0.2
    )
    cases_at(
        ml_model, 40, confidence=0.9, input={"amount": 5.0, "country": "FR", "account_age_days": 3}
    )
    measurement = tripwire_measure(tripwire, now=now + timedelta(seconds=5))
    assert measurement.tripped
    assert "country" in measurement.message or "amount" in measurement.message


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 in a thread; yields (url, received list)."""
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", _Receiver.received
    server.shutdown()
    server.server_close()


def _trip(ml_model, reviewer, on_commit) -> Alert:
    """Make the accuracy tripwire trip and run the after-commit work (eager Celery)."""
    decide(cases_at(ml_model, 10, confidence=0.6), reviewer=reviewer, overrides=5)
    with on_commit(execute=True):
        assert tripwires_check()["raised"] == 1
    return Alert.objects.get()


def test_alert_webhook_and_email_are_outbox_deliveries_sent_after_commit(
    ml_model, manager, reviewer, receiver, settings, django_capture_on_commit_callbacks
):
    """A raised alert writes one alert.raised and one alert.email delivery in its transaction;
    the outbox task POSTs the JSON to a real local server and sends the email."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    url, received = receiver
    _accuracy_tripwire(ml_model, manager, notify_url=url, notify_email="oncall@example.com")
    alert = _trip(ml_model, reviewer, django_capture_on_commit_callbacks)
    hook, email = WebhookDelivery.objects.filter(alert=alert).order_by("pk")
    assert (hook.event, hook.url, hook.ml_model_id) == ("alert.raised", url, ml_model.pk)
    assert (email.event, email.url) == ("alert.email", "mailto:oncall@example.com")
    assert (hook.status, email.status) == (DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED)
    assert [a.status_code for a in hook.attempt_log.all()] == [204]
    assert [(a.status_code, a.error) for a in email.attempt_log.all()] == [(None, "")]
    [(path, headers, body)] = received
    assert path == "/alerts"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Reviewapp-Delivery"] == str(hook.pk)
    assert "X-Reviewapp-Signature" not in headers  # no model secret, no fallback secret set
    assert body == hook.payload
    assert body["event"] == "alert.raised"
    assert (body["alert_id"], body["model"], body["kind"]) == (
        alert.pk,
        ml_model.slug,
        "accuracy_drop",
    )
    assert body["value"] == pytest.approx(0.5)
    [message] = mail.outbox
    assert message.to == ["oncall@example.com"]
    assert message.from_email == settings.REVIEWAPP_ALERT_FROM_EMAIL
    assert ml_model.slug in message.subject
    assert ml_model.slug in message.body
    assert alert.message in message.body


def test_alert_email_uses_the_configured_sender(
    ml_model, manager, reviewer, settings, django_capture_on_commit_callbacks
):
    """REVIEWAPP_ALERT_FROM_EMAIL is the sender; the mail names the model and the message."""
    settings.REVIEWAPP_ALERT_FROM_EMAIL = "alerts@reviewapp.example"
    _accuracy_tripwire(ml_model, manager, notify_email="oncall@example.com")
    alert = _trip(ml_model, reviewer, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert message.from_email == "alerts@reviewapp.example"
    assert message.subject == f"[reviewapp] {ml_model.slug}: {alert.get_kind_display()}"
    assert f"({ml_model.slug})" in message.body
    assert "Live accuracy 50.0%" in message.body
    assert WebhookDelivery.objects.get(alert=alert).status == DeliveryStatus.DELIVERED


def test_alert_email_failure_is_retried_then_delivered(
    ml_model, manager, reviewer, monkeypatch, django_capture_on_commit_callbacks
):
    """A mail backend failure is a recorded attempt with its error; the retry sends it."""
    _accuracy_tripwire(ml_model, manager, notify_email="oncall@example.com")
    failures = [ConnectionRefusedError("smtp down")]
    real_send = webhooks_service.send_mail

    def flaky_send(**kwargs):
        if failures:
            raise failures.pop()
        return real_send(**kwargs)

    monkeypatch.setattr(webhooks_service, "send_mail", flaky_send)
    alert = _trip(ml_model, reviewer, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 1)
    assert delivery.last_error == "ConnectionRefusedError: smtp down"
    assert mail.outbox == []
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhooks_send_due_task()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(mail.outbox) == 1


def test_alert_email_waits_in_the_outbox_when_the_broker_is_down(
    ml_model, manager, reviewer, monkeypatch, django_capture_on_commit_callbacks
):
    """The alert commits even when the broker refuses the message; the periodic sweep sends
    the email once it is back."""
    _accuracy_tripwire(ml_model, manager, notify_email="oncall@example.com")

    class DeadBroker:
        def delay(self, **kwargs):
            raise KombuOperationalError("Error 111 connecting to redis:6379. Connection refused.")

    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    monkeypatch.setattr(jobs, "job_task", lambda name: DeadBroker())
    try:
        alert = _trip(ml_model, reviewer, django_capture_on_commit_callbacks)
    finally:
        celery_app.conf.task_always_eager = eager
        monkeypatch.undo()
        jobs.job_broker_reset()
    delivery = WebhookDelivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts, mail.outbox) == (DeliveryStatus.PENDING, 0, [])
    assert webhooks_send_due_task() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(mail.outbox) == 1


def test_alert_webhook_is_signed_with_the_models_webhook_secret(
    ml_model, manager, reviewer, receiver, settings, django_capture_on_commit_callbacks
):
    """With a webhook secret on the model, the alert POST carries a verifiable signature."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    settings.REVIEWAPP_ALERT_SIGNING_SECRET = "operator-secret"
    ml_model.webhook_secret = "alert-s3cret"
    ml_model.save(update_fields=["webhook_secret"])
    url, received = receiver
    _accuracy_tripwire(ml_model, manager, notify_url=url)
    alert = _trip(ml_model, reviewer, django_capture_on_commit_callbacks)
    [(_path, headers, body)] = received
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    header = headers["X-Reviewapp-Signature"]
    assert header.startswith("t=")
    assert signature_verify(secret="alert-s3cret", header=header, body=raw)
    assert not signature_verify(secret="operator-secret", header=header, body=raw)
    assert headers["X-Reviewapp-Event"] == "alert.raised"
    assert WebhookDelivery.objects.filter(alert=alert).count() == 1


def test_alert_webhook_falls_back_to_the_operator_signing_secret(
    ml_model, manager, reviewer, receiver, settings, django_capture_on_commit_callbacks
):
    """A model without a webhook secret: REVIEWAPP_ALERT_SIGNING_SECRET signs the alert."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    settings.REVIEWAPP_ALERT_SIGNING_SECRET = "operator-secret"
    url, received = receiver
    _accuracy_tripwire(ml_model, manager, notify_url=url)
    _trip(ml_model, reviewer, django_capture_on_commit_callbacks)
    [(_path, headers, body)] = received
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    assert signature_verify(
        secret="operator-secret", header=headers["X-Reviewapp-Signature"], body=raw
    )


def test_alert_webhook_refused_at_send_time_when_private_is_not_allowed(
    ml_model, manager, reviewer, receiver, settings, django_capture_on_commit_callbacks
):
    """The guard runs again at send time: nothing reaches a loopback server, and the refusal
    is the delivery's recorded attempt (retried, then dead-lettered like any failure)."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    url, received = receiver
    _accuracy_tripwire(ml_model, manager, notify_url=url)
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
    alert = _trip(ml_model, reviewer, django_capture_on_commit_callbacks)
    assert received == []
    delivery = WebhookDelivery.objects.get(alert=alert)
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.attempt_log.get().error.startswith("Refused: ")


def test_alert_without_notify_targets_writes_no_delivery(
    ml_model, manager, reviewer, django_capture_on_commit_callbacks
):
    """A tripwire with neither URL nor email raises its alert and sends nothing."""
    _accuracy_tripwire(ml_model, manager)
    _trip(ml_model, reviewer, django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.count() == 0
    assert mail.outbox == []


def test_alert_resolve_by_hand(ml_model, manager, reviewer, auditor):
    """Managers resolve alerts (audited); auditors may not; twice is a conflict."""
    _accuracy_tripwire(ml_model, manager)
    decide(cases_at(ml_model, 10, confidence=0.6), reviewer=reviewer, overrides=5)
    tripwires_check()
    alert = Alert.objects.get()
    with pytest.raises(PermissionDenied):
        alert_resolve(alert=alert, actor=auditor)
    alert_resolve(alert=alert, actor=manager, note="retrained, looking into it")
    alert.refresh_from_db()
    assert alert.resolved_by == manager
    [event] = _events("alert.resolved")
    assert event.changes["reason"] == "retrained, looking into it"
    with pytest.raises(Conflict):
        alert_resolve(alert=alert, actor=manager)


def test_tripwire_disable_resolves_its_open_alert(ml_model, manager, reviewer):
    """Disabling a tripwire (audited) closes its alert and stops checks."""
    tripwire = _accuracy_tripwire(ml_model, manager)
    decide(cases_at(ml_model, 10, confidence=0.6), reviewer=reviewer, overrides=5)
    tripwires_check()
    tripwire_disable(tripwire=tripwire, actor=manager)
    assert not Alert.objects.filter(resolved_at__isnull=True).exists()
    assert len(_events("tripwire.disabled")) == 1
    assert tripwires_check()["checked"] == 0
    with pytest.raises(Conflict):
        tripwire_disable(tripwire=tripwire, actor=manager)


def test_threshold_proposal_needs_a_manager(ml_model, model_owner, manager):
    """The owner's proposal is pending until a manager approves it (four eyes)."""
    policy = threshold_propose(ml_model=ml_model, proposer=model_owner, threshold=0.7)
    assert policy.status == PolicyStatus.PROPOSED
    active = RoutingPolicy.objects.get(ml_model=ml_model, status=PolicyStatus.ACTIVE)
    assert active.review_threshold == 0.8
    assert _events("policy.proposed")[-1].changes["review_threshold"] == [0.8, 0.7]
    with pytest.raises(PermissionDenied):
        threshold_propose(ml_model=ml_model, proposer=manager, threshold=0.7)
    policy_decide(policy=policy, manager=manager, approve=True)
    assert RoutingPolicy.objects.get(ml_model=ml_model, status="active").review_threshold == 0.7


def test_tripwires_check_task_is_registered_under_the_beat_name():
    """Beat schedules "reviewapp.tasks.tripwires_check_task"."""
    from config.celery_app import app

    assert "reviewapp.tasks.tripwires_check_task" in app.tasks
    assert "reviewapp.tasks.alert_notify_task" in app.tasks
