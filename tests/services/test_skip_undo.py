"""Skip that skips (the claim passes over cases this reviewer skipped lately) and undo within
the undo window (nothing is published before the window ends; undone decisions never are)."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reviewapp.case_rules import decision_publish_at
from reviewapp.errors import Conflict
from reviewapp.models import (
    AuditEvent,
    Case,
    CaseSkip,
    CaseStatus,
    Decision,
    DeliveryStatus,
    Priority,
    Role,
    WebhookDelivery,
)
from reviewapp.selectors.feed import decision_feed_page
from reviewapp.selectors.queue import skips_by_reviewer, skips_for_cases
from reviewapp.services.decisions import case_decide, decision_undo
from reviewapp.services.queue import case_claim_next, case_escalate, case_release, case_skip
from reviewapp.services.webhooks import delivery_claim, delivery_resend, delivery_send
from reviewapp.tasks.webhooks import webhooks_send_due_task
from tests.factories import make_cases, make_model, make_team, make_user
from tests.services import test_webhooks

# The real local HTTP receiver and the hooked model of the webhook tests.
receiver = test_webhooks.receiver
allow_private = test_webhooks.allow_private
hooked = test_webhooks.hooked

WINDOW_S = 10


@pytest.fixture
def window(settings):
    """An undo window of WINDOW_S seconds (the test settings have none)."""
    settings.REVIEWAPP_UNDO_WINDOW_S = WINDOW_S
    return settings


def _claim(ml_model, reviewer) -> Case:
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert case is not None
    return case


def _age(decision: Decision, seconds: float) -> None:
    """Pretend DECISION was taken SECONDS ago."""
    Decision.objects.filter(pk=decision.pk).update(
        decided_at=timezone.now() - timedelta(seconds=seconds)
    )
    decision.refresh_from_db()


def _feed_ids(ml_model, expected: list[int]) -> list[int]:
    """The decision ids the pull feed serves, once they equal EXPECTED (on PostgreSQL the feed
    trails the oldest transaction running on the server: wait up to 30 s for it)."""
    deadline = time.monotonic() + (30 if connection.vendor == "postgresql" else 0)
    while True:
        ids = [
            row["decision_id"]
            for row in decision_feed_page(ml_model=ml_model, limit=1000).results
            if row["event"] == "case.decided"
        ]
        if ids == expected or time.monotonic() >= deadline:
            return ids
        time.sleep(0.05)


# --- skip -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_skip_then_claim_gives_another_waiting_case(ml_model, reviewer):
    """After a skip the same reviewer's next claim returns another waiting case."""
    first, second = make_cases(ml_model, 2)
    assert _claim(ml_model, reviewer).pk == first
    skip = case_skip(case=Case.objects.get(pk=first), reviewer=reviewer)
    assert skip.case.status == CaseStatus.QUEUED
    assert Case.objects.get(pk=first).assigned_to_id is None
    assert _claim(ml_model, reviewer).pk == second


@pytest.mark.django_db
def test_skipped_case_comes_back_when_it_is_the_only_one(ml_model, reviewer):
    """With nothing else waiting, the skipped case is offered to its skipper again."""
    (only,) = make_cases(ml_model, 1)
    case_skip(case=_claim(ml_model, reviewer), reviewer=reviewer)
    assert _claim(ml_model, reviewer).pk == only


@pytest.mark.django_db
def test_skipped_case_is_served_to_others_at_once(ml_model, reviewer):
    """A skip holds the case back from its skipper only: another reviewer gets it first."""
    first, _second = make_cases(ml_model, 2)
    case_skip(case=_claim(ml_model, reviewer), reviewer=reviewer)
    other = make_user(Role.REVIEWER, team=ml_model.team)
    assert _claim(ml_model, other).pk == first


