"""The rules of a case, each with one owner that services, selectors, the API and the pages
ask: whether a claim is live, how a blind reviewer's label becomes an accept or an override,
what routing text a person may read, whether an answer is one of several independent opinions,
how a case is locked for a transition, and how long a decision may be undone (and so when it
may be published).

Who may see the model's answer lives in ``permissions.user_may_see_model_answer``.
"""

import functools
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from reviewapp.models import (
    Case,
    CaseOpinion,
    CaseStatus,
    Decision,
    DecisionAction,
    RoutingReason,
    User,
)
from reviewapp.permissions import user_may_see_model_answer
from reviewapp.selectors.rows import row_first

BLIND_ROUTING_TEXT = "Picked for blind review"
BLIND_ROUTING_CODE = "blind_review"
# Publication waits this much longer than the undo window, so that an undo accepted just
# before the window closed has committed before anyone can read the decision.
UNDO_PUBLISH_MARGIN = timedelta(seconds=2)


def claim_is_live(case: Case, user: User, *, now: datetime | None = None) -> bool:
    """USER holds CASE under a lease that has not run out."""
    now = now or timezone.now()
    return (
        case.status == CaseStatus.ASSIGNED
        and case.assigned_to_id == user.pk
        and case.lease_expires_at is not None
        and case.lease_expires_at > now
    )


def undo_window() -> timedelta:
    """How long a reviewer may undo their decision (REVIEWAPP_UNDO_WINDOW_S; 0: never)."""
    return timedelta(seconds=max(0.0, float(settings.REVIEWAPP_UNDO_WINDOW_S)))


def decision_undo_deadline(decision: Decision) -> datetime:
    """Until when DECISION may be undone (exclusive)."""
    return decision.decided_at + undo_window()


def opinion_undo_deadline(opinion: CaseOpinion) -> datetime:
    """Until when an independent OPINION may be undone (exclusive): the same window."""
    return opinion.given_at + undo_window()


def time_spent_ms(case: Case, now: datetime) -> int:
    """Milliseconds from CASE's claim to NOW: the time a decision or an opinion records."""
    return max(0, int((now - (case.claimed_at or now)).total_seconds() * 1000))


def decision_may_undo(decision: Decision, user: User, *, now: datetime | None = None) -> bool:
    """USER took DECISION, it is still the case's current one, and its window is open. A
    blind decision is final at once: saving it showed the model's answer, so a second try
    would no longer be blind."""
    now = now or timezone.now()
    return (
        not decision.was_blind
        and decision.reviewer_id == user.pk
        and decision.superseded_at is None
        and decision.undone_at is None
        and now < decision_undo_deadline(decision)
    )


def decision_publish_at(decided_at: datetime) -> datetime:
    """When a decision taken at DECIDED_AT may be published (webhook, pull feed): once it can
    no longer be undone. At once when there is no undo window."""
    window = undo_window()
    return decided_at + window + UNDO_PUBLISH_MARGIN if window else decided_at


def blind_label_outcome(case: Case, *, action: str, final_label: str) -> str:
    """The action a decision really is. In a blind case the reviewer names a label without
    seeing the model's: naming the model's own label is an accept (agreement), any other an
    override. Shown cases keep the action the reviewer chose."""
    if case.is_blind and action == DecisionAction.OVERRIDE and final_label == case.predicted_label:
        return DecisionAction.ACCEPT
    return action


def answer_is_opinion(case: Case) -> bool:
    """Whether a reviewer's answer on CASE is one independent opinion (second opinions) rather
    than its decision: the case needs more than one reviewer and no lead has it. A lead decides
    an escalated case (a disagreement, or an SLA or reviewer escalation) directly."""
    return case.reviews_required > 1 and case.escalated_at is None


def opinions_agree(labels: Iterable[str]) -> bool:
    """Independent opinions agree when they name the same final label."""
    return len(set(labels)) <= 1


def reviews_required_shown(case: Case, user: User | None) -> int | None:
    """How many independent reviewers CASE needs, as USER may read it: hidden (None) while
    the model's answer is, since "this case needs two reviewers" can give away a high-stakes
    label or a low confidence."""
    return case.reviews_required if user_may_see_model_answer(user, case) else None


def routing_codes(case: Case, user: User | None) -> list[str]:
    """The routing reason codes USER may read (a neutral code while the answer is hidden:
    "always-review label" or "low confidence" would give the model's answer away)."""
    if not user_may_see_model_answer(user, case):
        return [BLIND_ROUTING_CODE]
    return list(case.routing_reasons)


def routing_text(case: Case, user: User | None) -> str:
    """Why the case waits for a person, as a sentence USER may read."""
    if not user_may_see_model_answer(user, case):
        return BLIND_ROUTING_TEXT
    return case.routing_detail or routing_labels(case.routing_reasons)


def routing_labels(codes: Iterable[str]) -> str:
    return "; ".join(RoutingReason(code).label for code in codes if code in RoutingReason.values)


def case_lock(
    case_id: int,
    *,
    related: tuple[str, ...] = ("ml_model", "policy"),
    only: tuple[str, ...] = (),
) -> Case:
    """Re-read a case under a row lock (PostgreSQL; SQLite serialises writers) inside the
    caller's transaction: every transition of a case goes through here. ONLY narrows the
    columns read (and must name the related fields it follows)."""
    case = row_first(_case_locked(tuple(related), tuple(only)), int(case_id))
    if case is None:
        raise Case.DoesNotExist("Case matching query does not exist.")
    return case


@functools.cache
def _case_locked(related: tuple[str, ...], only: tuple[str, ...]) -> Callable[[int], QuerySet]:
    """One query builder per shape, so that ``row_first`` compiles each once."""

    def build(case_id: int) -> QuerySet[Case]:
        qs = Case.objects.select_for_update(of=("self",)).select_related(*related)
        if only:
            qs = qs.only(*only)
        return qs.filter(pk=case_id)

    return build
