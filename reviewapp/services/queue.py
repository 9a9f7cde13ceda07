"""The review queue: claiming cases under a lease, renewing, releasing, reassigning and
escalating claims, and the periodic jobs that expire leases, escalate cases past their SLA
and expire cases past their availability lifetime.

Claims on PostgreSQL are one small transaction whose pick is a single
``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`` walking the partial
index ``case_queue_idx`` (so concurrent reviewers never wait on one another and never get
the same case), after a per-reviewer advisory lock that keeps one live claim per reviewer
and model even under double clicks; on SQLite,
which has no SKIP LOCKED, the same function picks a candidate and takes it with a
conditional ``UPDATE ... WHERE status='queued'``, retrying when another claimant won.
A case the reviewer skipped within REVIEWAPP_SKIP_COOLDOWN_S is passed over (``NOT EXISTS`` on
the small CaseSkip table, probed by its index per candidate) unless nothing else waits; on
PostgreSQL the fall-back is a second candidate in the same statement (``COALESCE`` of the
picks, evaluated only while the earlier ones found nothing).
A claim never serves a case to someone who already answered it: an opinion of theirs on it
(second opinions; probed only for cases that need more than one reviewer) or a decision of
theirs that was not undone (a reopened case), both ``NOT EXISTS`` in the same pick.
Every transition is one transaction that also writes its audit event, with the
before/after of the fields it changed (``{"field": [before, after]}``).
"""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case as Case_
from django.db.models import Exists, OuterRef, Q, QuerySet, When
from django.utils import timezone

from reviewapp.case_rules import case_lock, claim_is_live
from reviewapp.errors import Conflict, InvalidInput
from reviewapp.models import (
    AuditEvent,
    Case,
    CaseOpinion,
    CaseSkip,
    CaseStatus,
    Decision,
    EscalationSource,
    MLModel,
    ModelVersion,
    User,
)
from reviewapp.permissions import (
    Capability,
    user_can_release,
    user_can_take_escalated,
    user_has,
)
from reviewapp.selectors.rows import raw_first, row_list
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_event_build, audit_record, audit_record_many
from reviewapp.services.comments import escalation_comment_write
from reviewapp.services.webhooks import cases_expired_publish
from reviewapp.validation import text_problem

CLAIM_RETRIES = 5
BATCH_SIZE = 500
MAX_BATCHES = 20  # a periodic run handles at most BATCH_SIZE * MAX_BATCHES cases

CLAIM_FIELDS = ("status", "assigned_to_id", "claimed_at", "lease_expires_at")
HELD_FIELDS = ("id", "status", "assigned_to_id", "claimed_at", "lease_expires_at", "escalated_at")
SERVED_FIELDS = (
    *(f.name for f in Case._meta.concrete_fields),
    "policy__lease_minutes",
    "model_version__version",
)


def check(allowed: bool, *, user: User, action: str, case: Case) -> None:
    """Refuse (403) inside a service transaction; ``refusals_audited`` records it."""
    refuse(allowed, user=user, action=action, target_type="case", target_id=case.pk)


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _snapshot(case: Case, fields: Iterable[str]) -> dict[str, object]:
    return {name: getattr(case, name) for name in fields}


def _changes(before: dict[str, object], case: Case) -> dict[str, list]:
    """``{"field": [before, after]}`` for the fields that changed."""
    changes = {}
    for name, old in before.items():
        new = getattr(case, name)
        if old != new:
            changes[name.removesuffix("_id")] = [_iso(old), _iso(new)]
    return changes


def _skip_locked() -> bool:
    return connection.features.has_select_for_update_skip_locked


def _lock_case(case: Case) -> Case:
    return case_lock(case.pk)


def _waiting_status_after_claim(case: Case) -> str:
    """Where a claimed case goes back to when its claim ends without a decision."""
    return CaseStatus.ESCALATED if case.escalated_at else CaseStatus.QUEUED


def _clear_claim(case: Case) -> None:
    case.assigned_to = None
    case.claimed_at = None
    case.lease_expires_at = None


def _lease_for(case: Case, now: datetime) -> datetime:
    return now + timedelta(minutes=case.policy.lease_minutes)


