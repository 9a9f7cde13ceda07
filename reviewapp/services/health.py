"""Model health writes: drift baselines, tripwires, and the alerts they raise and resolve.

Every change is one transaction that writes its audit event (``baseline.created``,
``tripwire.created``, ``tripwire.disabled``, ``alert.raised``, ``alert.resolved``). A tripwire
has at most one open alert (a partial unique constraint); ``tripwires_check`` (beat, every 10
minutes) raises an alert when a tripwire trips and resolves it when it clears.

Notifications go through the same transactional outbox as decision webhooks
(services/webhooks.py): the alert's transaction writes an ``alert.raised`` delivery to the
tripwire's ``notify_url`` and/or an ``alert.email`` delivery to its ``notify_email``; the
webhook task sends them after commit with the same SSRF guard, signature (the model's webhook
secret, else REVIEWAPP_ALERT_SIGNING_SECRET), retries with backoff, attempt log, dead letter
and re-send, and the model page lists them with its other deliveries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewapp.errors import Conflict, InvalidInput
from reviewapp.models import (
    Alert,
    DriftBaseline,
    MLModel,
    PolicyStatus,
    RoutingPolicy,
    Tripwire,
    TripwireAction,
    TripwireKind,
    User,
    WebhookDelivery,
)
from reviewapp.outbound import url_check
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.feed import feed_event_body
from reviewapp.selectors.health import (
    FEATURE_SAMPLE_CAP,
    accuracy_report,
    active_baseline,
    case_volume,
    cases_in_window,
    decision_rates,
    drift_report,
    feature_distributions,
    intervals_apart,
    label_counts,
    label_mix_psi,
    numeric_distribution,
)
from reviewapp.selectors.queue import oldest_waiting_at
from reviewapp.services.access import refuse
from reviewapp.services.audit import audit_record
from reviewapp.services.breaker import automation_suspend_by_tripwire
from reviewapp.services.policies import policy_propose
from reviewapp.services.webhooks import (
    ALERT_EMAIL,
    ALERT_RAISED,
    MAILTO,
    delivery_send,
    event_publish,
    feed_event_record,
)

logger = logging.getLogger(__name__)

MAX_BASELINE_DAYS = 366
MIN_BASELINE_CASES = 20
MIN_DECISIONS_FOR_RATE = 10


# --- baselines ----------------------------------------------------------------------------


@transaction.atomic
def baseline_create(
    *,
    ml_model: MLModel,
    actor: User,
    window_start: datetime,
    window_end: datetime,
    cap: int = FEATURE_SAMPLE_CAP,
) -> DriftBaseline:
    """Make the cases of [window_start, window_end) the model's drift baseline (the latest
    ``cap`` of them): confidence and per-feature distributions. Replaces the active one."""
    refuse(
        user_has(actor, Capability.MANAGE_MODEL, ml_model),
        user=actor,
        action="baseline.create",
        target_type="mlmodel",
        target_id=ml_model.slug,
        message="Only the model's owners may pick its drift baseline.",
    )
    if window_end <= window_start:
        raise InvalidInput(
            "The baseline window must end after it starts.",
            details={"window_end": ["Must be after the start."]},
        )
    if window_end - window_start > timedelta(days=MAX_BASELINE_DAYS):
        raise InvalidInput(
            f"A baseline window is at most {MAX_BASELINE_DAYS} days.",
            details={"window_start": [f"At most {MAX_BASELINE_DAYS} days before the end."]},
        )
    rows = list(
        cases_in_window(ml_model, start=window_start, end=window_end)
        .order_by("-created_at", "-id")
        .values_list("confidence", "input")[:cap]
    )
    if len(rows) < MIN_BASELINE_CASES:
        raise InvalidInput(
            f"The window holds {len(rows)} cases; a baseline needs at least {MIN_BASELINE_CASES}.",
            details={"window_start": ["Pick a window with more cases."]},
        )
    confidences = [c for c, _ in rows]
    inputs = [data for _, data in rows]
    previous = (
        DriftBaseline.objects.select_for_update().filter(ml_model=ml_model, is_active=True).first()
    )
    if previous is not None:
        previous.is_active = False
        previous.save(update_fields=["is_active"])
    baseline = DriftBaseline.objects.create(
        ml_model=ml_model,
        window_start=window_start,
        window_end=window_end,
        n_cases=len(rows),
        confidence_distribution=numeric_distribution(confidences),
        feature_distributions=feature_distributions(ml_model, inputs),
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="baseline.created",
        target=baseline,
        changes={
            "model": ml_model.slug,
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            "n_cases": len(rows),
            "features": sorted(baseline.feature_distributions),
            "replaces": previous.pk if previous else None,
        },
    )
    return baseline


# --- tripwires ----------------------------------------------------------------------------

KIND_LIMITS = {
    TripwireKind.OVERRIDE_RATE_RISE: (0.0, 100.0, "percentage points"),
    TripwireKind.FEATURE_PSI: (0.0, 10.0, "PSI"),
    TripwireKind.CONFIDENCE_PSI: (0.0, 10.0, "PSI"),
    TripwireKind.QUEUE_AGE: (0.0, 60 * 24 * 365, "minutes (0 = the policy's SLA)"),
    TripwireKind.ACCURACY_DROP: (0.0, 1.0, "accuracy between 0 and 1"),
    TripwireKind.ACCURACY_DROP_FROM_BASELINE: (0.0, 1.0, "accuracy drop, e.g. 0.05"),
    TripwireKind.VOLUME_DROP: (0.0, 1.0, "share of the trailing hourly rate, e.g. 0.2"),
    TripwireKind.LABEL_MIX_PSI: (0.0, 10.0, "PSI, e.g. 0.2"),
}

# Two-window tripwires (accuracy_drop_from_baseline, override_rate_rise, label_mix_psi) compare
# the last ``window_days`` with the ``window_days`` just before it, and only trip when both
# windows hold at least this many decisions (cases for the label mix).
DEFAULT_MIN_SAMPLE = 30
# volume_drop: the hourly-rate rule needs at least this many cases expected in the last hour,
# and the silence rule fires after this many hours without a case when at least that many
# were expected over the silence.
DEFAULT_SILENCE_HOURS = 3
DEFAULT_MIN_EXPECTED_CASES = 5


def tripwire_min_sample() -> int:
    """Decisions (cases) each window needs before a two-window tripwire may trip."""
    return int(getattr(settings, "REVIEWAPP_TRIPWIRE_MIN_SAMPLE", DEFAULT_MIN_SAMPLE))


def _require_health_manager(actor: User, ml_model: MLModel, what: str) -> None:
    refuse(
        user_has(actor, Capability.MANAGE_HEALTH, ml_model),
        user=actor,
        action=f"health.{what.replace(' ', '_')}",
        target_type="mlmodel",
        target_id=ml_model.slug,
        message=f"Only managers and model owners of the team may {what}.",
    )


@transaction.atomic
def tripwire_create(
    *,
    ml_model: MLModel,
    actor: User,
    kind: str,
    threshold: float,
    window_days: int = 7,
    notify_url: str = "",
    notify_email: str = "",
    action: str = TripwireAction.ALERT,
) -> Tripwire:
    """A new tripwire on the model's health (managers and model owners of the team)."""
    _require_health_manager(actor, ml_model, "set tripwires")
    errors: dict[str, list[str]] = {}
    if kind not in TripwireKind.values:
        errors["kind"] = [f"One of: {', '.join(TripwireKind.values)}."]
    else:
        low, high, unit = KIND_LIMITS[TripwireKind(kind)]
        if not isinstance(threshold, int | float) or not low <= threshold <= high:
            errors["threshold"] = [f"Between {low:g} and {high:g} ({unit})."]
    if not isinstance(window_days, int) or not 1 <= window_days <= 90:
        errors["window_days"] = ["A whole number of days between 1 and 90."]
    notify_url = (notify_url or "").strip()
    notify_email = (notify_email or "").strip()
    if notify_url:
        try:
            url_check(notify_url)
        except InvalidInput as exc:
            errors["notify_url"] = [exc.message]
    if notify_email and ("@" not in notify_email or len(notify_email) > 254):
        errors["notify_email"] = ["A valid email address."]
    if action not in TripwireAction.values:
        errors["action"] = [f"One of: {', '.join(TripwireAction.values)}."]
    if errors:
        raise InvalidInput("The tripwire is not valid.", details=errors)
    tripwire = Tripwire.objects.create(
        ml_model=ml_model,
        kind=kind,
        threshold=float(threshold),
        window_days=window_days,
        notify_url=notify_url,
        notify_email=notify_email,
        action=action,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="tripwire.created",
        target=tripwire,
        changes={
            "model": ml_model.slug,
            "kind": kind,
            "threshold": float(threshold),
            "window_days": window_days,
            "notify_url": notify_url,
            "notify_email": notify_email,
            "action": action,
        },
    )
    return tripwire


