"""Celery tasks (audit): sealing new events into the hash chain, and verifying the chain."""

import logging

from celery import shared_task

from reviewapp.services.audit import audit_seal
from reviewapp.services.audit_ops import audit_chain_verify, verify_message

__all__ = ["AuditChainBroken", "audit_seal_task", "audit_verify_task"]

logger = logging.getLogger("reviewapp.audit")

# A run walks new seals for at most WALK_BUDGET_S and records how far it got: the first runs
# after an upgrade (no checkpoint yet; about 45 minutes per 10^8 events for the whole chain)
# carry on from each other instead of one run that never ends. The hard limits stay under
# the hour between runs and the broker's visibility timeout.
WALK_BUDGET_S = 40 * 60
TIME_BUDGET_S = 50 * 60


class AuditChainBroken(RuntimeError):
    """The periodic verification found the audit chain broken (the run counts as failed)."""


@shared_task(name="reviewapp.tasks.audit_seal_task")
def audit_seal_task() -> int:
    """Seal every audit event not yet sealed (beat runs this every minute)."""
    return audit_seal()


@shared_task(
    name="reviewapp.tasks.audit_verify_task",
    soft_time_limit=TIME_BUDGET_S,
    time_limit=TIME_BUDGET_S + 60,
)
def audit_verify_task() -> dict:
    """Verify the audit chain from the last verification that passed, plus a rolling slice
    of older seals (beat: hourly), and record it as the system's ``audit.verified`` event. A
    broken chain logs an error and fails the run: its JobRun row (the system page) and the
    task failure metric show it, and the job-failure alert fires."""
    result = audit_chain_verify(actor=None, max_seconds=WALK_BUDGET_S)
    message = verify_message(result)
    if not result.ok:
        logger.error(
            "audit.verify_failed",
            extra={
                "outcome": message,
                "problem": result.problem,
                "event_id": result.event_id,
                "mode": result.mode,
            },
        )
        raise AuditChainBroken(message)
    logger.info("audit.verified", extra={"outcome": message, "mode": result.mode})
    return {
        "mode": result.mode,
        "seals": result.seals,
        "events": result.events,
        "rechecked": result.rechecked,
        "through_seal": result.through_seal,
        "complete": result.complete,
        "remaining": result.remaining,
    }
