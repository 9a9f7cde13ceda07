"""Model pages: who may see them, proposals with four eyes, the webhook and its deliveries."""

import pytest
from django.test import Client

from reviewapp.models import (
    AuditEvent,
    DeliveryStatus,
    PolicyStatus,
    Role,
    RoutingPolicy,
    WebhookDelivery,
)
from reviewapp.services.accounts import user_set_role
from reviewapp.services.policies import policy_propose
from tests.factories import make_model, make_team, make_user

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def propose(ml_model, owner, **changes) -> RoutingPolicy:
    return policy_propose(ml_model=ml_model, proposer=owner, changes=changes or {"sla_minutes": 30})


PROPOSAL_FORM = {
    "review_threshold": "0.9",
    "always_review_labels": ["fraud"],
    "qa_sample_rate": "0.05",
    "blind_sample_rate": "0.1",
    "advisory_mode": "on",
    "sla_minutes": "45",
    "availability_minutes": "1440",
    "lease_minutes": "10",
    "fallback_action": "reject",
    "reason_codes": "wrong_label, policy, other",
    "note": "tighter after the incident",
}


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.LEAD, Role.AUDITOR])
def test_other_roles_get_403(ml_model, team, role):
    """Reviewers, leads and auditors have no model pages (403, audited)."""
    user = make_user(role, team=team)
    client = logged_in(user)
    assert client.get("/models/").status_code == 403
    assert client.get("/models/fraud-screening/").status_code == 403
    assert AuditEvent.objects.filter(action="permission.denied", actor=user).exists()


