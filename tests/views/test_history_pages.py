"""A reviewer's own work: "My decisions", "My stats", the read-only case page (with a lead's
reopen), the progress line of the case page and the lost-claim message."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, CaseStatus, Decision, Role, User
from reviewapp.services.decisions import case_decide, decision_reopen
from reviewapp.services.queue import case_claim_next, case_release, claim_reassign
from reviewapp.services.rollups import rollups_refresh
from tests import factories

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-panel"}


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


def _decide(ml_model, reviewer, action="accept", **extra) -> Case:
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert case is not None
    if action == "override":
        extra = {"final_label": "legit", "reason_code": "wrong_label", **extra}
    case_decide(case=case, reviewer=reviewer, action=action, **extra)
    return case


def _row_case_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/cases/(\d+)/"', html)]


# --- My decisions ---------------------------------------------------------------------------


def test_my_decisions_lists_only_my_decisions_newest_first(login, ml_model, reviewer, team):
    """Own decisions only, newest first, each linking to the read-only case page."""
    factories.make_cases(ml_model, 4, confidence=0.6)
    other = factories.make_user(Role.REVIEWER, team=team)
    mine = [_decide(ml_model, reviewer).pk for _ in range(3)]
    _decide(ml_model, other)
    response = login(reviewer).get(reverse("my-decisions"))
    assert response.status_code == 200
    assert _row_case_ids(response.content.decode()) == list(reversed(mine))


def test_my_decisions_filters_by_model_action_and_period(login, ml_model, reviewer, team):
    """Model, action and period narrow the list; the filters stay selected."""
    second = factories.make_model(team=team, slug="second-model")
    factories.make_cases(ml_model, 3, confidence=0.6)
    factories.make_cases(second, 1, confidence=0.6)
    accepted = _decide(ml_model, reviewer)
    overridden = _decide(ml_model, reviewer, action="override")
    old = _decide(ml_model, reviewer)
    Decision.objects.filter(case=old).update(decided_at=timezone.now() - timedelta(days=10))
    elsewhere = _decide(second, reviewer)
    client = login(reviewer)
    url = reverse("my-decisions")

    by_action = client.get(url, {"action": "override"}).content.decode()
    assert _row_case_ids(by_action) == [overridden.pk]
    by_model = client.get(url, {"model": "second-model"}).content.decode()
    assert _row_case_ids(by_model) == [elsewhere.pk]
    week = client.get(url, {"period": "7d"}).content.decode()
    assert set(_row_case_ids(week)) == {accepted.pk, overridden.pk, elsewhere.pk}
    assert 'value="7d" selected' in week
    assert "Overrode fraud with legit" in by_action


def test_my_decisions_pages_with_a_keyset_cursor(login, ml_model, reviewer, settings):
    """Thirty decisions: a page of 25 with an Older link, then the other 5; none twice."""
    factories.make_cases(ml_model, 30, confidence=0.6)
    ids = [_decide(ml_model, reviewer).pk for _ in range(30)]
    client = login(reviewer)
    first = client.get(reverse("my-decisions")).content.decode()
    assert _row_case_ids(first) == list(reversed(ids))[:25]
    older = re.search(r'href="(\?[^"]*after=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(reverse("my-decisions") + older).content.decode()
    assert _row_case_ids(second) == list(reversed(ids))[25:]
    assert "Older" not in second


def test_my_decisions_htmx_swaps_only_the_list(login, ml_model, reviewer):
    """An htmx request gets the list section alone."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    _decide(ml_model, reviewer)
    response = login(reviewer).get(reverse("my-decisions"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="history-rows"')
    assert "<html" not in html


@pytest.mark.parametrize(
    "params",
    [{"action": "delete"}, {"period": "forever"}, {"model": "claims-triage"}, {"after": "%%%"}],
)
def test_my_decisions_bad_filters_are_400(login, reviewer, ml_model, other_team, params):
    """A filter value the page does not offer (or another team's model) is a 400."""
    factories.make_model(team=other_team, slug="claims-triage")
    response = login(reviewer).get(reverse("my-decisions"), params)
    assert response.status_code == 400


# --- My stats -------------------------------------------------------------------------------


def test_my_stats_shows_own_figures_beside_the_team_median(login, ml_model, reviewer, team):
    """From the rollups: own acceptance and reasons beside the team's, in neutral words."""
    other = factories.make_user(Role.REVIEWER, team=team)
    factories.make_cases(ml_model, 6, confidence=0.6)
    for _ in range(2):
        _decide(ml_model, reviewer)
    _decide(ml_model, reviewer, action="override")
    for _ in range(3):
        _decide(ml_model, other, action="override")
    rollups_refresh(days=[timezone.localdate()], ml_model=ml_model)
    response = login(reviewer).get(reverse("my-stats"), {"days": "7"})
    assert response.status_code == 200
    html = response.content.decode()
    acceptance = re.search(r'data-testid="stat-acceptance".*?</section>', html, re.S).group(0)
    assert "67%" in acceptance  # own: 2 of 3 kept
    assert "33%" in acceptance  # team median of 67% and 0%
    assert "Wrong label" in html
    assert "Neither number is a target" in html
    assert 'aria-current="page">Last 7 days' in html


def test_my_stats_refuses_a_period_it_does_not_offer(login, reviewer):
    """days=13 is a 400."""
    assert login(reviewer).get(reverse("my-stats"), {"days": "13"}).status_code == 400


def test_navigation_shows_my_pages_to_reviewers_only(login, reviewer, manager):
    """Reviewers see My decisions and My stats in the navigation; managers do not."""
    html = login(reviewer).get(reverse("home"), follow=True).content.decode()
    assert reverse("my-decisions") in html
    assert reverse("my-stats") in html
    html = login(manager).get(reverse("home"), follow=True).content.decode()
    assert reverse("my-decisions") not in html


# --- the read-only case page ----------------------------------------------------------------


def test_case_page_for_its_decider_shows_record_and_is_audited(login, ml_model, reviewer):
    """Input, answer, routing reason, decisions and audit trail; the view is audited."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = _decide(ml_model, reviewer, action="override", feedback="Known customer.")
    response = login(reviewer).get(reverse("case-detail", args=[case.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Overrode fraud with legit" in html
    assert "Known customer." in html
    assert "account_age_days" in html
    assert 'data-testid="model-answer"' in html
    assert "below the review threshold" in html
    assert "claimed the case" in html
    assert "decided the case" in html
    assert "Reopen" not in html
    assert f'href="{reverse("my-decisions")}">&larr; My decisions' in html
    assert AuditEvent.objects.filter(
        action="case.viewed", target_id=str(case.pk), actor=reviewer
    ).exists()


def test_case_page_is_hidden_from_a_reviewer_who_did_not_decide_it(login, ml_model, team):
    """Another reviewer of the team gets 404 (and the refusal is audited)."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = _decide(ml_model, factories.make_user(Role.REVIEWER, team=team))
    stranger = factories.make_user(Role.REVIEWER, team=team)
    response = login(stranger).get(reverse("case-detail", args=[case.pk]))
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="permission.denied", actor=stranger).exists()


def test_case_page_readers_by_role(client, ml_model, reviewer, manager, model_owner, auditor):
    """Managers, owners and auditors read the case; a manager of another team does not."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = _decide(ml_model, reviewer)
    outsider = factories.make_user(Role.MANAGER, team=factories.make_team("elsewhere"))
    for user, status in ((manager, 200), (model_owner, 200), (auditor, 200), (outsider, 404)):
        client.force_login(user)
        assert client.get(reverse("case-detail", args=[case.pk])).status_code == status


def test_lead_reopens_a_case_from_its_page(login, ml_model, reviewer, lead):
    """The Reopen form needs a note; with one, the decision is superseded and the case waits."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = _decide(ml_model, reviewer)
    client = login(lead)
    page = client.get(reverse("case-detail", args=[case.pk])).content.decode()
    assert reverse("case-reopen", args=[case.pk]) in page
    assert f'href="{reverse("queue-overview")}">&larr; Queues' in page  # a lead's way back

    refused = client.post(reverse("case-reopen", args=[case.pk]), {"note": "  "})
    assert refused.status_code == 302
    assert Case.objects.get(pk=case.pk).status == CaseStatus.DECIDED

    done = client.post(reverse("case-reopen", args=[case.pk]), {"note": "Label looks wrong."})
    assert done.status_code == 302
    assert done.url == reverse("case-detail", args=[case.pk])
    assert Case.objects.get(pk=case.pk).status == CaseStatus.QUEUED
    assert Decision.objects.get(case=case).superseded_at is not None
    html = client.get(done.url).content.decode()
    assert "superseded" in html
    assert "reopened the case" in html


def test_reviewer_cannot_reopen(login, ml_model, reviewer):
    """A reviewer posting to reopen gets 403; the case stays decided."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = _decide(ml_model, reviewer)
    response = login(reviewer).post(reverse("case-reopen", args=[case.pk]), {"note": "x"})
    assert response.status_code == 403
    assert Case.objects.get(pk=case.pk).status == CaseStatus.DECIDED


def test_reopened_blind_case_hides_the_answer_from_its_decider(
    login, client, team, reviewer, lead, manager
):
    """A blind case reopened (undecided again): its decider reads no model answer, no
    accept/override and no answer fields in the trail; a manager still sees the answer."""
    blind = factories.make_model(team=team, slug="blind-model", blind_sample_rate=1.0)
    factories.make_cases(blind, 1, confidence=0.6, label="fraud")
    case = case_claim_next(ml_model=blind, reviewer=reviewer)
    case_decide(case=case, reviewer=reviewer, action="override", final_label="fraud")
    decision_reopen(case=Case.objects.get(pk=case.pk), lead=lead, note="Check again.")
    html = login(reviewer).get(reverse("case-detail", args=[case.pk])).content.decode()
    assert 'data-testid="answer-hidden"' in html
    assert "Labelled fraud" in html
    assert "Accepted" not in html
    assert "62%" not in html
    assert "60%" not in html
    assert "final label" not in html
    client.force_login(manager)
    html = client.get(reverse("case-detail", args=[case.pk])).content.decode()
    assert 'data-testid="model-answer"' in html
    assert "Accepted fraud" in html


# --- the case page's progress line and the lost claim ---------------------------------------


def test_case_page_shows_progress(login, ml_model, reviewer):
    """ "N decided today · M waiting in this queue" on the claimed case."""
    factories.make_cases(ml_model, 4, confidence=0.6)
    _decide(ml_model, reviewer)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    html = login(reviewer).get(reverse("review-case", args=[case.pk])).content.decode()
    assert "1 decided today · 2 waiting in this queue" in html


def _named(user: User, first_name: str) -> User:
    User.objects.filter(pk=user.pk).update(first_name=first_name)
    user.first_name = first_name
    return user


def test_lost_claim_names_the_lead_who_took_it(login, ml_model, reviewer, lead):
    """A lead reassigned the case to herself: the page says who and when, not "not yours"."""
    lead = _named(lead, "Lena")
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    claim_reassign(case=case, lead=lead, to_user=lead)
    at = timezone.localtime(AuditEvent.objects.get(action="case.reassigned").occurred_at)
    client = login(reviewer)
    response = client.get(reverse("review-case", args=[case.pk]))
    assert response.status_code == 404
    assert f"Lena (lead) took this case at {at:%H:%M}." in response.content.decode()
    decide = client.post(reverse("review-decide", args=[case.pk]), {"action": "accept"})
    assert decide.status_code == 409
    assert "Lena (lead) took this case" in decide.content.decode()


def test_lost_claim_says_a_lead_released_it(login, ml_model, reviewer, lead):
    """A lead released the reviewer's claim: the lease poll and the page say so."""
    _named(lead, "Lena")
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_release(case=case, actor=lead)
    client = login(reviewer)
    renew = client.post(reverse("review-renew", args=[case.pk]), **HTMX)
    assert "no longer yours. Lena (lead) released your claim at" in renew.content.decode()
    escalate = client.post(reverse("review-escalate", args=[case.pk]), {"note": "why"})
    assert escalate.status_code == 409
    assert "Lena (lead) released your claim" in escalate.content.decode()


def test_lost_claim_without_a_named_cause_keeps_the_generic_message(login, ml_model, reviewer):
    """The reviewer's own release leaves the generic "not claimed by you" sentence."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_release(case=case, actor=reviewer)
    response = login(reviewer).get(reverse("review-case", args=[case.pk]))
    assert response.status_code == 404
    assert "is not claimed by you" in response.content.decode()
