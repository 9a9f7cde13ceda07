"""A reviewer's own work in words: progress line, filters and cursor, durations, stats
sentences, the lost-claim message and the blind-safe case record."""

from datetime import UTC, date, datetime, timedelta

import pytest

from reviewapp.errors import InvalidInput
from reviewapp.models import AuditEvent, Case, Decision, MLModel, User
from reviewapp.presentation.case_record import claim_lost_reason, decision_text, trail_rows
from reviewapp.presentation.history import (
    duration_text,
    history_cursor_decode,
    history_cursor_encode,
    history_params,
    progress_text,
    stats_days,
    stats_view,
)
from reviewapp.selectors.history import Progress, ReviewerStats
from reviewapp.selectors.queue import WaitingCount

NOW = datetime(2025, 3, 4, 10, 50, tzinfo=UTC)


def test_progress_text_reads_as_one_line():
    """Decided today and waiting (capped counts keep their "+")."""
    text = progress_text(Progress(decided_today=3, waiting=WaitingCount(10_000, capped=True)))
    assert text == "3 decided today · 10000+ waiting in this queue"


def test_history_params_accepts_offered_values_and_refuses_others():
    """Model, action and period from the query; anything not offered is InvalidInput."""
    models = [MLModel(slug="fraud-screening")]
    filters, period = history_params(
        {"model": "fraud-screening", "action": "override", "period": "7d"}, models=models, now=NOW
    )
    assert (filters.model_slug, filters.action, period) == ("fraud-screening", "override", "7d")
    assert filters.since == datetime(2025, 2, 26, tzinfo=UTC)
    assert history_params({}, models=models)[0].since is None
    for bad in ({"model": "other"}, {"action": "approve"}, {"period": "1y"}):
        with pytest.raises(InvalidInput) as caught:
            history_params(bad, models=models)
        assert set(caught.value.details) == set(bad)


def test_history_cursor_round_trips_and_refuses_garbage():
    """A decision's position encodes and decodes; a forged cursor is InvalidInput."""
    decision = Decision(pk=41, decided_at=NOW)
    assert history_cursor_decode(history_cursor_encode(decision)) == (NOW, 41)
    assert history_cursor_decode("") is None
    for bad in ("%%%", "bm90LWEtY3Vyc29y", "MjAyNS0wMy0wNHwx"):
        with pytest.raises(InvalidInput):
            history_cursor_decode(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0.2, "under 1 s"),
        (42, "42 s"),
        (120, "2 min"),
        (125, "2 min 5 s"),
        (4000, "1 h 6 min"),
    ],
)
def test_duration_text(seconds, text):
    """Durations read in the largest sensible units."""
    assert duration_text(seconds) == text


def test_stats_days_offers_three_periods():
    """7, 30 or 90 days (30 by default); anything else is InvalidInput."""
    assert stats_days({}) == 30
    assert stats_days({"days": "90"}) == 90
    with pytest.raises(InvalidInput):
        stats_days({"days": "31"})


def _stats(**over) -> ReviewerStats:
    base = {
        "date_from": date(2025, 2, 3),
        "date_to": date(2025, 3, 4),
        "models": [],
        "decided": 40,
        "acceptance_rate": 0.8,
        "time_spent_p50_s": 35.0,
        "blind_decided": 5,
        "blind_accept_rate": 0.6,
        "shown_accept_rate": 0.85,
        "override_reasons": {"wrong_label": 6, "policy": 2},
        "team_reviewers": 3,
        "team_acceptance_rate": 0.75,
        "team_time_spent_p50_s": 50.0,
        "team_blind_accept_rate": 0.7,
        "team_shown_accept_rate": 0.8,
        "team_override_reasons": {"wrong_label": 20, "data_error": 5},
        "refreshed_at": "2025-03-04T10:00:00+00:00",
    }
    return ReviewerStats(**{**base, **over})


def test_stats_view_sets_each_figure_beside_the_team_median():
    """Own value, team median and an informative sentence per figure; reasons as shares."""
    view = stats_view(_stats())
    lines = {line.key: line for line in view.lines}
    assert (lines["acceptance"].own, lines["acceptance"].team) == ("80%", "75%")
    assert "Neither number is a target" in lines["acceptance"].sentence
    assert (lines["time"].own, lines["time"].team) == ("35 s", "50 s")
    assert "60%" in lines["blind"].sentence
    assert "85%" in lines["blind"].sentence
    reasons = [(r.reason, r.own, r.own_share, r.team_share) for r in view.reasons]
    assert reasons == [
        ("wrong label", 6, "75%", "80%"),
        ("policy", 2, "25%", "0%"),
        ("data error", 0, "0%", "20%"),
    ]
    assert "median of the 3 people" in view.intro
    for word in ("too", "should", "bad", "poor"):
        assert word not in " ".join(line.sentence for line in view.lines).split()