def test_anonymous_is_sent_to_login(ml_model):
    """Signed-out visitors are redirected to the login page."""
    response = Client().get("/models/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_owner_sees_own_team_models_only(ml_model, model_owner):
    """The list shows the models of the owner's teams, not other teams'."""
    make_model(team=make_team("claims"), slug="claims-triage")
    response = logged_in(model_owner).get("/models/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "fraud-screening" in body
    assert "claims-triage" not in body


def test_owner_of_another_team_gets_404(ml_model):
    """A model of another team is not found, like a missing one."""
    outsider = make_user(Role.MODEL_OWNER, team=make_team("claims"))
    client = logged_in(outsider)
    assert client.get("/models/fraud-screening/").status_code == 404
    assert client.get("/models/no-such-model/").status_code == 404
    response = client.post("/models/fraud-screening/policy/propose", PROPOSAL_FORM)
    assert response.status_code == 404
    assert not RoutingPolicy.objects.filter(status=PolicyStatus.PROPOSED).exists()


def test_detail_shows_labels_team_versions_and_policy(ml_model, model_owner, reviewer):
    """The detail page shows the label set, team, versions and the active rules."""
    from tests.factories import make_cases

    make_cases(ml_model, 1)
    body = logged_in(model_owner).get("/models/fraud-screening/").content.decode()
    assert "legit" in body
    assert "Payments Risk" in body
    assert "2.3.0" in body
    assert "v1 active" in body
    assert "Propose a change" in body


def test_owner_proposes_through_the_form(ml_model, model_owner):
    """The form creates a proposal with every rule, not yet active."""
    client = logged_in(model_owner)
    response = client.post("/models/fraud-screening/policy/propose", PROPOSAL_FORM)
    assert response.status_code == 302
    proposal = RoutingPolicy.objects.get(status=PolicyStatus.PROPOSED)
    assert proposal.review_threshold == 0.9
    assert proposal.always_review_labels == ["fraud"]
    assert proposal.advisory_mode is True
    assert (proposal.sla_minutes, proposal.fallback_action) == (45, "reject")
    assert proposal.reason_codes == ["wrong_label", "policy", "other"]
    assert proposal.proposed_by == model_owner
    assert RoutingPolicy.objects.get(status=PolicyStatus.ACTIVE).version == 1
    page = client.get("/models/fraud-screening/").content.decode()
    assert "takes effect once another person" in page
    assert "Waiting for a manager" in page


def test_invalid_proposal_shows_errors_and_creates_nothing(ml_model, model_owner):
    """A threshold above 1 is a 400 page with the field's error; nothing is proposed."""
    response = logged_in(model_owner).post(
        "/models/fraud-screening/policy/propose", {**PROPOSAL_FORM, "review_threshold": "1.5"}
    )
    assert response.status_code == 400
    assert "less than or equal to 1" in response.content.decode()
    assert not RoutingPolicy.objects.filter(status=PolicyStatus.PROPOSED).exists()


def test_manager_cannot_propose(ml_model, manager):
    """Managers approve; only model owners propose (a styled 403, nothing created)."""
    client = logged_in(manager)
    response = client.post("/models/fraud-screening/policy/propose", PROPOSAL_FORM)
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()
    assert not RoutingPolicy.objects.filter(status=PolicyStatus.PROPOSED).exists()
    assert AuditEvent.objects.filter(action="permission.denied", actor=manager).exists()


def test_manager_approves(ml_model, model_owner, manager):
    """A manager of the team approves: the proposal becomes active, audited."""
    proposal = propose(ml_model, model_owner)
    client = logged_in(manager)
    assert "Approve v2" in client.get("/models/fraud-screening/").content.decode()
    response = client.post(
        f"/models/fraud-screening/policy/{proposal.pk}/decide",
        {"decision": "approve", "note": "fine"},
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == (PolicyStatus.ACTIVE, manager)
    assert AuditEvent.objects.filter(action="policy.approved", actor=manager).exists()
    assert "is now active" in client.get("/models/fraud-screening/").content.decode()


def test_manager_rejects(ml_model, model_owner, manager):
    """A rejection leaves the active policy in force."""
    proposal = propose(ml_model, model_owner)
    logged_in(manager).post(
        f"/models/fraud-screening/policy/{proposal.pk}/decide", {"decision": "reject"}
    )
    proposal.refresh_from_db()
    assert proposal.status == PolicyStatus.REJECTED
    assert RoutingPolicy.objects.get(status=PolicyStatus.ACTIVE).version == 1


def test_proposer_cannot_approve(ml_model, model_owner, team):
    """Four eyes: the proposer cannot approve, even after becoming a manager."""
    proposal = propose(ml_model, model_owner)
    response = logged_in(model_owner).post(
        f"/models/fraud-screening/policy/{proposal.pk}/decide", {"decision": "approve"}
    )
    assert response.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == PolicyStatus.PROPOSED
    user_set_role(user=model_owner, role=Role.MANAGER, actor=None)
    client = logged_in(model_owner)
    page = client.get("/models/fraud-screening/").content.decode()
    assert "You proposed this change" in page
    assert "Approve v2" not in page
    response = client.post(
        f"/models/fraud-screening/policy/{proposal.pk}/decide", {"decision": "approve"}
    )
    proposal.refresh_from_db()
    assert proposal.status == PolicyStatus.PROPOSED
    assert response.status_code == 403
    assert "you cannot approve it: another manager" in response.content.decode()
    assert AuditEvent.objects.filter(action="permission.denied", actor=model_owner).exists()


def test_manager_of_another_team_cannot_approve(ml_model, model_owner):
    """A manager outside the team gets 404 and the proposal stays."""
    proposal = propose(ml_model, model_owner)
    outsider = make_user(Role.MANAGER, team=make_team("claims"))
    response = logged_in(outsider).post(
        f"/models/fraud-screening/policy/{proposal.pk}/decide", {"decision": "approve"}
    )
    assert response.status_code == 404
    proposal.refresh_from_db()
    assert proposal.status == PolicyStatus.PROPOSED


def test_webhook_secret_is_shown_once(ml_model, model_owner, settings):
    """Setting the URL shows the new secret on the next page only, and it signs deliveries."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    client = logged_in(model_owner)
    response = client.post(
        "/models/fraud-screening/webhook", {"action": "set", "url": "http://10.0.0.7/hook"}
    )
    assert response.status_code == 302
    ml_model.refresh_from_db()
    assert ml_model.webhook_url == "http://10.0.0.7/hook"
    first = client.get("/models/fraud-screening/")
    assert ml_model.webhook_secret in first.content.decode()
    assert "no-cache" in first["Cache-Control"] or "no-store" in first["Cache-Control"]
    assert ml_model.webhook_secret not in client.get("/models/fraud-screening/").content.decode()
    client.post("/models/fraud-screening/webhook", {"action": "rotate"})
    ml_model.refresh_from_db()
    assert ml_model.webhook_secret in client.get("/models/fraud-screening/").content.decode()
    assert AuditEvent.objects.filter(action="webhook.secret_rotated", actor=model_owner).exists()


def test_private_webhook_url_refused_with_message(ml_model, model_owner):
    """A loopback URL is refused with a clear message when private addresses are not allowed."""
    client = logged_in(model_owner)
    client.post("/models/fraud-screening/webhook", {"action": "set", "url": "http://127.0.0.1/x"})
    ml_model.refresh_from_db()
    assert ml_model.webhook_url == ""
    page = client.get("/models/fraud-screening/").content.decode()
    assert "a loopback address" in page


def test_manager_cannot_set_webhook(ml_model, manager, settings):
    """Only owners manage the webhook; managers see no form and a POST changes nothing."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    client = logged_in(manager)
    assert "Set URL" not in client.get("/models/fraud-screening/").content.decode()
    client.post("/models/fraud-screening/webhook", {"action": "set", "url": "http://10.0.0.7/h"})
    ml_model.refresh_from_db()
    assert ml_model.webhook_url == ""


def _dead_delivery(ml_model) -> WebhookDelivery:
    from reviewapp.models import WebhookAttempt

    delivery = WebhookDelivery.objects.create(
        ml_model=ml_model,
        url=ml_model.webhook_url,
        payload={"event": "case.decided", "case_id": 1, "external_id": "x-1"},
        status=DeliveryStatus.DEAD,
        attempts=3,
        last_error="HTTP 500",
    )
    WebhookAttempt.objects.create(
        delivery=delivery, status_code=500, error="HTTP 500", response_excerpt="boom"
    )
    return delivery


def test_deliveries_log_and_resend(ml_model, model_owner, manager, settings):
    """Owners see attempts and can re-send a dead delivery; managers see no button."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    ml_model.webhook_url, ml_model.webhook_secret = "http://10.255.255.1:9/h", "s" * 64
    ml_model.save()
    settings.REVIEWAPP_WEBHOOK_TIMEOUT_S = 0.2
    delivery = _dead_delivery(ml_model)
    owner_page = logged_in(model_owner).get("/models/fraud-screening/").content.decode()
    assert "HTTP 500" in owner_page
    assert "boom" in owner_page
    assert "Re-send" in owner_page
    assert "Re-send" not in logged_in(manager).get("/models/fraud-screening/").content.decode()
    response = logged_in(manager).post(f"/models/fraud-screening/deliveries/{delivery.pk}/resend")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert response.status_code == 403
    response = logged_in(model_owner).post(
        f"/models/fraud-screening/deliveries/{delivery.pk}/resend"
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="webhook.resent", actor=model_owner).exists()


def test_deliveries_partial_for_htmx(ml_model, model_owner):
    """The status filter renders only the deliveries partial for htmx."""
    ml_model.webhook_url = "http://example.com/h"
    ml_model.save()
    _dead_delivery(ml_model)
    client = logged_in(model_owner)
    partial = client.get(
        "/models/fraud-screening/deliveries?status=dead", headers={"HX-Request": "true"}
    )
    body = partial.content.decode()
    assert partial.status_code == 200
    assert body.lstrip().startswith('<section class="card" id="deliveries"')
    assert "Dead-lettered" in body
    empty = client.get(
        "/models/fraud-screening/deliveries?status=delivered", headers={"HX-Request": "true"}
    )
    assert "No deliveries with this status" in empty.content.decode()
