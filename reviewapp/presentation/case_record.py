"""The read-only case page in words: each decision (current and superseded) and each audit
event of the case as a row with a sentence, and the message a reviewer reads when their claim
was ended by someone else ("Lena (lead) took this case at 10:42").

While a blind case is undecided, a person who may decide it must not learn the model's answer
from its record either: an earlier decision's accept/override and the audit events' changed
fields would give it away, so ``answer_visible=False`` leaves them out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from reviewapp.models import AuditEvent, Case, Decision, DecisionAction, User

ROLE_NAMES = {
    "reviewer": "reviewer",
    "lead": "lead",
    "manager": "manager",
    "model_owner": "model owner",
    "auditor": "auditor",
    "admin": "admin",
    "service_account": "service account",
}
EVENT_SENTENCES = {
    "case.submitted": "submitted the case",
    "case.routed": "routed the case",
    "case.claimed": "claimed the case",
    "case.lease_renewed": "kept the claim",
    "case.released": "released the claim",
    "case.reassigned": "reassigned the case",
    "case.lease_expired": "the claim expired",
    "case.escalated": "escalated the case",
    "case.decided": "decided the case",
    "case.undone": "withdrew the decision",
    "case.skipped": "skipped the case",
    "case.reopened": "reopened the case",
    "case.opinion_given": "gave an independent opinion",
    "case.opinion_undone": "withdrew their opinion",
    "case.requeued": "put the case back in the queue",
    "case.expired": "the case expired",
    "case.viewed": "viewed the case",
    "permission.denied": "was refused an action",
}
# Changed fields that can reveal the model's answer of a blind case.
ANSWER_FIELDS = frozenset(
    {"final_label", "action", "predicted_label", "confidence", "scores", "reason_code"}
)


def person_name(user: User | None, fallback: str = "") -> str:
    """A person's first name (else their username, else FALLBACK or "the system")."""
    if user is None:
        return fallback or "the system"
    return user.first_name or user.get_username()


def clock(when: datetime, *, now: datetime | None = None) -> str:
    """ "10:42" today, "3 Mar 10:42" on another day (local time)."""
    now = timezone.localtime(now or timezone.now())
    local = timezone.localtime(when)
    if local.date() == now.date():
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %H:%M')}"


# --- decisions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionRow:
    decision: Decision
    who: str
    text: str
    reason: str
    current: bool
    superseded_at: datetime | None


def decision_text(decision: Decision, *, predicted_label: str, answer_visible: bool) -> str:
    """What a decision said, as a short sentence."""
    if not answer_visible:
        return f"Labelled {decision.final_label}"
    if decision.action == DecisionAction.OVERRIDE:
        return f"Overrode {predicted_label} with {decision.final_label}"
    return f"Accepted {decision.final_label}"


def decision_rows(
    decisions: Iterable[Decision], *, case: Case, answer_visible: bool
) -> list[DecisionRow]:
    return [
        DecisionRow(
            decision=d,
            who=person_name(d.reviewer),
            text=decision_text(
                d, predicted_label=case.predicted_label, answer_visible=answer_visible
            )
            + (" (blind review)" if d.was_blind else ""),
            reason=d.reason_code.replace("_", " ") if answer_visible else "",
            current=d.superseded_at is None,
            superseded_at=d.superseded_at,
        )
        for d in decisions
    ]


# --- the audit trail -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailRow:
    event: AuditEvent
    who: str
    role: str
    text: str
    details: list[tuple[str, str]]


def _detail_value(value: object) -> str:
    if isinstance(value, list) and len(value) == 2:
        before, after = value
        return (
            f"{'—' if before in (None, '') else before} → {'—' if after in (None, '') else after}"
        )
    return str(value)


def trail_rows(events: Iterable[AuditEvent], *, answer_visible: bool) -> list[TrailRow]:
    """Each audit event as who, what (a sentence) and its changed fields (without the fields
    that would reveal a hidden answer)."""
    rows = []
    for event in events:
        details = [
            (name.replace("_", " "), _detail_value(value))
            for name, value in (event.changes or {}).items()
            if answer_visible or name not in ANSWER_FIELDS
        ]
        rows.append(
            TrailRow(
                event=event,
                who=person_name(event.actor, event.actor_label),
                role=ROLE_NAMES.get(event.actor_role, ""),
                text=EVENT_SENTENCES.get(event.action, event.action),
                details=details,
            )
        )
    return rows


# --- a lost claim ----------------------------------------------------------------------------

GENERIC_LOST = (
    "Case #{pk} is not claimed by you: it may have been decided, released, escalated, or your "
    "claim on it expired."
)


def _holders(event: AuditEvent) -> tuple[object, object]:
    """(holder before, holder after) the event, from its ``assigned_to`` change."""
    change = (event.changes or {}).get("assigned_to")
    if isinstance(change, list) and len(change) == 2:
        return change[0], change[1]
    return None, None


def claim_lost_reason(
    *,
    case: Case,
    user: User,
    events: list[AuditEvent],
    people: dict[int, User] | None = None,
    now: datetime | None = None,
) -> str | None:
    """Why USER no longer holds CASE, in words ("Lena (lead) took this case at 10:42"), from
    the case's latest claim events (EVENTS, newest first; PEOPLE: new holders by id): the
    newest event that took the case from USER names who and when. None when nothing took a
    claim of USER's (they never held it, or gave it back themselves)."""
    people = people or {}
    lease_end = case.lease_expires_at
    if case.assigned_to_id == user.pk and lease_end is not None:
        # Still recorded as the claimant, but the lease ran out before the periodic job
        # gave the case back.
        return (
            f"Your claim on case #{case.pk} ran out at {clock(lease_end, now=now)}; "
            "claim it again from the queue."
        )
    for event in events:
        before, after = _holders(event)
        if event.action == "case.claimed" and after == user.pk:
            return None  # the newest claim of USER's; nothing after it took it away
        if before != user.pk:
            continue
        return _taken_text(case, user, event, people.get(after), now=now)
    return None


def _taken_text(
    case: Case, user: User, event: AuditEvent, receiver: User | None, *, now: datetime | None
) -> str | None:
    at = clock(event.occurred_at, now=now)
    if event.actor_id is not None and event.actor_id == user.pk:
        return None  # released, escalated or decided it themselves
    who = person_name(event.actor, event.actor_label)
    role = ROLE_NAMES.get(event.actor_role, "")
    someone = f"{who} ({role})" if role else who
    if event.action == "case.reassigned":
        if receiver is None or receiver.pk == event.actor_id:
            return f"{someone} took this case at {at}."
        return f"{someone} gave this case to {person_name(receiver)} at {at}."
    if event.action == "case.released":
        return f"{someone} released your claim at {at}."
    if event.action == "case.lease_expired":
        return f"Your claim on case #{case.pk} ran out at {at}; the case went back to the queue."
    if event.action == "case.escalated" and event.actor_id is None:
        return f"Case #{case.pk} passed its SLA and went to the leads at {at}."
    return None
