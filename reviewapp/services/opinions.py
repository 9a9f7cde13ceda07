"""Second opinions (two-person review): a case whose policy asks for N independent reviewers
(``Case.reviews_required``, 2-3) collects one opinion per reviewer before anything is decided.

``case_decide`` hands the answer here while ``case_rules.answer_is_opinion`` holds. Each
opinion is stored (``CaseOpinion``) and audited as ``case.opinion_given`` in the decide
transaction; the case goes back to its queue for the next reviewer (claims never serve it to
someone who already answered it) until the last required opinion comes in. Then either all
opinions name the same label, and ``case_decide`` records the decision from the last one (the
usual publish path: one webhook and one feed row), or they differ, and the case is escalated
to the team's leads (``escalation_source="disagreement"``); the lead sees every opinion and
decides, and that decision is the one published. Nothing is published before.

A reviewer may undo their own opinion within the undo window while nobody has taken the case
since (``opinion_undo``): the case is theirs again, claimed.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from reviewapp.case_rules import opinion_undo_deadline, opinions_agree, time_spent_ms, undo_window
from reviewapp.errors import Conflict
from reviewapp.models import Case, CaseOpinion, CaseStatus, EscalationSource, User
from reviewapp.services.audit import audit_record

MAX_FEEDBACK_CHARS = 10_000


@dataclass(frozen=True)
class OpinionGiven:
    """An opinion just stored, the case's live opinions (oldest first, this one last), and
    whether they complete an agreement (the caller then records the decision)."""

    opinion: CaseOpinion
    opinions: list[CaseOpinion]
    agreed: bool


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def disagreement_note(opinions: list[CaseOpinion]) -> str:
    """The escalation note of a disagreement (no labels: the lead's page lists the opinions)."""
    return (
        f"{len(opinions)} independent reviewers gave different labels; "
        "their answers are listed on the case."
    )


def opinion_give(
    *,
    case: Case,
    reviewer: User,
    action: str,
    final_label: str,
    reason_code: str,
    feedback: str,
    explanation_helpful: bool | None,
    now: datetime,
) -> OpinionGiven:
    """Store REVIEWER's validated answer on CASE (locked, claimed by them, in the caller's
    transaction) as one independent opinion, and move the case on: back to the queue while
    opinions are missing, to the leads when the required opinions disagree. When they agree
    the case is left as it is and ``agreed`` is set: the caller decides it. 409
    ``opinion_given`` when this reviewer already gave a live opinion on the case."""
    live = list(
        CaseOpinion.objects.filter(case_id=case.pk, undone_at__isnull=True).order_by(
            "given_at", "id"
        )
    )
    if any(o.reviewer_id == reviewer.pk for o in live):
        raise Conflict(
            "You already gave your opinion on this case: it needs another reviewer.",
            code="opinion_given",
        )
    opinion = CaseOpinion.objects.create(
        case=case,
        ml_model_id=case.ml_model_id,
        reviewer=reviewer,
        action=action,
        final_label=final_label,
        reason_code=reason_code,
        feedback=(feedback or "")[:MAX_FEEDBACK_CHARS],
        explanation_helpful=explanation_helpful,
        time_spent_ms=time_spent_ms(case, now),
        was_blind=case.is_blind,
        given_at=now,
    )
    live.append(opinion)
    complete = len(live) >= case.reviews_required
    agreed = complete and opinions_agree(o.final_label for o in live)
    changes: dict[str, object] = {
        "opinion": opinion.pk,
        "action": action,
        "final_label": final_label,
        "reason_code": reason_code,
        "was_blind": case.is_blind,
        "opinions": [len(live), case.reviews_required],
    }
    if not agreed:
        before_status = case.status
        fields: dict[str, object] = {
            "status": CaseStatus.ESCALATED if complete else CaseStatus.QUEUED,
            "assigned_to": None,
            "claimed_at": None,
            "lease_expires_at": None,
        }
        if complete:
            fields |= {
                "escalated_at": now,
                "escalation_source": EscalationSource.DISAGREEMENT,
                "escalation_note": disagreement_note(live),
            }
        Case.objects.filter(pk=case.pk).update(**fields)
        for name, value in fields.items():
            setattr(case, name, value)
        changes |= {"status": [before_status, case.status], "assigned_to": [reviewer.pk, None]}
    audit_record(
        actor=reviewer,
        action="case.opinion_given",
        target_type="case",
        target_id=str(case.pk),
        changes=changes,
    )
    if complete and not agreed:
        audit_record(
            actor=None,
            action="case.escalated",
            target_type="case",
            target_id=str(case.pk),
            changes={
                "status": [CaseStatus.ASSIGNED, CaseStatus.ESCALATED],
                "escalated_at": [None, now.isoformat()],
                "escalation_source": ["", EscalationSource.DISAGREEMENT],
                "opinions": [o.pk for o in live],
            },
        )
    return OpinionGiven(opinion=opinion, opinions=live, agreed=agreed)


def opinion_undo(*, case: Case, reviewer: User, now: datetime) -> Case | None:
    """Withdraw REVIEWER's live opinion on CASE (locked, undecided, in the caller's
    transaction) within the undo window, when nobody has taken the case since: the opinion is
    kept, marked undone, and the case is the reviewer's claim again with a fresh lease (out of
    the leads' queue again when this opinion's disagreement had put it there). Audited as
    ``case.opinion_undone``. None when the reviewer has no live opinion on the case; 409
    ``undo_window_passed`` when it can no longer be undone."""
    opinion = (
        CaseOpinion.objects.filter(case_id=case.pk, reviewer=reviewer, undone_at__isnull=True)
        .order_by("-given_at")
        .first()
    )
    if opinion is None:
        return None
    seconds = f"{undo_window().total_seconds():g}"
    if opinion.was_blind:
        raise Conflict(
            "A blind opinion cannot be undone: it was given without the model's answer.",
            code="undo_window_passed",
        )
    if now >= opinion_undo_deadline(opinion):
        raise Conflict(
            f"Your opinion can be undone within {seconds} s of giving it.",
            code="undo_window_passed",
        )
    by_this = case.escalation_source == EscalationSource.DISAGREEMENT and (
        case.escalated_at is not None and case.escalated_at >= opinion.given_at
    )
    waiting = case.status == CaseStatus.QUEUED or (case.status == CaseStatus.ESCALATED and by_this)
    if not waiting:
        raise Conflict(
            "Someone has taken the case since your opinion; it can no longer be undone.",
            code="undo_window_passed",
        )
    CaseOpinion.objects.filter(pk=opinion.pk).update(undone_at=now)
    before = {
        "status": case.status,
        "escalated_at": _iso(case.escalated_at),
        "escalation_source": case.escalation_source,
    }
    fields: dict[str, object] = {
        "status": CaseStatus.ASSIGNED,
        "assigned_to": reviewer,
        "claimed_at": now,
        "lease_expires_at": now + timedelta(minutes=case.policy.lease_minutes),
    }
    if by_this:
        fields |= {"escalated_at": None, "escalation_source": "", "escalation_note": ""}
    Case.objects.filter(pk=case.pk).update(**fields)
    for name, value in fields.items():
        setattr(case, name, value)
    changes = {
        "status": [before["status"], CaseStatus.ASSIGNED],
        "assigned_to": [None, reviewer.pk],
        "lease_expires_at": [None, _iso(case.lease_expires_at)],
        "opinion": opinion.pk,
        "action": opinion.action,
        "final_label": opinion.final_label,
    }
    if by_this:
        changes |= {
            "escalated_at": [before["escalated_at"], None],
            "escalation_source": [before["escalation_source"], ""],
        }
    audit_record(actor=reviewer, action="case.opinion_undone", target=case, changes=changes)
    return case


def opinions_close_for_reopen(*, case: Case, now: datetime) -> int:
    """A lead reopened CASE: its live opinions belong to the round that ended, so they are
    closed (kept, ``undone_at`` set) and the case collects fresh ones. Returns how many."""
    if case.reviews_required <= 1:
        return 0
    return CaseOpinion.objects.filter(case_id=case.pk, undone_at__isnull=True).update(undone_at=now)


def opinion_withdraw_with_decision(*, case: Case, reviewer: User, now: datetime) -> int:
    """The decision that completed an agreement was undone: the opinion REVIEWER gave with it
    is withdrawn too, so that their next answer is their opinion again."""
    if case.reviews_required <= 1:
        return 0
    return CaseOpinion.objects.filter(
        case_id=case.pk, reviewer=reviewer, undone_at__isnull=True
    ).update(undone_at=now)
