"""Reading a reviewer's own work: the progress counts, the keyset list of own decisions, the
stats beside the team median, and a case's record and claim-ending event."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import Case, Decision, Role
from reviewapp.selectors.case_record import case_record, claim_history, user_decided_case
from reviewapp.selectors.history import (
    HistoryFilters,
    my_decisions_page,
    review_progress,
    reviewer_stats,
)
from reviewapp.services.decisions import case_decide, decision_reopen
from reviewapp.services.queue import case_claim_next, case_escalate, case_release, claim_reassign
from reviewapp.services.rollups import rollups_refresh
from tests import factories

pytestmark = pytest.mark.django_db


def _decide(ml_model, user, action="accept") -> Case:
    case = case_claim_next(ml_model=ml_model, reviewer=user)
    extra = {"final_label": "legit", "reason_code": "policy"} if action == "override" else {}
    case_decide(case=case, reviewer=user, action=action, **extra)
    return case


def test_review_progress_counts_own_decisions_today_and_the_queue(
    ml_model, reviewer, lead, django_assert_num_queries
):
    """Today's own decisions only; waiting = queued (plus escalated for a lead); 2 queries."""
    factories.make_cases(ml_model, 6, confidence=0.6)
    old = _decide(ml_model, reviewer)
    Decision.objects.filter(case=old).update(decided_at=timezone.now() - timedelta(days=2))
    _decide(ml_model, reviewer)
    _decide(ml_model, lead)
    escalated = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_escalate(case=escalated, actor=reviewer, note="unsure")
    with django_assert_num_queries(2):
        progress = review_progress(user=reviewer, ml_model=ml_model)
    assert (progress.decided_today, int(progress.waiting)) == (1, 2)
    lead_progress = review_progress(user=lead, ml_model=ml_model)
    assert (lead_progress.decided_today, int(lead_progress.waiting)) == (1, 3)


def test_my_decisions_page_walks_newest_first_without_gaps(ml_model, reviewer, team):
    """Pages of 4 over 10 decisions with equal timestamps: each once, newest first."""
    factories.make_cases(ml_model, 11, confidence=0.6)
    ids = [_decide(ml_model, reviewer).pk for _ in range(10)]
    _decide(ml_model, factories.make_user(Role.REVIEWER, team=team))
    same = timezone.now() - timedelta(hours=1)
    Decision.objects.filter(case_id__in=ids[3:7]).update(decided_at=same)
    seen, after = [], None
    while True:
        page = my_decisions_page(user=reviewer, filters=HistoryFilters(), after=after, limit=4)
        seen += [d.case_id for d in page.decisions]
        if not page.has_more:
            break
        last = page.decisions[-1]
        after = (last.decided_at, last.pk)
    expected = list(
        Decision.objects.filter(reviewer=reviewer)
        .order_by("-decided_at", "-id")
        .values_list("case_id", flat=True)
    )
    assert seen == expected
    assert sorted(seen) == sorted(ids)


def test_my_decisions_page_leaves_out_models_no_longer_visible(ml_model, reviewer, other_team):
    """A decision on a model of a team the reviewer left is not listed."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    _decide(ml_model, reviewer)
    reviewer.memberships.all().delete()
    reviewer.memberships.create(team=other_team)
    reviewer._team_ids_cache = None
    page = my_decisions_page(user=reviewer, filters=HistoryFilters())
    assert page.decisions == []


def test_reviewer_stats_sets_own_figures_beside_team_medians(ml_model, reviewer, team):
    """Own acceptance 1.0, another reviewer's 0.0: the team median is 0.5; own reasons only
    in the own breakdown."""
    other = factories.make_user(Role.REVIEWER, team=team)
    factories.make_cases(ml_model, 4, confidence=0.6)
    _decide(ml_model, reviewer)
    _decide(ml_model, reviewer)
    _decide(ml_model, other, action="override")
    _decide(ml_model, other, action="override")
    rollups_refresh(days=[timezone.localdate()], ml_model=ml_model)
    today = timezone.localdate()
    stats = reviewer_stats(user=reviewer, date_from=today - timedelta(days=6), date_to=today)
    assert (stats.decided, stats.acceptance_rate) == (2, 1.0)
    assert stats.team_acceptance_rate == 0.5
    assert stats.team_reviewers == 2
    assert stats.override_reasons == {}
    assert stats.team_override_reasons == {"policy": 2}


def test_case_record_and_claim_events(ml_model, reviewer, lead):
    """All decisions (superseded too), the audit trail in order, the claim events newest
    first with the people they handed the case to."""
    factories.make_cases(ml_model, 1, confidence=0.6)
    case = _decide(ml_model, reviewer)
    decision_reopen(case=Case.objects.get(pk=case.pk), lead=lead, note="again")
    # The reopened case never goes back to the person who decided it: another reviewer claims.
    assert case_claim_next(ml_model=ml_model, reviewer=reviewer) is None
    other = factories.make_user(team=ml_model.team, username="other-reviewer")
    claimed = case_claim_next(ml_model=ml_model, reviewer=other)
    claim_reassign(case=claimed, lead=lead, to_user=lead)
    record = case_record(case)
    assert len(record.decisions) == 1
    assert record.decisions[0].superseded_at is not None
    actions = [e.action for e in record.audit_events]
    assert actions[0] == "case.submitted"
    assert actions[-1] == "case.reassigned"
    history = claim_history(case)
    assert [e.action for e in history.events][:3] == [
        "case.reassigned",
        "case.claimed",
        "case.reopened",
    ]
    assert set(history.people) >= {other.pk, lead.pk}
    assert user_decided_case(user=reviewer, case=case)
    assert not user_decided_case(user=lead, case=case)
    case_release(case=Case.objects.get(pk=case.pk), actor=lead)
    assert claim_history(case).events[0].action == "case.released"