@transaction.atomic
def tripwire_disable(*, tripwire: Tripwire, actor: User) -> Tripwire:
    """Switch a tripwire off; its open alert (if any) is resolved with it."""
    tripwire = Tripwire.objects.select_for_update().select_related("ml_model").get(pk=tripwire.pk)
    _require_health_manager(actor, tripwire.ml_model, "change tripwires")
    if not tripwire.enabled:
        raise Conflict("This tripwire is already disabled.")
    tripwire.enabled = False
    tripwire.save(update_fields=["enabled"])
    audit_record(
        actor=actor, action="tripwire.disabled", target=tripwire, changes={"enabled": [True, False]}
    )
    for alert in Alert.objects.filter(tripwire=tripwire, resolved_at__isnull=True):
        _alert_close(alert, actor=actor, reason="tripwire disabled")
    return tripwire


@dataclass(frozen=True)
class Measurement:
    """What a tripwire measured: the value, whether it tripped, and a sentence."""

    value: float | None
    tripped: bool
    message: str


def _windows(tripwire: Tripwire, now: datetime) -> tuple[datetime, datetime]:
    """(baseline start, recent start): the recent window is [recent start, now), the
    baseline window the ``window_days`` just before it."""
    window = timedelta(days=tripwire.window_days)
    return now - 2 * window, now - window


