"""Rate limits: submits per service account (requests, burst, cases), review actions per
person, failed sign-ins per address, the batch body limit; 429 with Retry-After and the error
body; refusals and failed tokens audited once per minute; failing open when Redis dies."""

import shutil
import socket
import subprocess
import time

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse

from reviewapp.api import review
from reviewapp.api.throttling import REVIEW_ROUTES, SUBMIT_ROUTES
from reviewapp.models import AuditEvent, Case
from reviewapp.services import ratelimit
from reviewapp.services.accounts import token_create
from reviewapp.services.ratelimit import Rate, rate_limit_fail_open_total, rate_parse
from tests.conftest import IN_CI, bearer_client
from tests.factories import PASSWORD, case_payload, make_cases, make_model, make_service_account

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/cases"
BATCH = "/api/v1/cases/batch"
T0 = 1_800_000_000 // 600 * 600 + 5.0  # 5 s into a minute and into a 10-minute window


@pytest.fixture
def clock(monkeypatch):
    """The limits' clock, frozen at T0; ``clock.now = …`` moves it."""

    class Clock:
        now = T0

    monkeypatch.setattr(ratelimit, "time_now", lambda: Clock.now)
    return Clock


def _assert_429(response, *, max_wait: int) -> dict:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "throttled"
    wait = error["details"]["retry_after_s"]
    assert isinstance(wait, int)
    assert 1 <= wait <= max_wait
    assert response["Retry-After"] == str(wait)
    return error


def _claim(client, slug="fraud-screening"):
    return client.post(f"/api/v1/queues/{slug}/claim", format="json")


# --- rates and routes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("600/minute", Rate(600, 60, "600/minute")),
        ("30/10minute", Rate(30, 600, "30/10minute")),
        ("100/second", Rate(100, 1, "100/second")),
        ("5000/hours", Rate(5000, 3600, "5000/hours")),
        ("7/2d", Rate(7, 172800, "7/2d")),
        ("off", None),
        ("", None),
    ],
)
def test_rate_parse_reads_the_forms_of_the_settings(text, rate):
    """N/period with an optional period multiplier; off or empty is no limit."""
    assert rate_parse(text) == rate


@pytest.mark.parametrize("text", ["600", "600/fortnight", "-1/minute", "0/minute", "x/minute"])
def test_rate_parse_refuses_what_it_cannot_read(text):
    """A malformed rate is a configuration error, not a silent no-limit."""
    with pytest.raises(ImproperlyConfigured):
        rate_parse(text)


def test_every_submit_and_review_route_is_limited():
    """Each route of the review API is in the review table; the submit names resolve."""
    assert {p.name for p in review.urlpatterns} <= REVIEW_ROUTES
    assert {reverse(name) for name in SUBMIT_ROUTES} == {SUBMIT, BATCH}


def test_suite_settings_are_generous_and_body_limit_is_a_few_mib():
    """Tests are not throttled by default; the batch body limit is 4 MiB and Django's follows."""
    assert rate_parse(settings.REVIEWAPP_RATE_SUBMIT_REQUESTS).limit >= 100_000
    assert settings.REVIEWAPP_MAX_BATCH_BYTES == 4 * 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.REVIEWAPP_MAX_BATCH_BYTES


