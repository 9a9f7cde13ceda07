"""The circuit breaker: suspend automation at once (a person or a suspend tripwire), every case
goes to people meanwhile, and lifting it takes two people."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewapp.errors import Conflict, PermissionDenied
from reviewapp.models import (
    Alert,
    AuditEvent,
    AutomationSuspension,
    Case,
    CaseStatus,
    MLModel,
    ModelVersion,
    Role,
    RoutingReason,
    TripwireAction,
    TripwireKind,
    VersionStatus,
    WebhookDelivery,
)
from reviewapp.services.breaker import (
    AUTOMATION_RESUMED,
    AUTOMATION_SUSPENDED,
    automation_resume_decide,
    automation_resume_propose,
    automation_suspend,
)
from reviewapp.services.health import tripwire_create, tripwires_check
from reviewapp.services.intake import cases_submit
from reviewapp.services.versions import version_activation_decide, version_activation_propose
from tests.factories import case_payload, make_documentation, make_user

pytestmark = pytest.mark.django_db

CONFIDENT = 0.95
HOOK = "https://hooks.example.com/reviewapp"


def submit_one(ml_model, service_account, **payload) -> Case:
    [result] = cases_submit(
        ml_model=ml_model, items=[case_payload(**payload)], submitted_by=service_account[0]
    )
    assert result.status == "created", result.as_dict()
    return Case.objects.get(pk=result.case_id)


def fresh(ml_model) -> MLModel:
    return MLModel.objects.get(pk=ml_model.pk)


def test_manager_suspends_and_confident_cases_go_to_people(ml_model, service_account, manager):
    """A manager suspends at once: the next confident case is queued (automation_suspended),
    the active version shows suspended, the webhook hears model.automation_suspended."""
    assert submit_one(ml_model, service_account, confidence=CONFIDENT).status == "auto_approved"
    MLModel.objects.filter(pk=ml_model.pk).update(webhook_url=HOOK, webhook_secret="s")
    suspension = automation_suspend(ml_model=ml_model, actor=manager, reason="odd spike")
    assert fresh(ml_model).automation_suspended_at == suspension.suspended_at
    assert ModelVersion.objects.get(ml_model=ml_model).status == VersionStatus.SUSPENDED
    case = submit_one(ml_model, service_account, confidence=CONFIDENT)
    assert case.status == CaseStatus.QUEUED
    assert case.routing_reasons == [RoutingReason.AUTOMATION_SUSPENDED]
    [delivery] = WebhookDelivery.objects.filter(event=AUTOMATION_SUSPENDED)
    assert delivery.payload["reason"] == "odd spike"
    assert delivery.payload["by"] == manager.pseudonym
    assert delivery.payload["versions_suspended"] == ["2.3.0"]
    [event] = AuditEvent.objects.filter(action="model.automation_suspended")
    assert event.actor_id == manager.pk
    with pytest.raises(Conflict):
        automation_suspend(ml_model=ml_model, actor=manager, reason="again")


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.LEAD, Role.AUDITOR, Role.ADMIN])
def test_others_may_not_suspend(ml_model, team, role):
    """Only owners and managers of the team suspend; refusals are audited."""
    person = make_user(role, team=team)
    with pytest.raises(PermissionDenied):
        automation_suspend(ml_model=ml_model, actor=person, reason="no")
    assert fresh(ml_model).automation_suspended_at is None
    assert AuditEvent.objects.filter(action="permission.denied", actor=person).count() == 1


def test_lifting_needs_a_second_person(ml_model, service_account, model_owner, manager, team):
    """The owner suspends and proposes lifting; neither the owner nor a manager who proposed
    may approve; another manager approves and automation resumes (model.automation_resumed)."""
    MLModel.objects.filter(pk=ml_model.pk).update(webhook_url=HOOK, webhook_secret="s")
    submit_one(ml_model, service_account)
    automation_suspend(ml_model=ml_model, actor=model_owner, reason="")
    with pytest.raises(Conflict):
        automation_resume_decide(ml_model=ml_model, manager=manager, approve=True)
    automation_resume_propose(ml_model=ml_model, proposer=manager, note="fixed upstream")
    with pytest.raises(PermissionDenied):
        automation_resume_decide(ml_model=ml_model, manager=manager, approve=True)
    with pytest.raises(PermissionDenied):
        automation_resume_decide(ml_model=ml_model, manager=model_owner, approve=True)
    second = make_user(Role.MANAGER, team=team)
    rejected = automation_resume_decide(ml_model=ml_model, manager=second, approve=False)
    assert rejected.lift_proposed_at is None
    assert fresh(ml_model).automation_suspended_at is not None
    automation_resume_propose(ml_model=ml_model, proposer=model_owner)
    lifted = automation_resume_decide(ml_model=ml_model, manager=second, approve=True)
    assert (lifted.lift_proposed_by, lifted.lifted_by) == (model_owner, second)
    assert fresh(ml_model).automation_suspended_at is None
    assert ModelVersion.objects.get(ml_model=ml_model).status == VersionStatus.ACTIVE
    assert submit_one(ml_model, service_account, confidence=CONFIDENT).status == "auto_approved"
    [delivery] = WebhookDelivery.objects.filter(event=AUTOMATION_RESUMED)
    assert delivery.payload["approved_by"] == second.pseudonym
    assert delivery.payload["proposed_by"] == model_owner.pseudonym
    assert AuditEvent.objects.filter(action="model.automation_resumed").count() == 1
    with pytest.raises(Conflict):
        automation_resume_propose(ml_model=ml_model, proposer=model_owner)


def test_the_database_refuses_a_lift_by_the_proposer(ml_model, manager):
    """Four eyes also hold in the table: lifted_by may not be the lift's proposer."""
    suspension = automation_suspend(ml_model=ml_model, actor=manager, reason="x")
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        AutomationSuspension.objects.filter(pk=suspension.pk).update(
            lift_proposed_by=manager, lift_proposed_at=now, lifted_by=manager, lifted_at=now
        )


