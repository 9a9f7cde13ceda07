"""Every URL pattern (pages and API), requested as every role: anonymous, each role of the
model's team, a service account of this model and one of another model. The outcome of each
request is compared with the table below; a URL pattern with no row fails the test, so a new
page or endpoint cannot ship without deciding who may use it.

Outcomes: ``ok`` (the gate let the request through: 2xx, 3xx, or a 400/409 about the request
itself), ``403`` (the role may not), ``404`` (the object is hidden), ``login`` (anonymous: a
redirect to the login page, or 401 from the API).
"""

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.models import (
    Alert,
    Case,
    Role,
    Tripwire,
    TripwireKind,
    WebhookDelivery,
)
from reviewapp.services.accounts import token_create
from reviewapp.services.policies import policy_propose
from tests import factories

ROLES = ("anon", "reviewer", "lead", "manager", "owner", "auditor", "admin", "sa", "sa_other")
#                      anon   rev    lead   mgr    owner  audit  admin  sa     sa_other
OK, NO, HIDDEN, LOGIN = "ok", "403", "404", "login"


def row(*outcomes: str) -> dict[str, str]:
    assert len(outcomes) == len(ROLES)
    return dict(zip(ROLES, outcomes, strict=True))


EVERYONE = row(OK, OK, OK, OK, OK, OK, OK, OK, OK)
PEOPLE_PAGE = row(LOGIN, OK, OK, OK, OK, OK, OK, OK, OK)
REVIEWERS = row(LOGIN, OK, OK, NO, NO, NO, NO, NO, NO)
LEADS = row(LOGIN, NO, OK, NO, NO, NO, NO, NO, NO)
OVERVIEW = row(LOGIN, NO, OK, OK, NO, NO, NO, NO, NO)
DASHBOARDS = row(LOGIN, NO, NO, OK, OK, OK, NO, NO, NO)
REFRESHERS = row(LOGIN, NO, NO, OK, OK, NO, NO, NO, NO)
MODEL_PAGES = row(LOGIN, NO, NO, OK, OK, NO, NO, NO, NO)
OWNERS = row(LOGIN, NO, NO, NO, OK, NO, NO, NO, NO)
MANAGERS = row(LOGIN, NO, NO, OK, NO, NO, NO, NO, NO)
HEALTH_MANAGERS = row(LOGIN, NO, NO, OK, OK, NO, NO, NO, NO)
HALTERS = row(LOGIN, NO, NO, OK, OK, NO, NO, NO, NO)  # suspend automation, retire, roll back
AUDITORS = row(LOGIN, NO, NO, NO, NO, OK, NO, NO, NO)
CASE_READERS = row(LOGIN, OK, OK, OK, OK, OK, NO, OK, HIDDEN)
SUBMITTERS = row(LOGIN, NO, NO, NO, NO, NO, NO, OK, OK)
FEED_READERS = row(LOGIN, OK, OK, OK, OK, OK, NO, OK, HIDDEN)
API_REVIEWERS = row(LOGIN, OK, OK, NO, NO, NO, NO, NO, NO)
API_LEADS = row(LOGIN, NO, OK, NO, NO, NO, NO, NO, NO)
API_DASHBOARDS = row(LOGIN, NO, NO, OK, OK, OK, NO, NO, NO)

