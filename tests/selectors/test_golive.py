"""The go-live evidence of shadow mode (selectors.golive): known answers on a synthetic set,
only shadow-mode cases counted, the threshold what-if restricted to them, and the page."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from reviewapp.models import Case
from reviewapp.presentation.golive import golive_figures
from reviewapp.selectors.golive import golive_report
from reviewapp.selectors.health import wilson_interval
from reviewapp.services.decisions import case_decide
from reviewapp.services.outcomes import outcomes_record
from reviewapp.services.policies import policy_decide, policy_propose
from reviewapp.services.queue import case_claim_next
from tests.factories import make_cases

pytestmark = pytest.mark.django_db


def decide_all(ml_model, reviewer, labels: dict[int, str]) -> None:
    """The reviewer claims every waiting case and names LABELS[case id] (blind or not)."""
    while (case := case_claim_next(ml_model=ml_model, reviewer=reviewer)) is not None:
        label = labels[case.pk]
        agree = label == case.predicted_label
        case_decide(
            case=case,
            reviewer=reviewer,
            action="accept" if agree and not case.is_blind else "override",
            final_label=label,
            reason_code="" if agree else "wrong_label",
        )


def window():
    now = timezone.now()
    return now - timedelta(days=1), now + timedelta(minutes=1)


@pytest.fixture
def evidence(ml_model, service_account, model_owner, manager, reviewer):
    """Before shadow mode: 10 low-confidence cases, all overridden (must not count). Then in
    shadow mode, all predicted "fraud": 60 at 0.95 (people agree on 57) and 40 at 0.55
    (people agree on 20); outcomes "fraud" for the 60 confident ones only."""
    early = make_cases(ml_model, 10, confidence=0.55, label="fraud")
    decide_all(ml_model, reviewer, dict.fromkeys(early, "legit"))
    proposal = policy_propose(
        ml_model=ml_model, proposer=model_owner, changes={"shadow_mode": True}
    )
    policy_decide(policy=proposal, manager=manager, approve=True)
    high = make_cases(ml_model, 60, confidence=0.95, label="fraud")
    low = make_cases(ml_model, 40, confidence=0.55, label="fraud")
    labels = {pk: ("fraud" if i < 57 else "legit") for i, pk in enumerate(high)}
    labels |= {pk: ("fraud" if i < 20 else "legit") for i, pk in enumerate(low)}
    decide_all(ml_model, reviewer, labels)
    external = dict(Case.objects.filter(pk__in=high).values_list("pk", "external_id"))
    observed = timezone.now().isoformat()
    items = [
        {"external_id": external[pk], "label": "fraud", "observed_at": observed} for pk in high
    ]
    results = outcomes_record(ml_model=ml_model, items=items, actor=service_account[0])
    assert {r.status for r in results} == {"created"}
    return ml_model


def test_known_answers_on_the_shadow_evidence(evidence):
    """Agreement 77/100 with its Wilson interval; against outcomes the model is right on 60/60
    and the people on 57/60 (gain -0.05); the 10 earlier cases are left out."""
    start, end = window()
    report = golive_report(evidence, start=start, end=end)
    assert (report.received, report.decided, report.agreed) == (100, 100, 77)
    assert report.agreement == pytest.approx(0.77)
    assert report.agreement_ci == pytest.approx(wilson_interval(77, 100))
    assert report.shadow_on
    reviewed = report.quality["reviewed"]
    assert report.quality["outcomes"] == 60
    assert reviewed["n"] == 60
    assert reviewed["model_accuracy"] == pytest.approx(1.0)
    assert reviewed["final_accuracy"] == pytest.approx(0.95)
    assert report.quality["review_gain"] == pytest.approx(-0.05)


def test_threshold_what_if_on_the_shadow_cases_only(evidence):
    """At 0.90 the model would auto-approve the 60 confident cases (60%), on which people
    agreed 57 times (95%); at 0.50 it would take all 100 at 77%."""
    start, end = window()
    rows = {r.threshold: r for r in golive_report(evidence, start=start, end=end).thresholds}
    at_90, at_50 = rows[0.9], rows[0.5]
    assert at_90.share_auto_approved == pytest.approx(0.60)
    assert at_90.agreement == pytest.approx(0.95)
    assert at_90.what_if.sample_size == 60
    assert (at_90.outcomes, at_90.outcomes_right) == (60, 60)
    assert at_50.share_auto_approved == pytest.approx(1.0)
    assert at_50.agreement == pytest.approx(0.77)
    assert at_50.what_if.sample_size == 100
    assert rows[0.6].what_if.sample_size == 60, "the 0.55 band lies below 0.60"


def test_period_excludes_cases_received_outside_it(evidence):
    """A window that ends before the cases arrived counts none of them."""
    start = timezone.now() - timedelta(days=3)
    report = golive_report(evidence, start=start, end=start + timedelta(days=1))
    assert (report.received, report.decided, report.quality["outcomes"]) == (0, 0, 0)
    assert golive_figures(report)["verdict"].startswith("No shadow-mode case")


def test_page_shows_the_figures_to_managers_and_owners(evidence, manager, model_owner, reviewer):
    """The go-live page prints agreement, outcome accuracies and the what-if rows; reviewers
    get 403; a bad period is a 400."""
    for person in (manager, model_owner):
        client = Client()
        client.force_login(person)
        response = client.get(f"/models/{evidence.slug}/go-live?days=7")
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-testid="agreement">77%' in html
        assert 'data-testid="model-outcome-accuracy">100%' in html
        assert 'data-testid="people-outcome-accuracy">95%' in html
        assert 'data-threshold="0.90"' in html
    client = Client()
    client.force_login(reviewer)
    assert client.get(f"/models/{evidence.slug}/go-live").status_code == 403
    client.force_login(manager)
    assert client.get(f"/models/{evidence.slug}/go-live?from=soon").status_code == 400


def test_a_model_never_in_shadow_mode_costs_two_queries(
    ml_model, reviewer, django_assert_num_queries
):
    """No shadow-mode policy, ever: nothing to count, whatever the volume (the active policy
    and the shadow policies looked up), and the report says there is no evidence."""
    cases = make_cases(ml_model, 12, confidence=0.55, label="fraud")
    decide_all(ml_model, reviewer, dict.fromkeys(cases, "legit"))
    start, end = window()
    with django_assert_num_queries(2):
        report = golive_report(ml_model, start=start, end=end)
    assert (report.received, report.decided, report.agreed) == (0, 0, 0)
    assert report.quality["outcomes"] == 0
    assert not report.enough_evidence
    assert sum(b.received for b in report.bands) == 0
    assert [t.what_if.sample_size for t in report.thresholds] == [0] * len(report.thresholds)
