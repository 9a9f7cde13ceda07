"""What auditors do with the audit log itself: verify the chain and export events. Both are
audited (the log records who read it in bulk and who checked it)."""

from pathlib import Path

from django.db import transaction

from reviewapp.models import User
from reviewapp.services.audit import VerifyResult, audit_record, audit_verify
from reviewapp.services.audit_anchor import anchor_check


def verify_message(result: VerifyResult) -> str:
    """One line describing a verification result, as ``verify_audit`` prints it."""
    if result.ok:
        seals = f"{result.seals} seal{'' if result.seals == 1 else 's'}"
        return f"audit chain intact: {seals} covering {result.events} events"
    if result.event_id is not None:
        return f"audit chain BROKEN at event {result.event_id}: {result.problem}"
    return f"audit chain BROKEN: {result.problem}"


def audit_verify_anchored(*, anchor: Path) -> tuple[VerifyResult, int]:
    """The chain check, then the check against an anchor file of seal heads (which catches
    the newest seals cut off the chain). Returns the first problem of either, and how many
    anchored seals matched. Raises ``AnchorError`` when the file is not an anchor."""
    result = audit_verify()
    if not result.ok:
        return result, 0
    problem, matched = anchor_check(anchor)
    if problem:
        return VerifyResult(False, result.seals, result.events, problem), matched
    return result, matched


def audit_chain_verify(*, actor: User) -> VerifyResult:
    """Verify the chain on a person's request and record that they did, with the outcome."""
    result = audit_verify()
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="audit.verified",
            changes={
                "ok": result.ok,
                "seals": result.seals,
                "events": result.events,
                "problem": result.problem,
                "event_id": result.event_id,
            },
        )
    return result


def audit_export_record(*, actor: User, export_format: str, filters: dict) -> None:
    """Record an export of the audit log before its rows are streamed."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="audit.exported",
            changes={"format": export_format, "filters": filters},
        )