def _accuracy_drop_from_baseline(tripwire: Tripwire, now: datetime) -> Measurement:
    """Accuracy of the recent window against the window before: trips on a drop of at least
    the threshold when both windows are big enough and their Wilson intervals don't overlap."""
    base_start, start = _windows(tripwire, now)
    before = decision_rates(tripwire.ml_model, start=base_start, end=start)
    recent = decision_rates(tripwire.ml_model, start=start, end=now)
    minimum = tripwire_min_sample()
    if min(before.decided, recent.decided) < minimum:
        return Measurement(
            None,
            False,
            f"Not enough decisions to compare ({recent.decided} recent, {before.decided} "
            f"before; each window needs {minimum}).",
        )
    drop = (before.accuracy or 0.0) - (recent.accuracy or 0.0)
    apart = intervals_apart(recent.accuracy_interval, before.accuracy_interval)
    tripped = drop >= tripwire.threshold - 1e-9 and apart
    return Measurement(
        drop,
        tripped,
        f"Live accuracy {recent.accuracy:.1%} over the last {tripwire.window_days} days "
        f"({recent.decided} decisions) against {before.accuracy:.1%} the "
        f"{tripwire.window_days} days before ({before.decided}): down {drop * 100:.1f} points "
        f"(limit {tripwire.threshold * 100:g}; 95% intervals "
        f"{'apart' if apart else 'overlap'}).",
    )


def _override_rate_rise(tripwire: Tripwire, now: datetime) -> Measurement:
    """Override rate of the recent window against the window before, in points; same
    minimum-sample and Wilson rule as the accuracy drop."""
    base_start, start = _windows(tripwire, now)
    before = decision_rates(tripwire.ml_model, start=base_start, end=start)
    recent = decision_rates(tripwire.ml_model, start=start, end=now)
    minimum = tripwire_min_sample()
    if min(before.decided, recent.decided) < minimum:
        return Measurement(
            None,
            False,
            f"Not enough decisions to compare ({recent.decided} recent, {before.decided} "
            f"before; each window needs {minimum}).",
        )
    points = ((recent.override_rate or 0.0) - (before.override_rate or 0.0)) * 100
    apart = intervals_apart(before.override_interval, recent.override_interval)
    return Measurement(
        points,
        points >= tripwire.threshold - 1e-9 and apart,
        f"Override rate {recent.override_rate:.1%} over the last {tripwire.window_days} days, "
        f"{points:+.1f} points against the {tripwire.window_days} days before "
        f"(limit +{tripwire.threshold:g}; 95% intervals {'apart' if apart else 'overlap'}).",
    )


