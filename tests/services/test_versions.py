"""Model version lifecycle: first version active, later ones candidates (four-eyes activation),
retired versions refuse new cases (409 version_retired), rollback retires and restores."""

import random

import pytest

from reviewapp.errors import Conflict, PermissionDenied
from reviewapp.models import (
    AuditEvent,
    Case,
    CaseStatus,
    MLModel,
    ModelVersion,
    RoutingPolicy,
    RoutingReason,
    VersionStatus,
    WebhookDelivery,
)
from reviewapp.services.intake import cases_submit
from reviewapp.services.routing import route_case
from reviewapp.services.versions import (
    MODEL_VERSION_CHANGED,
    version_activation_decide,
    version_activation_propose,
    version_retire,
    version_rollback,
)
from tests.factories import case_payload, make_documentation

pytestmark = pytest.mark.django_db

CONFIDENT = 0.95
HOOK = "https://hooks.example.com/reviewapp"


def submit(ml_model, service_account, *items):
    return cases_submit(ml_model=ml_model, items=list(items), submitted_by=service_account[0])


def submit_one(ml_model, service_account, version: str, **payload) -> Case:
    [result] = submit(ml_model, service_account, case_payload(model_version=version, **payload))
    assert result.status == "created", result.as_dict()
    return Case.objects.get(pk=result.case_id)


def version(ml_model, name: str) -> ModelVersion:
    return ModelVersion.objects.get(ml_model=ml_model, version=name)


def with_webhook(ml_model) -> None:
    MLModel.objects.filter(pk=ml_model.pk).update(webhook_url=HOOK, webhook_secret="s3cret")


def test_first_version_active_later_ones_candidates(ml_model, service_account):
    """The model's first version is active when first seen; the next one starts a candidate."""
    submit_one(ml_model, service_account, "1.0.0", confidence=CONFIDENT)
    submit_one(ml_model, service_account, "1.1.0", confidence=CONFIDENT)
    assert version(ml_model, "1.0.0").status == VersionStatus.ACTIVE
    assert version(ml_model, "1.0.0").activated_at is not None
    assert version(ml_model, "1.1.0").status == VersionStatus.CANDIDATE
    assert version(ml_model, "1.1.0").activated_at is None
    registered = AuditEvent.objects.filter(action="model_version.registered").order_by("id")
    assert [e.changes["status"] for e in registered] == ["active", "candidate"]


