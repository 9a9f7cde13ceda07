"""Browser tests of the model pages (a routing change proposed by an owner and approved by a
manager: four eyes) and of the leads' queue overview (a lead releases a reviewer's claim)."""

import pytest

from reviewapp.models import AuditEvent, Case, CaseStatus, PolicyStatus, Role, RoutingPolicy
from reviewapp.services.queue import case_claim_next
from tests.factories import make_cases, make_model, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_proposes_and_manager_approves_a_threshold(page, login, screenshot, live_server):
    """An owner proposes threshold 0.9 on the page; another person, a manager, approves it."""
    team = make_team("payments-risk")
    ml_model = make_model(team=team, slug="fraud-screening")
    make_user(Role.MODEL_OWNER, team=team, username="omar")
    make_user(Role.MANAGER, team=team, username="mona")

    login("omar")
    page.goto("/models/")
    page.get_by_role("link", name="fraud-screening").click()
    page.wait_for_url(f"{live_server.url}/models/fraud-screening/")
    policy = page.locator("#policy")
    assert "v1 active" in policy.get_by_role("heading", name="Routing policy").inner_text()
    page.locator("details.md-propose summary").click()
    page.fill("#id_review_threshold", "0.9")
    page.fill("#id_note", "Too many misses below 0.9.")
    page.get_by_role("button", name="Propose (needs a manager's approval)").click()
    page.wait_for_load_state("networkidle")

    assert "It takes effect once another person" in page.locator(".messages").inner_text()
    proposal = page.get_by_role("article", name="Proposal v2")
    assert "Waiting for a manager of the team to approve" in proposal.inner_text()
    assert proposal.locator("table.md-diff tbody tr").count() == 1
    assert proposal.locator("table.md-diff tbody tr td").all_inner_texts() == [
        "review_threshold",
        "0.8",
        "0.9",
    ]
    assert proposal.get_by_role("button", name="Approve v2").count() == 0
    assert "v1 active" in policy.get_by_role("heading", name="Routing policy").inner_text()
    screenshot("owner-model-page")
    proposed = RoutingPolicy.objects.get(ml_model=ml_model, version=2)
    assert proposed.status == PolicyStatus.PROPOSED

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    login("mona")
    page.goto("/models/fraud-screening/")
    proposal = page.get_by_role("article", name="Proposal v2")
    proposal.get_by_role("button", name="Approve v2").click()
    page.wait_for_load_state("networkidle")

    assert "Approved: routing policy v2 is now active." in page.locator(".messages").inner_text()
    assert "v2 active" in policy.get_by_role("heading", name="Routing policy").inner_text()
    threshold = policy.locator("table.md-rules tr", has_text="Review threshold").locator("td")
    assert threshold.first.inner_text() == "0.9"
    assert "approved by mona" in policy.inner_text()
    assert page.get_by_role("article", name="Proposal v2").count() == 0
    screenshot("manager-approves-proposal")

    proposed.refresh_from_db()
    assert proposed.status == PolicyStatus.ACTIVE
    assert proposed.review_threshold == pytest.approx(0.9)
    assert proposed.decided_by.username == "mona"
    assert RoutingPolicy.objects.get(ml_model=ml_model, version=1).status == (
        PolicyStatus.SUPERSEDED
    )
    events = AuditEvent.objects.filter(target_type="routingpolicy", target_id=str(proposed.pk))
    assert set(events.values_list("action", "actor__username")) == {
        ("policy.proposed", "omar"),
        ("policy.approved", "mona"),
    }


def test_lead_releases_a_reviewers_claim_from_the_queues_page(page, login, screenshot, live_server):
    """The lead sees the counts and the claim, releases it, and the case is queued again."""
    team = make_team("payments-risk")
    ml_model = make_model(team=team, slug="fraud-screening")
    reviewer = make_user(Role.REVIEWER, team=team, username="rita")
    make_user(Role.LEAD, team=team, username="lee")
    make_cases(ml_model, 3, confidence=0.62)
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert claimed is not None

    login("lee")
    page.goto("/queues/")
    row = page.locator("table.queue-overview tbody tr", has_text="fraud-screening")
    cells = row.locator("td.num").all_inner_texts()
    assert cells[:3] == ["2", "1", "0"]  # waiting, claimed, escalated
    claims = page.locator("table.queue-claims tbody tr")
    assert claims.count() == 1
    assert claims.first.locator("td").nth(1).inner_text() == "rita"
    assert str(claimed.pk) in claims.first.locator("td").first.inner_text()
    screenshot("lead-queues")

    claims.first.get_by_role("button", name="Release").click()
    page.wait_for_url(f"{live_server.url}/queues/?model=fraud-screening")
    assert f"Case {claimed.pk} is back in the queue." in page.locator(".messages").inner_text()
    assert "Nobody holds a case of this model right now." in page.locator("main").inner_text()
    assert row.locator("td.num").all_inner_texts()[:3] == ["3", "0", "0"]

    case = Case.objects.get(pk=claimed.pk)
    assert case.status == CaseStatus.QUEUED
    assert case.assigned_to_id is None
    assert AuditEvent.objects.filter(
        action="case.released", target_id=str(case.pk), actor__username="lee"
    ).exists()
