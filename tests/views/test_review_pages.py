"""The reviewer's pages: landing queues, case page, decisions as plain forms and via htmx."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, CaseStatus, Decision, Role
from tests import factories

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-panel"}  # as the page sends

MIXED_EXPLANATION = {
    "method": "shap",
    "base_value": 0.1,
    "contributions": [
        {"feature": "amount", "value": 1200.5, "weight": 0.12},
        {"feature": "country", "value": "DE", "weight": -0.2},
        {"feature": "account_age_days", "value": 3, "weight": 0.31},
        {"feature": "hour", "value": 23, "weight": 0.02},
    ],
    "summary": "New account, large amount.",
}


@pytest.fixture
def client_for(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def queued(ml_model):
    """Two low-confidence cases waiting in the fraud-screening queue."""
    return sorted(factories.make_cases(ml_model, 2, confidence=0.62))


@pytest.fixture
def blind_model(team):
    return factories.make_model(team=team, slug="blind-screening", blind_sample_rate=1.0)


def _claim(client, ml_model) -> Case:
    response = client.post(reverse("review-claim-next", args=[ml_model.slug]))
    assert response.status_code == 302, response.content[:300]
    case_id = int(response.url.rstrip("/").rsplit("/", 1)[-1])
    return Case.objects.get(pk=case_id)


def test_home_lists_the_reviewers_models_with_waiting_counts(
    client_for, reviewer, ml_model, queued, other_team
):
    """The landing page shows each model of the reviewer's teams with a Next case button."""
    factories.make_model(team=other_team, slug="claims-triage")
    response = client_for(reviewer).get(reverse("review-home"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="waiting-fraud-screening">2<' in html
    assert reverse("review-claim-next", args=["fraud-screening"]) in html
    assert "claims-triage" not in html
    assert "escalated" not in html.lower()


def test_home_shows_escalated_counts_to_leads(client_for, reviewer, lead, ml_model, queued):
    """A lead sees escalated cases next to the waiting ones."""
    reviewer_client = client_for(reviewer)
    case = _claim(reviewer_client, ml_model)
    reviewer_client.post(reverse("review-escalate", args=[case.pk]), {"note": "Unsure."})
    html = client_for(lead).get(reverse("review-home")).content.decode()
    assert 'data-testid="escalated-fraud-screening">1<' in html
    # The reviewer moved on to the other case, so nothing else waits.
    assert 'data-testid="waiting-fraud-screening">0<' in html


@pytest.mark.parametrize("role", [Role.MANAGER, Role.MODEL_OWNER, Role.AUDITOR, Role.ADMIN])
def test_home_is_forbidden_to_people_who_do_not_review(client_for, team, role):
    """Only reviewers and leads use the review pages."""
    user = factories.make_user(role, team=team)
    assert client_for(user).get(reverse("review-home")).status_code == 403


def test_home_needs_a_login(client):
    """Anonymous visitors are sent to the login page."""
    response = client.get(reverse("review-home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_claim_without_javascript_redirects_to_the_case_page(
    client_for, reviewer, ml_model, queued
):
    """Next case (a plain form post) claims the oldest case and redirects to it."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    assert case.pk == queued[0]
    assert case.status == CaseStatus.ASSIGNED
    assert case.assigned_to == reviewer
    assert client.get(reverse("review-case", args=[case.pk])).status_code == 200


def test_claim_with_htmx_returns_the_case_panel(client_for, reviewer, ml_model, queued):
    """With htmx the case panel comes back alone and the address bar follows the case."""
    response = client_for(reviewer).post(reverse("review-claim-next", args=[ml_model.slug]), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="case-panel"')
    assert "<html" not in html
    assert response["HX-Push-Url"] == reverse("review-case", args=[queued[0]])


def test_claim_on_an_empty_queue_goes_back_to_the_queues(client_for, reviewer, ml_model):
    """Nothing waiting: the landing page says the queue is empty."""
    client = client_for(reviewer)
    response = client.post(reverse("review-claim-next", args=[ml_model.slug]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review-home")
    assert "queue is empty" in response.content.decode()


def test_claim_is_refused_outside_ones_teams(client_for, team, other_team, queued):
    """Another team's model is not found; a manager of the team may not claim."""
    foreign = factories.make_user(Role.REVIEWER, team=other_team)
    url = reverse("review-claim-next", args=["fraud-screening"])
    assert client_for(foreign).post(url).status_code == 404
    manager = factories.make_user(Role.MANAGER, team=team)
    assert client_for(manager).post(url).status_code == 403
    assert not Case.objects.filter(status=CaseStatus.ASSIGNED).exists()


def test_case_page_shows_input_routing_reason_and_recommendation(
    client_for, reviewer, ml_model, queued
):
    """The claimed case shows its input table, why it is queued, the label and scores."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    html = client.get(reverse("review-case", args=[case.pk])).content.decode()
    assert "Why this case is in your queue" in html
    assert "Confidence 0.62 is below the review threshold 0.80" in html
    assert '<th scope="row" class="rv-feature">account_age_days</th>' in html
    assert '<td class="rv-value">1200.5</td>' in html
    assert 'data-testid="predicted-label">fraud<' in html
    assert "<strong>62%</strong> confidence" in html
    assert "38%" in html
    assert 'data-testid="base-value">0.1<' in html
    assert "New account, large amount." in html
    assert "csrfmiddlewaretoken" in html
    assert 'hx-trigger="every 120s"' in html


def test_case_page_chart_has_one_bar_per_factor_strongest_first(client_for, reviewer, ml_model):
    """The SVG chart lists the contributions by |weight|, coloured by direction."""
    factories.make_cases(ml_model, 1, confidence=0.62, explanation=MIXED_EXPLANATION)
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    html = client.get(reverse("review-case", args=[case.pk])).content.decode()
    svg = re.search(r'<svg class="xchart".*?</svg>', html, re.S).group(0)
    features = re.findall(r'data-feature="([^"]+)"', svg)
    assert features == ["account_age_days", "country", "amount", "hour"]
    bars = re.findall(r'<rect class="xbar (xbar-pos|xbar-neg)"', svg)
    assert bars == ["xbar-pos", "xbar-neg", "xbar-pos", "xbar-pos"]
    assert "account_age_days = 3" in svg
    assert "+0.31" in svg
    assert "-0.20" in svg
    assert "pushes towards fraud" in html
    assert "pushes away from fraud" in html
    assert "style=" not in html


def test_case_page_shows_how_the_explanation_adds_up(client_for, reviewer, ml_model):
    """A log-odds explanation is shown adding up to the confidence on the page."""
    explanation = {**MIXED_EXPLANATION, "scale": "log_odds"}  # 0.1 + 0.25 -> 58.7%
    factories.make_cases(ml_model, 1, confidence=0.587, explanation=explanation)
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    html = client.get(reverse("review-case", args=[case.pk])).content.decode()
    assert (
        "Base 0.10 + contributions +0.25 = 0.35 log-odds → 59%, the model&#x27;s score for fraud."
        in html
    )
    assert 'data-testid="unit">in log-odds<' in html


def test_case_page_explains_in_one_sentence(client_for, reviewer, ml_model, queued):
    """The explanation is also said in words."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    html = client.get(reverse("review-case", args=[case.pk])).content.decode()
    assert "Mostly because account_age_days = 3 (+0.31) and amount = 1200.5 (+0.12)." in html


def test_case_page_query_count_is_bounded(
    client_for, reviewer, ml_model, queued, django_assert_max_num_queries
):
    """Rendering a claimed case (with its audit event) takes a fixed handful of queries."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    with django_assert_max_num_queries(11):
        assert client.get(reverse("review-case", args=[case.pk])).status_code == 200


def test_case_page_view_is_audited(client_for, reviewer, ml_model, queued):
    """Opening the case page writes a case.viewed audit event."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    client.get(reverse("review-case", args=[case.pk]))
    event = AuditEvent.objects.filter(action="case.viewed").get()
    assert (event.actor, event.target_type, event.target_id) == (reviewer, "case", str(case.pk))


def test_other_teams_case_attempt_is_audited_as_a_denial(client_for, other_team, ml_model, queued):
    """A reviewer of another team gets a 404 and the attempt is audited."""
    foreign = factories.make_user(Role.REVIEWER, team=other_team)
    client_for(foreign).get(reverse("review-case", args=[queued[0]]))
    assert AuditEvent.objects.filter(action="permission.denied", actor=foreign).count() == 1


def test_n_shortcut_goes_to_the_first_queue_with_work(client_for, reviewer, team, ml_model, queued):
    """The n key claims from a queue that has cases, not from an empty one listed first."""
    factories.make_model(team=team, slug="aaa-empty")
    html = client_for(reviewer).get(reverse("review-home")).content.decode()
    form = re.search(r"<form[^>]*fraud-screening/next/.*?</form>", html, re.S).group(0)
    assert 'data-key="n"' in form
    assert html.count('data-key="n"') == 1


def test_case_of_another_reviewer_or_team_is_not_found(
    client_for, reviewer, team, other_team, ml_model, queued
):
    """Only the claimant sees the case page; other teams get a 404 alike."""
    case = _claim(client_for(reviewer), ml_model)
    colleague = factories.make_user(Role.REVIEWER, team=team)
    response = client_for(colleague).get(reverse("review-case", args=[case.pk]))
    assert response.status_code == 404
    assert "is not claimed by you" in response.content.decode()
    foreign = factories.make_user(Role.REVIEWER, team=other_team)
    assert client_for(foreign).get(reverse("review-case", args=[case.pk])).status_code == 404
    assert client_for(foreign).get(reverse("review-case", args=[999999])).status_code == 404


def test_case_page_is_forbidden_to_a_manager_of_the_team(
    client_for, reviewer, manager, ml_model, queued
):
    """A manager may see the team's cases elsewhere but not review them."""
    case = _claim(client_for(reviewer), ml_model)
    assert client_for(manager).get(reverse("review-case", args=[case.pk])).status_code == 403
    response = client_for(manager).post(
        reverse("review-decide", args=[case.pk]), {"action": "accept"}
    )
    assert response.status_code == 403
    assert not Decision.objects.exists()


def test_accept_without_javascript_records_and_moves_to_the_next_case(
    client_for, reviewer, ml_model, queued
):
    """Accept as a plain form: the decision is saved with feedback, then the next case."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    response = client.post(
        reverse("review-decide", args=[case.pk]),
        {"action": "accept", "feedback": "Clear fraud pattern.", "helpful": "yes"},
    )
    assert response.status_code == 302
    assert response.url == reverse("review-case", args=[queued[1]])
    decision = Decision.objects.get(case_id=case.pk)
    assert decision.action == "accept"
    assert decision.final_label == "fraud"
    assert decision.feedback == "Clear fraud pattern."
    assert decision.explanation_helpful is True
    assert decision.reviewer == reviewer
    follow = client.get(response.url)
    assert f"Saved case #{case.pk}: you accepted fraud." in follow.content.decode()


def test_time_on_the_case_is_recorded_from_the_claim(client_for, reviewer, ml_model, queued):
    """The decision carries the time from claim to decision."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    Case.objects.filter(pk=case.pk).update(claimed_at=timezone.now() - timedelta(seconds=42))
    client.post(reverse("review-decide", args=[case.pk]), {"action": "accept"})
    assert 42_000 <= Decision.objects.get(case_id=case.pk).time_spent_ms < 60_000


def test_override_without_javascript(client_for, reviewer, ml_model):
    """Override with a label and reason code; an empty queue leads back to the queues."""
    factories.make_cases(ml_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    response = client.post(
        reverse("review-decide", args=[case.pk]),
        {
            "action": "override",
            "final_label": "legit",
            "reason_code": "missing_context",
            "helpful": "no",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("review-home")
    html = response.content.decode()
    assert "you overrode fraud with legit (missing context)" in html
    assert "queue is empty" in html
    decision = Decision.objects.get(case_id=case.pk)
    assert (decision.action, decision.final_label, decision.reason_code) == (
        "override",
        "legit",
        "missing_context",
    )
    assert decision.explanation_helpful is False


def test_override_form_offers_other_labels_and_the_policy_reasons(
    client_for, reviewer, ml_model, queued
):
    """The override select leaves out the predicted label; reasons come from the policy."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    html = client.get(reverse("review-case", args=[case.pk])).content.decode()
    select = re.search(r'<select id="id_final_label".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', select) == ["legit"]
    reasons = re.search(r'<select id="id_reason_code".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', reasons) == [
        "",
        "wrong_label",
        "missing_context",
        "data_error",
        "policy",
        "other",
    ]


def test_override_without_a_reason_is_refused_with_the_form_open(
    client_for, reviewer, ml_model, queued
):
    """A missing reason code gives 400 and the override form again, nothing saved."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    response = client.post(
        reverse("review-decide", args=[case.pk]),
        {"action": "override", "final_label": "legit", "feedback": "keep me"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "reason code" in html
    assert 'id="override-drawer" open' in html
    assert "keep me</textarea>" in html
    assert not Decision.objects.exists()


def test_escalate_needs_a_note(client_for, reviewer, ml_model, queued):
    """Escalating without a note is refused; with one the case goes to the leads."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    url = reverse("review-escalate", args=[case.pk])
    response = client.post(url, {"note": "  "})
    assert response.status_code == 400
    assert 'id="escalate-drawer" open' in response.content.decode()
    response = client.post(url, {"note": "Customer called about this one."})
    assert response.status_code == 302
    assert response.url == reverse("review-case", args=[queued[1]])
    case.refresh_from_db()
    assert case.status == CaseStatus.ESCALATED
    assert case.escalation_note == "Customer called about this one."


def test_skip_gives_the_case_back(client_for, reviewer, ml_model, queued):
    """Skip releases the claim and returns to the queues."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    response = client.post(reverse("review-release", args=[case.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review-home")
    assert f"Case #{case.pk} went back to the queue." in response.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.QUEUED
    assert case.assigned_to is None


def test_decide_after_the_lease_ran_out_says_so(client_for, reviewer, ml_model, queued):
    """A lost lease is a clear message (409/404), never a 500, and nothing is saved."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    Case.objects.filter(pk=case.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post(reverse("review-decide", args=[case.pk]), {"action": "accept"})
    assert response.status_code == 409
    assert "This case is no longer yours" in response.content.decode()
    htmx = client.post(reverse("review-decide", args=[case.pk]), {"action": "accept"}, **HTMX)
    assert htmx.status_code == 409
    assert htmx.content.decode().lstrip().startswith('<section id="case-panel"')
    assert client.get(reverse("review-case", args=[case.pk])).status_code == 404
    assert not Decision.objects.exists()


def test_decide_twice_is_a_conflict(client_for, reviewer, ml_model, queued):
    """Posting the same decision again does not create a second one."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    client.post(reverse("review-decide", args=[case.pk]), {"action": "accept"})
    response = client.post(reverse("review-decide", args=[case.pk]), {"action": "accept"})
    assert response.status_code == 409
    assert "Already decided" in response.content.decode()
    assert Decision.objects.filter(case_id=case.pk).count() == 1


def test_decide_with_htmx_returns_the_next_case_panel(client_for, reviewer, ml_model, queued):
    """After a decision the next case is claimed and its panel comes back with the outcome."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    response = client.post(
        reverse("review-decide", args=[case.pk]),
        {"action": "override", "final_label": "legit", "reason_code": "wrong_label"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-case-id="{queued[1]}"' in html
    assert f"Saved case #{case.pk}: you overrode fraud with legit (wrong label)." in html
    assert response["HX-Push-Url"] == reverse("review-case", args=[queued[1]])
    assert Case.objects.get(pk=queued[1]).assigned_to == reviewer


def test_decide_with_htmx_on_the_last_case_shows_an_empty_queue(client_for, reviewer, ml_model):
    """The last decision swaps in the queue list saying the queue is empty."""
    factories.make_cases(ml_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    response = client.post(reverse("review-decide", args=[case.pk]), {"action": "accept"}, **HTMX)
    html = response.content.decode()
    assert "queue is empty" in html
    assert 'data-testid="waiting-fraud-screening">0<' in html
    assert response["HX-Push-Url"] == reverse("review-home")


def test_blind_case_hides_the_model_answer(client_for, reviewer, blind_model):
    """A blind-sampled case shows no label, confidence, scores, explanation or details."""
    factories.make_cases(blind_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case = _claim(client, blind_model)
    assert case.is_blind
    html = client.get(reverse("review-case", args=[case.pk])).content.decode()
    assert "Blind review: the model's answer is hidden until you decide" in html
    for leak in (
        'data-testid="predicted-label"',
        "62%",
        "0.62",
        "38%",
        "Mostly because",
        'class="xchart"',
        "New account, large amount.",
        "Accept",
        "Was the explanation helpful?",
    ):
        assert leak not in html, leak
    select = re.search(r'<select id="id_final_label".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', select) == ["", "fraud", "legit"]
    assert "Picked for blind review" in html
    assert "Confidence" not in html
    assert "threshold" not in html


def test_blind_decision_reveals_the_model_answer_afterwards(client_for, reviewer, blind_model):
    """After a blind decision the page says what the model said and what the reviewer said."""
    factories.make_cases(blind_model, 2, confidence=0.62)
    client = client_for(reviewer)
    case = _claim(client, blind_model)
    response = client.post(
        reverse("review-decide", args=[case.pk]),
        {"action": "label", "final_label": "legit", "reason_code": "wrong_label"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "Blind review: the model said <strong>fraud</strong> (62%); you said "
        "<strong>legit</strong>." in html
    )
    decision = Decision.objects.get(case_id=case.pk)
    assert (decision.action, decision.final_label, decision.reason_code) == (
        "override",
        "legit",
        "wrong_label",
    )
    assert decision.was_blind


def test_blind_decision_matching_the_model_is_an_accept(client_for, reviewer, blind_model):
    """Naming the model's own label in blind review records an accept (plain form)."""
    factories.make_cases(blind_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case = _claim(client, blind_model)
    response = client.post(
        reverse("review-decide", args=[case.pk]),
        {"action": "label", "final_label": "fraud", "reason_code": "policy"},
        follow=True,
    )
    assert "the model said fraud (62%); you said fraud." in response.content.decode()
    decision = Decision.objects.get(case_id=case.pk)
    assert (decision.action, decision.reason_code) == ("accept", "")


def test_blind_decision_without_a_label_does_not_leak(client_for, reviewer, blind_model):
    """A blind form error says nothing about the model's label."""
    factories.make_cases(blind_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case = _claim(client, blind_model)
    response = client.post(
        reverse("review-decide", args=[case.pk]), {"action": "label", "final_label": ""}
    )
    assert response.status_code == 400
    assert "Choose a label" in response.content.decode()
    assert not Decision.objects.exists()


def test_lease_is_renewed_while_the_page_is_open(client_for, reviewer, ml_model, queued):
    """The htmx poll extends the lease and answers with the lease fragment."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    soon = timezone.now() + timedelta(seconds=30)
    Case.objects.filter(pk=case.pk).update(lease_expires_at=soon)
    response = client.post(reverse("review-renew", args=[case.pk]), **HTMX)
    assert response.status_code == 200
    assert response.content.decode().startswith('<span id="lease"')
    case.refresh_from_db()
    assert case.lease_expires_at > soon + timedelta(minutes=5)


def test_lease_renewal_after_losing_the_case_stops_polling(client_for, reviewer, ml_model, queued):
    """A renewal on a lost claim says so and no longer polls."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    client.post(reverse("review-release", args=[case.pk]))
    response = client.post(reverse("review-renew", args=[case.pk]), **HTMX)
    html = response.content.decode()
    assert "no longer yours" in html
    assert "hx-trigger" not in html


def test_actions_refuse_get(client_for, reviewer, ml_model, queued):
    """State changes only through POST."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    for name in ("review-decide", "review-release", "review-escalate", "review-renew"):
        assert client.get(reverse(name, args=[case.pk])).status_code == 405
    assert client.get(reverse("review-claim-next", args=[ml_model.slug])).status_code == 405


def test_forms_need_the_csrf_token(reviewer, ml_model, queued):
    """With CSRF checks on, a post without the token is refused."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    response = client.post(reverse("review-claim-next", args=[ml_model.slug]))
    assert response.status_code == 403
    assert not Case.objects.filter(status=CaseStatus.ASSIGNED).exists()


def test_htmx_escalate_and_skip_swap_panels(client_for, reviewer, ml_model, queued):
    """With htmx, escalate brings the next case and skip brings the queue list."""
    client = client_for(reviewer)
    first = _claim(client, ml_model)
    response = client.post(
        reverse("review-escalate", args=[first.pk]), {"note": "Needs a lead."}, **HTMX
    )
    html = response.content.decode()
    assert f'data-case-id="{queued[1]}"' in html
    assert f"Case #{first.pk} was escalated to the leads." in html
    response = client.post(reverse("review-release", args=[queued[1]]), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="case-panel" class="rv-panel rv-home"')
    assert f"Case #{queued[1]} went back to the queue." in html
    assert response["HX-Push-Url"] == reverse("review-home")


def test_htmx_form_error_comes_back_as_the_panel(client_for, reviewer, ml_model, queued):
    """An invalid override via htmx answers 400 with the panel, retargeted to replace it."""
    client = client_for(reviewer)
    case = _claim(client, ml_model)
    response = client.post(reverse("review-decide", args=[case.pk]), {"action": "override"}, **HTMX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#case-panel"
    assert 'aria-invalid="true"' in response.content.decode()
