"""Second opinions on the pages: the next reviewer sees no earlier answer (case page, case
record and its audit trail), the lead of a disagreement sees every opinion, an auditor reads
them on the case record, and the adoption dashboard shows agreement per reviewer and pair."""

import pytest
from django.urls import reverse

from reviewapp.models import Case, Role, RoutingPolicy
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_person(ml_model):
    RoutingPolicy.objects.filter(ml_model=ml_model, status="active").update(reviewers_required=2)
    return ml_model


@pytest.fixture
def ron(team):
    return factories.make_user(Role.REVIEWER, team=team, username="ron")


def _answer(ml_model, user, label: str) -> Case:
    case = case_claim_next(ml_model=ml_model, reviewer=user)
    if label == case.predicted_label:
        case_decide(case=case, reviewer=user, action="accept")
    else:
        case_decide(
            case=case,
            reviewer=user,
            action="override",
            final_label=label,
            reason_code="missing_context",
            feedback="The note from rita's colleague",
        )
    return Case.objects.get(pk=case.pk)


def _page(client, user, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def test_next_reviewer_sees_no_earlier_answer(client, two_person, reviewer, ron, lead):
    """ron's case page says he is one of two reviewers and shows nothing of rita's answer; a
    lead reading the record while opinions are missing sees no label in the trail."""
    (case_id,) = factories.make_cases(two_person, 1, confidence=0.62)
    _answer(two_person, ron, "legit")
    case_claim_next(ml_model=two_person, reviewer=reviewer)
    page = _page(client, reviewer, reverse("review-case", kwargs={"case_id": case_id}))
    assert 'data-testid="second-opinion"' in page
    assert 'data-testid="opinions"' not in page
    assert "missing context" not in page
    assert "rita's colleague" not in page
    record = _page(client, lead, reverse("case-detail", kwargs={"case_id": case_id}))
    assert "gave an independent opinion" in record
    assert 'data-testid="opinions"' not in record
    assert "legit" not in record.split('data-testid="audit-trail"')[1]


def test_lead_sees_both_opinions_and_auditor_reads_them(
    client, two_person, reviewer, ron, lead, auditor
):
    """After a disagreement the lead's case page lists both answers with reason and
    feedback; the auditor's read-only record lists them too."""
    (case_id,) = factories.make_cases(two_person, 1, confidence=0.62)
    _answer(two_person, reviewer, "fraud")
    escalated = _answer(two_person, ron, "legit")
    assert escalated.escalation_source == "disagreement"
    assert case_claim_next(ml_model=two_person, reviewer=lead).pk == case_id
    page = _page(client, lead, reverse("review-case", kwargs={"case_id": case_id}))
    assert page.count('data-testid="opinion"') == 2
    assert "Independent reviewers disagreed" in page
    assert "missing context" in page
    assert "rita&#x27;s colleague" in page
    record = _page(client, auditor, reverse("case-detail", kwargs={"case_id": case_id}))
    assert record.count('data-testid="opinion"') == 2


def test_dashboard_shows_agreement_per_reviewer_and_pair(
    client, two_person, reviewer, ron, manager
):
    """The adoption dashboard's independent-reviewers card, worded as information."""
    factories.make_cases(two_person, 2, confidence=0.62)
    _answer(two_person, reviewer, "fraud")
    _answer(two_person, ron, "fraud")
    _answer(two_person, reviewer, "fraud")
    _answer(two_person, ron, "legit")
    page = _page(client, manager, reverse("dashboard-adoption"))
    card = page.split('data-testid="agreement-card"')[1].split("</section>")[0]
    assert "On 2 cases with independent reviewers" in card
    assert "50%" in card
    assert "rita &amp; ron" in card
    assert "not who is right" in card