# --- claiming ---------------------------------------------------------------------------


def _waiting(ml_model: MLModel, *, escalated: bool) -> QuerySet[Case]:
    """The model's queue (or its leads' escalated queue) in serving order, matching the
    partial indexes case_queue_idx / case_escalated_idx."""
    if escalated:
        return Case.objects.filter(ml_model=ml_model, status=CaseStatus.ESCALATED).order_by(
            "-priority", "escalated_at", "id"
        )
    return Case.objects.filter(ml_model=ml_model, status=CaseStatus.QUEUED).order_by(
        "-priority", "created_at", "id"
    )


def _claim_audit(case: Case, *, reviewer: User, from_status: str) -> None:
    """The claim's audit event (the claim fields were all empty while the case waited)."""
    before = dict.fromkeys(CLAIM_FIELDS)
    before["status"] = from_status
    audit_record(
        actor=reviewer,
        action="case.claimed",
        target_type="case",
        target_id=str(case.pk),
        changes={**_changes(before, case), "from": from_status},
    )


def _take(case: Case, *, reviewer: User, now: datetime, from_status: str) -> Case:
    case.status = CaseStatus.ASSIGNED
    case.assigned_to = reviewer
    case.claimed_at = now
    case.lease_expires_at = _lease_for(case, now)
    _claim_audit(case, reviewer=reviewer, from_status=from_status)
    return case


def _served(qs: QuerySet[Case]) -> QuerySet[Case]:
    """A claimed case as served to the reviewer: every case field, the version's name and
    the policy's lease length (selecting only those keeps the hot query cheap to compile)."""
    return qs.select_related("policy", "model_version").only(*SERVED_FIELDS)


def skip_cooldown() -> timedelta:
    """How long a skipped case is offered to others first (REVIEWAPP_SKIP_COOLDOWN_S)."""
    return timedelta(seconds=max(0, int(settings.REVIEWAPP_SKIP_COOLDOWN_S)))


def _pick_order(*, lead: bool, avoid_skipped: bool) -> list[tuple[str, bool]]:
    """The picks a claim tries in turn, as (status, pass over recent skips): a lead's
    escalated cases before the queue; cases this reviewer skipped lately only when no other
    case waits."""
    statuses = [CaseStatus.ESCALATED, CaseStatus.QUEUED] if lead else [CaseStatus.QUEUED]
    order = [(status, True) for status in statuses] if avoid_skipped else []
    return [*order, *((status, False) for status in statuses)]


# PostgreSQL: pick and lease in one statement (Procrastinate's shape): each candidate subquery
# walks a partial index (case_queue_idx or case_escalated_idx) and skips rows other claimants
# hold; COALESCE runs the next candidate only when the earlier ones found nothing (they are
# InitPlans, evaluated on first use). The lease length comes from the case's policy, the
# version name for the response body.
_PICK_SQL = """
WITH picked AS (
    UPDATE reviewapp_case AS c
       SET status = 'assigned', assigned_to_id = %(reviewer)s, claimed_at = %(now)s,
           lease_expires_at = %(now)s + make_interval(mins => p.lease_minutes)
      FROM reviewapp_routingpolicy AS p
     WHERE c.id = COALESCE({candidates})
       AND p.id = c.policy_id
 RETURNING c.*
)
SELECT picked.*, v.version AS model_version_name
  FROM picked JOIN reviewapp_modelversion AS v ON v.id = picked.model_version_id
"""
_CANDIDATE_SQL = """(SELECT q.id FROM reviewapp_case AS q
                    WHERE q.ml_model_id = %(model)s AND q.status = '{status}'{not_skipped}
                      AND (q.reviews_required = 1
                           OR NOT EXISTS (SELECT 1 FROM reviewapp_caseopinion AS o
                                           WHERE o.case_id = q.id
                                             AND o.reviewer_id = %(reviewer)s))
                      AND NOT EXISTS (SELECT 1 FROM reviewapp_decision AS d
                                       WHERE d.case_id = q.id AND d.reviewer_id = %(reviewer)s
                                         AND d.undone_at IS NULL)
                    ORDER BY q.priority DESC, q.{age} ASC, q.id ASC
                    LIMIT 1
                    FOR UPDATE OF q SKIP LOCKED)"""
