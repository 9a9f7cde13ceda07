"""Sign-in and sign-out pages: auditing of logins, failed logins and the lockout."""

import pytest
from django.conf import settings

from reviewapp.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _attempt(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def test_login_page_renders_form(client):
    """The sign-in page has the username and password fields and a CSRF token."""
    response = client.get(LOGIN)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_username"' in html
    assert 'id="id_password"' in html
    assert "csrfmiddlewaretoken" in html


def test_login_succeeds_redirects_by_role_and_is_audited(client, auditor):
    """A correct password signs in, lands on the role's page, and is audited."""
    response = _attempt(client, auditor.username, PASSWORD)
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"] == "/audit/"
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor == auditor
    assert event.ip == "127.0.0.1"


def test_failed_login_is_audited_and_shows_error(client, reviewer):
    """A wrong password re-shows the form with an error and records a failed login."""
    response = _attempt(client, reviewer.username, "wrong-password")
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert (event.actor, event.target_id) == (None, reviewer.username)
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_lockout_after_repeated_failures(client, reviewer):
    """After the failure limit even the right password is refused with the lockout page."""
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5
    statuses = [_attempt(client, reviewer.username, f"wrong-{i}").status_code for i in range(limit)]
    assert statuses[:-1] == [200] * (limit - 1)
    locked = _attempt(client, reviewer.username, PASSWORD)
    assert locked.status_code in (403, 429)
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.login_failed").count() >= limit
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_lockout_is_per_user_and_ip(client, reviewer, lead):
    """Locking one account out does not lock another account from the same address."""
    for i in range(settings.AXES_FAILURE_LIMIT):
        _attempt(client, reviewer.username, f"wrong-{i}")
    response = _attempt(client, lead.username, PASSWORD)
    assert response.status_code == 302


def test_logout_is_post_only_and_audited(client, reviewer):
    """Signing out takes a POST, ends the session, returns to the login page and is audited."""
    client.force_login(reviewer)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.logout", actor=reviewer).exists()
    assert client.get("/audit/").status_code == 302