@pytest.mark.django_db
def test_skip_cooldown_ends(ml_model, reviewer, settings):
    """Once REVIEWAPP_SKIP_COOLDOWN_S has passed, the skipped case is served in order again."""
    settings.REVIEWAPP_SKIP_COOLDOWN_S = 60
    first, second = make_cases(ml_model, 2)
    case_skip(case=_claim(ml_model, reviewer), reviewer=reviewer)
    CaseSkip.objects.update(skipped_at=timezone.now() - timedelta(seconds=61))
    assert _claim(ml_model, reviewer).pk == first
    settings.REVIEWAPP_SKIP_COOLDOWN_S = 0  # 0: skips are not held back at all
    case_skip(case=Case.objects.get(pk=first), reviewer=reviewer)
    assert _claim(ml_model, reviewer).pk == first
    assert Case.objects.get(pk=second).status == CaseStatus.QUEUED


@pytest.mark.django_db
def test_skipped_cases_come_last_in_serving_order(ml_model, reviewer):
    """Skipped cases are passed over even when urgent, and come back in serving order."""
    (urgent,) = make_cases(ml_model, 1, priority="urgent")
    (normal,) = make_cases(ml_model, 1)
    (high,) = make_cases(ml_model, 1, priority="high")
    assert _claim(ml_model, reviewer).pk == urgent
    case_skip(case=Case.objects.get(pk=urgent), reviewer=reviewer)
    assert _claim(ml_model, reviewer).pk == high
    case_skip(case=Case.objects.get(pk=high), reviewer=reviewer)
    assert _claim(ml_model, reviewer).pk == normal
    case_skip(case=Case.objects.get(pk=normal), reviewer=reviewer)
    # Everything waiting was skipped: serving order again (urgent first).
    assert Case.objects.get(pk=urgent).priority == Priority.URGENT
    assert _claim(ml_model, reviewer).pk == urgent


@pytest.mark.django_db
def test_lead_skipping_an_escalated_case_gets_the_queue_first(ml_model, reviewer, lead):
    """A lead's skipped escalated case goes back to the leads' queue; the lead's next claim
    serves a queued case rather than that one, and the escalated one when nothing else waits."""
    escalated_id, queued_id = make_cases(ml_model, 2)
    case_escalate(case=_claim(ml_model, reviewer), actor=reviewer, note="unsure")
    assert _claim(ml_model, lead).pk == escalated_id
    skip = case_skip(case=Case.objects.get(pk=escalated_id), reviewer=lead)
    assert skip.case.status == CaseStatus.ESCALATED
    assert _claim(ml_model, lead).pk == queued_id
    case_decide(case=Case.objects.get(pk=queued_id), reviewer=lead, action="accept")
    back = _claim(ml_model, lead)
    assert back.pk == escalated_id
    event = AuditEvent.objects.filter(action="case.claimed", target_id=str(escalated_id)).last()
    assert event.changes["from"] == "escalated"


@pytest.mark.django_db
def test_skip_needs_a_live_claim_and_is_audited(ml_model, reviewer):
    """Skipping a case you do not hold is 409; a skip is audited as case.skipped."""
    (case_id,) = make_cases(ml_model, 1)
    case = Case.objects.get(pk=case_id)
    with pytest.raises(Conflict) as refused:
        case_skip(case=case, reviewer=reviewer)
    assert refused.value.code == "no_live_claim"
    assert not CaseSkip.objects.exists()
    case_skip(case=_claim(ml_model, reviewer), reviewer=reviewer)
    (event,) = AuditEvent.objects.filter(action="case.skipped", target_id=str(case_id))
    assert event.actor == reviewer
    assert event.changes["status"] == ["assigned", "queued"]
    assert event.changes["assigned_to"] == [reviewer.pk, None]
    assert event.changes["cooldown_s"] == 600