def test_candidate_case_is_queued_then_auto_approves_after_approval(
    ml_model, service_account, model_owner, manager
):
    """A candidate's confident case goes to people (candidate_version); once the owner's
    proposal is approved by a manager, the next confident case is auto-approved."""
    submit_one(ml_model, service_account, "1.0.0", confidence=CONFIDENT)
    case = submit_one(ml_model, service_account, "2.0.0", confidence=CONFIDENT)
    assert case.status == CaseStatus.QUEUED
    assert case.routing_reasons == [RoutingReason.CANDIDATE_VERSION]
    assert case.routing_detail.startswith("Version 2.0.0 is a candidate")
    candidate = version(ml_model, "2.0.0")
    make_documentation(candidate, model_owner)
    version_activation_propose(version=candidate, proposer=model_owner, note="shadow looks good")
    still = submit_one(ml_model, service_account, "2.0.0", confidence=CONFIDENT)
    assert still.status == CaseStatus.QUEUED, "a proposal alone changes nothing"
    approved = version_activation_decide(version=candidate, manager=manager, approve=True)
    assert approved.status == VersionStatus.ACTIVE
    assert approved.activated_by == manager
    after = submit_one(ml_model, service_account, "2.0.0", confidence=CONFIDENT)
    assert after.status == CaseStatus.AUTO_APPROVED
    assert after.routing_reasons == []
    actions = list(
        AuditEvent.objects.filter(action__startswith="model_version.activ")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["model_version.activation_proposed", "model_version.activated"]


def test_activation_needs_an_owner_to_propose_and_another_manager_to_approve(
    ml_model, service_account, model_owner, manager, reviewer
):
    """Managers and reviewers cannot propose; the owner cannot approve; a rejection leaves a
    candidate that may be proposed again; nothing to decide is a conflict."""
    submit_one(ml_model, service_account, "1.0.0")
    submit_one(ml_model, service_account, "2.0.0")
    candidate = version(ml_model, "2.0.0")
    for person in (manager, reviewer):
        with pytest.raises(PermissionDenied):
            version_activation_propose(version=candidate, proposer=person)
    with pytest.raises(Conflict):
        version_activation_decide(version=candidate, manager=manager, approve=True)
    make_documentation(candidate, model_owner)
    version_activation_propose(version=candidate, proposer=model_owner)
    with pytest.raises(Conflict):
        version_activation_propose(version=candidate, proposer=model_owner)
    with pytest.raises(PermissionDenied):
        version_activation_decide(version=candidate, manager=model_owner, approve=True)
    rejected = version_activation_decide(version=candidate, manager=manager, approve=False)
    assert rejected.status == VersionStatus.CANDIDATE
    assert rejected.activation_proposed_at is None
    assert AuditEvent.objects.filter(action="model_version.activation_rejected").count() == 1
    assert AuditEvent.objects.filter(action="permission.denied").count() == 3
    with pytest.raises(Conflict):
        version_activation_propose(version=version(ml_model, "1.0.0"), proposer=model_owner)


def test_retired_version_refuses_new_cases_in_a_batch_and_answers_replays(
    ml_model, service_account, model_owner
):
    """After retirement, a new case of that version is an item error (version_retired), other
    items are kept, and an identical replay of a case stored before is still a duplicate."""
    submit_one(ml_model, service_account, "1.0.0")
    old = case_payload(model_version="1.1.0", external_id="before-retire")
    assert submit(ml_model, service_account, old)[0].status == "created"
    retired = version_retire(
        version=version(ml_model, "1.1.0"), actor=model_owner, note="bad build"
    )
    assert retired.status == VersionStatus.RETIRED
    results = submit(
        ml_model,
        service_account,
        case_payload(model_version="1.1.0", external_id="after-retire"),
        case_payload(model_version="1.0.0", external_id="fine"),
        old,
    )
    assert [r.status for r in results] == ["error", "created", "duplicate"]
    body = results[0].as_dict()
    assert body["error"]["code"] == "version_retired"
    assert "retired" in body["error"]["message"]
    assert not Case.objects.filter(external_id="after-retire").exists()
    with pytest.raises(Conflict):
        version_retire(version=version(ml_model, "1.1.0"), actor=model_owner)


def test_single_submit_of_a_retired_version_is_409_version_retired(
    ml_model, sa_client, model_owner
):
    """POST /api/v1/cases naming a retired version answers 409 with code version_retired."""
    assert sa_client.post("/api/v1/cases", case_payload(), format="json").status_code == 201
    version_retire(version=ModelVersion.objects.get(ml_model=ml_model), actor=model_owner)
    response = sa_client.post("/api/v1/cases", case_payload(), format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "version_retired"
    assert "model_version" in error["details"]
    batch = sa_client.post("/api/v1/cases/batch", {"cases": [case_payload()]}, format="json")
    assert batch.status_code == 200
    assert batch.json()["results"][0]["error"]["code"] == "version_retired"


def test_rollback_retires_the_new_version_and_restores_the_old_one(
    ml_model, service_account, model_owner, manager
):
    """Rolling back from an approved 2.0.0 retires it and puts a retired 1.0.0 back in
    service, telling the owner through the webhook (model.version_changed)."""
    submit_one(ml_model, service_account, "1.0.0")
    submit_one(ml_model, service_account, "2.0.0")
    new = version(ml_model, "2.0.0")
    make_documentation(new, model_owner)
    version_activation_propose(version=new, proposer=model_owner)
    version_activation_decide(version=new, manager=manager, approve=True)
    version_retire(version=version(ml_model, "1.0.0"), actor=model_owner)
    with_webhook(ml_model)
    retired, restored = version_rollback(version=new, actor=manager, note="accuracy fell")
    assert (retired.version, retired.status) == ("2.0.0", VersionStatus.RETIRED)
    assert (restored.version, restored.status) == ("1.0.0", VersionStatus.ACTIVE)
    assert version(ml_model, "2.0.0").status == VersionStatus.RETIRED
    assert version(ml_model, "1.0.0").status == VersionStatus.ACTIVE
    [delivery] = WebhookDelivery.objects.filter(event=MODEL_VERSION_CHANGED)
    assert delivery.url == HOOK
    assert delivery.payload["model"] == ml_model.slug
    assert delivery.payload["changes"] == [
        {"version": "2.0.0", "from": "active", "to": "retired"},
        {"version": "1.0.0", "from": "retired", "to": "active"},
    ]
    assert delivery.payload["by"] == manager.pseudonym
    [event] = AuditEvent.objects.filter(action="model_version.rolled_back")
    assert (event.changes["from"], event.changes["to"]) == ("2.0.0", "1.0.0")
    case = submit_one(ml_model, service_account, "1.0.0", confidence=CONFIDENT)
    assert case.status == CaseStatus.AUTO_APPROVED


def test_rollback_keeps_an_active_old_version_and_needs_one(
    ml_model, service_account, model_owner, reviewer
):
    """Rolling back a candidate keeps the active 1.0.0 as it is; the first version has
    nothing to roll back to; reviewers may not roll back."""
    submit_one(ml_model, service_account, "1.0.0")
    submit_one(ml_model, service_account, "1.5.0")
    with pytest.raises(PermissionDenied):
        version_rollback(version=version(ml_model, "1.5.0"), actor=reviewer)
    with pytest.raises(Conflict):
        version_rollback(version=version(ml_model, "1.0.0"), actor=model_owner)
    retired, kept = version_rollback(version=version(ml_model, "1.5.0"), actor=model_owner)
    assert retired.status == VersionStatus.RETIRED
    assert kept.version == "1.0.0"
    assert kept.status == VersionStatus.ACTIVE
    assert not WebhookDelivery.objects.exists(), "no webhook registered: nothing to send"


def test_route_case_reasons_for_candidate_and_suspended(ml_model):
    """The pure router names both lifecycle reasons with their text."""
    policy = RoutingPolicy.objects.get(ml_model=ml_model, status="active")
    common = {
        "policy": policy,
        "ml_model": ml_model,
        "label": "legit",
        "confidence": 0.99,
        "data": {},
        "rng": random.Random(1),
    }
    assert route_case(**common).status == CaseStatus.AUTO_APPROVED
    candidate = route_case(**common, version="3.0", version_status=VersionStatus.CANDIDATE)
    assert candidate.reasons == [RoutingReason.CANDIDATE_VERSION]
    assert candidate.detail.startswith("Version 3.0 is a candidate")
    suspended = route_case(**common, automation_suspended=True)
    assert suspended.reasons == [RoutingReason.AUTOMATION_SUSPENDED]
    assert suspended.detail == "Automation is suspended for this model, so every case is reviewed"
    both = route_case(**common, version_status=VersionStatus.SUSPENDED)
    assert both.reasons == [RoutingReason.AUTOMATION_SUSPENDED]
