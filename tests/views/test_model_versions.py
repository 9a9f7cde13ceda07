"""The model page's versions section and circuit breaker: figures side by side, actions by
role (403 for the others), and the banner on the model, health and review pages."""

import pytest
from django.test import Client

from reviewapp.models import (
    AuditEvent,
    MLModel,
    ModelVersion,
    Role,
    TripwireAction,
    VersionStatus,
)
from reviewapp.services.breaker import automation_suspend
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next
from reviewapp.services.versions import version_activation_propose
from tests.factories import make_cases, make_documentation, make_user

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_versions(ml_model):
    """1.0.0 (active) with 3 queued cases and 2 auto-approved; 2.0.0 (candidate) with 1 case."""
    make_cases(ml_model, 3, model_version="1.0.0", confidence=0.5)
    make_cases(ml_model, 2, model_version="1.0.0", confidence=0.95)
    make_cases(ml_model, 1, model_version="2.0.0", confidence=0.95)
    candidate = ModelVersion.objects.get(ml_model=ml_model, version="2.0.0")
    make_documentation(candidate)  # activation needs it
    return ModelVersion.objects.get(ml_model=ml_model, version="1.0.0"), candidate


def decide(ml_model, reviewer, *, override: bool) -> None:
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_decide(
        case=case,
        reviewer=reviewer,
        action="override" if override else "accept",
        final_label="legit" if override else case.predicted_label,
        reason_code="wrong_label" if override else "",
    )


def test_page_shows_versions_side_by_side(ml_model, two_versions, manager, reviewer):
    """Each version's status, volume, acceptance and live accuracy; outcomes not yet known."""
    old, new = two_versions
    decide(ml_model, reviewer, override=False)
    decide(ml_model, reviewer, override=True)
    html = logged_in(manager).get(f"/models/{ml_model.slug}/").content.decode()
    assert f'id="version-{old.pk}" data-status="active"' in html
    assert f'id="version-{new.pk}" data-status="candidate"' in html
    row = html.split(f'id="version-{old.pk}"')[1].split("</tr>")[0]
    cells = [c.split(">", 1)[1].split("</td>")[0] for c in row.split('<td class="num"')[1:]]
    assert cells[:3] == ["5", "2 (40%)", "2"]
    assert "50%" in cells[3]  # acceptance: 1 of 2
    assert "50%" in cells[4]  # live accuracy: 1 of 2 kept the model's label
    assert "no outcomes yet" in html
    assert "Suspend automation now" in html


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        (Role.MODEL_OWNER, {"Propose activation", "Retire", "Roll back to 1.0.0", "Suspend"}),
        (Role.MANAGER, {"Retire", "Roll back to 1.0.0", "Suspend"}),
    ],
)
def test_actions_shown_by_role(ml_model, two_versions, team, role, sees):
    """Owners see propose-activation; both see retire, roll back and suspend."""
    html = logged_in(make_user(role, team=team)).get(f"/models/{ml_model.slug}/").content.decode()
    shown = {
        label
        for label in ("Propose activation", "Approve activation", "Retire", "Roll back to 1.0.0")
        if label in html
    } | ({"Suspend"} if "Suspend automation now" in html else set())
    assert shown == sees


def test_propose_and_approve_activation_through_the_page(
    ml_model, two_versions, model_owner, manager, reviewer
):
    """The owner proposes, a reviewer is refused (403), the manager approves: 2.0.0 active."""
    _old, new = two_versions
    base = f"/models/{ml_model.slug}/versions/{new.pk}"
    response = logged_in(model_owner).post(f"{base}/propose", {"note": "shadow ok"})
    assert response.status_code == 302
    assert logged_in(reviewer).post(f"{base}/decide", {"decision": "approve"}).status_code == 403
    assert logged_in(model_owner).post(f"{base}/decide", {"decision": "approve"}).status_code == (
        403
    )
    html = logged_in(manager).get(f"/models/{ml_model.slug}/").content.decode()
    assert "Approve activation" in html
    assert logged_in(manager).post(f"{base}/decide", {"decision": "approve"}).status_code == 302
    new.refresh_from_db()
    assert new.status == VersionStatus.ACTIVE
    assert new.activated_by == manager


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.LEAD, Role.AUDITOR])
def test_halt_actions_refused_for_other_roles(ml_model, two_versions, team, role):
    """Reviewers, leads and auditors get 403 on suspend, retire and roll back; nothing moves."""
    _old, new = two_versions
    client = logged_in(make_user(role, team=team))
    for path in (
        f"/models/{ml_model.slug}/automation/suspend",
        f"/models/{ml_model.slug}/versions/{new.pk}/retire",
        f"/models/{ml_model.slug}/versions/{new.pk}/rollback",
        f"/models/{ml_model.slug}/versions/{new.pk}/propose",
    ):
        assert client.post(path, {"reason": "x"}).status_code == 403, path
    assert MLModel.objects.get(pk=ml_model.pk).automation_suspended_at is None
    assert set(ModelVersion.objects.values_list("status", flat=True)) == {"active", "candidate"}


