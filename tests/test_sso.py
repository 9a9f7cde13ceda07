"""Single sign-on (reviewapp/sso.py). The end-to-end tests run reviewapp in pytest-django's
live server against a real OpenID Connect provider: the Django project in tests/sso_idp
(django-oauth-toolkit), started on loopback with its own SQLite file and an RSA key made here,
and drive the authorization-code flow with a plain HTTP client."""

import importlib.util
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse

from reviewapp.models import AuditEvent, Role, User
from reviewapp.sso import (
    GroupGrant,
    GroupMapError,
    SSORefusedError,
    group_map_parse,
    sso_access_resolve,
    sso_user_sync,
)
from tests.conftest import IN_CI
from tests.factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "reviewapp-test"
CLIENT_SECRET = "reviewapp-test-secret-0123456789"
IDP_PASSWORD = "idp-password-for-tests"
GROUP_MAP = {
    "claims-leads": {"role": "lead", "team": "claims"},
    "fraud-reviewers": {"role": "reviewer", "team": "fraud-ops"},
    "risk-auditors": {"role": "auditor"},
}
REFUSED_MESSAGE = "Single sign-on did not sign you in"


@dataclass
class IdP:
    """The running test identity provider."""

    url: str
    env: dict[str, str]

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"IdP command {args} failed:\n{done.stderr}"
        return done.stdout

    def user(self, username: str, *groups: str) -> str:
        """Create or update an IdP user with exactly these groups; returns their subject."""
        out = self.manage(
            "idp_user", username, "--password", IDP_PASSWORD, "--groups", ",".join(groups)
        )
        return out.splitlines()[0].removeprefix("sub=")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def idp(live_server, tmp_path_factory):
    """The test IdP on a free loopback port, with reviewapp's live server as its client."""
    if importlib.util.find_spec("oauth2_provider") is None:
        reason = "the test IdP needs django-oauth-toolkit (pip install -e '.[dev]')"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("sso_idp")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.sso_idp.settings",
        "SSO_IDP_DB": str(tmp / "idp.sqlite3"),
        "SSO_IDP_KEY_FILE": str(tmp / "key.pem"),
        "SSO_IDP_ISSUER": f"{url}/o",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    provider = IdP(url=url, env=env)
    provider.manage("migrate", "-v0")
    provider.manage(
        "idp_client",
        "--client-id",
        CLIENT_ID,
        "--secret",
        CLIENT_SECRET,
        "--redirect-uri",
        f"{live_server.url}/oidc/callback/",
    )
    log = (tmp / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", "--noreload", "--skip-checks", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                pytest.fail(f"The test IdP exited:\n{(tmp / 'server.log').read_text()}")
            try:
                if requests.get(f"{url}/o/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"The test IdP did not start:\n{(tmp / 'server.log').read_text()}")
            time.sleep(0.2)
        yield provider
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
def sso_settings(settings, monkeypatch):
    """Turn SSO on; endpoints as the test IdP publishes them once `idp` is given."""

    def _on(provider: IdP | None = None) -> None:
        base = provider.url if provider else "http://127.0.0.1:9"
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
        settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{base}/o/authorize/"
        settings.OIDC_OP_TOKEN_ENDPOINT = f"{base}/o/token/"
        settings.OIDC_OP_USER_ENDPOINT = f"{base}/o/userinfo/"
        settings.OIDC_OP_JWKS_ENDPOINT = f"{base}/o/.well-known/jwks.json"
        settings.OIDC_OP_ISSUER = f"{base}/o"
        settings.OIDC_RP_SCOPES = "openid email profile groups"
        settings.REVIEWAPP_OIDC_PROVIDER_NAME = "Test IdP"
        settings.REVIEWAPP_OIDC_GROUP_MAP = GROUP_MAP
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    return _on


def sso_login(base_url: str, idp: IdP, username: str) -> tuple[requests.Session, requests.Response]:
    """Click "Sign in with Test IdP", sign in at the IdP, follow the redirects back."""
    browser = requests.Session()
    browser.trust_env = False
    page = browser.get(f"{base_url}/accounts/login/", timeout=10)
    assert "Sign in with Test IdP" in page.text
    form = browser.get(f"{base_url}/oidc/authenticate/", timeout=10)
    assert form.url.startswith(f"{idp.url}/accounts/login/"), form.url
    landed = browser.post(
        form.url,
        data={
            "username": username,
            "password": IDP_PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["idp_csrftoken"],
        },
        timeout=30,
    )
    assert any(r.url.startswith(f"{base_url}/oidc/callback/?") for r in landed.history)
    return browser, landed


def signed_in(browser: requests.Session, base_url: str) -> bool:
    """reviewapp's login page sends a signed-in person away."""
    page = browser.get(f"{base_url}/accounts/login/", allow_redirects=False, timeout=10)
    return page.status_code == 302


def test_sso_first_login_creates_user_with_mapped_role_and_team(idp, live_server, sso_settings):
    """A first SSO login creates the person with the mapped role and team and audits it."""
    sso_settings(idp)
    subject = idp.user("alice", "fraud-reviewers", "unrelated-group")

    browser, landed = sso_login(live_server.url, idp, "alice")

    assert landed.status_code == 200
    callback = next(r for r in landed.history if "/oidc/callback/" in r.url)
    assert callback.headers["Location"] == reverse("home")
    assert signed_in(browser, live_server.url)
    alice = User.objects.get(username="alice")
    assert alice.role == Role.REVIEWER
    assert [t.slug for t in alice.teams.all()] == ["fraud-ops"]
    assert alice.email == "alice@idp.test"
    assert not alice.has_usable_password()
    login = AuditEvent.objects.get(action="auth.sso_login", actor=alice)
    assert login.changes == {
        "issuer": idp.issuer,
        "subject": subject,
        "groups": ["fraud-reviewers"],
        "role": "reviewer",
        "teams": ["fraud-ops"],
    }
    assert AuditEvent.objects.filter(action="user.created", target_id=str(alice.pk)).exists()
    assert AuditEvent.objects.filter(action="auth.login", actor=alice).exists()


def test_sso_second_login_with_changed_groups_changes_role_and_team(idp, live_server, sso_settings):
    """When the IdP groups change, the next SSO login changes role and team, audited."""
    sso_settings(idp)
    idp.user("bruno", "fraud-reviewers")
    sso_login(live_server.url, idp, "bruno")
    bruno = User.objects.get(username="bruno")
    assert bruno.role == Role.REVIEWER

    idp.user("bruno", "claims-leads", "fraud-reviewers")
    browser, _landed = sso_login(live_server.url, idp, "bruno")

    assert signed_in(browser, live_server.url)
    bruno.refresh_from_db()
    assert bruno.role == Role.LEAD
    assert sorted(t.slug for t in bruno.teams.all()) == ["claims", "fraud-ops"]
    role_change = AuditEvent.objects.get(action="user.role_changed", target_id=str(bruno.pk))
    assert role_change.changes == {"role": ["reviewer", "lead"]}
    added = AuditEvent.objects.get(action="membership.added", target_id=str(bruno.pk))
    assert added.changes == {"team": "claims", "via": "sso"}
    assert AuditEvent.objects.filter(action="auth.sso_login", actor=bruno).count() == 2

    idp.user("bruno", "risk-auditors")
    sso_login(live_server.url, idp, "bruno")
    bruno.refresh_from_db()
    assert bruno.role == Role.AUDITOR
    assert list(bruno.teams.all()) == []
    assert (
        AuditEvent.objects.filter(action="membership.removed", target_id=str(bruno.pk)).count() == 2
    )


def test_sso_user_with_unmapped_groups_is_refused(idp, live_server, sso_settings):
    """A person none of whose IdP groups is mapped is not signed in, and that is audited."""
    sso_settings(idp)
    subject = idp.user("mallory", "marketing")

    browser, landed = sso_login(live_server.url, idp, "mallory")

    assert landed.url == f"{live_server.url}{reverse('login')}"
    assert REFUSED_MESSAGE in landed.text
    assert not signed_in(browser, live_server.url)
    assert not User.objects.filter(username="mallory").exists()
    refused = AuditEvent.objects.get(action="auth.sso_refused")
    assert refused.target_id == "mallory"
    assert refused.changes == {
        "issuer": idp.issuer,
        "subject": subject,
        "reason": "no mapped group",
        "groups": ["marketing"],
    }
    assert not AuditEvent.objects.filter(action__in=["auth.sso_login", "auth.login"]).exists()


def test_sso_id_token_from_another_issuer_is_refused(idp, live_server, sso_settings, settings):
    """An ID token whose issuer is not OIDC_OP_ISSUER signs nobody in; the failure is audited."""
    sso_settings(idp)
    settings.OIDC_OP_ISSUER = "https://idp.elsewhere.example/o"
    idp.user("eve", "fraud-reviewers")

    browser, landed = sso_login(live_server.url, idp, "eve")

    assert landed.url == f"{live_server.url}{reverse('login')}"
    assert not signed_in(browser, live_server.url)
    assert not User.objects.filter(username="eve").exists()
    failed = AuditEvent.objects.get(action="auth.sso_failed")
    assert failed.changes == {"issuer": "", "reason": "SuspiciousOperation"}


@pytest.mark.django_db
def test_sso_is_off_by_default(client):
    """Without OIDC settings the login page has no SSO button and /oidc/ answers 404."""
    page = client.get(reverse("login"))

    assert page.status_code == 200
    assert b"sso-login" not in page.content
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


@pytest.mark.django_db
def test_login_page_shows_sso_button_without_inline_script(client, sso_settings):
    """With SSO on the login page links to /oidc/authenticate/, keeping the strict CSP."""
    sso_settings()

    page = client.get(reverse("login") + "?next=/queues/")

    html = page.content.decode()
    assert 'href="/oidc/authenticate/?next=/queues/"' in html
    assert "Sign in with Test IdP" in html
    assert "<script>" not in html
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]


@pytest.mark.django_db
def test_sso_authenticate_redirects_to_the_idp_with_pkce(client, sso_settings):
    """/oidc/authenticate/ sends the browser to the IdP with state, nonce and a PKCE challenge."""
    sso_settings()

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:9/o/authorize/?")
    for part in ("response_type=code", f"client_id={CLIENT_ID}", "state=", "nonce="):
        assert part in location
    assert "code_challenge_method=S256" in location


@pytest.mark.django_db
def test_sso_callback_with_unknown_state_is_refused_and_audited(client, sso_settings):
    """A callback the session did not start redirects to the login page, never a 500."""
    sso_settings()

    response = client.get("/oidc/callback/?code=forged&state=forged", follow=True)

    assert response.redirect_chain == [(reverse("login"), 302)]
    assert REFUSED_MESSAGE in response.content.decode()
    event = AuditEvent.objects.get(action="auth.sso_failed")
    assert event.changes == {"reason": "unknown state"}


@pytest.mark.django_db
def test_sso_callback_with_idp_error_is_refused_and_audited(client, sso_settings):
    """An error sent back by the IdP (for example access_denied) is audited with its code."""
    sso_settings()
    client.get("/oidc/authenticate/")
    state = next(iter(client.session["oidc_states"]))

    response = client.get(f"/oidc/callback/?error=access_denied&state={state}")

    assert response.headers["Location"] == reverse("login")
    assert AuditEvent.objects.get(action="auth.sso_failed").changes == {"reason": "access_denied"}
    assert client.session["oidc_states"] == {}


@pytest.mark.django_db
def test_local_login_is_break_glass_only_when_sso_is_on(client, sso_settings):
    """With SSO on only REVIEWAPP_LOCAL_LOGIN_ROLES (admin) may sign in with a password."""
    reviewer = make_user(Role.REVIEWER)
    admin = make_user(Role.ADMIN)
    credentials = {"password": PASSWORD}
    assert (
        client.post(reverse("login"), {"username": reviewer.username, **credentials}).status_code
        == 302
    )
    client.logout()
    sso_settings()

    refused = client.post(reverse("login"), {"username": reviewer.username, **credentials})
    allowed = client.post(reverse("login"), {"username": admin.username, **credentials})

    assert refused.status_code == 200
    assert allowed.status_code == 302
    assert client.session["_auth_user_id"] == str(admin.pk)


@pytest.mark.django_db
def test_sso_never_takes_over_a_local_account(sso_settings):
    """An IdP username equal to a local account with a password is refused, nothing changed."""
    sso_settings()
    admin = make_user(Role.ADMIN, username="root")
    claims = {"sub": "7", "preferred_username": "root", "groups": ["fraud-reviewers"]}

    with pytest.raises(SSORefusedError, match="local account"):
        sso_user_sync(issuer="http://idp/o", subject="7", claims=claims)

    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    assert not AuditEvent.objects.filter(action="auth.sso_login").exists()


@pytest.mark.django_db
def test_sso_refuses_a_deactivated_user(sso_settings):
    """A person deactivated in reviewapp stays out even when the IdP vouches for them."""
    sso_settings()
    claims = {"sub": "8", "preferred_username": "dora", "groups": ["fraud-reviewers"]}
    dora = sso_user_sync(issuer="http://idp/o", subject="8", claims=claims)
    User.objects.filter(pk=dora.pk).update(is_active=False)

    with pytest.raises(SSORefusedError, match="deactivated"):
        sso_user_sync(issuer="http://idp/o", subject="8", claims=claims)


def test_sso_access_first_map_entry_gives_role_every_entry_a_team():
    """Several mapped groups: the map's order picks the role, teams are the union."""
    group_map = group_map_parse(GROUP_MAP)

    access = sso_access_resolve(
        groups=["risk-auditors", "fraud-reviewers", "claims-leads"], group_map=group_map
    )

    assert access is not None
    assert access.role == Role.LEAD
    assert access.teams == ("claims", "fraud-ops")
    assert access.groups == ("claims-leads", "fraud-reviewers", "risk-auditors")
    assert sso_access_resolve(groups=["other"], group_map=group_map) is None
    assert group_map["risk-auditors"] == GroupGrant(role="auditor", team="")


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"g": "reviewer"},
        {"g": {"role": "superuser"}},
        {"g": {"role": "service_account"}},
        {"g": {"role": "reviewer", "team": "not a slug"}},
        {"g": {"role": "reviewer", "teams": ["x"]}},
    ],
)
def test_group_map_parse_rejects_malformed_maps(raw):
    """A malformed REVIEWAPP_OIDC_GROUP_MAP is named, not half-applied."""
    with pytest.raises(GroupMapError):
        group_map_parse(raw)