_NOT_SKIPPED_SQL = """
                      AND NOT EXISTS (SELECT 1 FROM reviewapp_caseskip AS s
                                       WHERE s.case_id = q.id AND s.reviewer_id = %(reviewer)s
                                         AND s.skipped_at > %(skipped_since)s)"""


def _pick_sql(order: list[tuple[str, bool]]) -> str:
    candidates = ",\n".join(
        _CANDIDATE_SQL.format(
            status=status,
            age="escalated_at" if status == CaseStatus.ESCALATED else "created_at",
            not_skipped=_NOT_SKIPPED_SQL if avoid_skipped else "",
        )
        for status, avoid_skipped in order
    )
    return _PICK_SQL.format(candidates=candidates)


_PICK_SQL_BY_ORDER = {
    (lead, avoid): _pick_sql(_pick_order(lead=lead, avoid_skipped=avoid))
    for lead in (False, True)
    for avoid in (False, True)
}


def _claim_from(*, ml_model: MLModel, reviewer: User, now: datetime, lead: bool) -> Case | None:
    """Take the first waiting case of the model in serving order (a lead's escalated cases
    first), passing over the cases this reviewer skipped within the cooldown unless nothing
    else waits, and never one they already answered (an opinion, or a decision not undone);
    None when nothing waits."""
    cooldown = skip_cooldown()
    avoid = cooldown > timedelta(0)
    if connection.vendor == "postgresql":
        # As Case.objects.raw(), with the column mapping worked out once (rows.raw_first).
        case = raw_first(
            Case,
            _PICK_SQL_BY_ORDER[(lead, avoid)],
            {
                "reviewer": reviewer.pk,
                "now": now,
                "model": ml_model.pk,
                "skipped_since": now - cooldown,
            },
        )
        if case is None:
            return None
        case.model_version = ModelVersion(
            pk=case.model_version_id,
            ml_model_id=case.ml_model_id,
            version=case.model_version_name,
        )
        case.assigned_to = reviewer
        _claim_audit(case, reviewer=reviewer, from_status=_waiting_status_after_claim(case))
        return case
    recently_skipped = CaseSkip.objects.filter(
        case=OuterRef("pk"), reviewer=reviewer, skipped_at__gt=now - cooldown
    )
    answered = Q(reviews_required__gt=1) & Exists(
        CaseOpinion.objects.filter(case=OuterRef("pk"), reviewer=reviewer)
    )
    decided = Decision.objects.filter(case=OuterRef("pk"), reviewer=reviewer, undone_at=None)
    for status, avoid_skipped in _pick_order(lead=lead, avoid_skipped=avoid):
        qs = _served(_waiting(ml_model, escalated=status == CaseStatus.ESCALATED))
        qs = qs.exclude(answered).filter(~Exists(decided))
        if avoid_skipped:
            qs = qs.filter(~Exists(recently_skipped))
        for _attempt in range(CLAIM_RETRIES):
            case = qs.first()
            if case is None:
                break
            lease = _lease_for(case, now)
            taken = Case.objects.filter(pk=case.pk, status=status).update(
                status=CaseStatus.ASSIGNED,
                assigned_to=reviewer,
                claimed_at=now,
                lease_expires_at=lease,
            )
            if taken:
                return _take(case, reviewer=reviewer, now=now, from_status=status)
    return None


def _held_claims(ml_model_id: int, reviewer_id: int, now: datetime) -> QuerySet[Case]:
    """The reviewer's claims on the model (first) and a few leases that ran out. Read with
    ``row_list``, which compiles the SQL once: every claim runs it."""
    return (
        Case.objects.filter(status=CaseStatus.ASSIGNED, ml_model_id=ml_model_id)
        .filter(Q(assigned_to_id=reviewer_id) | Q(lease_expires_at__lte=now))
        .only(*HELD_FIELDS)
        .order_by(Case_(When(assigned_to_id=reviewer_id, then=0), default=1), "lease_expires_at")[
            :20
        ]
    )


