"""The model-health page: who sees it, who may change what, and what it shows."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import (
    Alert,
    AuditEvent,
    DriftBaseline,
    PolicyStatus,
    Role,
    RoutingPolicy,
    Tripwire,
    TripwireKind,
)
from reviewapp.services.health import tripwire_create, tripwires_check
from reviewapp.services.rollups import rollups_refresh
from tests.factories import make_model, make_user
from tests.selectors.health_data import cases_at, decide

PAGE = reverse("dashboard-health")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(ml_model, **params):
    query = "&".join(f"{k}={v}" for k, v in {"model": ml_model.slug, **params}.items())
    return f"{PAGE}?{query}"


@pytest.fixture
def calibrated(ml_model, reviewer):
    """Decided cases with a known recommendation (0.80 at a 5% target)."""
    for confidence, overrides in ((0.52, 10), (0.62, 6), (0.77, 4), (0.82, 1), (0.92, 0)):
        decide(
            cases_at(ml_model, 20, confidence=confidence, model_version="2.3.0"),
            reviewer=reviewer,
            overrides=overrides,
            time_spent_ms=30_000,
        )
    return ml_model


def _change_posts(ml_model, tripwire, alert):
    slug = ml_model.slug
    today = timezone.now().date().isoformat()
    return [
        (
            reverse("health-baseline-create", args=[slug]),
            {"window_start": today, "window_end": today},
        ),
        (
            reverse("health-tripwire-create", args=[slug]),
            {"kind": "accuracy_drop", "threshold": "0.5"},
        ),
        (reverse("health-tripwire-disable", args=[slug, tripwire.pk]), {}),
        (reverse("health-alert-resolve", args=[slug, alert.pk]), {}),
        (reverse("health-threshold-propose", args=[slug]), {"threshold": "0.7"}),
    ]


def test_model_owner_sees_accuracy_drift_and_calibration(calibrated, model_owner):
    """The page shows accuracy with its interval, the charts and the recommendation."""
    response = _client(model_owner).get(_url(calibrated, target=5))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Live accuracy" in html
    assert "79%" in html  # 79 of 100 accepted
    assert html.count("<svg") >= 3  # accuracy per version, per label, reliability
    assert "Reliability curve" in html
    assert "Propose this threshold" in html
    assert 'name="threshold" value="0.8"' in html
    assert "Set baseline" in html  # owner's baseline picker
    assert "Add tripwire" in html


def test_page_query_count_is_bounded(calibrated, model_owner, django_assert_max_num_queries):
    """However many cases and days, the page runs a fixed number of queries (with today's
    band rollup refreshed, so that both its read and the live count since run)."""
    rollups_refresh(days=[timezone.localdate()])
    client = _client(model_owner)
    client.get(_url(calibrated))
    with django_assert_max_num_queries(18):
        response = client.get(_url(calibrated))
    assert response.status_code == 200


def test_htmx_request_renders_only_the_body(calibrated, manager):
    """An htmx filter change swaps #health-body only."""
    response = _client(manager).get(_url(calibrated, days=7), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="health-body">')
    assert "<html" not in html


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.LEAD, Role.ADMIN])
def test_roles_without_dashboards_get_403(ml_model, team, role):
    """Reviewers, leads and admins may not see model health (denial audited)."""
    user = make_user(role, team=team)
    response = _client(user).get(_url(ml_model))
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="permission.denied", actor=user).exists()


def test_manager_sees_only_their_teams(ml_model, manager, other_team):
    """A model of another team is not found and is not offered in the picker."""
    other = make_model(team=other_team, slug="claims-triage")
    client = _client(manager)
    assert client.get(_url(other)).status_code == 404
    html = client.get(PAGE).content.decode()
    assert ml_model.slug in html
    assert "claims-triage" not in html
    tripwire_post = reverse("health-tripwire-create", args=[other.slug])
    assert (
        client.post(tripwire_post, {"kind": "accuracy_drop", "threshold": 0.5}).status_code == 404
    )
    assert not Tripwire.objects.exists()


def test_auditor_reads_but_every_change_is_refused(calibrated, manager, auditor, reviewer):
    """Auditors see the page without change forms; each POST is 403 and changes nothing."""
    tripwire = tripwire_create(
        ml_model=calibrated, actor=manager, kind=TripwireKind.ACCURACY_DROP, threshold=0.9
    )
    tripwires_check()
    alert = Alert.objects.get()
    client = _client(auditor)
    html = client.get(_url(calibrated, target=5)).content.decode()
    assert "Live accuracy" in html
    for marker in ("Add tripwire", "Resolve", "Disable", "Propose this threshold", "Set baseline"):
        assert marker not in html
    for url, data in _change_posts(calibrated, tripwire, alert):
        assert client.post(url, data).status_code == 403, url
    alert.refresh_from_db()
    tripwire.refresh_from_db()
    assert alert.resolved_at is None
    assert tripwire.enabled
    assert not DriftBaseline.objects.exists()
    assert not RoutingPolicy.objects.filter(status=PolicyStatus.PROPOSED).exists()