def test_a_suspend_tripwire_suspends_and_an_alert_tripwire_does_not(
    ml_model, service_account, manager
):
    """A queue-age tripwire with action suspend suspends automation when it trips (once);
    an alert-only tripwire on the same rule just raises its alert."""
    alert_only = tripwire_create(
        ml_model=ml_model, actor=manager, kind=TripwireKind.QUEUE_AGE, threshold=30
    )
    breaker = tripwire_create(
        ml_model=ml_model,
        actor=manager,
        kind=TripwireKind.QUEUE_AGE,
        threshold=60,
        action=TripwireAction.SUSPEND,
    )
    waiting = submit_one(ml_model, service_account, confidence=0.3)
    Case.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(minutes=45))
    assert tripwires_check()["raised"] == 1
    assert Alert.objects.filter(tripwire=alert_only).exists()
    assert fresh(ml_model).automation_suspended_at is None
    Case.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert tripwires_check()["raised"] == 1
    [suspension] = AutomationSuspension.objects.filter(ml_model=ml_model)
    assert suspension.tripwire == breaker
    assert suspension.suspended_by is None
    assert suspension.reason.startswith(f"Tripwire #{breaker.pk}")
    assert submit_one(ml_model, service_account, confidence=CONFIDENT).routing_reasons == [
        RoutingReason.AUTOMATION_SUSPENDED
    ]
    [event] = AuditEvent.objects.filter(action="model.automation_suspended")
    assert event.actor_id is None
    assert event.changes["tripwire"] == breaker.pk


def test_tripwire_action_is_validated(ml_model, manager):
    """An unknown tripwire action is a 400 naming the field."""
    from reviewapp.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        tripwire_create(
            ml_model=ml_model,
            actor=manager,
            kind=TripwireKind.QUEUE_AGE,
            threshold=10,
            action="explode",
        )
    assert "action" in caught.value.details


def test_version_approved_while_suspended_waits_for_the_lift(
    ml_model, service_account, model_owner, manager, team
):
    """A candidate approved during a suspension is 'suspended' (its cases still go to people)
    and becomes active with the others when automation resumes."""
    submit_one(ml_model, service_account)
    submit_one(ml_model, service_account, model_version="3.0.0")
    automation_suspend(ml_model=ml_model, actor=manager, reason="x")
    candidate = ModelVersion.objects.get(ml_model=ml_model, version="3.0.0")
    make_documentation(candidate, model_owner)
    version_activation_propose(version=candidate, proposer=model_owner)
    approved = version_activation_decide(version=candidate, manager=manager, approve=True)
    assert approved.status == VersionStatus.SUSPENDED
    case = submit_one(ml_model, service_account, model_version="3.0.0", confidence=CONFIDENT)
    assert case.routing_reasons == [RoutingReason.AUTOMATION_SUSPENDED]
    automation_resume_propose(ml_model=ml_model, proposer=model_owner)
    automation_resume_decide(ml_model=ml_model, manager=manager, approve=True)
    statuses = set(ModelVersion.objects.filter(ml_model=ml_model).values_list("status", flat=True))
    assert statuses == {VersionStatus.ACTIVE}
