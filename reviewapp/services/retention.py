"""Retention and erasure: removing a finished case's content while keeping what metrics,
label exports and the audit chain need.

What is removed (``case_content_remove``), for a case whose model has ``retention_days`` once
that many days have passed since it was decided, auto-approved or expired, or at once for one
case on request (``case_erase``):

- the case's ``input`` and ``metadata`` (to ``{}``) and ``explanation`` (to null);
- the free text people wrote about it: ``feedback`` of its decisions and independent opinions
  (to ``""``), its comments (the text replaced by a fixed note; the constraint keeps comments
  non-empty), its escalation note;
- copies in the outbox and the feed: ``input``, ``metadata`` and ``explanation`` keys are
  dropped and ``feedback`` emptied in webhook payloads of its decisions and in its feed
  events, and the receivers' response excerpts of those deliveries are cleared.

What is kept: labels (predicted, final, reason codes, outcomes), confidence and scores,
timestamps, status, routing reasons and text (feature names, never values), the body digest,
segment values (a personal-data field is never a segment field: ``model_configure``
refuses it), rollups and drift baselines (aggregates; personal-data
fields are never part of a baseline), and the audit log, whose events never hold input values
(they name fields and carry counts, ids and digests). People's notes recorded in audit events
(escalation and reopen reasons) are part of the append-only record and stay.

``retention_apply`` works in batches, oldest retention clock first, found through a partial
index per clock that holds unredacted cases only (``RETENTION_CLOCKS``); each batch runs in
its own transaction with one ``case.redacted`` audit event naming the cases; a run that stops
half-way leaves finished batches done, and the next run carries on (redacted cases have left
the indexes).
"""

from __future__ import annotations

import operator
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from reviewapp.errors import Conflict, InvalidInput, NotFound
from reviewapp.models import (
    RETENTION_CLOCKS,
    Case,
    CaseOpinion,
    CaseStatus,
    Comment,
    Decision,
    FeedEvent,
    MLModel,
    Redaction,
    User,
    WebhookAttempt,
    WebhookDelivery,
)
from reviewapp.permissions import user_can_erase_case
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record
from reviewapp.validation import text_problem

DEFAULT_BATCH = 2000
MAX_BATCH = 10_000
MAX_REASON_CHARS = 2000
# Finished cases: nothing will be decided on them any more unless a lead reopens a decision
# (a reopened case is queued again, so it leaves this set until it is decided again).
FINISHED = (CaseStatus.DECIDED, CaseStatus.AUTO_APPROVED, CaseStatus.EXPIRED)
# Keys of outbox and feed payloads that would copy a case's content.
CONTENT_KEYS = ("input", "metadata", "explanation")
REMOVED_COMMENT = {
    Redaction.RETENTION: "(removed after the model's retention period)",
    Redaction.ERASURE: "(removed: the case's data was erased on request)",
}
REMOVED_FIELDS = [
    "input",
    "metadata",
    "explanation",
    "feedback",
    "comments",
    "escalation_note",
    "outbox and feed copies",
]


def retention_cutoff(ml_model: MLModel, now: datetime) -> datetime | None:
    """The time before which ML_MODEL's finished cases lose their content (None: kept)."""
    if ml_model.retention_days is None:
        return None
    return now - timedelta(days=ml_model.retention_days)


def _due(cutoff: datetime) -> Q:
    """Finished cases whose clock (decided, auto-approved at receipt, expired) passed CUTOFF."""
    return reduce(
        operator.or_,
        (Q(status=status, **{f"{clock}__lte": cutoff}) for status, clock, _ in RETENTION_CLOCKS),
    )


def _payload_scrubbed(payload: object) -> dict | None:
    """PAYLOAD without case content, or None when it carries none."""
    if not isinstance(payload, dict):
        return None
    cleaned = {k: v for k, v in payload.items() if k not in CONTENT_KEYS}
    if cleaned.get("feedback"):
        cleaned["feedback"] = ""
    return cleaned if cleaned != payload else None