def test_manager_adds_disables_tripwires_and_resolves_alerts(ml_model, manager, reviewer):
    """Managers manage tripwires and alerts from the page (redirect after POST)."""
    client = _client(manager)
    response = client.post(
        reverse("health-tripwire-create", args=[ml_model.slug]),
        {"kind": "accuracy_drop", "threshold": "0.8", "window_days": "7", "days": "30"},
    )
    assert response.status_code == 302
    tripwire = Tripwire.objects.get()
    decide(cases_at(ml_model, 10, confidence=0.6), reviewer=reviewer, overrides=5)
    tripwires_check()
    alert = Alert.objects.get()
    html = client.get(_url(ml_model)).content.decode()
    assert "Resolve" in html
    assert alert.message in html
    response = client.post(reverse("health-alert-resolve", args=[ml_model.slug, alert.pk]))
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.resolved_by == manager
    client.post(reverse("health-tripwire-disable", args=[ml_model.slug, tripwire.pk]))
    tripwire.refresh_from_db()
    assert not tripwire.enabled


def test_bad_tripwire_input_goes_back_with_a_message(ml_model, manager):
    """An out-of-range threshold goes back to the tripwires section with the error."""
    client = _client(manager)
    url = reverse("health-tripwire-create", args=[ml_model.slug])
    response = client.post(url, {"kind": "accuracy_drop", "threshold": "7"})
    assert response.status_code == 302
    assert response["Location"].endswith("#tripwires")
    assert "The tripwire is not valid" in client.get(response["Location"]).content.decode()
    assert not Tripwire.objects.exists()


def test_owner_sets_a_baseline_and_managers_may_not(ml_model, model_owner, manager):
    """The baseline picker is the owner's (audited); a manager's POST is 403."""
    cases_at(ml_model, 25, confidence=0.7)
    today = timezone.now().date()
    data = {
        "window_start": (today - timedelta(days=1)).isoformat(),
        "window_end": today.isoformat(),
    }
    url = reverse("health-baseline-create", args=[ml_model.slug])
    assert _client(manager).post(url, data).status_code == 403
    response = _client(model_owner).post(url, data)
    assert response.status_code == 302
    baseline = DriftBaseline.objects.get()
    assert baseline.n_cases == 25
    assert AuditEvent.objects.filter(action="baseline.created").count() == 1
    html = _client(model_owner).get(_url(ml_model)).content.decode()
    assert "psi-stable" in html
    owner = _client(model_owner)
    bad = owner.post(url, {"window_start": "yesterday", "window_end": "x"})
    assert bad.status_code == 302
    assert "Give dates as YYYY-MM-DD" in owner.get(bad["Location"]).content.decode()


def test_owner_proposes_the_recommended_threshold(calibrated, model_owner, manager):
    """ "Propose this threshold" creates a pending proposal; managers cannot propose."""
    url = reverse("health-threshold-propose", args=[calibrated.slug])
    assert _client(manager).post(url, {"threshold": "0.8"}).status_code == 403
    response = _client(model_owner).post(url, {"threshold": "0.75", "target": "5"})
    assert response.status_code == 302
    proposal = RoutingPolicy.objects.get(ml_model=calibrated, status=PolicyStatus.PROPOSED)
    assert proposal.review_threshold == 0.75
    assert proposal.proposed_by == model_owner


def test_banner_shows_open_alerts_to_managers_only(ml_model, manager, reviewer, model_owner):
    """Managers and model owners of the team see the banner; reviewers do not."""
    tripwire_create(
        ml_model=ml_model, actor=manager, kind=TripwireKind.ACCURACY_DROP, threshold=0.9
    )
    decide(cases_at(ml_model, 10, confidence=0.6), reviewer=reviewer, overrides=5)
    outsider = make_user(Role.MANAGER, team=make_model(slug="elsewhere").team)
    assert "alert-banner" not in _client(manager).get(PAGE).content.decode()
    tripwires_check()
    message = Alert.objects.get().message
    for user in (manager, model_owner):
        page = _client(user).get(PAGE).content.decode()
        assert "alert-banner" in page
        assert f"{ml_model.slug}: {message[:40]}" in page  # the alert's own words, not "N"
    assert "alert-banner" not in _client(outsider).get(PAGE).content.decode()
    reviewer_page = _client(reviewer).get(reverse("home"), follow=True).content.decode()
    assert "alert-banner" not in reviewer_page
    Alert.objects.update(resolved_at=timezone.now())
    assert "alert-banner" not in _client(manager).get(PAGE).content.decode()