# url name -> (method, path template, outcomes). {slug}, {case}, {policy}, {tripwire},
# {alert} and {delivery} are filled with rows of the model under test.
TABLE: dict[str, tuple[str, str, dict[str, str]]] = {
    "login": ("GET", "/accounts/login/", EVERYONE),
    # Signing out lands everyone on the sign-in page.
    "logout": ("POST", "/accounts/logout/", row(*[LOGIN] * 9)),
    # Single sign-on (reviewapp/sso.py) is off here: its entry points answer 404 to everyone.
    "oidc_authentication_init": ("GET", "/oidc/authenticate/", row(*[HIDDEN] * 9)),
    "oidc_authentication_callback": ("GET", "/oidc/callback/", row(*[HIDDEN] * 9)),
    "oidc_logout": ("POST", "/oidc/logout/", row(*[LOGIN] * 9)),
    "healthz": ("GET", "/healthz", EVERYONE),
    "readyz": ("GET", "/readyz", EVERYONE),
    # Prometheus: the test client is a loopback peer and no token is set, so everyone is
    # answered here; tests/test_metrics_endpoint.py checks the token and loopback rules.
    "metrics": ("GET", "/metrics", EVERYONE),
    # The API's documentation is public: it describes the contract, not anyone's data.
    "api-schema": ("GET", "/api/schema/", EVERYONE),
    "api-docs": ("GET", "/api/docs/", EVERYONE),
    "api-cases": ("POST", "/api/v1/cases", SUBMITTERS),
    "api-cases-batch": ("POST", "/api/v1/cases/batch", SUBMITTERS),
    "api-case-detail": ("GET", "/api/v1/cases/{case}", CASE_READERS),
    "api-queue-claim": ("POST", "/api/v1/queues/{slug}/claim", API_REVIEWERS),
    "api-case-decide": ("POST", "/api/v1/cases/{case}/decision", API_REVIEWERS),
    "api-case-release": ("POST", "/api/v1/cases/{case}/release", API_REVIEWERS),
    "api-case-escalate": ("POST", "/api/v1/cases/{case}/escalate", API_REVIEWERS),
    "api-case-renew": ("POST", "/api/v1/cases/{case}/renew", API_REVIEWERS),
    # Skip and undo: reviewers of the team reach the service, which answers 409 (no claim on
    # the waiting case, no decision of theirs to undo).
    "api-case-skip": ("POST", "/api/v1/cases/{case}/skip", API_REVIEWERS),
    "api-case-undo": ("POST", "/api/v1/cases/{case}/undo", API_REVIEWERS),
    "api-case-reassign": ("POST", "/api/v1/cases/{case}/reassign", API_LEADS),
    "api-case-reopen": ("POST", "/api/v1/cases/{case}/reopen", API_LEADS),
    # Comments: people of the team who review or read case records; auditors read only.
    "api-case-comment-add": (
        "POST",
        "/api/v1/cases/{case}/comments",
        row(LOGIN, OK, OK, OK, OK, NO, NO, NO, NO),
    ),
    "api-decisions": ("GET", "/api/v1/decisions?model={slug}", FEED_READERS),
    "api-metrics-adoption": ("GET", "/api/v1/metrics/adoption?model={slug}", API_DASHBOARDS),
    "api-export-labels": ("GET", "/api/v1/export/labels?model={slug}", API_DASHBOARDS),
    # Outcomes: each service account reports for its own model (the other's ids are unknown).
    "api-outcomes": ("POST", "/api/v1/outcomes", SUBMITTERS),
    "api-metrics-quality": ("GET", "/api/v1/metrics/quality?model={slug}", API_DASHBOARDS),
    "api-model-documentation": (
        "GET",
        "/api/v1/models/{slug}/versions/{version_name}/documentation",
        CASE_READERS,
    ),
    "home": ("GET", "/", PEOPLE_PAGE),
    "review-home": ("GET", "/review/", REVIEWERS),
    "review-claim-next": ("POST", "/review/models/{slug}/next/", REVIEWERS),
    # The case page is the claimant's: anyone else who may review gets "not yours" (404).
    "review-case": ("GET", "/review/case/{case}/", row(LOGIN, HIDDEN, HIDDEN, *[NO] * 6)),
    "review-decide": ("POST", "/review/case/{case}/decide/", REVIEWERS),
    "review-release": (
        "POST",
        "/review/case/{case}/release/",
        row(LOGIN, HIDDEN, HIDDEN, *[NO] * 6),
    ),
    # Skip is the claimant's, like release; undo answers 409 without a decision to undo.
    "review-skip": ("POST", "/review/case/{case}/skip/", row(LOGIN, HIDDEN, HIDDEN, *[NO] * 6)),
    "review-undo": ("POST", "/review/case/{case}/undo/", REVIEWERS),
    "review-escalate": ("POST", "/review/case/{case}/escalate/", REVIEWERS),
    "review-renew": ("POST", "/review/case/{case}/renew/", REVIEWERS),
    "my-decisions": ("GET", "/review/history/", REVIEWERS),
    "my-stats": ("GET", "/review/stats/", REVIEWERS),
    # The read-only case page: roles that read any case of their teams (auditors: every
    # case); a reviewer only the cases they decided (this one is not: hidden).
    "case-detail": ("GET", "/cases/{case}/", row(LOGIN, HIDDEN, OK, OK, OK, OK, NO, NO, NO)),
    "case-reopen": ("POST", "/cases/{case}/reopen/", LEADS),
    # Revealing a masked personal-data field: managers and owners of the team, auditors (an
    # empty form is a 400 from the service: the gate let it through).
    "case-pii-reveal": (
        "POST",
        "/cases/{case}/reveal/",
        row(LOGIN, NO, NO, OK, OK, OK, NO, NO, NO),
    ),
    # Comments: people of the team who review or read case records; auditors read only.
    "case-comment-add": (
        "POST",
        "/cases/{case}/comments/",
        row(LOGIN, OK, OK, OK, OK, NO, NO, NO, NO),
    ),
    "queue-overview": ("GET", "/queues/", OVERVIEW),
    "queue-claim-release": ("POST", "/queues/cases/{case}/release", LEADS),
    "queue-claim-reassign": ("POST", "/queues/cases/{case}/reassign", LEADS),
    "dashboard-health": ("GET", "/dashboards/health/?model={slug}", DASHBOARDS),
    "health-baseline-create": ("POST", "/dashboards/health/{slug}/baseline/", OWNERS),
    "health-tripwire-create": ("POST", "/dashboards/health/{slug}/tripwires/", HEALTH_MANAGERS),
    "health-tripwire-disable": (
        "POST",
        "/dashboards/health/{slug}/tripwires/{tripwire}/disable/",
        HEALTH_MANAGERS,
    ),
    "health-alert-resolve": (
        "POST",
        "/dashboards/health/{slug}/alerts/{alert}/resolve/",
        HEALTH_MANAGERS,
    ),
    "health-threshold-propose": ("POST", "/dashboards/health/{slug}/propose/", OWNERS),
    "dashboard-adoption": ("GET", "/dashboards/?model={slug}", DASHBOARDS),
    "dashboard-adoption-csv": ("GET", "/dashboards/adoption.csv?model={slug}", DASHBOARDS),
    "dashboard-adoption-refresh": ("POST", "/dashboards/refresh", REFRESHERS),
    "model-list": ("GET", "/models/", MODEL_PAGES),
    "model-detail": ("GET", "/models/{slug}/", MODEL_PAGES),
    "model-deliveries": ("GET", "/models/{slug}/deliveries", MODEL_PAGES),
    # A proposal: owners propose; the proposer's own proposal only another manager decides.
    "model-policy-propose": ("POST", "/models/{slug}/policy/propose", OWNERS),
    "model-policy-decide": ("POST", "/models/{slug}/policy/{policy}/decide", MANAGERS),
    # Guidelines: the model's owners write them (every save a new version).
    "model-guidelines": ("POST", "/models/{slug}/guidelines", OWNERS),
    "model-webhook": ("POST", "/models/{slug}/webhook", OWNERS),
    # Owner-level settings (segment fields): the model's owners.
    "model-settings": ("POST", "/models/{slug}/settings", OWNERS),
    "model-delivery-resend": ("POST", "/models/{slug}/deliveries/{delivery}/resend", OWNERS),
    # Versions: owners propose activation, another manager decides; owners and managers
    # retire, roll back and suspend at once; lifting a suspension: one proposes, a manager
    # decides.
    "model-version-propose": ("POST", "/models/{slug}/versions/{version}/propose", OWNERS),
    "model-version-decide": ("POST", "/models/{slug}/versions/{version}/decide", MANAGERS),
    "model-version-retire": ("POST", "/models/{slug}/versions/{version}/retire", HALTERS),
    "model-version-rollback": ("POST", "/models/{slug}/versions/{version}/rollback", HALTERS),
    "model-automation-suspend": ("POST", "/models/{slug}/automation/suspend", HALTERS),
    # Documentation of a version: whoever reads the model's cases reads it (reviewers from
    # the case page); owners save it with a POST to the same URL (tests/views).
    "model-documentation": (
        "GET",
        "/models/{slug}/versions/{version_name}/documentation",
        CASE_READERS,
    ),
    # Go-live evidence (shadow mode): the model page's readers.
    "model-golive": ("GET", "/models/{slug}/go-live", MODEL_PAGES),
    "model-automation-resume": ("POST", "/models/{slug}/automation/resume", HALTERS),
    "model-automation-resume-decide": (
        "POST",
        "/models/{slug}/automation/resume/decide",
        MANAGERS,
    ),
    "audit-log": ("GET", "/audit/", AUDITORS),
    "audit-export": ("GET", "/audit/export/", AUDITORS),
    "audit-verify": ("POST", "/audit/verify/", AUDITORS),
    "system": ("GET", "/system/", row(LOGIN, NO, NO, NO, NO, OK, OK, NO, NO)),
}
# The Django admin is its own gate (admins only), checked separately below.
EXCLUDED_PREFIXES = ("admin/",)


