"""Reading the queues: the models a reviewer can work on, the leads'/managers' overview
(counts per model), the current claims, and a keyset-paginated list of waiting cases that
stays fast with millions of waiting cases (it walks the partial index case_queue_idx; no
OFFSET and no COUNT over the table per page)."""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reviewapp.errors import InvalidInput
from reviewapp.models import (
    Case,
    CaseSkip,
    CaseStatus,
    EscalationSource,
    MLModel,
    Priority,
    User,
)
from reviewapp.permissions import Capability, models_with, roles_with, user_has

WAITING_PAGE_SIZE = 50
WAITING_COUNT_CAP = 10_000
EXPIRED_WINDOW = timedelta(hours=24)
SKIP_WINDOW = timedelta(hours=24)


def _overview_models(user: User) -> QuerySet[MLModel]:
    return models_with(user, Capability.VIEW_QUEUE_OVERVIEW).order_by("slug")


class WaitingCount(int):
    """A count of waiting cases that stops at WAITING_COUNT_CAP (counting a million waiting
    cases on every page view would cost a scan of them all); renders as "10000+" when capped."""

    capped: bool

    def __new__(cls, value: int, *, capped: bool = False) -> "WaitingCount":
        count = super().__new__(cls, value)
        count.capped = capped
        return count

    def __str__(self) -> str:
        return f"{int(self)}+" if self.capped else str(int(self))


def _waiting_count(ml_model: MLModel, *, escalated_too: bool) -> WaitingCount:
    """Waiting cases of one model, counted on the partial index up to the cap."""
    queued = (
        Case.objects.filter(ml_model=ml_model, status=CaseStatus.QUEUED)
        .order_by()
        .values("id")[: WAITING_COUNT_CAP + 1]
        .count()
    )
    capped = queued > WAITING_COUNT_CAP
    queued = min(queued, WAITING_COUNT_CAP)
    if escalated_too:
        queued += Case.objects.filter(ml_model=ml_model, status=CaseStatus.ESCALATED).count()
    return WaitingCount(queued, capped=capped)


def oldest_waiting_at(ml_model: MLModel) -> datetime | None:
    """When the model's oldest case still waiting for people (queued, claimed or escalated)
    was received. The queued one is found by one probe per priority at the start of the
    queue index's (model, priority) range, so its cost does not grow with the backlog; a
    single ``status IN (...)`` query walked the (model, time) index from the model's first
    case (2.8 s at 10^7 cases). Claimed and escalated cases are few: an aggregate over their
    partial index each."""
    queued = Case.objects.filter(ml_model=ml_model, status=CaseStatus.QUEUED)
    oldest = [
        queued.filter(priority=priority)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
        for priority in Priority.values
    ]
    oldest += [
        Case.objects.filter(ml_model=ml_model, status=status).aggregate(m=Min("created_at"))["m"]
        for status in (CaseStatus.ASSIGNED, CaseStatus.ESCALATED)
    ]
    return min((at for at in oldest if at is not None), default=None)


def review_models_for(user: User) -> list[tuple[MLModel, int]]:
    """The models whose queues the user may claim from, each with how many cases wait for
    them (queued cases; for leads also the escalated ones). Counts stop at
    WAITING_COUNT_CAP and then render as "10000+" (see WaitingCount); each is one bounded
    index-only scan of the partial index, so the page stays fast with millions waiting."""
    return [
        (m, _waiting_count(m, escalated_too=user_has(user, Capability.LEAD, m)))
        for m in models_with(user, Capability.REVIEW).order_by("slug")
    ]


@dataclass(frozen=True)
class QueueRow:
    """One model's line of the queue overview."""

    ml_model: MLModel
    waiting: int
    claimed: int
    escalated: int
    expired_24h: int
    sla_breaches: int
    oldest_waiting_at: datetime | None

    @property
    def oldest_waiting_age(self) -> timedelta | None:
        if self.oldest_waiting_at is None:
            return None
        return timezone.now() - self.oldest_waiting_at


