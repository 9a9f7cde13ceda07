"""The circuit breaker: suspend a model's automation at once, lift it with four eyes.

Suspending (one owner or manager of the team, or a tripwire whose action is ``suspend``) opens
an AutomationSuspension, stamps ``MLModel.automation_suspended_at`` (intake reads it with the
active policy, no extra query) and marks the model's active versions ``suspended``: from then
on every new case goes to people (routing reason ``automation_suspended``) and every page of
the model shows a banner. Lifting it is proposed by one owner or manager and approved by
another person, a manager of the team (four eyes); the suspended versions are active again.

Each step is one transaction holding the model's row lock, with its audit event; suspending
and lifting send ``model.automation_suspended`` / ``model.automation_resumed`` to the model's
webhook through the outbox and into the pull feed.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from reviewapp.errors import Conflict
from reviewapp.models import (
    Alert,
    AutomationSuspension,
    MLModel,
    ModelVersion,
    Tripwire,
    User,
    VersionStatus,
)
from reviewapp.permissions import Capability, user_can_approve_policy, user_has
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record
from reviewapp.services.versions import NOTE_LIMIT, actor_ref, model_event_publish, model_lock

AUTOMATION_SUSPENDED = "model.automation_suspended"
AUTOMATION_RESUMED = "model.automation_resumed"
REASON_LIMIT = 500


def _versions_move(ml_model: MLModel, old: str, new: str, now: datetime) -> list[str]:
    """Move the model's versions in status OLD to NEW; the versions moved, in order."""
    versions = ModelVersion.objects.filter(ml_model=ml_model, status=old)
    moved = list(versions.order_by("pk").values_list("version", flat=True))
    versions.update(status=new, status_changed_at=now)
    return moved


def suspension_open(ml_model: MLModel) -> AutomationSuspension | None:
    """The model's open suspension, locked (the caller holds the model's lock)."""
    return (
        AutomationSuspension.objects.select_for_update()
        .filter(ml_model=ml_model, lifted_at__isnull=True)
        .first()
    )


def _suspend(
    *,
    ml_model: MLModel,
    actor: User | None,
    reason: str,
    tripwire: Tripwire | None = None,
    alert: Alert | None = None,
) -> AutomationSuspension:
    """In the caller's transaction, holding the model's lock, with no suspension open."""
    now = timezone.now()
    suspension = AutomationSuspension.objects.create(
        ml_model=ml_model,
        suspended_at=now,
        suspended_by=actor,
        tripwire=tripwire,
        reason=reason[:REASON_LIMIT],
    )
    ml_model.automation_suspended_at = now
    ml_model.save(update_fields=["automation_suspended_at"])
    versions = _versions_move(ml_model, VersionStatus.ACTIVE, VersionStatus.SUSPENDED, now)
    audit_record(
        actor=actor,
        action="model.automation_suspended",
        target=ml_model,
        changes={
            "reason": suspension.reason,
            "tripwire": tripwire.pk if tripwire else None,
            "alert": alert.pk if alert else None,
            "versions_suspended": versions,
        },
    )
    model_event_publish(
        ml_model=ml_model,
        event=AUTOMATION_SUSPENDED,
        payload={
            "suspension_id": suspension.pk,
            "reason": suspension.reason,
            "by": actor_ref(actor),
            "tripwire": (
                {"id": tripwire.pk, "kind": tripwire.kind, "alert_id": alert.pk if alert else None}
                if tripwire
                else None
            ),
            "versions_suspended": versions,
            "suspended_at": now.isoformat(),
        },
    )
    return suspension


@refusals_audited
@transaction.atomic
def automation_suspend(*, ml_model: MLModel, actor: User, reason: str) -> AutomationSuspension:
    """Suspend the model's automation at once (one owner or manager of the team: safety
    first). Every new case goes to people until a lift is proposed and approved."""
    refuse(
        user_has(actor, Capability.HALT_AUTOMATION, ml_model),
        user=actor,
        action="model.suspend_automation",
        target_type="mlmodel",
        target_id=ml_model.slug,
        message="Only the model's owners and the team's managers may suspend its automation.",
    )
    ml_model = model_lock(ml_model)
    if ml_model.automation_suspended_at is not None:
        raise Conflict(f"Automation of '{ml_model.slug}' is already suspended.")
    reason = reason.strip() or "Suspended by hand."
    return _suspend(ml_model=ml_model, actor=actor, reason=reason)


