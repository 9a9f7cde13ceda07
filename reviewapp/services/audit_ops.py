"""What auditors do with the audit log itself: verify the chain and export events. Both are
audited (the log records who read it in bulk and who checked it); every verification's
``audit.verified`` event is also the checkpoint the next incremental one starts from."""

from dataclasses import replace
from pathlib import Path

from django.db import transaction

from reviewapp.models import User
from reviewapp.services.audit import (
    INCREMENTAL,
    VERIFIED_ACTION,
    VerifyResult,
    audit_record,
    audit_verify,
    audit_verify_incremental,
)
from reviewapp.services.audit_anchor import anchor_check


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def verify_message(result: VerifyResult) -> str:
    """One line describing a verification result, as ``verify_audit`` prints it."""
    if result.ok and not result.complete:
        since = " since the last verification" if result.mode == INCREMENTAL else ""
        return (
            f"audit chain intact as far as checked: {_plural(result.seals, 'seal')} covering "
            f"{_plural(result.events, 'event')}{since}; {_plural(result.remaining, 'newer seal')}"
            " left for the next check, which carries on from there"
        )
    if result.ok and result.mode == INCREMENTAL:
        return (
            f"audit chain intact: {_plural(result.seals, 'seal')} covering "
            f"{_plural(result.events, 'event')} since the last verification, "
            f"{_plural(result.rechecked, 'older seal')} re-checked"
        )
    if result.ok:
        seals = f"{result.seals} seal{'' if result.seals == 1 else 's'}"
        return f"audit chain intact: {seals} covering {result.events} events"
    if result.event_id is not None:
        return f"audit chain BROKEN at event {result.event_id}: {result.problem}"
    return f"audit chain BROKEN: {result.problem}"


def audit_verify_anchored(*, anchor: Path, incremental: bool = False) -> tuple[VerifyResult, int]:
    """The chain check (full, or incremental from the last verification), then the check
    against an anchor file of seal heads (which catches the newest seals cut off the chain).
    Returns the first problem of either, and how many anchored seals matched. Raises
    ``AnchorError`` when the file is not an anchor."""
    result = audit_verify_incremental() if incremental else audit_verify()
    if not result.ok:
        return result, 0
    problem, matched = anchor_check(anchor)
    if problem:
        return replace(result, ok=False, problem=problem, event_id=None), matched
    return result, matched


def audit_verified_record(*, actor: User | None, result: VerifyResult) -> None:
    """Record a verification and its outcome (actor None: the system, e.g. the periodic job).
    When it passed, the seal it checked through is the next incremental run's checkpoint."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=VERIFIED_ACTION,
            changes={
                "ok": result.ok,
                "seals": result.seals,
                "events": result.events,
                "problem": result.problem,
                "event_id": result.event_id,
                "mode": result.mode,
                "through_seal": result.through_seal,
                "through_hash": result.through_hash,
                "through_event": result.through_event,
                "scrubbed_through": result.scrubbed_through,
                "rechecked": result.rechecked,
                "complete": result.complete,
                "remaining": result.remaining,
            },
        )


def audit_chain_verify(
    *, actor: User | None, scrub_seals: int | None = None, max_seconds: float | None = None
) -> VerifyResult:
    """Verify the chain incrementally (from the last verification that passed, SCRUB_SEALS
    older seals re-hashed, at most MAX_SECONDS of walking) on a person's request, or the
    periodic job's (actor None), and record who did it, with the outcome."""
    result = audit_verify_incremental(scrub_seals=scrub_seals, max_seconds=max_seconds)
    audit_verified_record(actor=actor, result=result)
    return result


def audit_export_record(*, actor: User, export_format: str, filters: dict) -> None:
    """Record an export of the audit log before its rows are streamed."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="audit.exported",
            changes={"format": export_format, "filters": filters},
        )