def _volume_drop(tripwire: Tripwire, now: datetime) -> Measurement:
    """Cases of the last hour against the trailing hourly rate of the ``window_days`` before
    it; also trips when no case arrived for the silence period while the trailing rate
    expected at least ``REVIEWAPP_VOLUME_MIN_EXPECTED_CASES`` over it."""
    hour = timedelta(hours=1)
    trailing_start = now - hour - timedelta(days=tripwire.window_days)
    trailing = case_volume(tripwire.ml_model, start=trailing_start, end=now - hour)
    recent = case_volume(tripwire.ml_model, start=now - hour, end=now)
    rate = trailing.received / (tripwire.window_days * 24)
    if rate <= 0:
        return Measurement(
            0.0, False, f"No cases in the trailing {tripwire.window_days} days to compare with."
        )
    min_expected = float(
        getattr(settings, "REVIEWAPP_VOLUME_MIN_EXPECTED_CASES", DEFAULT_MIN_EXPECTED_CASES)
    )
    silence_hours = float(
        getattr(settings, "REVIEWAPP_VOLUME_SILENCE_HOURS", DEFAULT_SILENCE_HOURS)
    )
    ratio = recent.received / rate
    last = recent.last_received_at or trailing.last_received_at or trailing_start
    quiet_hours = (now - last).total_seconds() / 3600
    low = rate >= min_expected and ratio < tripwire.threshold
    silent = quiet_hours >= silence_hours and rate * quiet_hours >= min_expected
    if silent:
        message = (
            f"No case for {quiet_hours:.1f} hours while the trailing rate is {rate:.1f} an "
            f"hour ({rate * quiet_hours:.0f} expected)."
        )
    else:
        message = (
            f"{recent.received} cases in the last hour, {ratio:.0%} of the trailing rate of "
            f"{rate:.1f} an hour over {tripwire.window_days} days (limit {tripwire.threshold:.0%})."
        )
    return Measurement(ratio, low or silent, message)


def _label_mix(tripwire: Tripwire, now: datetime) -> Measurement:
    """PSI of the recent window's predicted-label mix against the window before."""
    base_start, start = _windows(tripwire, now)
    before = label_counts(tripwire.ml_model, start=base_start, end=start)
    recent = label_counts(tripwire.ml_model, start=start, end=now)
    n_before, n_recent = sum(before.values()), sum(recent.values())
    minimum = tripwire_min_sample()
    if min(n_before, n_recent) < minimum:
        return Measurement(
            None,
            False,
            f"Not enough cases to compare ({n_recent} recent, {n_before} before; each window "
            f"needs {minimum}).",
        )
    value = label_mix_psi(before, recent) or 0.0
    top = ", ".join(
        f"{label} {n / n_recent:.0%}"
        for label, n in sorted(recent.items(), key=lambda i: -i[1])[:3]
    )
    return Measurement(
        value,
        value > tripwire.threshold,
        f"PSI {value:.3f} on the predicted-label mix over the last {tripwire.window_days} days "
        f"({top}) against the {tripwire.window_days} days before (limit {tripwire.threshold:g}).",
    )


def tripwire_measure(tripwire: Tripwire, *, now: datetime | None = None) -> Measurement:
    """Evaluate one tripwire over its window ending ``now`` (bounded queries)."""
    now = now or timezone.now()
    ml_model = tripwire.ml_model
    window = timedelta(days=tripwire.window_days)
    start = now - window
    limit = tripwire.threshold
    kind = tripwire.kind
    if kind == TripwireKind.OVERRIDE_RATE_RISE:
        return _override_rate_rise(tripwire, now)
    if kind == TripwireKind.ACCURACY_DROP_FROM_BASELINE:
        return _accuracy_drop_from_baseline(tripwire, now)
    if kind == TripwireKind.VOLUME_DROP:
        return _volume_drop(tripwire, now)
    if kind == TripwireKind.LABEL_MIX_PSI:
        return _label_mix(tripwire, now)
    if kind in (TripwireKind.FEATURE_PSI, TripwireKind.CONFIDENCE_PSI):
        baseline = active_baseline(ml_model)
        if baseline is None:
            return Measurement(None, False, "No drift baseline picked yet.")
        report = drift_report(
            ml_model,
            start=start,
            end=now,
            baseline=baseline,
            features=kind == TripwireKind.FEATURE_PSI,
        )
        if kind == TripwireKind.CONFIDENCE_PSI:
            value = report.confidence.psi if report.confidence else None
            what = "the confidence distribution"
        else:
            worst = report.worst_feature
            value = worst.psi if worst else None
            what = f"feature '{worst.name}'" if worst else "the input features"
        if value is None:
            return Measurement(None, False, "No cases in the window.")
        return Measurement(
            value,
            value > limit,
            f"PSI {value:.3f} on {what} over the last {tripwire.window_days} days "
            f"(limit {limit:g}).",
        )
    if kind == TripwireKind.QUEUE_AGE:
        minutes = limit
        if minutes <= 0:
            policy = RoutingPolicy.objects.filter(
                ml_model=ml_model, status=PolicyStatus.ACTIVE
            ).first()
            minutes = policy.sla_minutes if policy else 60
        oldest = oldest_waiting_at(ml_model)
        if oldest is None:
            return Measurement(0.0, False, "Nothing is waiting.")
        age = (now - oldest).total_seconds() / 60
        return Measurement(
            age,
            age > minutes,
            f"The oldest waiting case is {age:.0f} minutes old (SLA {minutes:g} minutes).",
        )
    if kind == TripwireKind.ACCURACY_DROP:
        overall = accuracy_report(ml_model, start=start, end=now).overall
        if overall.decided < MIN_DECISIONS_FOR_RATE:
            return Measurement(None, False, "Not enough decisions in the window.")
        accuracy = overall.accuracy or 0.0
        return Measurement(
            accuracy,
            accuracy < limit,
            f"Live accuracy {accuracy:.1%} over the last {tripwire.window_days} days "
            f"({overall.decided} decisions; limit {limit:.0%}).",
        )
    return Measurement(None, False, f"Unknown tripwire kind '{kind}'.")


