"""Reading one case's record: every decision taken on it (superseded ones too), its audit
trail, whether a person decided it, and the latest audit event that ended someone's claim
(so the reviewer's page can say who took the case rather than "no longer yours")."""

from dataclasses import dataclass

from reviewapp.models import AuditEvent, Case, Decision, User

AUDIT_TRAIL_LIMIT = 200
# Audit actions after which a claimant no longer holds the case.
CLAIM_ENDING_ACTIONS = (
    "case.reassigned",
    "case.released",
    "case.lease_expired",
    "case.escalated",
    "case.decided",
    "case.expired",
    "case.reopened",
    "case.claimed",
)


@dataclass(frozen=True)
class CaseRecord:
    """A case's decisions (oldest first, superseded included) and its audit trail (oldest
    first, at most AUDIT_TRAIL_LIMIT events; ``trail_truncated`` says when more exist)."""

    decisions: list[Decision]
    audit_events: list[AuditEvent]
    trail_truncated: bool


def _case_events(case: Case):
    return AuditEvent.objects.filter(target_type="case", target_id=str(case.pk))


def case_record(case: Case) -> CaseRecord:
    """The decisions and audit events of CASE (two queries, on the decisions' case index and
    the audit log's target index)."""
    decisions = list(
        Decision.objects.filter(case=case).select_related("reviewer").order_by("decided_at", "id")
    )
    events = list(
        _case_events(case).select_related("actor").order_by("-id")[: AUDIT_TRAIL_LIMIT + 1]
    )
    truncated = len(events) > AUDIT_TRAIL_LIMIT
    events = events[:AUDIT_TRAIL_LIMIT]
    events.reverse()
    return CaseRecord(decisions=decisions, audit_events=events, trail_truncated=truncated)


def user_decided_case(*, user: User, case: Case) -> bool:
    """Whether USER took a decision on CASE (current or superseded)."""
    return Decision.objects.filter(case=case, reviewer=user).exists()


CLAIM_EVENTS_READ = 20


@dataclass(frozen=True)
class ClaimHistory:
    """The latest claim-moving audit events of a case (newest first, with their actors) and
    the people they handed the case to, by id."""

    events: list[AuditEvent]
    people: dict[int, User]


def claim_history(case: Case) -> ClaimHistory:
    """The last CLAIM_EVENTS_READ events of CASE that end or move a claim (reassigned,
    released, lease expired, escalated, decided, expired, reopened, claimed), and the people
    named as new holders. Two queries (the audit log's target index, then users by id)."""
    events = list(
        _case_events(case)
        .filter(action__in=CLAIM_ENDING_ACTIONS)
        .select_related("actor")
        .order_by("-id")[:CLAIM_EVENTS_READ]
    )
    ids = set()
    for event in events:
        holder = (event.changes or {}).get("assigned_to")
        if isinstance(holder, list) and len(holder) == 2 and isinstance(holder[1], int):
            ids.add(holder[1])
    people = {u.pk: u for u in User.objects.filter(pk__in=ids)} if ids else {}
    return ClaimHistory(events=events, people=people)