def _serialise_per_reviewer(*, reviewer: User, ml_model: MLModel) -> None:
    """Two concurrent claims by one reviewer on one model must not both lease a case: on
    PostgreSQL they queue on a transaction-scoped advisory lock (SQLite serialises writers)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [(reviewer.pk % 2**31), (ml_model.pk % 2**31) | 0x40000000],
            )


@refusals_audited
def case_claim_next(*, ml_model: MLModel, reviewer: User) -> Case | None:
    """Lease the next case of the model's queue to the reviewer, or return None when nothing
    is waiting. A reviewer holding a live claim on the model gets that case again; a lead is
    served escalated cases first. Cases the reviewer skipped within REVIEWAPP_SKIP_COOLDOWN_S
    come last (only when nothing else waits). Leases whose time ran out (the caller's own, and
    a few from the lease index) go back to the queue first."""
    refuse(
        user_has(reviewer, Capability.REVIEW, ml_model),
        user=reviewer,
        action="case.claim",
        target_type="mlmodel",
        target_id=ml_model.slug,
    )
    now = timezone.now()
    with transaction.atomic():
        _serialise_per_reviewer(reviewer=reviewer, ml_model=ml_model)
        held = row_list(_held_claims, ml_model.pk, reviewer.pk, now)
        for case in held:
            if claim_is_live(case, reviewer, now=now):
                return _served(Case.objects.filter(pk=case.pk)).get()
        stale = [c for c in held if c.lease_expires_at and c.lease_expires_at <= now]
        if stale:
            _leases_return(stale, now=now)
        return _claim_from(
            ml_model=ml_model,
            reviewer=reviewer,
            now=now,
            lead=user_can_take_escalated(reviewer, ml_model),
        )


def _system_event(case: Case, action: str, changes: dict[str, list]) -> AuditEvent:
    """An audit event of a periodic job (no actor) about CASE."""
    return audit_event_build(
        actor=None, action=action, target_type="case", target_id=str(case.pk), changes=changes
    )


def _leases_return(cases: list[Case], *, now: datetime) -> int:
    """Give expired claims back (to the queue, or to the leads' queue when escalated). Each
    case moves only if it is still the same expired claim (a conditional update)."""
    events = []
    for case in cases:
        before = _snapshot(case, CLAIM_FIELDS)
        target = _waiting_status_after_claim(case)
        moved = Case.objects.filter(
            pk=case.pk,
            status=CaseStatus.ASSIGNED,
            assigned_to_id=case.assigned_to_id,
            lease_expires_at=case.lease_expires_at,
        ).update(status=target, assigned_to=None, claimed_at=None, lease_expires_at=None)
        if not moved:
            continue
        case.status = target
        _clear_claim(case)
        events.append(_system_event(case, "case.lease_expired", _changes(before, case)))
    audit_record_many(events)
    return len(events)


# --- transitions of a claim -------------------------------------------------------------


@transaction.atomic
def case_lease_renew(*, case: Case, reviewer: User) -> Case:
    """Extend the claimant's live lease by the policy's lease length."""
    case = _lock_case(case)
    now = timezone.now()
    if not claim_is_live(case, reviewer, now=now):
        raise Conflict("You hold no live claim on this case.", code="no_live_claim")
    before = _snapshot(case, ("lease_expires_at",))
    case.lease_expires_at = _lease_for(case, now)
    case.save(update_fields=["lease_expires_at"])
    audit_record(
        actor=reviewer, action="case.lease_renewed", target=case, changes=_changes(before, case)
    )
    return case


@refusals_audited
@transaction.atomic
def case_release(*, case: Case, actor: User) -> Case:
    """The claimant (or a lead of the team) gives the case back: to the queue, or to the
    leads' queue when it was escalated."""
    case = _lock_case(case)
    if case.status != CaseStatus.ASSIGNED:
        raise Conflict("The case is not claimed.", code="not_claimed")
    check(user_can_release(actor, case=case), user=actor, action="case.release", case=case)
    before = _snapshot(case, CLAIM_FIELDS)
    case.status = _waiting_status_after_claim(case)
    _clear_claim(case)
    case.save(update_fields=["status", *CLAIM_FIELDS[1:]])
    audit_record(actor=actor, action="case.released", target=case, changes=_changes(before, case))
    return case


@refusals_audited
@transaction.atomic
def case_skip(*, case: Case, reviewer: User) -> CaseSkip:
    """The claimant passes on the case: it goes back to its queue (the leads' queue when it
    was escalated) and this reviewer's next claims serve other waiting cases first for
    REVIEWAPP_SKIP_COOLDOWN_S. The skip is recorded (counted per case and per reviewer on the
    queue overview) and audited as ``case.skipped``. 409 without a live claim."""
    case = _lock_case(case)
    check(
        user_has(reviewer, Capability.REVIEW, case.ml_model),
        user=reviewer,
        action="case.skip",
        case=case,
    )
    now = timezone.now()
    if not claim_is_live(case, reviewer, now=now):
        raise Conflict("You hold no live claim on this case.", code="no_live_claim")
    before = _snapshot(case, CLAIM_FIELDS)
    case.status = _waiting_status_after_claim(case)
    _clear_claim(case)
    case.save(update_fields=["status", *CLAIM_FIELDS[1:]])
    skip = CaseSkip.objects.create(
        case=case, ml_model_id=case.ml_model_id, reviewer=reviewer, skipped_at=now
    )
    audit_record(
        actor=reviewer,
        action="case.skipped",
        target=case,
        changes={**_changes(before, case), "cooldown_s": int(skip_cooldown().total_seconds())},
    )
    return skip


@refusals_audited
@transaction.atomic
def claim_reassign(*, case: Case, lead: User, to_user: User) -> Case:
    """A lead hands a claimed (or waiting) case to another reviewer or lead of the team,
    with a fresh lease."""
    case = _lock_case(case)
    check(
        user_has(lead, Capability.LEAD, case.ml_model),
        user=lead,
        action="case.reassign",
        case=case,
    )
    if not user_has(to_user, Capability.REVIEW, case.ml_model):
        raise InvalidInput(
            f"{to_user.get_username()} is not a reviewer or lead of this model's team.",
            details={"to": ["Not a reviewer or lead of this team."]},
        )
    if case.escalated_at and not user_can_take_escalated(to_user, case.ml_model):
        raise InvalidInput(
            "An escalated case can only go to a lead.", details={"to": ["Must be a lead."]}
        )
    if case.status not in (CaseStatus.ASSIGNED, CaseStatus.QUEUED, CaseStatus.ESCALATED):
        raise Conflict(f"A {case.status} case cannot be reassigned.", code="not_claimable")
    now = timezone.now()
    before = _snapshot(case, CLAIM_FIELDS)
    case.status = CaseStatus.ASSIGNED
    case.assigned_to = to_user
    case.claimed_at = now
    case.lease_expires_at = _lease_for(case, now)
    case.save(update_fields=list(CLAIM_FIELDS))
    audit_record(actor=lead, action="case.reassigned", target=case, changes=_changes(before, case))
    return case


@refusals_audited
@transaction.atomic
def case_escalate(*, case: Case, actor: User, note: str) -> Case:
    """The claimant hands the case to the team's leads, with a note saying why."""
    note = (note or "").strip()
    if not note:
        raise InvalidInput("Say why you escalate.", details={"note": ["Required."]})
    if problem := text_problem(note):  # the note is also the first comment: refuse it whole
        raise InvalidInput(f"note: {problem}", details={"note": [problem]})
    case = _lock_case(case)
    check(
        user_has(actor, Capability.REVIEW, case.ml_model),
        user=actor,
        action="case.escalate",
        case=case,
    )
    if not claim_is_live(case, actor, now=timezone.now()):
        raise Conflict("You hold no live claim on this case.", code="no_live_claim")
    before = _snapshot(case, (*CLAIM_FIELDS, "escalated_at", "escalation_source"))
    case.status = CaseStatus.ESCALATED
    _clear_claim(case)
    case.escalated_at = timezone.now()
    case.escalation_source = EscalationSource.REVIEWER
    case.escalation_note = note[:5000]
    case.save(
        update_fields=[
            "status",
            *CLAIM_FIELDS[1:],
            "escalated_at",
            "escalation_source",
            "escalation_note",
        ]
    )
    audit_record(
        actor=actor,
        action="case.escalated",
        target=case,
        changes={**_changes(before, case), "note": case.escalation_note},
    )
    escalation_comment_write(case=case, author=actor, note=case.escalation_note)
    return case


# --- periodic jobs ----------------------------------------------------------------------


def _locked_batch(qs: QuerySet[Case]) -> list[Case]:
    if _skip_locked():
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return list(qs[:BATCH_SIZE])


def _in_batches(
    due: Callable[[datetime], QuerySet[Case]], handle: Callable[[list[Case], datetime], int]
) -> int:
    """Run a periodic job: up to MAX_BATCHES transactions, each locking (skip locked) up to
    BATCH_SIZE of the cases DUE(now) selects and passing them to HANDLE(cases, now), which
    returns how many it moved. Returns the total."""
    total = 0
    for _batch in range(MAX_BATCHES):
        now = timezone.now()
        with transaction.atomic():
            cases = _locked_batch(due(now))
            if not cases:
                break
            total += handle(cases, now)
        if len(cases) < BATCH_SIZE:
            break
    return total


def leases_expire() -> int:
    """Return every claim whose lease ran out to its queue. Returns how many moved."""
    return _in_batches(
        lambda now: Case.objects.filter(
            status=CaseStatus.ASSIGNED, lease_expires_at__lte=now
        ).order_by("lease_expires_at"),
        lambda cases, now: _leases_return(cases, now=now),
    )


def _cases_escalate_sla(cases: list[Case], now: datetime) -> int:
    events = []
    for case in cases:
        before = _snapshot(case, (*CLAIM_FIELDS, "escalated_at", "escalation_source"))
        case.status = CaseStatus.ESCALATED
        _clear_claim(case)
        case.escalated_at = now
        case.escalation_source = EscalationSource.SLA
        events.append(_system_event(case, "case.escalated", _changes(before, case)))
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(
        status=CaseStatus.ESCALATED,
        assigned_to=None,
        claimed_at=None,
        lease_expires_at=None,
        escalated_at=now,
        escalation_source=EscalationSource.SLA,
    )
    audit_record_many(events)
    return len(cases)


def cases_escalate_overdue() -> int:
    """Escalate queued or claimed cases past their SLA to the leads (source "sla"). Cases
    that a lead already holds after an escalation are left alone."""
    return _in_batches(
        lambda now: Case.objects.filter(
            status__in=(CaseStatus.QUEUED, CaseStatus.ASSIGNED),
            sla_due_at__lte=now,
            escalated_at__isnull=True,
        ).order_by("sla_due_at", "id"),
        _cases_escalate_sla,
    )


def _cases_expire_now(cases: list[Case], now: datetime) -> int:
    """Expire CASES (locked, in the job's transaction): status, audit event per case, and the
    ``case.expired`` event for the pull feed and the model's webhook (cases_expired_publish)."""
    by_fallback: dict[str, list[int]] = {}
    events = []
    for case in cases:
        before = _snapshot(case, ("status", "expired_at", "fallback_applied"))
        case.status = CaseStatus.EXPIRED
        case.expired_at = now
        case.fallback_applied = case.policy.fallback_action
        by_fallback.setdefault(case.fallback_applied, []).append(case.pk)
        changes = _changes(before, case)
        if case.fallback_applied == "apply_model":
            changes["final_label"] = [None, case.predicted_label]
        events.append(_system_event(case, "case.expired", changes))
    for fallback, ids in by_fallback.items():
        Case.objects.filter(pk__in=ids).update(
            status=CaseStatus.EXPIRED, expired_at=now, fallback_applied=fallback
        )
    audit_record_many(events)
    cases_expired_publish(cases=cases)
    return len(cases)


def cases_expire() -> int:
    """Expire queued or escalated cases past their availability lifetime and record the
    policy's fallback: ``apply_model`` (the model's label stands), ``reject`` or ``hold``;
    each expiry is published as a ``case.expired`` event (feed and webhook)."""
    return _in_batches(
        lambda now: (
            Case.objects.filter(
                status__in=(CaseStatus.QUEUED, CaseStatus.ESCALATED), expires_at__lte=now
            )
            .select_related("policy", "ml_model", "model_version")
            .order_by("expires_at", "id")
        ),
        _cases_expire_now,
    )