@pytest.mark.django_db
def test_skip_counts_per_case_and_per_reviewer(ml_model, reviewer):
    """The selectors count skips per case (and distinct people) and per reviewer."""
    first, second = make_cases(ml_model, 2)
    other = make_user(Role.REVIEWER, team=ml_model.team, username="otis")
    case_skip(case=_claim(ml_model, reviewer), reviewer=reviewer)  # first, by rita
    case_skip(case=_claim(ml_model, reviewer), reviewer=reviewer)  # second, by rita
    case_skip(case=_claim(ml_model, other), reviewer=other)  # first, by otis
    assert _claim(ml_model, reviewer).pk == first  # all skipped by rita: order again
    case_skip(case=Case.objects.get(pk=first), reviewer=reviewer)
    counts = skips_for_cases([first, second, 999_999])
    assert (counts[first].skips, counts[first].reviewers) == (3, 2)
    assert (counts[second].skips, counts[second].reviewers) == (1, 1)
    assert 999_999 not in counts
    rows = skips_by_reviewer(ml_model=ml_model)
    assert [(r.username, r.skips, r.cases) for r in rows] == [("rita", 3, 2), ("otis", 1, 1)]
    CaseSkip.objects.filter(reviewer=other).update(skipped_at=timezone.now() - timedelta(days=2))
    assert [r.username for r in skips_by_reviewer(ml_model=ml_model)] == ["rita"]


@pytest.mark.django_db
def test_claim_after_skips_costs_no_extra_query(ml_model, reviewer):
    """Passing over skipped cases costs the claim no query: the same count as a claim with
    no skips (one pick statement on PostgreSQL; a read and a conditional update on SQLite)."""
    make_cases(ml_model, 4)
    case_release(case=_claim(ml_model, reviewer), actor=reviewer)  # warm: the user's teams
    with CaptureQueriesContext(connection) as plain:
        first = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_skip(case=first, reviewer=reviewer)
    with CaptureQueriesContext(connection) as after_skip:
        second = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert second.pk != first.pk
    assert len(after_skip.captured_queries) == len(plain.captured_queries)


# --- undo -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_undo_within_the_window_restores_the_claim(ml_model, reviewer, window):
    """The decider undoes within the window: the decision is kept superseded and undone, the
    case is theirs again with a fresh lease, and the transition is audited."""
    (case_id,) = make_cases(ml_model, 1)
    decision = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    case = decision_undo(case=Case.objects.get(pk=case_id), reviewer=reviewer)
    stored = Case.objects.get(pk=case_id)
    assert (stored.status, stored.assigned_to_id, stored.decided_at) == (
        CaseStatus.ASSIGNED,
        reviewer.pk,
        None,
    )
    assert stored.lease_expires_at > timezone.now() + timedelta(minutes=1)
    assert stored.lease_expires_at == case.lease_expires_at
    decision.refresh_from_db()
    assert decision.undone_at is not None
    assert decision.superseded_at == decision.undone_at
    (event,) = AuditEvent.objects.filter(action="case.decision_undone", target_id=str(case_id))
    assert event.actor == reviewer
    assert event.changes["status"] == ["decided", "assigned"]
    assert event.changes["decision"] == decision.pk
    # Theirs again: the claim gives it back and a new decision is current.
    assert _claim(ml_model, reviewer).pk == case_id
    again = case_decide(
        case=stored, reviewer=reviewer, action="override", final_label="legit", reason_code="other"
    )
    assert Decision.objects.get(case_id=case_id, superseded_at__isnull=True) == again


@pytest.mark.django_db
def test_undo_after_the_window_or_by_someone_else_is_409(ml_model, reviewer, lead, window):
    """undo_window_passed: after the window, for another person's decision, and for a case
    with no decision."""
    first, second = make_cases(ml_model, 2)
    decision = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    other = make_user(Role.REVIEWER, team=ml_model.team)
    for person in (other, lead):
        with pytest.raises(Conflict) as refused:
            decision_undo(case=Case.objects.get(pk=first), reviewer=person)
        assert refused.value.code == "undo_window_passed"
    with pytest.raises(Conflict) as refused:
        decision_undo(case=Case.objects.get(pk=second), reviewer=reviewer)
    assert refused.value.code == "undo_window_passed"
    _age(decision, WINDOW_S + 0.5)
    with pytest.raises(Conflict) as refused:
        decision_undo(case=Case.objects.get(pk=first), reviewer=reviewer)
    assert refused.value.code == "undo_window_passed"
    assert Case.objects.get(pk=first).status == CaseStatus.DECIDED
    assert not AuditEvent.objects.filter(action="case.decision_undone").exists()


