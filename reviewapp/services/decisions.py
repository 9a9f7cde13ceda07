"""Deciding a case (accept or override), the reviewer undoing their decision within the undo
window, and a lead reopening a decision.

"What happens when a reviewer overrides a case" is ``case_decide``: the claimant with a live
lease records the outcome; the case becomes decided, the claim ends, the audit event and the
webhook outbox row are written in the same transaction. The outbox row is not due before the
undo window has closed (``case_rules.decision_publish_at``), and the pull feed holds the
decision back as long; ``decision_undo`` withdraws it before anything was published.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from reviewapp.case_rules import (
    answer_is_opinion,
    blind_label_outcome,
    case_lock,
    claim_is_live,
    decision_may_undo,
    time_spent_ms,
    undo_window,
)
from reviewapp.errors import Conflict, InvalidInput
from reviewapp.models import Case, CaseOpinion, CaseStatus, Decision, DecisionAction, User
from reviewapp.permissions import Capability, user_can_decide, user_has
from reviewapp.selectors.guidelines import guidelines_version_number
from reviewapp.selectors.rows import row_insert, row_update, update_query
from reviewapp.services.access import refusals_audited
from reviewapp.services.audit import audit_record
from reviewapp.services.opinions import (
    opinion_give,
    opinion_undo,
    opinion_withdraw_with_decision,
    opinions_close_for_reopen,
)
from reviewapp.services.queue import check
from reviewapp.services.webhooks import decision_deliveries_cancel, decision_publish

MAX_FEEDBACK_CHARS = 10_000
# What deciding reads (and the webhook body: external_id, version, model slug/webhook).
DECIDE_FIELDS = (
    "id",
    "status",
    "external_id",
    "predicted_label",
    "is_blind",
    "reviews_required",
    "assigned_to_id",
    "claimed_at",
    "lease_expires_at",
    "escalated_at",
    "decided_at",
    "sla_due_at",
    "expires_at",
    "escalation_source",
    "ml_model",
    "policy__reason_codes",
    "policy__sla_minutes",
    "policy__availability_minutes",
    "model_version__version",
)


def _case_decided(case_id: int, now: datetime) -> UpdateQuery:
    """The case's UPDATE when it is decided (its claim ends), compiled once by ``row_update``:
    every decision runs it."""
    return update_query(
        Case.objects.filter(pk=case_id),
        status=CaseStatus.DECIDED,
        decided_at=now,
        assigned_to=None,
        claimed_at=None,
        lease_expires_at=None,
    )


def _lock_case(case: Case) -> Case:
    """The case under a row lock, with only the fields deciding and reopening read."""
    return case_lock(case.pk, related=("ml_model", "policy", "model_version"), only=DECIDE_FIELDS)


def _validated_outcome(
    *, case: Case, action: str, final_label: str, reason_code: str
) -> tuple[str, str, str]:
    """(action, final label, reason code), or InvalidInput naming the bad fields.

    A blind reviewer's label becomes an accept or an override by ``blind_label_outcome``."""
    errors: dict[str, list[str]] = {}
    if blind_label_outcome(case, action=action, final_label=final_label) != action:
        action, reason_code = DecisionAction.ACCEPT, ""
    if action == DecisionAction.ACCEPT:
        if final_label and final_label != case.predicted_label:
            errors["final_label"] = [
                "Accepting keeps the model's label; use override to change it."
            ]
        final_label, reason_code = case.predicted_label, reason_code or ""
        if reason_code and reason_code not in case.policy.reason_codes:
            errors["reason_code"] = [f"Not one of: {', '.join(case.policy.reason_codes)}."]
    elif action == DecisionAction.OVERRIDE:
        labels = case.ml_model.labels
        if final_label not in labels:
            errors["final_label"] = [f"Must be one of: {', '.join(labels)}."]
        elif final_label == case.predicted_label:
            errors["final_label"] = ["An override must change the label; use accept instead."]
        if reason_code not in case.policy.reason_codes:
            errors["reason_code"] = [
                f"An override needs a reason code, one of: {', '.join(case.policy.reason_codes)}."
            ]
    else:
        errors["action"] = ['Must be "accept" or "override".']
    if errors:
        field, messages = next(iter(errors.items()))
        raise InvalidInput(f"{field}: {messages[0]}", details=errors)
    return action, final_label, reason_code