def test_batch_body_over_the_limit_is_413(sa_client):
    """A batch body over REVIEWAPP_MAX_BATCH_BYTES is refused with 413, nothing stored."""
    item = case_payload(input={"blob": "x" * 9000})
    body = {"cases": [dict(item, external_id=f"big-{i}") for i in range(500)]}  # ~4.6 MB
    response = sa_client.post(BATCH, body, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert Case.objects.count() == 0


# --- submits per service account --------------------------------------------------------------


@override_settings(REVIEWAPP_RATE_SUBMIT_REQUESTS="3/minute")
def test_submit_requests_over_the_rate_answer_429(sa_client, clock):
    """The 4th submit in a minute is 429 with Retry-After and the error body; nothing stored."""
    statuses = [sa_client.post(SUBMIT, case_payload(), format="json").status_code for _ in "abc"]
    assert statuses == [201, 201, 201]
    error = _assert_429(sa_client.post(SUBMIT, case_payload(), format="json"), max_wait=55)
    assert "3/minute" in error["message"]
    assert Case.objects.count() == 3
    clock.now = T0 + 60
    assert sa_client.post(SUBMIT, case_payload(), format="json").status_code == 201


@override_settings(REVIEWAPP_RATE_SUBMIT_BURST="2/second")
def test_submit_burst_is_limited_per_second(sa_client, clock):
    """Past the burst the next request waits for the next second."""
    assert sa_client.post(SUBMIT, case_payload(), format="json").status_code == 201
    assert sa_client.post(BATCH, [case_payload()], format="json").status_code == 200
    _assert_429(sa_client.post(SUBMIT, case_payload(), format="json"), max_wait=1)
    clock.now = T0 + 1
    assert sa_client.post(SUBMIT, case_payload(), format="json").status_code == 201


@override_settings(REVIEWAPP_RATE_SUBMIT_CASES="10/minute")
def test_a_batch_counts_each_of_its_cases(sa_client, clock):
    """Cases per minute: a batch of N costs N; a refused batch costs nothing."""
    assert (
        sa_client.post(BATCH, [case_payload() for _ in range(6)], format="json").status_code == 200
    )
    refused = sa_client.post(BATCH, {"cases": [case_payload() for _ in range(6)]}, format="json")
    _assert_429(refused, max_wait=55)
    assert Case.objects.count() == 6
    assert (
        sa_client.post(BATCH, [case_payload() for _ in range(4)], format="json").status_code == 200
    )
    _assert_429(sa_client.post(SUBMIT, case_payload(), format="json"), max_wait=55)
    assert Case.objects.count() == 10


@override_settings(REVIEWAPP_RATE_SUBMIT_CASES="10/minute")
def test_a_batch_larger_than_the_case_limit_says_so(sa_client, clock):
    """A batch that could never pass names the problem: send smaller batches."""
    response = sa_client.post(BATCH, [case_payload() for _ in range(11)], format="json")
    assert "send smaller batches" in _assert_429(response, max_wait=55)["message"]


@override_settings(REVIEWAPP_RATE_SUBMIT_REQUESTS="2/minute")
def test_submit_limits_are_per_service_account(sa_client, team, clock):
    """One service account's use does not limit another's."""
    for _ in range(2):
        sa_client.post(SUBMIT, case_payload(), format="json")
    _assert_429(sa_client.post(SUBMIT, case_payload(), format="json"), max_wait=55)
    other = bearer_client(make_service_account(make_model(team=team))[1])
    assert other.post(SUBMIT, case_payload(), format="json").status_code == 201


# --- review actions per person ----------------------------------------------------------------


@override_settings(REVIEWAPP_RATE_REVIEW="3/minute")
def test_review_actions_are_limited_per_person(ml_model, reviewer, make_user, team, clock):
    """Claim, release and decide count against one budget per person; others are unaffected."""
    make_cases(ml_model, 3)
    rita = bearer_client(token_create(user=reviewer)[1])
    case_id = _claim(rita).json()["id"]
    assert rita.post(f"/api/v1/cases/{case_id}/release", format="json").status_code == 200
    case_id = _claim(rita).json()["id"]
    decide = rita.post(f"/api/v1/cases/{case_id}/decision", {"action": "accept"}, format="json")
    _assert_429(decide, max_wait=55)
    assert Case.objects.get(pk=case_id).status == "assigned"
    assert rita.get(f"/api/v1/cases/{case_id}").status_code == 200  # reads are not review actions
    other = bearer_client(token_create(user=make_user(team=team))[1])
    assert _claim(other).status_code == 200


@override_settings(REVIEWAPP_RATE_REVIEW="1/minute")
def test_review_pages_share_the_persons_budget(client, ml_model, reviewer, clock):
    """A review action on the pages after the API used the budget: a readable 429 page."""
    make_cases(ml_model, 2)
    assert _claim(bearer_client(token_create(user=reviewer)[1])).status_code == 200
    client.force_login(reviewer)
    response = client.post(reverse("review-claim-next", kwargs={"slug": ml_model.slug}))
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert "review limit" in response.content.decode()


# --- aggregated audit -------------------------------------------------------------------------


@override_settings(REVIEWAPP_RATE_SUBMIT_REQUESTS="1/minute")
def test_refusals_are_audited_once_per_minute_with_the_count(sa_client, service_account, clock):
    """Four refusals in one minute are one rate_limit.exceeded event with count 4."""
    sa_client.post(SUBMIT, case_payload(), format="json")
    for _ in range(4):
        assert sa_client.post(SUBMIT, case_payload(), format="json").status_code == 429
    assert not AuditEvent.objects.filter(action="rate_limit.exceeded").exists()
    clock.now = T0 + 60 + ratelimit.TALLY_GRACE_S
    assert sa_client.post(SUBMIT, case_payload(), format="json").status_code == 201
    [event] = AuditEvent.objects.filter(action="rate_limit.exceeded")
    assert event.actor == service_account[0]
    assert (event.target_type, event.target_id) == ("rate_limit", "submit_requests")
    assert event.changes["count"] == 4
    assert event.changes["rate"] == "1/minute"
    assert event.changes["setting"] == "REVIEWAPP_RATE_SUBMIT_REQUESTS"
    assert event.changes["subject"] == f"user:{service_account[0].pk}"
    assert event.ip == "127.0.0.1"


def test_failed_tokens_are_audited_per_address_and_minute_by_prefix(service_account, clock):
    """Three bad tokens from one address are one auth.token_failed event with count 3 and
    token prefixes only; another address has its own event."""
    tokens = [
        "rva_AAAAAAAAsecretpart-one-0123456789abcdef",
        "rva_BBBBBBBBsecretpart-two-0123456789abcdef",
        "short",
    ]
    for raw in tokens:
        response = bearer_client(raw).get("/api/v1/cases?external_id=x", REMOTE_ADDR="192.0.2.10")
        assert response.status_code == 401
    bearer_client("rva_CCCCCCCCother").get("/api/v1/cases?external_id=x", REMOTE_ADDR="192.0.2.11")
    assert not AuditEvent.objects.filter(action="auth.token_failed").exists()
    clock.now = T0 + 60 + ratelimit.TALLY_GRACE_S
    bearer_client(service_account[1]).get("/api/v1/cases?external_id=x")
    events = {e.ip: e for e in AuditEvent.objects.filter(action="auth.token_failed")}
    assert set(events) == {"192.0.2.10", "192.0.2.11"}
    first = events["192.0.2.10"]
    assert first.changes["count"] == 3
    assert first.changes["samples"] == ["rva_AAAAAAAA", "rva_BBBBBBBB", "s"]
    assert events["192.0.2.11"].changes["count"] == 1
    stored = str([e.changes for e in events.values()])
    assert not any(raw in stored for raw in [*tokens[:2], "rva_CCCCCCCCother"])
    assert "secretpart" not in stored


# --- failing open -----------------------------------------------------------------------------


@override_settings(REVIEWAPP_RATE_SUBMIT_REQUESTS="1/minute", REVIEWAPP_RATE_LIMIT_RETRY_S=30)
def test_store_errors_fail_open_with_a_warning(sa_client, monkeypatch, caplog, clock):
    """When the counter store raises, requests pass (not 500), a warning is logged once and
    the allowed checks are counted; the store is left alone during the back-off."""
    store = caches["ratelimit"]
    calls = []

    def broken(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("store down")

    monkeypatch.setattr(store, "add", broken)
    statuses = [sa_client.post(SUBMIT, case_payload(), format="json").status_code for _ in "abc"]
    assert statuses == [201, 201, 201]
    assert len(calls) == 1  # backed off after the first failure
    assert rate_limit_fail_open_total() >= 3
    warnings = [r for r in caplog.records if r.name == "reviewapp.ratelimit"]
    assert len(warnings) == 1
    assert "fail open" in warnings[0].getMessage()


# --- failed sign-ins per address (password spraying) ------------------------------------------


@override_settings(REVIEWAPP_RATE_LOGIN_IP="30/10minute")
def test_password_spraying_from_one_address_is_refused(client, reviewer, clock):
    """240 failed sign-ins for different usernames from one address: 30 are checked, the rest
    get a readable 429 page with Retry-After, audited as one event; other addresses sign in."""
    statuses = [
        client.post(
            "/accounts/login/",
            {"username": f"user-{i}", "password": "guess"},
            REMOTE_ADDR="198.51.100.9",
        ).status_code
        for i in range(240)
    ]
    assert statuses == [200] * 30 + [429] * 210
    refused = client.post(
        "/accounts/login/",
        {"username": reviewer.username, "password": PASSWORD},
        REMOTE_ADDR="198.51.100.9",
    )
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 600
    assert "Too many failed sign-ins from your network" in refused.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 30
    admin_login = client.post(
        "/admin/login/", {"username": "x", "password": "y"}, REMOTE_ADDR="198.51.100.9"
    )
    assert admin_login.status_code == 429
    ok = client.post(
        "/accounts/login/",
        {"username": reviewer.username, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.4",
    )
    assert ok.status_code == 302
    clock.now = T0 + 600
    client.get("/accounts/login/")
    [event] = AuditEvent.objects.filter(action="rate_limit.exceeded")
    assert (event.target_id, event.ip, event.changes["count"]) == ("login_ip", "198.51.100.9", 212)


# --- a real Redis that dies and comes back ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


@pytest.fixture
def own_redis():
    """A throwaway redis-server on a free loopback port (never the shared one on 6379)."""
    if not shutil.which("redis-server"):
        if IN_CI:
            pytest.fail("CI=true but redis-server is not installed")
        pytest.skip("needs the redis-server binary")
    port = _free_port()
    state = {"port": port, "process": _start_redis(port)}
    yield state
    state["process"].kill()
    state["process"].wait(timeout=10)


def test_limits_fail_open_when_redis_dies_and_apply_again_when_it_is_back(
    own_redis, ml_model, sa_client, reviewer, clock
):
    """Submits, claims and decisions pass while the limits' Redis is down (2xx, never 500),
    and the limits hold again once it is back."""
    port = own_redis["port"]
    redis_caches = {
        "default": settings.CACHES["default"],
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        },
    }
    rita = bearer_client(token_create(user=reviewer)[1])
    with override_settings(
        CACHES=redis_caches,
        REVIEWAPP_RATE_SUBMIT_REQUESTS="5/minute",
        REVIEWAPP_RATE_REVIEW="4/minute",
        REVIEWAPP_RATE_LIMIT_RETRY_S=0,
    ):

        def submit():
            return sa_client.post(SUBMIT, case_payload(), format="json").status_code

        def claim_and_decide():
            case_id = _claim(rita).json()["id"]
            decision = {"action": "accept"}
            url = f"/api/v1/cases/{case_id}/decision"
            return rita.post(url, decision, format="json").status_code

        assert [submit() for _ in range(2)] == [201, 201]
        assert claim_and_decide() == 200
        counters = redis.Redis(port=port).keys("*rl:submit_requests:*")
        assert len(counters) == 1  # the counts live in this Redis

        own_redis["process"].kill()
        own_redis["process"].wait(timeout=10)
        before = rate_limit_fail_open_total()
        assert [submit() for _ in range(6)] == [201] * 6  # past the limit of 5: not counted
        assert [claim_and_decide() for _ in range(3)] == [200] * 3  # 6 actions, limit 4
        assert rate_limit_fail_open_total() > before

        own_redis["process"] = _start_redis(port)  # empty: the counts start again
        assert [submit() for _ in range(6)] == [201] * 5 + [429]
        case_id = _claim(rita).json()["id"]
        assert rita.post(f"/api/v1/cases/{case_id}/release").status_code == 200
        assert [_claim(rita).status_code for _ in range(2)] == [200, 200]
        _assert_429(_claim(rita), max_wait=55)


def test_a_minute_counted_by_several_processes_is_written_once_with_the_total(clock):
    """The shared count is the event's; a second process's tally of that minute is dropped."""
    ratelimit.audit_tally(action="rate_limit.exceeded", subject="ip:192.0.2.50", ip="192.0.2.50")
    caches["ratelimit"].incr(f"rl:tally:rate_limit.exceeded:ip:192.0.2.50:{int(T0 // 60) * 60}", 2)
    assert ratelimit.audit_tally_flush(now=T0 + 30) == 0  # the minute is not over
    assert ratelimit.audit_tally_flush(now=T0 + 60) == 1
    [event] = AuditEvent.objects.filter(action="rate_limit.exceeded")
    assert (event.changes["count"], event.ip) == (3, "192.0.2.50")
    # Another process held a tally of the same minute: it finds the minute claimed.
    ratelimit.audit_tally(
        action="rate_limit.exceeded", subject="ip:192.0.2.50", ip="192.0.2.50", now=T0
    )
    assert ratelimit.audit_tally_flush(now=T0 + 60) == 0
    assert AuditEvent.objects.filter(action="rate_limit.exceeded").count() == 1