# --- alerts -------------------------------------------------------------------------------


def _alert_close(alert: Alert, *, actor: User | None, reason: str) -> Alert:
    alert.resolved_at = timezone.now()
    alert.resolved_by = actor if actor is not None and actor.is_authenticated else None
    alert.save(update_fields=["resolved_at", "resolved_by"])
    audit_record(
        actor=actor,
        action="alert.resolved",
        target=alert,
        changes={"model": alert.ml_model.slug, "kind": alert.kind, "reason": reason},
    )
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, actor: User, note: str = "") -> Alert:
    """Resolve an open alert by hand (managers and model owners of the team)."""
    alert = Alert.objects.select_for_update().select_related("ml_model").get(pk=alert.pk)
    _require_health_manager(actor, alert.ml_model, "resolve alerts")
    if alert.resolved_at is not None:
        raise Conflict("This alert is already resolved.")
    return _alert_close(alert, actor=actor, reason=note.strip()[:500] or "resolved by hand")


def alert_raise(*, tripwire: Tripwire, measurement: Measurement) -> Alert | None:
    """Open an alert for a tripped tripwire unless one is open already (None then)."""
    try:
        with transaction.atomic():
            if Alert.objects.filter(tripwire=tripwire, resolved_at__isnull=True).exists():
                return None
            alert = Alert.objects.create(
                ml_model=tripwire.ml_model,
                tripwire=tripwire,
                kind=tripwire.kind,
                message=measurement.message[:500],
                value=measurement.value,
                threshold=tripwire.threshold,
            )
            audit_record(
                actor=None,
                action="alert.raised",
                target=alert,
                changes={
                    "model": tripwire.ml_model.slug,
                    "tripwire": tripwire.pk,
                    "kind": tripwire.kind,
                    "value": measurement.value,
                    "threshold": tripwire.threshold,
                    "message": alert.message,
                },
            )
            alert_publish(alert=alert, tripwire=tripwire)
            if tripwire.action == TripwireAction.SUSPEND:
                automation_suspend_by_tripwire(
                    tripwire=tripwire, alert=alert, message=alert.message
                )
    except IntegrityError:
        # A concurrent check opened the alert first: one open alert per tripwire.
        return None
    return alert


def alert_publish(*, alert: Alert, tripwire: Tripwire) -> list[WebhookDelivery]:
    """Inside the alert's transaction: an ``alert.raised`` row of the model's pull feed, and
    one outbox delivery per way the tripwire notifies, an ``alert.raised`` POST to its notify
    URL and an ``alert.email`` to its notify address."""
    feed_event = feed_event_record(
        ml_model=alert.ml_model, event=ALERT_RAISED, payload=alert_payload(alert)
    )
    deliveries = []
    if tripwire.notify_url:
        deliveries.append(
            event_publish(
                ml_model=alert.ml_model,
                event=ALERT_RAISED,
                url=tripwire.notify_url,
                payload=feed_event_body(feed_event),
                alert=alert,
            )
        )
    if tripwire.notify_email:
        deliveries.append(
            event_publish(
                ml_model=alert.ml_model,
                event=ALERT_EMAIL,
                url=f"{MAILTO}{tripwire.notify_email}",
                payload=alert_email(alert, to=tripwire.notify_email),
                alert=alert,
            )
        )
    return deliveries