def automation_suspend_by_tripwire(
    *, tripwire: Tripwire, alert: Alert, message: str
) -> AutomationSuspension | None:
    """Called in the transaction that raises ALERT for a ``suspend`` tripwire: suspend the
    model's automation unless it is suspended already (None then)."""
    ml_model = model_lock(tripwire.ml_model)
    if ml_model.automation_suspended_at is not None:
        return None
    reason = f"Tripwire #{tripwire.pk} ({tripwire.get_kind_display()}) tripped: {message}"
    return _suspend(ml_model=ml_model, actor=None, reason=reason, tripwire=tripwire, alert=alert)


@refusals_audited
@transaction.atomic
def automation_resume_propose(
    *, ml_model: MLModel, proposer: User, note: str = ""
) -> AutomationSuspension:
    """One owner or manager proposes lifting the suspension; another person, a manager of the
    team, must approve it."""
    refuse(
        user_has(proposer, Capability.HALT_AUTOMATION, ml_model),
        user=proposer,
        action="model.propose_resume",
        target_type="mlmodel",
        target_id=ml_model.slug,
        message="Only the model's owners and the team's managers may propose resuming automation.",
    )
    ml_model = model_lock(ml_model)
    suspension = suspension_open(ml_model)
    if suspension is None:
        raise Conflict(f"Automation of '{ml_model.slug}' is not suspended.")
    if suspension.lift_proposed_at is not None:
        raise Conflict("Resuming automation is already proposed; a manager must decide.")
    note = note.strip()[:NOTE_LIMIT]
    suspension.lift_proposed_by, suspension.lift_proposed_at = proposer, timezone.now()
    suspension.lift_note = note
    suspension.save(update_fields=["lift_proposed_by", "lift_proposed_at", "lift_note"])
    audit_record(
        actor=proposer,
        action="model.resume_proposed",
        target=ml_model,
        changes={"suspension": suspension.pk, "note": note},
    )
    return suspension


@refusals_audited
@transaction.atomic
def automation_resume_decide(
    *, ml_model: MLModel, manager: User, approve: bool, note: str = ""
) -> AutomationSuspension:
    """Approve (automation resumes: suspended versions are active again) or reject the
    proposed lift. Four eyes: a manager of the team who did not propose it."""
    ml_model = model_lock(ml_model)
    suspension = suspension_open(ml_model)
    proposed_by_id = suspension.lift_proposed_by_id if suspension else None
    refuse(
        user_can_approve_policy(manager, ml_model, proposed_by_id=proposed_by_id),
        user=manager,
        action="model.decide_resume",
        target_type="mlmodel",
        target_id=ml_model.slug,
        message="A manager of the model's team other than the proposer must approve "
        "resuming automation.",
    )
    if suspension is None or suspension.lift_proposed_at is None:
        raise Conflict("No proposal to resume automation is waiting for a decision.")
    note = note.strip()[:NOTE_LIMIT]
    proposed_by = suspension.lift_proposed_by
    if not approve:
        suspension.lift_proposed_by, suspension.lift_proposed_at = None, None
        suspension.lift_note = ""
        suspension.save(update_fields=["lift_proposed_by", "lift_proposed_at", "lift_note"])
        audit_record(
            actor=manager,
            action="model.resume_rejected",
            target=ml_model,
            changes={"suspension": suspension.pk, "proposed_by": proposed_by.get_username()},
        )
        return suspension
    now = timezone.now()
    suspension.lifted_by, suspension.lifted_at = manager, now
    suspension.save(update_fields=["lifted_by", "lifted_at"])
    ml_model.automation_suspended_at = None
    ml_model.save(update_fields=["automation_suspended_at"])
    versions = _versions_move(ml_model, VersionStatus.SUSPENDED, VersionStatus.ACTIVE, now)
    audit_record(
        actor=manager,
        action="model.automation_resumed",
        target=ml_model,
        changes={
            "suspension": suspension.pk,
            "proposed_by": proposed_by.get_username(),
            "note": note,
            "versions_resumed": versions,
        },
    )
    model_event_publish(
        ml_model=ml_model,
        event=AUTOMATION_RESUMED,
        payload={
            "suspension_id": suspension.pk,
            "suspended_at": suspension.suspended_at.isoformat(),
            "resumed_at": now.isoformat(),
            "proposed_by": actor_ref(proposed_by),
            "approved_by": actor_ref(manager),
            "note": note,
            "versions_resumed": versions,
        },
    )
    return suspension