def test_manager_suspends_then_banner_on_model_health_and_review_pages(
    ml_model, two_versions, manager, reviewer
):
    """Suspending from the page shows the banner on every page of the model."""
    response = logged_in(manager).post(
        f"/models/{ml_model.slug}/automation/suspend", {"reason": "labels look off"}
    )
    assert response.status_code == 302
    model_page = logged_in(manager).get(f"/models/{ml_model.slug}/").content.decode()
    assert 'id="automation-suspended"' in model_page
    assert "labels look off" in model_page
    assert "Propose resuming automation" in model_page
    health = logged_in(manager).get(f"/dashboards/health/?model={ml_model.slug}")
    assert 'id="automation-suspended"' in health.content.decode()
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    review = logged_in(reviewer).get(f"/review/case/{case.pk}/")
    assert review.status_code == 200
    assert 'id="automation-suspended"' in review.content.decode()


def test_resume_through_the_page_needs_another_manager(ml_model, two_versions, manager, team):
    """A manager proposes the lift; the same manager cannot approve (403); another can."""
    automation_suspend(ml_model=ml_model, actor=manager, reason="x")
    slug = ml_model.slug
    client = logged_in(manager)
    assert client.post(f"/models/{slug}/automation/resume", {"note": "ok"}).status_code == 302
    own = client.post(f"/models/{slug}/automation/resume/decide", {"decision": "approve"})
    assert own.status_code == 403
    other = logged_in(make_user(Role.MANAGER, team=team))
    assert "Approve: resume automation" in other.get(f"/models/{slug}/").content.decode()
    response = other.post(f"/models/{slug}/automation/resume/decide", {"decision": "approve"})
    assert response.status_code == 302
    assert MLModel.objects.get(pk=ml_model.pk).automation_suspended_at is None
    page = other.get(f"/models/{slug}/").content.decode()
    assert 'id="automation-suspended"' not in page


def test_retire_and_roll_back_through_the_page(ml_model, two_versions, model_owner, manager):
    """The owner rolls back from the candidate (kept 1.0.0), then the manager retires 1.0.0."""
    old, new = two_versions
    slug = ml_model.slug
    version_activation_propose(version=new, proposer=model_owner)
    assert logged_in(model_owner).post(
        f"/models/{slug}/versions/{new.pk}/rollback"
    ).status_code == (302)
    new.refresh_from_db()
    assert new.status == VersionStatus.RETIRED
    assert new.activation_proposed_at is None
    assert logged_in(manager).post(f"/models/{slug}/versions/{old.pk}/retire").status_code == 302
    old.refresh_from_db()
    assert old.status == VersionStatus.RETIRED
    assert AuditEvent.objects.filter(action="model_version.rolled_back").count() == 1
    assert AuditEvent.objects.filter(action="model_version.retired").count() == 1


def test_health_page_offers_the_suspend_action_for_tripwires(ml_model, manager):
    """A tripwire can be created with the suspend action from the health page."""
    client = logged_in(manager)
    page = client.get(f"/dashboards/health/?model={ml_model.slug}").content.decode()
    assert 'name="action"' in page
    response = client.post(
        f"/dashboards/health/{ml_model.slug}/tripwires/",
        {"kind": "queue_age", "threshold": "30", "window_days": "7", "action": "suspend"},
    )
    assert response.status_code == 302
    assert ml_model.tripwires.get().action == TripwireAction.SUSPEND
