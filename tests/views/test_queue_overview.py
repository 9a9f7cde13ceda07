"""The queue overview page for leads and managers, and the selectors behind it."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, Role
from reviewapp.selectors.queue import queue_overview, review_models_for, waiting_cases_page
from reviewapp.services.queue import case_claim_next, cases_expire
from tests.factories import make_cases, make_model, make_user

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_overview_counts_per_model(ml_model, reviewer, lead):
    """Waiting, claimed, escalated, expired (24 h), SLA breaches and the oldest waiting case."""
    ids = make_cases(ml_model, 7)
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    past = timezone.now() - timedelta(minutes=1)
    Case.objects.filter(pk=claimed.pk).update(sla_due_at=past)  # claimed past SLA: a breach
    Case.objects.filter(pk=ids[1]).update(
        status="escalated", escalated_at=timezone.now(), escalation_source="sla"
    )
    Case.objects.filter(pk=ids[2]).update(
        status="escalated", escalated_at=timezone.now(), escalation_source="reviewer"
    )
    Case.objects.filter(pk=ids[3]).update(expires_at=past)
    assert cases_expire() == 1
    other = make_model(team=ml_model.team, slug="empty-model")
    rows = {r.ml_model.slug: r for r in queue_overview(user=lead)}
    row = rows["fraud-screening"]
    assert (row.waiting, row.claimed, row.escalated, row.expired_24h) == (3, 1, 2, 1)
    assert row.sla_breaches == 2
    assert row.oldest_waiting_at == Case.objects.get(pk=ids[4]).created_at
    assert rows[other.slug].waiting == 0
    assert rows[other.slug].oldest_waiting_at is None


def test_waiting_count_is_capped(ml_model, reviewer, monkeypatch):
    """Reviewer home counts stop at the cap and render with a plus."""
    monkeypatch.setattr("reviewapp.selectors.queue.WAITING_COUNT_CAP", 3)
    make_cases(ml_model, 5)
    ((_, count),) = review_models_for(reviewer)
    assert count == 3
    assert str(count) == "3+"


def test_review_models_for_counts_waiting(ml_model, reviewer, lead, other_team):
    """Reviewers see queued counts of their teams' models; leads also count escalated."""
    ids = make_cases(ml_model, 3)
    Case.objects.filter(pk=ids[0]).update(status="escalated", escalated_at=timezone.now())
    make_model(team=other_team, slug="not-mine")
    assert [(m.slug, n) for m, n in review_models_for(reviewer)] == [("fraud-screening", 2)]
    assert [(m.slug, n) for m, n in review_models_for(lead)] == [("fraud-screening", 3)]
    manager = make_user(Role.MANAGER, team=ml_model.team)
    assert review_models_for(manager) == []


def test_waiting_pages_walk_the_queue_in_order_without_gaps(ml_model):
    """Keyset pages follow priority desc, created_at, id and cover every waiting case once."""
    make_cases(ml_model, 7)
    make_cases(ml_model, 4, priority="high")
    make_cases(ml_model, 3, priority="low")
    expected = list(
        Case.objects.filter(status="queued")
        .order_by("-priority", "created_at", "id")
        .values_list("id", flat=True)
    )
    seen, after = [], None
    for _ in range(10):
        page = waiting_cases_page(ml_model=ml_model, after=after, limit=4)
        seen += [c.pk for c in page.cases]
        after = page.next_cursor
        if after is None:
            break
    assert seen == expected


def test_page_for_lead_lists_counts_claims_and_waiting(ml_model, reviewer, lead):
    """A lead sees the overview with claims and release/reassign forms."""
    make_cases(ml_model, 3)
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    response = _client(lead).get("/queues/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "fraud-screening" in html
    assert f"/queues/cases/{claimed.pk}/release" in html
    assert "Reassign" in html
    assert html.count("<tr>") >= 3


def test_manager_sees_but_cannot_act(ml_model, reviewer, manager):
    """Managers view the overview; their release is refused and audited."""
    make_cases(ml_model, 1)
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    client = _client(manager)
    page = client.get("/queues/")
    assert page.status_code == 200
    assert "/release" not in page.content.decode()
    response = client.post(f"/queues/cases/{claimed.pk}/release")
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()
    assert Case.objects.get(pk=claimed.pk).status == "assigned"
    assert AuditEvent.objects.filter(action="permission.denied", actor=manager).exists()


def test_reviewers_get_403(reviewer):
    """Reviewers have no queue overview."""
    assert _client(reviewer).get("/queues/").status_code == 403
    assert AuditEvent.objects.filter(action="permission.denied").exists()


def test_lead_releases_and_reassigns_from_the_page(ml_model, reviewer, lead):
    """POST forms release a claim and hand it to another reviewer."""
    make_cases(ml_model, 1)
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    client = _client(lead)
    response = client.post(f"/queues/cases/{claimed.pk}/release")
    assert response.status_code == 302
    assert Case.objects.get(pk=claimed.pk).status == "queued"
    other = make_user(Role.REVIEWER, team=ml_model.team, username="olga")
    client.post(f"/queues/cases/{claimed.pk}/reassign", {"to": "olga"})
    assert Case.objects.get(pk=claimed.pk).assigned_to == other


def test_other_teams_models_and_cases_are_404(ml_model, other_team, lead):
    """A lead cannot look at or act on another team's queue."""
    foreign = make_model(team=other_team, slug="foreign")
    (case_id,) = make_cases(foreign, 1)
    client = _client(lead)
    assert client.get("/queues/?model=foreign").status_code == 404
    assert client.post(f"/queues/cases/{case_id}/release").status_code == 404


def test_htmx_next_page_renders_only_rows(ml_model, lead):
    """The htmx 'next' link gets the rows partial, not the whole page."""
    make_cases(ml_model, 60)
    client = _client(lead)
    first = client.get("/queues/?model=fraud-screening")
    cursor = first.context["page"].next_cursor
    assert cursor
    partial = client.get(f"/queues/?model=fraud-screening&after={cursor}", HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert partial.status_code == 200
    assert "<html" not in body
    assert body.count("<tr>") == 10
    bad = client.get("/queues/?model=fraud-screening&after=garbage")
    assert bad.status_code == 200
