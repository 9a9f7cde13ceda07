"""Model version lifecycle: activate a candidate (four eyes), retire a version, roll back.

A model's first version is ``active`` when intake first sees it; every later version starts as
a ``candidate`` whose cases all go to people (routing reason ``candidate_version``). The
model's owner proposes activation and a manager of the team other than the proposer approves
or rejects it (like routing policies: ``policy_propose`` / ``policy_decide``); neither the
proposal nor the approval is accepted before the version has documentation
(``services.documentation``; 409 ``documentation_required``). ``retired``
versions take no new cases (409 ``version_retired``). Rolling back retires a version and
keeps (or restores) the version that was approved before it. While the model's automation is
suspended (services/breaker.py) approved versions are ``suspended`` instead of ``active``.

Each change is one transaction, holding the model's row lock (lifecycle changes of one model
are serialised), that writes its audit event and, for every status change, a
``model.version_changed`` event to the model's webhook through the outbox. The pull feed
carries case events only (its rows name a case), so model events go to the webhook alone.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from reviewapp.errors import Conflict
from reviewapp.models import MLModel, ModelVersion, User, VersionStatus, WebhookDelivery
from reviewapp.permissions import Capability, user_can_approve_policy, user_has
from reviewapp.selectors.documentation import documentation_revision
from reviewapp.selectors.feed import feed_event_body
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record
from reviewapp.services.webhooks import event_publish, feed_event_record

MODEL_VERSION_CHANGED = "model.version_changed"
APPROVED_STATUSES = (VersionStatus.ACTIVE, VersionStatus.SUSPENDED)
DOCUMENTATION_REQUIRED = "documentation_required"  # 409: activation without a model card
NOTE_LIMIT = 2000


def model_lock(ml_model: MLModel) -> MLModel:
    """The model row, locked for the rest of the transaction and read as stored now."""
    return MLModel.objects.select_for_update().get(pk=ml_model.pk)


def approved_status(ml_model: MLModel) -> str:
    """The status an approved version takes now: ``suspended`` while the breaker holds."""
    if ml_model.automation_suspended_at is not None:
        return VersionStatus.SUSPENDED
    return VersionStatus.ACTIVE


def actor_ref(actor: User | None) -> str | None:
    """Who acted, as events name people: the pseudonymous id (None for the system)."""
    return actor.pseudonym if actor is not None else None


def model_event_publish(*, ml_model: MLModel, event: str, payload: dict) -> WebhookDelivery | None:
    """Publish a model event (``model.*``) in the caller's transaction: a row of the model's
    pull feed, and an outbox row for its webhook when a callback URL is registered."""
    feed_event = feed_event_record(
        ml_model=ml_model, event=event, payload={"event": event, "model": ml_model.slug, **payload}
    )
    if not ml_model.webhook_url:
        return None
    return event_publish(
        ml_model=ml_model,
        event=event,
        url=ml_model.webhook_url,
        payload=feed_event_body(feed_event),
    )


def _set_status(version: ModelVersion, status: str, now: datetime) -> dict:
    change = {"version": version.version, "from": version.status, "to": status}
    version.status, version.status_changed_at = status, now
    return change


def _version_changed(
    *, ml_model: MLModel, changes: list[dict], reason: str, actor: User | None, note: str
) -> None:
    model_event_publish(
        ml_model=ml_model,
        event=MODEL_VERSION_CHANGED,
        payload={
            "changes": changes,
            "reason": reason,
            "note": note,
            "by": actor_ref(actor),
            "occurred_at": timezone.now().isoformat(),
        },
    )


def _locked(version: ModelVersion) -> tuple[ModelVersion, MLModel]:
    ml_model = model_lock(version.ml_model)
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    version.ml_model = ml_model
    return version, ml_model


def _require_documentation(version: ModelVersion) -> None:
    """409 ``documentation_required`` unless VERSION has documentation (a model card): no
    version is activated without its intended use, limitations and contacts written down."""
    if documentation_revision(version.pk) is None:
        raise Conflict(
            f"Version {version.version} has no documentation: its owners must write its "
            "intended use, limitations, training data and contacts before it can be activated.",
            code=DOCUMENTATION_REQUIRED,
        )


@refusals_audited
@transaction.atomic
def version_activation_propose(
    *, version: ModelVersion, proposer: User, note: str = ""
) -> ModelVersion:
    """The model's owner proposes that a candidate version be activated; it takes effect once
    a manager of the team other than the proposer approves it."""
    version, ml_model = _locked(version)
    refuse(
        user_has(proposer, Capability.MANAGE_MODEL, ml_model),
        user=proposer,
        action="model_version.propose_activation",
        target_type="modelversion",
        target_id=version.pk,
        message="Only the model's owners may propose activating a version.",
    )
    if version.status != VersionStatus.CANDIDATE:
        raise Conflict(f"Version {version.version} is {version.status}, not a candidate.")
    if version.activation_proposed_at is not None:
        raise Conflict(f"Activating version {version.version} is already proposed.")
    _require_documentation(version)
    note = note.strip()[:NOTE_LIMIT]
    version.activation_proposed_by, version.activation_proposed_at = proposer, timezone.now()
    version.activation_note = note
    version.save(
        update_fields=["activation_proposed_by", "activation_proposed_at", "activation_note"]
    )
    audit_record(
        actor=proposer,
        action="model_version.activation_proposed",
        target=version,
        changes={"model": ml_model.slug, "version": version.version, "note": note},
    )
    return version


@refusals_audited
@transaction.atomic
def version_activation_decide(
    *, version: ModelVersion, manager: User, approve: bool, note: str = ""
) -> ModelVersion:
    """Approve (the candidate becomes active: its new cases route like any other) or reject
    (it stays a candidate) a proposed activation. Four eyes: not the proposer."""
    version, ml_model = _locked(version)
    refuse(
        user_can_approve_policy(
            manager, ml_model, proposed_by_id=version.activation_proposed_by_id
        ),
        user=manager,
        action="model_version.decide_activation",
        target_type="modelversion",
        target_id=version.pk,
        message="A manager of the model's team other than the proposer must approve "
        "activating a version.",
    )
    if version.status != VersionStatus.CANDIDATE or version.activation_proposed_at is None:
        raise Conflict(f"No activation of version {version.version} is waiting for a decision.")
    if approve:
        _require_documentation(version)
    note = note.strip()[:NOTE_LIMIT]
    proposed_by = version.activation_proposed_by
    version.activation_proposed_by, version.activation_proposed_at = None, None
    version.activation_note = ""
    fields = ["activation_proposed_by", "activation_proposed_at", "activation_note"]
    changes: dict = {
        "model": ml_model.slug,
        "version": version.version,
        "proposed_by": proposed_by.get_username() if proposed_by else None,
        "note": note,
    }
    if approve:
        now = timezone.now()
        change = _set_status(version, approved_status(ml_model), now)
        version.activated_at, version.activated_by = now, manager
        fields += ["status", "status_changed_at", "activated_at", "activated_by"]
        changes["status"] = [change["from"], change["to"]]
    version.save(update_fields=fields)
    audit_record(
        actor=manager,
        action="model_version.activated" if approve else "model_version.activation_rejected",
        target=version,
        changes=changes,
    )
    if approve:
        _version_changed(
            ml_model=ml_model, changes=[change], reason="activated", actor=manager, note=note
        )
    return version


def _require_halt(actor: User, ml_model: MLModel, action: str, version: ModelVersion) -> None:
    refuse(
        user_has(actor, Capability.HALT_AUTOMATION, ml_model),
        user=actor,
        action=action,
        target_type="modelversion",
        target_id=version.pk,
        message="Only the model's owners and the team's managers may retire or roll back "
        "a version.",
    )


@refusals_audited
@transaction.atomic
def version_retire(*, version: ModelVersion, actor: User, note: str = "") -> ModelVersion:
    """Retire a version at once (one owner or manager): its new cases are refused with 409
    ``version_retired``; cases already received stay where they are."""
    version, ml_model = _locked(version)
    _require_halt(actor, ml_model, "model_version.retire", version)
    if version.status == VersionStatus.RETIRED:
        raise Conflict(f"Version {version.version} is already retired.")
    note = note.strip()[:NOTE_LIMIT]
    change = _retire(version)
    audit_record(
        actor=actor,
        action="model_version.retired",
        target=version,
        changes={"model": ml_model.slug, "status": [change["from"], change["to"]], "note": note},
    )
    _version_changed(ml_model=ml_model, changes=[change], reason="retired", actor=actor, note=note)
    return version


def _retire(version: ModelVersion) -> dict:
    change = _set_status(version, VersionStatus.RETIRED, timezone.now())
    version.activation_proposed_by, version.activation_proposed_at = None, None
    version.activation_note = ""
    version.save(
        update_fields=[
            "status",
            "status_changed_at",
            "activation_proposed_by",
            "activation_proposed_at",
            "activation_note",
        ]
    )
    return change


def rollback_target(version: ModelVersion) -> ModelVersion | None:
    """The version a rollback of VERSION returns to: the latest version first seen before it
    that was ever approved (first seen as active, or activated by a manager)."""
    return (
        ModelVersion.objects.filter(ml_model_id=version.ml_model_id, activated_at__isnull=False)
        .filter(pk__lt=version.pk)
        .order_by("-pk")
        .first()
    )


@refusals_audited
@transaction.atomic
def version_rollback(
    *, version: ModelVersion, actor: User, note: str = ""
) -> tuple[ModelVersion, ModelVersion]:
    """Roll back from VERSION at once (one owner or manager): retire it, and keep the version
    approved before it in service (restored to active when it had been retired). The owner is
    told through the model's webhook (``model.version_changed``). Returns (retired, restored).
    """
    version, ml_model = _locked(version)
    _require_halt(actor, ml_model, "model_version.rollback", version)
    if version.status == VersionStatus.RETIRED:
        raise Conflict(f"Version {version.version} is already retired.")
    previous = rollback_target(version)
    if previous is None:
        raise Conflict(
            f"No version approved before {version.version} to roll back to; retire it instead."
        )
    previous = ModelVersion.objects.select_for_update().get(pk=previous.pk)
    note = note.strip()[:NOTE_LIMIT]
    changes = [_retire(version)]
    if previous.status not in APPROVED_STATUSES:
        # A retired earlier version is put back in service: it was approved before, so no
        # second approval is asked for (safety first).
        changes.append(_set_status(previous, approved_status(ml_model), timezone.now()))
        previous.activation_proposed_by, previous.activation_proposed_at = None, None
        previous.activation_note = ""
        previous.save(
            update_fields=[
                "status",
                "status_changed_at",
                "activation_proposed_by",
                "activation_proposed_at",
                "activation_note",
            ]
        )
    audit_record(
        actor=actor,
        action="model_version.rolled_back",
        target=version,
        changes={
            "model": ml_model.slug,
            "from": version.version,
            "to": previous.version,
            "changes": changes,
            "note": note,
        },
    )
    _version_changed(
        ml_model=ml_model,
        changes=changes,
        reason=f"rolled back from {version.version} to {previous.version}",
        actor=actor,
        note=note,
    )
    return version, previous
