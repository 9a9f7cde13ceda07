"""The client address behind proxies (REVIEWAPP_TRUSTED_PROXIES) as lockout, rate limits and
the audit read it, and the request id: the server's own, with the client's kept apart."""

import uuid

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from reviewapp.middleware import TrustedProxies, _resolve, trusted_proxies_parse
from reviewapp.models import AuditEvent
from tests.factories import PASSWORD, case_payload

LOGIN = "/accounts/login/"
PROXY = "10.0.0.2"
CLIENT_A = "203.0.113.5"
CLIENT_B = "198.51.100.7"
NETS = trusted_proxies_parse("10.0.0.0/8, 192.168.1.10")


@pytest.mark.parametrize(
    ("remote", "forwarded", "proxies", "client"),
    [
        ("192.0.2.1", "", TrustedProxies(), "192.0.2.1"),
        ("192.0.2.1", "203.0.113.5", TrustedProxies(), "192.0.2.1"),  # no proxy trusted
        ("192.0.2.1", "203.0.113.5", NETS, "192.0.2.1"),  # the peer is not a proxy
        ("10.0.0.2", "203.0.113.5", NETS, "203.0.113.5"),
        ("10.0.0.2", "6.6.6.6, 203.0.113.5", NETS, "203.0.113.5"),  # spoofed left entry
        ("10.0.0.2", "203.0.113.5, 192.168.1.10", NETS, "203.0.113.5"),  # two trusted hops
        ("10.0.0.2", "10.1.1.1, 10.0.0.9", NETS, "10.1.1.1"),  # all trusted: the leftmost
        ("10.0.0.2", "not-an-ip, 10.0.0.9", NETS, "10.0.0.9"),  # garbage: the last good hop
        ("10.0.0.2", "203.0.113.5:4711", NETS, "203.0.113.5"),
        ("10.0.0.2", "[2001:db8::7]:443", NETS, "2001:db8::7"),
        ("10.0.0.2", "", NETS, "10.0.0.2"),
        ("::ffff:10.0.0.2", "203.0.113.5", NETS, "203.0.113.5"),
        ("192.0.2.1", "6.6.6.6, 203.0.113.5", TrustedProxies(hops=1), "203.0.113.5"),
        ("192.0.2.1", "6.6.6.6, 203.0.113.5, 10.9.9.9", TrustedProxies(hops=2), "203.0.113.5"),
        ("192.0.2.1", "203.0.113.5", TrustedProxies(hops=3), "203.0.113.5"),
        ("", "203.0.113.5", NETS, None),
    ],
)
def test_resolve_believes_only_trusted_proxies(remote, forwarded, proxies, client):
    """X-Forwarded-For counts only from a trusted peer, read from the right."""
    assert _resolve(remote, forwarded, proxies) == client


def test_trusted_proxies_setting_forms():
    """A hop count, a list or a comma-separated string of networks; junk is an error."""
    assert trusted_proxies_parse("2") == TrustedProxies(hops=2)
    assert trusted_proxies_parse(1) == TrustedProxies(hops=1)
    assert trusted_proxies_parse("") == TrustedProxies()
    assert not trusted_proxies_parse("")
    assert len(trusted_proxies_parse(("10.0.0.0/8", "fd00::/8")).networks) == 2
    with pytest.raises(ImproperlyConfigured):
        trusted_proxies_parse("10.0.0.0/8, proxy.example")


def _login(client, username, password, client_ip=None):
    extra = {"HTTP_X_FORWARDED_FOR": client_ip} if client_ip else {}
    return client.post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=PROXY, **extra
    )


@pytest.mark.django_db
def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(client, reviewer):
    """Untrusted X-Forwarded-For changes nothing: the failures all count against the peer, so
    a new header value does not escape the lockout, and the audit records the peer."""
    statuses = [_login(client, reviewer.username, "wrong", f"192.0.2.{i}") for i in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 200, 429]  # axes locks at 5
    assert _login(client, reviewer.username, PASSWORD, CLIENT_B).status_code == 429
    ips = set(AuditEvent.objects.filter(action="auth.login_failed").values_list("ip", flat=True))
    assert ips == {PROXY}
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {PROXY}


@pytest.mark.django_db
@override_settings(REVIEWAPP_TRUSTED_PROXIES="10.0.0.0/8")
def test_behind_a_trusted_proxy_one_client_does_not_lock_out_another(client, reviewer):
    """Five wrong passwords from client A lock A out, not client B behind the same proxy; the
    audit and axes record A's address."""
    statuses = [_login(client, reviewer.username, "wrong", CLIENT_A) for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 200, 429]  # axes locks at 5
    assert _login(client, reviewer.username, PASSWORD, CLIENT_A).status_code == 429
    assert _login(client, reviewer.username, PASSWORD, CLIENT_B).status_code == 302
    failed = AuditEvent.objects.filter(action="auth.login_failed")
    assert set(failed.values_list("ip", flat=True)) == {CLIENT_A}
    assert AuditEvent.objects.get(action="auth.login").ip == CLIENT_B
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT_A}


@pytest.mark.django_db
@override_settings(REVIEWAPP_TRUSTED_PROXIES="1", REVIEWAPP_RATE_LOGIN_IP="2/minute")
def test_the_login_rate_limit_counts_the_resolved_address(client):
    """Per-address sign-in limits count the forwarded client, not the proxy."""
    assert [_login(client, f"u{i}", "x", CLIENT_A).status_code for i in range(3)] == [200, 200, 429]
    assert _login(client, "u9", "x", CLIENT_B).status_code == 200


@pytest.mark.django_db
def test_request_id_is_the_servers_and_the_clients_is_kept_apart(sa_client):
    """A client's X-Request-ID never becomes the request id; it is stored beside it."""
    response = sa_client.post(
        "/api/v1/cases", case_payload(), format="json", HTTP_X_REQUEST_ID="caller-7"
    )
    assert response.status_code == 201
    server_id = response["X-Request-ID"]
    assert server_id != "caller-7"
    assert uuid.UUID(hex=server_id).version == 4
    event = AuditEvent.objects.get(action="case.submitted")
    assert event.request_id == server_id
    assert event.changes["client_request_id"] == "caller-7"


@pytest.mark.django_db
def test_unprintable_client_request_id_is_dropped(sa_client):
    """A client id with control characters is not stored; each request gets a new id."""
    first = sa_client.post(
        "/api/v1/cases", case_payload(), format="json", HTTP_X_REQUEST_ID="bad\x07id"
    )
    second = sa_client.post("/api/v1/cases", case_payload(), format="json")
    assert first["X-Request-ID"] != second["X-Request-ID"]
    events = AuditEvent.objects.filter(action="case.submitted")
    assert all("client_request_id" not in e.changes for e in events)
    assert events.count() == 2