def test_stats_view_without_decisions_says_so():
    """No decisions: dashes and plain sentences, not zeros."""
    view = stats_view(
        _stats(
            decided=0,
            acceptance_rate=None,
            time_spent_p50_s=None,
            blind_decided=0,
            blind_accept_rate=None,
            override_reasons={},
            team_reviewers=0,
        )
    )
    lines = {line.key: line for line in view.lines}
    assert lines["acceptance"].own == "—"
    assert lines["acceptance"].sentence == "You took no decisions in this period."
    assert "were blind reviews" in lines["blind"].sentence


# --- lost claims ---------------------------------------------------------------------------


def _people():
    rita = User(pk=1, username="rita", first_name="Rita", role="reviewer")
    lena = User(pk=2, username="lena", first_name="Lena", role="lead")
    ravi = User(pk=3, username="ravi", first_name="", role="reviewer")
    return rita, lena, ravi


def _event(
    action: str, actor: User | None, holders: tuple = (None, None), minutes_ago: int = 8
) -> AuditEvent:
    return AuditEvent(
        action=action,
        actor=actor,
        actor_label=actor.username if actor else "system",
        actor_role=actor.role if actor else "system",
        occurred_at=NOW - timedelta(minutes=minutes_ago),
        changes={"assigned_to": list(holders)},
    )


def _reason(events, *, people=None, case=None):
    rita, _, _ = _people()
    case = case or Case(pk=7, status="queued")
    return claim_lost_reason(case=case, user=rita, events=events, people=people, now=NOW)


def test_claim_lost_reason_names_who_took_the_claim_and_when():
    """Reassigned, released, lease and SLA: each in its own words, newest event first."""
    rita, lena, ravi = _people()
    claimed = _event("case.claimed", rita, (None, 1), minutes_ago=30)
    took = _event("case.reassigned", lena, (1, 2))
    assert _reason([took, claimed], people={2: lena}) == "Lena (lead) took this case at 10:42."
    gave = _event("case.reassigned", lena, (1, 3))
    assert _reason([gave, claimed], people={3: ravi}) == (
        "Lena (lead) gave this case to ravi at 10:42."
    )
    released = _event("case.released", lena, (1, None))
    assert _reason([released, claimed]) == "Lena (lead) released your claim at 10:42."
    expired = _event("case.lease_expired", None, (1, None))
    assert "ran out at 10:42" in _reason([expired, claimed])
    sla = _event("case.escalated", None, (1, None))
    assert "passed its SLA" in _reason([sla, claimed])
    decided_after = _event("case.decided", lena, (2, None), minutes_ago=2)
    assert _reason([decided_after, took, claimed], people={2: lena}).startswith("Lena (lead) took")
    yesterday = _event("case.reassigned", lena, (1, 2), minutes_ago=24 * 60)
    assert _reason([yesterday], people={2: lena}) == "Lena (lead) took this case at 3 Mar 10:50."


def test_claim_lost_reason_is_none_when_nothing_took_the_users_claim():
    """Never held, given back by the user, or claimed again since: no specific reason."""
    rita, lena, ravi = _people()
    assert _reason([]) is None
    assert _reason([_event("case.claimed", ravi, (None, 3))]) is None
    assert _reason([_event("case.released", rita, (1, None))]) is None
    again = _event("case.claimed", rita, (None, 1), minutes_ago=1)
    assert _reason([again, _event("case.released", lena, (1, None))]) is None


def test_claim_lost_reason_for_a_lapsed_lease_still_on_record():
    """Still the recorded claimant but the lease ran out: says when."""
    rita, _, _ = _people()
    case = Case(
        pk=7, status="assigned", assigned_to=rita, lease_expires_at=NOW - timedelta(minutes=3)
    )
    assert _reason([], case=case) == (
        "Your claim on case #7 ran out at 10:47; claim it again from the queue."
    )


def test_hidden_answer_leaves_no_trace_in_decisions_or_trail():
    """With the answer hidden: "Labelled X", and no answer fields among the trail details."""
    decision = Decision(action="accept", final_label="fraud")
    assert (
        decision_text(decision, predicted_label="fraud", answer_visible=False) == "Labelled fraud"
    )
    assert decision_text(decision, predicted_label="fraud", answer_visible=True) == "Accepted fraud"
    event = _event("case.decided", None)
    event.changes = {
        "status": ["assigned", "decided"],
        "final_label": ["fraud", "fraud"],
        "action": "accept",
    }
    hidden = trail_rows([event], answer_visible=False)[0]
    assert [name for name, _ in hidden.details] == ["status"]
    shown = trail_rows([event], answer_visible=True)[0]
    assert ("final label", "fraud → fraud") in shown.details