@refusals_audited
@transaction.atomic
def case_decide(
    *,
    case: Case,
    reviewer: User,
    action: str,
    final_label: str = "",
    reason_code: str = "",
    feedback: str = "",
    explanation_helpful: bool | None = None,
) -> Decision | CaseOpinion:
    """Record the claimant's decision: ``accept`` (the model's label stands) or ``override``
    (another label of the set, with one of the policy's reason codes). Only the claimant with
    a live lease may decide (a lead for escalated cases); 409 when there is no live claim or
    the case is already decided.

    On a case that needs independent reviewers (``case_rules.answer_is_opinion``) the answer
    is one opinion (``services.opinions.opinion_give``), returned as a CaseOpinion while the
    case waits for more or goes to the leads on a disagreement; the Decision is recorded (and
    published) only when the required opinions agree, from the last one."""
    case = _lock_case(case)
    check(
        user_has(reviewer, Capability.REVIEW, case.ml_model),
        user=reviewer,
        action="case.decide",
        case=case,
    )
    now = timezone.now()
    if case.status == CaseStatus.DECIDED:
        raise Conflict("The case is already decided.", code="already_decided")
    if not claim_is_live(case, reviewer, now=now):
        raise Conflict("You hold no live claim on this case: claim it first.", code="no_live_claim")
    check(user_can_decide(reviewer, case=case), user=reviewer, action="case.decide", case=case)
    action, final_label, reason_code = _validated_outcome(
        case=case, action=action, final_label=final_label, reason_code=reason_code
    )
    opinions = 0
    if answer_is_opinion(case):
        given = opinion_give(
            case=case,
            reviewer=reviewer,
            action=action,
            final_label=final_label,
            reason_code=reason_code,
            feedback=feedback,
            explanation_helpful=explanation_helpful,
            now=now,
        )
        if not given.agreed:
            return given.opinion
        opinions = len(given.opinions)
    # The INSERT is compiled once (selectors.rows.row_insert; the row save() would write).
    decision = row_insert(
        Decision(
            case=case,
            ml_model=case.ml_model,
            reviewer=reviewer,
            action=action,
            final_label=final_label,
            reason_code=reason_code,
            feedback=(feedback or "")[:MAX_FEEDBACK_CHARS],
            explanation_helpful=explanation_helpful,
            time_spent_ms=time_spent_ms(case, now),
            was_blind=case.is_blind,
            decided_at=now,
            guidelines_version=guidelines_version_number(case.ml_model_id),
        )
    )
    before = {"status": case.status, "assigned_to": reviewer.pk}
    row_update(_case_decided, case.pk, now)
    case.status, case.decided_at = CaseStatus.DECIDED, now
    case.assigned_to, case.claimed_at, case.lease_expires_at = None, None, None
    audit_record(
        actor=reviewer,
        action="case.decided",
        target_type="case",
        target_id=str(case.pk),
        changes={
            "status": [before["status"], CaseStatus.DECIDED],
            "assigned_to": [before["assigned_to"], None],
            "decision": decision.pk,
            "action": action,
            "final_label": [case.predicted_label, final_label],
            "reason_code": reason_code,
            "was_blind": case.is_blind,
            "guidelines_version": decision.guidelines_version,
            **({"agreed_opinions": opinions} if opinions else {}),
        },
    )
    decision_publish(decision=decision)
    return decision


def _undo_refused(message: str) -> Conflict:
    return Conflict(message, code="undo_window_passed")