def queue_overview(*, user: User, ml_model: MLModel | None = None) -> list[QueueRow]:
    """Per model of the user's teams: cases waiting, claimed, escalated, expired in the last
    24 hours, SLA breaches and the oldest waiting case. Three grouped queries whatever the
    number of models: waiting cases by an index-only scan of the partial index
    case_queue_idx; claims and escalations by their partial indexes; expiries by the partial
    index case_expired_idx (model, expired_at). SLA breaches are claims past their SLA plus
    cases the SLA timer escalated (waiting cases past their SLA are escalated by the periodic
    job within a minute)."""
    models = list(_overview_models(user)) if ml_model is None else [ml_model]
    if not models:
        return []
    now = timezone.now()
    waiting = {
        row["ml_model"]: row
        for row in Case.objects.filter(ml_model__in=models, status=CaseStatus.QUEUED)
        .values("ml_model")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by()
    }
    held: dict[tuple[int, str], dict] = {
        (row["ml_model"], row["status"]): row
        for row in Case.objects.filter(ml_model__in=models)
        .filter(Q(status=CaseStatus.ASSIGNED) | Q(status=CaseStatus.ESCALATED))
        .values("ml_model", "status")
        .annotate(
            n=Count("id"),
            breaches=Count(
                "id",
                filter=Q(status=CaseStatus.ESCALATED, escalation_source=EscalationSource.SLA)
                | Q(status=CaseStatus.ASSIGNED, sla_due_at__lte=now, escalated_at__isnull=True),
            ),
        )
        .order_by()
    }
    expired = dict(
        Case.objects.filter(
            ml_model__in=models,
            status=CaseStatus.EXPIRED,
            expired_at__gte=now - EXPIRED_WINDOW,
        )
        .values_list("ml_model")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = []
    for m in models:
        w = waiting.get(m.pk, {})
        claimed = held.get((m.pk, CaseStatus.ASSIGNED), {})
        escalated = held.get((m.pk, CaseStatus.ESCALATED), {})
        rows.append(
            QueueRow(
                ml_model=m,
                waiting=w.get("n", 0),
                claimed=claimed.get("n", 0),
                escalated=escalated.get("n", 0),
                expired_24h=expired.get(m.pk, 0),
                sla_breaches=claimed.get("breaches", 0) + escalated.get("breaches", 0),
                oldest_waiting_at=w.get("oldest"),
            )
        )
    return rows


@dataclass(frozen=True)
class CaseSkips:
    """How often a case was skipped, and by how many people (many: a signal that the case is
    hard, unclear or mis-routed)."""

    skips: int
    reviewers: int


def skips_for_cases(case_ids: list[int]) -> dict[int, CaseSkips]:
    """Skips per case for the given cases (all time), by the index on (case, reviewer); cases
    never skipped are absent."""
    if not case_ids:
        return {}
    rows = (
        CaseSkip.objects.filter(case_id__in=case_ids)
        .values("case_id")
        .annotate(n=Count("id"), people=Count("reviewer", distinct=True))
        .order_by()
    )
    return {row["case_id"]: CaseSkips(row["n"], row["people"]) for row in rows}


@dataclass(frozen=True)
class ReviewerSkips:
    """One person's skips on a model over a recent period."""

    username: str
    skips: int
    cases: int


def skips_by_reviewer(*, ml_model: MLModel, since: datetime | None = None) -> list[ReviewerSkips]:
    """Skips on the model's cases per person since SINCE (default: the last SKIP_WINDOW),
    most skips first; by the index on (model, skipped_at)."""
    since = since or timezone.now() - SKIP_WINDOW
    rows = (
        CaseSkip.objects.filter(ml_model=ml_model, skipped_at__gte=since)
        .values("reviewer__username")
        .annotate(n=Count("id"), cases=Count("case", distinct=True))
        .order_by("-n", "reviewer__username")
    )
    return [ReviewerSkips(row["reviewer__username"], row["n"], row["cases"]) for row in rows]


def claims_for(*, ml_model: MLModel) -> list[Case]:
    """The model's current claims (live or with a lapsed lease), oldest claim first."""
    return list(
        Case.objects.filter(ml_model=ml_model, status=CaseStatus.ASSIGNED)
        .select_related("assigned_to")
        .order_by("claimed_at", "id")[:200]
    )


def escalated_for(*, ml_model: MLModel, limit: int = 50) -> list[Case]:
    """The model's escalated cases waiting for a lead, in the order leads are served, each
    with ``comment_count`` (its conversation's length)."""
    return list(
        Case.objects.filter(ml_model=ml_model, status=CaseStatus.ESCALATED)
        .annotate(comment_count=Count("comments"))
        .order_by("-priority", "escalated_at", "id")[:limit]
    )


def user_by_username(username: str) -> User | None:
    """The person with that username, or None (the service checks whether they may take
    the claim)."""
    return User.objects.filter(username=username).first() if username else None


def reassign_candidates(*, ml_model: MLModel) -> list[User]:
    """Reviewers and leads of the model's team (who may receive a reassigned claim)."""
    return list(
        User.objects.filter(
            memberships__team_id=ml_model.team_id,
            role__in=roles_with(Capability.REVIEW),
            is_active=True,
        ).order_by("username")
    )


# --- keyset pagination of the waiting list -----------------------------------------------

WAITING_FIELDS = (
    "id",
    "external_id",
    "priority",
    "created_at",
    "sla_due_at",
    "predicted_label",
    "confidence",
    "routing_reasons",
    "is_blind",
)


def waiting_cursor_encode(case: Case) -> str:
    raw = f"{case.priority}|{case.created_at.isoformat()}|{case.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def waiting_cursor_decode(cursor: str) -> tuple[int, datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        priority, created, pk = raw.split("|")
        created_at = parse_datetime(created)
        if created_at is None:
            raise ValueError(created)
        return int(priority), created_at, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "Bad cursor.", details={"after": ["Not a cursor of this list."]}
        ) from None


@dataclass(frozen=True)
class WaitingPage:
    cases: list[Case]
    next_cursor: str | None


def waiting_cases_page(
    *, ml_model: MLModel, after: str | None = None, limit: int = WAITING_PAGE_SIZE
) -> WaitingPage:
    """One page of the model's waiting cases in serving order (priority desc, created_at,
    id), after the given cursor. Each step is an index range scan of case_queue_idx: the rest
    of the cursor's priority, then the lower priorities (there are only four)."""
    base = Case.objects.filter(ml_model=ml_model, status=CaseStatus.QUEUED).only(*WAITING_FIELDS)
    order = ("-priority", "created_at", "id")
    if after is None:
        cases = list(base.order_by(*order)[: limit + 1])
    else:
        priority, created_at, pk = waiting_cursor_decode(after)
        cases = list(
            base.filter(priority=priority, created_at__gte=created_at)
            .exclude(created_at=created_at, id__lte=pk)
            .order_by(*order)[: limit + 1]
        )
        if len(cases) <= limit:
            cases += list(
                base.filter(priority__lt=priority).order_by(*order)[: limit + 1 - len(cases)]
            )
    has_more = len(cases) > limit
    cases = cases[:limit]
    return WaitingPage(
        cases=cases, next_cursor=waiting_cursor_encode(cases[-1]) if has_more else None
    )