def _copies_scrub(case_ids: list[int]) -> None:
    """Remove the content of the cases CASE_IDS from outbox payloads, attempt excerpts and
    feed events."""
    deliveries = list(
        WebhookDelivery.objects.filter(decision__case_id__in=case_ids).values_list("pk", "payload")
    )
    changed = [
        WebhookDelivery(pk=pk, payload=cleaned)
        for pk, payload in deliveries
        if (cleaned := _payload_scrubbed(payload)) is not None
    ]
    WebhookDelivery.objects.bulk_update(changed, ["payload"], batch_size=1000)
    if deliveries:
        WebhookAttempt.objects.filter(delivery_id__in=[pk for pk, _ in deliveries]).exclude(
            response_excerpt=""
        ).update(response_excerpt="")
    events = FeedEvent.objects.filter(case_id__in=case_ids).values_list("pk", "payload")
    changed_events = [
        FeedEvent(pk=pk, payload=cleaned)
        for pk, payload in events
        if (cleaned := _payload_scrubbed(payload)) is not None
    ]
    FeedEvent.objects.bulk_update(changed_events, ["payload"], batch_size=1000)


def case_content_remove(
    *, ml_model: MLModel, ids: list[int], due: Q, redaction: str, now: datetime
) -> list[int]:
    """Remove the content of ML_MODEL's cases among IDS that DUE selects, in the caller's
    transaction (see the module docstring for what goes and what stays); returns their ids.
    The cases are locked first (in id order), and DUE is checked again on any row the lock
    had to wait for (a case reopened meanwhile is left alone)."""
    locked = list(
        Case.objects.select_for_update(of=("self",))
        .filter(ml_model=ml_model, pk__in=ids)
        .filter(due)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not locked:
        return []
    Case.objects.filter(pk__in=locked).update(
        input={},
        metadata={},
        explanation=None,
        escalation_note="",
        redacted_at=now,
        redaction=redaction,
    )
    Decision.objects.filter(case_id__in=locked).exclude(feedback="").update(feedback="")
    CaseOpinion.objects.filter(case_id__in=locked).exclude(feedback="").update(feedback="")
    Comment.objects.filter(case_id__in=locked).update(text=REMOVED_COMMENT[redaction])
    _copies_scrub(locked)
    return locked


@dataclass
class RetentionRun:
    """What one run removed: cases per model slug, batches, seconds taken."""

    cases: int = 0
    batches: int = 0
    seconds: float = 0.0
    by_model: dict[str, int] = field(default_factory=dict)
    finished: bool = True  # False: stopped at its time budget, cases may still be due

    @property
    def rate(self) -> float:
        """Cases per second."""
        return self.cases / self.seconds if self.seconds > 0 else 0.0


def retention_due_batch(
    ml_model: MLModel, cutoff: datetime, status: str, clock: str
) -> QuerySet[Case]:
    """ML_MODEL's STATUS cases due (CLOCK before CUTOFF), oldest clock first: a range scan of
    the clock's partial index, which holds unredacted cases only (the ones earlier batches
    redacted have left it), so finding the next batch reads what is due and no more."""
    return Case.objects.filter(
        ml_model=ml_model, status=status, redacted_at__isnull=True, **{f"{clock}__lte": cutoff}
    ).order_by(clock, "pk")


def _next_batch(
    ml_model: MLModel, cutoff: datetime, status: str, clock: str, batch: int
) -> list[int]:
    due = retention_due_batch(ml_model, cutoff, status, clock)
    return list(due.values_list("pk", flat=True)[:batch])


def _batch_apply(ml_model: MLModel, cutoff: datetime, ids: list[int], now: datetime) -> int:
    """One batch, one transaction: remove the content of the cases among IDS that are still
    due (a reopen in between takes a case out) and audit once.
    Returns how many were removed."""
    with transaction.atomic():
        due = case_content_remove(
            ml_model=ml_model,
            ids=ids,
            due=Q(redacted_at__isnull=True) & _due(cutoff),
            redaction=Redaction.RETENTION,
            now=now,
        )
        if not due:
            return 0
        audit_record(
            actor=None,
            action="case.redacted",
            target=ml_model,
            changes={
                "redaction": Redaction.RETENTION,
                "model": ml_model.slug,
                "retention_days": ml_model.retention_days,
                "cutoff": cutoff.isoformat(),
                "cases": len(due),
                "case_ids": due,
                "removed": REMOVED_FIELDS,
            },
        )
        return len(due)


def retention_apply(
    *,
    now: datetime | None = None,
    batch: int = DEFAULT_BATCH,
    ml_models: Iterable[MLModel] | None = None,
    max_seconds: float | None = None,
) -> RetentionRun:
    """Remove the content of every finished case past its model's retention period (every
    model with ``retention_days``, or ML_MODELS), BATCH cases per transaction. With
    MAX_SECONDS, stop after the batch that crosses it (``run.finished`` False): the next run
    carries on where this one stopped."""
    if not 1 <= batch <= MAX_BATCH:
        raise InvalidInput(f"batch: from 1 to {MAX_BATCH}.", details={"batch": ["Out of range."]})
    now = now or timezone.now()
    started = time.perf_counter()
    run = RetentionRun()
    models = (
        list(ml_models)
        if ml_models is not None
        else list(MLModel.objects.filter(retention_days__isnull=False).order_by("pk"))
    )
    for ml_model in models:
        cutoff = retention_cutoff(ml_model, now)
        if cutoff is None:
            continue
        for status, clock, _ in RETENTION_CLOCKS:
            previous: list[int] = []
            # A batch's cases leave the search once redacted (or, if one changed meanwhile,
            # once no longer due); the same batch twice means nothing moved, and stops.
            while (ids := _next_batch(ml_model, cutoff, status, clock, batch)) and ids != previous:
                previous = ids
                removed = _batch_apply(ml_model, cutoff, ids, now)
                if removed:
                    run.cases += removed
                    run.batches += 1
                    run.by_model[ml_model.slug] = run.by_model.get(ml_model.slug, 0) + removed
                if max_seconds is not None and time.perf_counter() - started > max_seconds:
                    run.finished = False
                    run.seconds = time.perf_counter() - started
                    return run
    run.seconds = time.perf_counter() - started
    return run


def retention_due_count(*, now: datetime | None = None) -> dict[str, int]:
    """How many finished cases each model with a retention period would lose now."""
    now = now or timezone.now()
    counts = {}
    for ml_model in MLModel.objects.filter(retention_days__isnull=False).order_by("slug"):
        cutoff = retention_cutoff(ml_model, now)
        counts[ml_model.slug] = (
            Case.objects.filter(ml_model=ml_model, redacted_at__isnull=True)
            .filter(_due(cutoff))
            .count()
        )
    return counts


@dataclass(frozen=True)
class Erasure:
    case: Case
    erased: bool  # False: it had been erased before (nothing changed, nothing audited)


@refusals_audited
@transaction.atomic
def case_erase(*, ml_model: MLModel, external_id: str, actor: User | None, reason: str) -> Erasure:
    """Erase the content of ML_MODEL's case EXTERNAL_ID on request (a person's right to
    erasure), audited as ``case.erased`` with REASON. 403 unless ACTOR may
    (``permissions.user_can_erase_case``: the model's owners, admins); 404 for an unknown
    case; 409 while it waits for a decision (decide it or let it expire first); 400 without
    a reason. Erasing an erased case again changes nothing. ACTOR None is an operator at the
    command line (audited as "system")."""
    if actor is not None:
        refuse(
            user_can_erase_case(actor, ml_model),
            user=actor,
            action="case.erase",
            target_type="mlmodel",
            target_id=ml_model.slug,
        )
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the case is erased.", details={"reason": ["Required."]})
    if len(reason) > MAX_REASON_CHARS or (problem := text_problem(reason)):
        message = problem if len(reason) <= MAX_REASON_CHARS else "Too long."
        raise InvalidInput(f"reason: {message}", details={"reason": [message]})
    case = (
        Case.objects.select_for_update(of=("self",))
        .filter(ml_model=ml_model, external_id=external_id)
        .first()
    )
    if case is None:
        raise NotFound(f"No case '{external_id[:200]}' of model '{ml_model.slug}'.")
    if case.redaction == Redaction.ERASURE:
        return Erasure(case=case, erased=False)
    if case.status not in FINISHED:
        raise Conflict(
            "The case is waiting for a decision: decide it (or let it expire), then erase it.",
            code="case_undecided",
        )
    now = timezone.now()
    before = case.redaction
    case_content_remove(
        ml_model=ml_model,
        ids=[case.pk],
        due=Q(pk=case.pk),
        redaction=Redaction.ERASURE,
        now=now,
    )
    audit_record(
        actor=actor,
        action="case.erased",
        target=case,
        changes={
            "redaction": [before, Redaction.ERASURE],
            "model": ml_model.slug,
            "external_id": case.external_id,
            "reason": reason,
            "removed": REMOVED_FIELDS,
        },
    )
    case.refresh_from_db()
    return Erasure(case=case, erased=True)