@refusals_audited
@transaction.atomic
def decision_undo(*, case: Case, reviewer: User) -> Case:
    """The reviewer withdraws their own decision on CASE within REVIEWAPP_UNDO_WINDOW_S of
    taking it. The decision row is kept for the record, superseded and marked undone; its
    outbox rows are cancelled (nothing was sent: publication waits for the window) and the
    pull feed never shows it; the case is the reviewer's claim again, with a fresh lease.
    Audited as ``case.decision_undone``. 409 ``undo_window_passed`` after the window, for a
    case whose current decision is not the caller's, and for a blind decision (final at once:
    saving it showed the model's answer)."""
    case = case_lock(case.pk, related=("ml_model", "policy", "model_version"))
    check(
        user_has(reviewer, Capability.REVIEW, case.ml_model),
        user=reviewer,
        action="case.undo",
        case=case,
    )
    now = timezone.now()
    seconds = f"{undo_window().total_seconds():g}"
    if case.reviews_required > 1 and case.status != CaseStatus.DECIDED:
        undone = opinion_undo(case=case, reviewer=reviewer, now=now)
        if undone is not None:
            return undone
    decision = (
        Decision.objects.filter(case=case, superseded_at__isnull=True).first()
        if case.status == CaseStatus.DECIDED
        else None
    )
    if decision is not None and decision.was_blind and decision.reviewer_id == reviewer.pk:
        raise _undo_refused(
            "A blind decision cannot be undone: saving it showed you the model's answer."
        )
    if decision is None or not decision_may_undo(decision, reviewer, now=now):
        raise _undo_refused(
            f"There is no decision of yours on this case to undo: a decision can be undone "
            f"by the person who took it within {seconds} s."
        )
    if not decision_deliveries_cancel(decision=decision):
        raise _undo_refused("The decision is already being published; it can no longer be undone.")
    Decision.objects.filter(pk=decision.pk).update(superseded_at=now, undone_at=now)
    opinion_withdraw_with_decision(case=case, reviewer=reviewer, now=now)
    before = {
        "status": case.status,
        "assigned_to": case.assigned_to_id,
        "decided_at": case.decided_at,
        "lease_expires_at": case.lease_expires_at,
    }
    case.status = CaseStatus.ASSIGNED
    case.assigned_to = reviewer
    case.claimed_at = now
    case.lease_expires_at = now + timedelta(minutes=case.policy.lease_minutes)
    case.decided_at = None
    case.save(
        update_fields=["status", "assigned_to", "claimed_at", "lease_expires_at", "decided_at"]
    )
    audit_record(
        actor=reviewer,
        action="case.decision_undone",
        target=case,
        changes={
            "status": [before["status"], case.status],
            "assigned_to": [before["assigned_to"], reviewer.pk],
            "decided_at": [
                before["decided_at"].isoformat() if before["decided_at"] else None,
                None,
            ],
            "lease_expires_at": [None, case.lease_expires_at.isoformat()],
            "decision": decision.pk,
            "action": decision.action,
            "final_label": decision.final_label,
        },
    )
    return case


@refusals_audited
@transaction.atomic
def decision_reopen(*, case: Case, lead: User, note: str) -> Case:
    """A lead reopens a decided case: its current decision is superseded and the case waits
    in the queue again with a fresh SLA (and lifetime, when the old one has run out)."""
    note = (note or "").strip()
    if not note:
        raise InvalidInput("Say why you reopen the case.", details={"note": ["Required."]})
    case = _lock_case(case)
    check(
        user_has(lead, Capability.LEAD, case.ml_model),
        user=lead,
        action="case.reopen",
        case=case,
    )
    if case.status != CaseStatus.DECIDED:
        raise Conflict("Only a decided case can be reopened.", code="not_decided")
    now = timezone.now()
    superseded = Decision.objects.filter(case=case, superseded_at__isnull=True).update(
        superseded_at=now
    )
    opinions_closed = opinions_close_for_reopen(case=case, now=now)
    before = {
        "status": case.status,
        "decided_at": case.decided_at,
        "sla_due_at": case.sla_due_at,
        "expires_at": case.expires_at,
        "escalated_at": case.escalated_at,
        "escalation_source": case.escalation_source,
    }
    policy = case.policy
    case.status = CaseStatus.QUEUED
    case.decided_at = None
    case.sla_due_at = now + timedelta(minutes=policy.sla_minutes)
    case.expires_at = max(
        case.expires_at or now, now + timedelta(minutes=policy.availability_minutes)
    )
    case.escalated_at = None
    case.escalation_source = ""
    case.save(update_fields=list(before))
    changes = {
        name: [
            old.isoformat() if hasattr(old, "isoformat") else old,
            (new.isoformat() if hasattr(new, "isoformat") else new),
        ]
        for name, old in before.items()
        if old != (new := getattr(case, name))
    }
    audit_record(
        actor=lead,
        action="case.reopened",
        target=case,
        changes={
            **changes,
            "note": note[:5000],
            "superseded_decisions": superseded,
            **({"opinions_closed": opinions_closed} if opinions_closed else {}),
        },
    )
    return case