def tripwires_check(*, now: datetime | None = None) -> dict[str, int]:
    """Evaluate every enabled tripwire: raise alerts for those that trip, resolve the open
    alerts of those that cleared. Returns counts."""
    now = now or timezone.now()
    counts = {"checked": 0, "raised": 0, "resolved": 0, "errors": 0}
    open_by_tripwire = {
        a.tripwire_id: a
        for a in Alert.objects.filter(
            resolved_at__isnull=True, tripwire__enabled=True
        ).select_related("ml_model")
    }
    for tripwire in Tripwire.objects.filter(enabled=True).select_related("ml_model"):
        counts["checked"] += 1
        try:
            measurement = tripwire_measure(tripwire, now=now)
        except Exception:
            logger.exception("tripwire %s could not be measured", tripwire.pk)
            counts["errors"] += 1
            continue
        open_alert = open_by_tripwire.get(tripwire.pk)
        if measurement.tripped and open_alert is None:
            if alert_raise(tripwire=tripwire, measurement=measurement) is not None:
                counts["raised"] += 1
        elif not measurement.tripped and open_alert is not None and measurement.value is not None:
            with transaction.atomic():
                locked = (
                    Alert.objects.select_for_update()
                    .select_related("ml_model")
                    .filter(pk=open_alert.pk, resolved_at__isnull=True)
                    .first()
                )
                if locked is not None:
                    _alert_close(locked, actor=None, reason="cleared: " + measurement.message)
                    counts["resolved"] += 1
    return counts


def alert_payload(alert: Alert) -> dict:
    """The ``alert.raised`` webhook body."""
    return {
        "event": ALERT_RAISED,
        "alert_id": alert.pk,
        "model": alert.ml_model.slug,
        "kind": alert.kind,
        "message": alert.message,
        "value": alert.value,
        "threshold": alert.threshold,
        "raised_at": alert.raised_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def alert_email(alert: Alert, *, to: str) -> dict:
    """The ``alert.email`` delivery: recipient, subject and plain-text body."""
    value = "n/a" if alert.value is None else f"{alert.value:g}"
    body = (
        f"Model: {alert.ml_model.name} ({alert.ml_model.slug})\n"
        f"Tripwire: {alert.get_kind_display()} (threshold {alert.threshold:g}, value {value})\n"
        f"Raised at: {alert.raised_at:%Y-%m-%d %H:%M:%S %Z}\n\n"
        f"{alert.message}\n"
    )
    return {
        "event": ALERT_EMAIL,
        "alert_id": alert.pk,
        "model": alert.ml_model.slug,
        "to": to,
        "subject": f"[reviewapp] {alert.ml_model.slug}: {alert.get_kind_display()}",
        "body": body,
    }


def alert_notify(*, alert_id: int) -> dict[str, str]:
    """Send the alert's notifications that are due now (its outbox deliveries), returning the
    status of each by event. The outbox's own task normally does this; this keeps
    ``alert_notify_task`` messages queued before the outbox existed harmless."""
    outcomes: dict[str, str] = {}
    for delivery in WebhookDelivery.objects.filter(alert_id=alert_id).order_by("pk"):
        sent = delivery_send(delivery_id=delivery.pk)
        outcomes[delivery.event] = (sent or delivery).status
    return outcomes


# --- calibration -> policy proposal ------------------------------------------------------


def threshold_propose(
    *, ml_model: MLModel, proposer: User, threshold: float, note: str = ""
) -> RoutingPolicy:
    """Turn a calibration recommendation into a routing-policy proposal (four eyes: it takes
    effect once a manager approves it; policy_propose audits it)."""
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise InvalidInput(
            "The threshold must be between 0 and 1.",
            details={"threshold": ["Between 0 and 1."]},
        )
    return policy_propose(
        ml_model=ml_model,
        proposer=proposer,
        changes={"review_threshold": round(float(threshold), 4)},
        note=note or f"From threshold calibration (model health page), {timezone.now():%Y-%m-%d}.",
    )


__all__ = [
    "Measurement",
    "alert_email",
    "alert_notify",
    "alert_payload",
    "alert_publish",
    "alert_raise",
    "alert_resolve",
    "baseline_create",
    "threshold_propose",
    "tripwire_create",
    "tripwire_disable",
    "tripwire_measure",
    "tripwires_check",
]
