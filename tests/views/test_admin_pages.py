"""The Django admin: admins only; role, membership and service-account changes audited."""

from datetime import date, datetime

import pytest

from reviewapp.models import ApiToken, AuditEvent, Membership, Role, User, token_digest
from tests.factories import make_model, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(make_user(Role.ADMIN, username="root"))
    return client


def _value(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _form_data(response) -> dict:
    """The POST body an admin's browser would send back for an unchanged change form."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms += list(formset.formset.forms)
    for form in forms:
        for name in form.fields:
            bound = form[name]
            value = bound.value()
            key = form.add_prefix(name)
            widget = form.fields[name].widget
            if hasattr(widget, "decompress"):
                for i, part in enumerate(widget.decompress(value)):
                    if part is not None:
                        data[f"{key}_{i}"] = _value(part)
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list):
                data[key] = [str(v) for v in value]
            elif value is not None:
                data[key] = _value(value)
    return data


def test_non_admin_cannot_open_admin(client, manager):
    """A signed-in manager is sent to the admin login, not shown the admin."""
    client.force_login(manager)
    response = client.get("/admin/reviewapp/user/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_role_change_goes_through_service_and_is_audited(admin_client, reviewer):
    """Changing a role in the admin writes user.role_changed with before and after."""
    url = f"/admin/reviewapp/user/{reviewer.pk}/change/"
    data = _form_data(admin_client.get(url))
    data["role"] = Role.LEAD
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    reviewer.refresh_from_db()
    assert reviewer.role == Role.LEAD
    event = AuditEvent.objects.get(action="user.role_changed", target_id=str(reviewer.pk))
    assert event.changes == {"role": [Role.REVIEWER, Role.LEAD]}
    assert event.actor.username == "root"
    assert not AuditEvent.objects.filter(action="user.changed").exists()


def test_admin_membership_changes_are_audited(admin_client, reviewer):
    """Adding and removing a team membership in the admin records both changes."""
    claims = make_team("claims")
    url = f"/admin/reviewapp/user/{reviewer.pk}/change/"
    data = _form_data(admin_client.get(url))
    data["memberships-1-team"] = str(claims.pk)
    data["memberships-0-DELETE"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert list(reviewer.teams.values_list("slug", flat=True)) == ["claims"]
    actions = AuditEvent.objects.filter(target_id=str(reviewer.pk), action__startswith="membership")
    assert sorted((e.action, e.changes["team"]) for e in actions) == [
        ("membership.added", "claims"),
        ("membership.removed", "payments-risk"),
    ]


def test_admin_creates_user_with_role(admin_client):
    """The add form takes a role; the new person is audited as created."""
    response = admin_client.post(
        "/admin/reviewapp/user/add/",
        {
            "username": "newbie",
            "role": Role.AUDITOR,
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-42",
            "password2": "a-long-enough-passphrase-42",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert (user.role, user.is_staff) == (Role.AUDITOR, False)
    assert AuditEvent.objects.filter(action="user.created", target_id=str(user.pk)).exists()
    assert not Membership.objects.filter(user=user).exists()


def test_admin_action_creates_service_account_and_shows_token_once(admin_client):
    """The model action creates a service account and shows its working token."""
    ml_model = make_model(slug="fraud-screening")
    response = admin_client.post(
        "/admin/reviewapp/mlmodel/",
        {"action": "create_service_account", "_selected_action": [str(ml_model.pk)]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [row] = response.context["created"]
    assert row["user"].service_model == ml_model
    assert row["token"] in response.content.decode()
    assert ApiToken.objects.get(digest=token_digest(row["token"])).user == row["user"]
    assert AuditEvent.objects.filter(action="service_account.created").count() == 1


def test_admin_team_creation_is_audited(admin_client):
    """Creating a team in the admin records team.created."""
    response = admin_client.post("/admin/reviewapp/team/add/", {"slug": "ops", "name": "Ops"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="team.created")
    assert event.changes["slug"] == [None, "ops"]


def test_admin_revokes_tokens(admin_client):
    """The revoke action revokes tokens and audits it; tokens cannot be deleted."""
    ml_model = make_model()
    from reviewapp.services.accounts import service_account_create

    user, _raw = service_account_create(ml_model=ml_model)
    token = ApiToken.objects.get(user=user)
    response = admin_client.post(
        "/admin/reviewapp/apitoken/", {"action": "revoke", "_selected_action": [str(token.pk)]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoked").exists()
    assert admin_client.get(f"/admin/reviewapp/apitoken/{token.pk}/delete/").status_code == 403


def test_admin_cannot_change_model_webhook_labels_or_team(admin_client):
    """A crafted POST to the model change form changes only the display name: webhook URL,
    labels and team are owned by services and stay as they were; the secret is not shown."""
    ml_model = make_model(slug="fraud-screening")
    ml_model.webhook_url = "https://hooks.example.com/decisions"
    ml_model.webhook_secret = "whsec-should-never-be-displayed"
    ml_model.save(update_fields=["webhook_url", "webhook_secret"])
    url = f"/admin/reviewapp/mlmodel/{ml_model.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "whsec-should-never-be-displayed" not in page.content.decode()
    other = make_team("claims")
    response = admin_client.post(
        url,
        {
            "name": "Renamed",
            "webhook_url": "http://169.254.169.254/latest",
            "webhook_secret": "attacker-secret",
            "labels": '["anything"]',
            "team": str(other.pk),
            "slug": "hijacked",
        },
    )
    assert response.status_code == 302
    before = (ml_model.slug, ml_model.labels, ml_model.team_id)
    ml_model.refresh_from_db()
    assert ml_model.name == "Renamed"
    assert (ml_model.slug, ml_model.labels, ml_model.team_id) == before
    assert ml_model.webhook_url == "https://hooks.example.com/decisions"
    assert ml_model.webhook_secret == "whsec-should-never-be-displayed"
    event = AuditEvent.objects.get(action="mlmodel.changed")
    assert set(event.changes) == {"name", "via"}


def test_admin_cannot_set_staff_flags_or_service_model_directly(admin_client, reviewer):
    """Superuser and staff flags follow the role; a POST setting them is ignored."""
    url = f"/admin/reviewapp/user/{reviewer.pk}/change/"
    data = _form_data(admin_client.get(url))
    data.update({"is_superuser": "on", "is_staff": "on", "service_model": "1"})
    response = admin_client.post(url, data)
    assert response.status_code == 302
    reviewer.refresh_from_db()
    assert (reviewer.is_superuser, reviewer.is_staff, reviewer.service_model_id) == (
        False,
        False,
        None,
    )


def test_admin_cannot_add_or_delete_models(admin_client):
    """Models are registered through the services, and never deleted in the admin."""
    ml_model = make_model()
    assert admin_client.get("/admin/reviewapp/mlmodel/add/").status_code == 403
    assert admin_client.get(f"/admin/reviewapp/mlmodel/{ml_model.pk}/delete/").status_code == 403