def _url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if not route.startswith(EXCLUDED_PREFIXES):
                    walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                names.add(pattern.name or route)

    walk(get_resolver().url_patterns)
    return names


def test_every_url_pattern_has_a_row():
    """A URL pattern with no row in TABLE fails here (and a row without a pattern too)."""
    names = _url_names()
    assert names - set(TABLE) == set(), "URL patterns without a row in TABLE"
    assert set(TABLE) - names == set(), "rows in TABLE for URL patterns that are gone"


@pytest.fixture
def world(db):
    """A model with a waiting case and one of each object the URLs name; a person of each
    role in the model's team (auditor and admin have no team); two service accounts."""
    team = factories.make_team("home")
    ml_model = factories.make_model(team=team, slug="home-model")
    other = factories.make_model(team=factories.make_team("away"), slug="away-model")
    people = {
        "reviewer": factories.make_user(Role.REVIEWER, team=team),
        "lead": factories.make_user(Role.LEAD, team=team),
        "manager": factories.make_user(Role.MANAGER, team=team),
        "owner": factories.make_user(Role.MODEL_OWNER, team=team),
        "auditor": factories.make_user(Role.AUDITOR),
        "admin": factories.make_user(Role.ADMIN),
        "sa": factories.make_service_account(ml_model)[0],
        "sa_other": factories.make_service_account(other)[0],
    }
    (case_id,) = factories.make_cases(ml_model, 1, submitted_by=people["sa"])
    policy = policy_propose(
        ml_model=ml_model, proposer=people["owner"], changes={"review_threshold": 0.9}
    )
    tripwire = Tripwire.objects.create(
        ml_model=ml_model, kind=TripwireKind.ACCURACY_DROP, threshold=0.5, window_days=7
    )
    alert = Alert.objects.create(
        ml_model=ml_model, tripwire=tripwire, kind=tripwire.kind, message="accuracy fell", value=0.4
    )
    delivery = WebhookDelivery.objects.create(
        ml_model=ml_model,
        event="case.decided",
        payload={},
        url="http://example.invalid/hook",
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    ids = {
        "slug": ml_model.slug,
        "case": case_id,
        "policy": policy.pk,
        "tripwire": tripwire.pk,
        "alert": alert.pk,
        "delivery": delivery.pk,
        "version": Case.objects.get(pk=case_id).model_version_id,
        "version_name": Case.objects.get(pk=case_id).model_version.version,
    }
    return people, ids


def _client(role: str, people: dict, *, api: bool) -> APIClient:
    client = APIClient()
    if role == "anon":
        return client
    user = people[role]
    if api:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)[1]}")
    else:
        client.force_login(user)
    return client


def _outcome(response, *, api: bool) -> str:
    status = response.status_code
    if status == 401 or (
        status == 302 and "/accounts/login/" in response.get("Location", "") and not api
    ):
        return LOGIN
    if status in (403, 404):
        return str(status)
    assert status < 500, f"server error {status}"
    return OK


CELLS = [(name, role) for name in sorted(TABLE) for role in ROLES]


@pytest.mark.parametrize(("name", "role"), CELLS)
def test_endpoint_as_role(world, name, role):
    """One URL pattern requested as one role gives the outcome in TABLE."""
    people, ids = world
    method, template, expected = TABLE[name]
    path = template.format(**ids)
    api = path.startswith("/api/")
    client = _client(role, people, api=api)
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, {}, format="json" if api else None)
    assert _outcome(response, api=api) == expected[role], (
        f"{method} {path} as {role}: {response.status_code}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_django_admin_is_for_admins_only(world, role):
    """The Django admin index answers only admins; everyone else is sent to its login."""
    people, _ = world
    response = _client(role, people, api=False).get("/admin/")
    if role == "admin":
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