@pytest.mark.django_db
def test_blind_decision_cannot_be_undone(ml_model, reviewer, window):
    """Saving a blind decision shows the model's answer: it is final at once (409)."""
    (case_id,) = make_cases(ml_model, 1)
    Case.objects.filter(pk=case_id).update(is_blind=True)
    decision = case_decide(
        case=_claim(ml_model, reviewer),
        reviewer=reviewer,
        action="override",
        final_label="legit",
        reason_code="other",
    )
    assert decision.was_blind
    with pytest.raises(Conflict) as refused:
        decision_undo(case=Case.objects.get(pk=case_id), reviewer=reviewer)
    assert refused.value.code == "undo_window_passed"
    assert "blind" in refused.value.message
    assert Case.objects.get(pk=case_id).status == CaseStatus.DECIDED


@pytest.mark.django_db
def test_no_undo_window_means_no_undo(ml_model, reviewer, settings):
    """REVIEWAPP_UNDO_WINDOW_S = 0: decisions publish at once and cannot be undone."""
    settings.REVIEWAPP_UNDO_WINDOW_S = 0
    (case_id,) = make_cases(ml_model, 1)
    decision = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    assert decision_publish_at(decision.decided_at) == decision.decided_at
    with pytest.raises(Conflict):
        decision_undo(case=Case.objects.get(pk=case_id), reviewer=reviewer)


@pytest.mark.django_db
def test_webhook_waits_for_the_window_and_undone_ones_are_never_sent(
    ml_model, reviewer, model_owner, receiver, hooked, window, django_capture_on_commit_callbacks
):
    """The decision's outbox row is due only after the window (the real receiver hears
    nothing before); an undone decision's row is cancelled and never sent, not even later or
    by hand; the decisions that stand are sent once their window has passed."""
    undone_id, _kept_id = make_cases(ml_model, 2)
    with django_capture_on_commit_callbacks(execute=True):
        undone = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    delivery = WebhookDelivery.objects.get(decision=undone)
    assert delivery.next_attempt_at == decision_publish_at(undone.decided_at)
    assert delivery.next_attempt_at >= undone.decided_at + timedelta(seconds=WINDOW_S)
    assert delivery.status == DeliveryStatus.PENDING  # the eager task found it not yet due
    assert delivery_send(delivery_id=delivery.pk) is None
    assert webhooks_send_due_task() == 0
    assert receiver.received == []

    decision_undo(case=Case.objects.get(pk=undone_id), reviewer=reviewer)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.CANCELLED
    later = timezone.now() + timedelta(seconds=WINDOW_S + 60)
    assert delivery_send(delivery_id=delivery.pk, now=later) is None
    with pytest.raises(Conflict):
        delivery_resend(delivery=delivery, actor=model_owner)

    redo = case_decide(case=Case.objects.get(pk=undone_id), reviewer=reviewer, action="accept")
    kept = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    pending = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).order_by("pk"))
    assert [d.decision_id for d in pending] == [redo.pk, kept.pk]
    for row in pending:
        assert delivery_send(delivery_id=row.pk, now=later).status == DeliveryStatus.DELIVERED
    bodies = [json.loads(r["body"]) for r in receiver.accepted]
    assert sorted(b["decision_id"] for b in bodies) == [redo.pk, kept.pk]
    assert undone.pk not in {json.loads(r["body"])["decision_id"] for r in receiver.received}


@pytest.mark.django_db
def test_undo_is_refused_once_a_sender_has_taken_the_delivery(ml_model, reviewer, hooked, window):
    """Should a sender already have claimed the outbox row (clock skew), publication has
    begun: the undo is refused and changes nothing."""
    (case_id,) = make_cases(ml_model, 1)
    decision = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert delivery_claim(delivery_id=delivery.pk, now=delivery.next_attempt_at) is not None
    with pytest.raises(Conflict) as refused:
        decision_undo(case=Case.objects.get(pk=case_id), reviewer=reviewer)
    assert refused.value.code == "undo_window_passed"
    decision.refresh_from_db()
    assert decision.undone_at is None
    assert Case.objects.get(pk=case_id).status == CaseStatus.DECIDED


@pytest.mark.django_db(transaction=True)
def test_feed_shows_a_decision_only_after_its_window_and_never_an_undone_one(
    ml_model, reviewer, window
):
    """The pull feed holds a decision back while it may be undone, never shows an undone
    one, and never serves a row past a decision it will show later (no gaps)."""
    _first_id, second_id, _third_id = make_cases(ml_model, 3)
    first = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    assert _feed_ids(ml_model, []) == []
    _age(first, WINDOW_S + 3)
    assert _feed_ids(ml_model, [first.pk]) == [first.pk]

    second = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    third = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    _age(third, WINDOW_S + 3)  # third's window is over, but second (before it) may be undone
    assert _feed_ids(ml_model, [first.pk]) == [first.pk]
    decision_undo(case=Case.objects.get(pk=second_id), reviewer=reviewer)
    assert _feed_ids(ml_model, [first.pk, third.pk]) == [first.pk, third.pk]
    _age(second, WINDOW_S + 60)
    assert _feed_ids(ml_model, [first.pk, third.pk]) == [first.pk, third.pk]  # never shown

    redo = case_decide(case=Case.objects.get(pk=second_id), reviewer=reviewer, action="accept")
    assert _feed_ids(ml_model, [first.pk, third.pk]) == [first.pk, third.pk]
    _age(redo, WINDOW_S + 3)
    expected = [first.pk, third.pk, redo.pk]
    assert _feed_ids(ml_model, expected) == expected


# --- PostgreSQL: concurrent claims with skips ------------------------------------------------


def _claim_in_thread(ml_model, reviewer, barrier, got: list, errors: list) -> None:
    try:
        barrier.wait()
        case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
        got.append(case.pk if case else None)
    except Exception as exc:  # surfaced by the test
        errors.append(repr(exc))
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_after_skips_never_share_a_case():
    """Ten reviewers who each skipped the same four cases claim at once: every waiting case
    (the skipped ones through the fall-back pick) goes to exactly one of them, and the two
    left over get nothing (SKIP LOCKED in both picks)."""
    team = make_team("skips")
    ml_model = make_model(team=team, slug="skip-model")
    reviewers = [make_user(Role.REVIEWER, team=team) for _ in range(10)]
    skipped = make_cases(ml_model, 4, priority="urgent")
    fresh = make_cases(ml_model, 4)
    now = timezone.now()
    CaseSkip.objects.bulk_create(
        CaseSkip(case_id=c, ml_model=ml_model, reviewer=r, skipped_at=now)
        for c in skipped
        for r in reviewers
    )
    got: list = []
    errors: list = []
    barrier = threading.Barrier(len(reviewers))
    threads = [
        threading.Thread(target=_claim_in_thread, args=(ml_model, r, barrier, got, errors))
        for r in reviewers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    taken = [pk for pk in got if pk is not None]
    assert len(taken) == len(set(taken)) == 8
    assert got.count(None) == 2
    assert set(fresh) <= set(taken)
    assert Case.objects.filter(status=CaseStatus.ASSIGNED).count() == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_undo_and_a_sender_racing_for_the_delivery(ml_model, reviewer, hooked, window):
    """While an undo's transaction is open it holds the outbox row's lock, so a sender (SKIP
    LOCKED) finds nothing to send; once it commits the row is cancelled for good."""
    (case_id,) = make_cases(ml_model, 1)
    decision = case_decide(case=_claim(ml_model, reviewer), reviewer=reviewer, action="accept")
    delivery = WebhookDelivery.objects.get(decision=decision)
    due = delivery.next_attempt_at
    undoing = threading.Event()
    tried = threading.Event()
    claimed: list = []

    def sender() -> None:
        try:
            undoing.wait(10)
            claimed.append(delivery_claim(delivery_id=delivery.pk, now=due))
        finally:
            tried.set()
            connections.close_all()

    thread = threading.Thread(target=sender)
    thread.start()
    with transaction.atomic():
        decision_undo(case=Case.objects.get(pk=case_id), reviewer=reviewer)
        undoing.set()
        assert tried.wait(10)
    thread.join(10)
    assert claimed == [None]
    assert delivery_claim(delivery_id=delivery.pk, now=due + timedelta(hours=1)) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.CANCELLED
