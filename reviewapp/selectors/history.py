"""Reading a reviewer's own work: the progress line of the case page (decided today, waiting
in this queue), the "My decisions" list (newest first, keyset-paginated on the index
decision_reviewer_idx, so no OFFSET and no COUNT) and the "My stats" figures (read from the
daily rollups through ``adoption_metrics``, each beside the team's median)."""

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from reviewapp.models import Case, CaseStatus, Decision, MLModel, User
from reviewapp.permissions import Capability, models_visible_to, models_with, user_has
from reviewapp.selectors.metrics import adoption_metrics
from reviewapp.selectors.queue import WAITING_COUNT_CAP, WaitingCount

HISTORY_PAGE_SIZE = 25


# --- the case page's progress line ---------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    decided_today: int
    waiting: WaitingCount


def _start_of_today(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def review_progress(*, user: User, ml_model: MLModel, now: datetime | None = None) -> Progress:
    """How many decisions USER took since midnight (local time; the index on reviewer and
    decided_at) and how many cases wait in ML_MODEL's queue (queued, plus escalated for a
    lead; counted on the partial indexes up to WAITING_COUNT_CAP). Two queries."""
    now = now or timezone.now()
    decided = Decision.objects.filter(
        reviewer=user, decided_at__gte=_start_of_today(now), decided_at__lte=now
    ).count()
    statuses = [CaseStatus.QUEUED]
    if user_has(user, Capability.LEAD, ml_model):
        statuses.append(CaseStatus.ESCALATED)
    waiting = (
        Case.objects.filter(ml_model=ml_model, status__in=statuses)
        .order_by()
        .values("id")[: WAITING_COUNT_CAP + 1]
        .count()
    )
    return Progress(
        decided_today=decided,
        waiting=WaitingCount(min(waiting, WAITING_COUNT_CAP), capped=waiting > WAITING_COUNT_CAP),
    )


# --- My decisions --------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilters:
    """What the "My decisions" list is narrowed to (empty: everything)."""

    model_slug: str = ""
    action: str = ""
    since: datetime | None = None

    def as_params(self, *, period: str = "") -> dict[str, str]:
        params = {"model": self.model_slug, "action": self.action, "period": period}
        return {k: v for k, v in params.items() if v}


@dataclass(frozen=True)
class DecisionPage:
    decisions: list[Decision]
    has_more: bool


def history_models(user: User) -> list[MLModel]:
    """The models whose decisions USER may list (those whose cases USER may see)."""
    return list(models_visible_to(user).order_by("name"))


def my_decisions_page(
    *,
    user: User,
    filters: HistoryFilters,
    after: tuple[datetime, int] | None = None,
    limit: int = HISTORY_PAGE_SIZE,
) -> DecisionPage:
    """One page of USER's own decisions, newest first (decided_at, id descending), after the
    keyset position AFTER; each with its case and model. One query."""
    qs = Decision.objects.filter(reviewer=user, ml_model__in=models_visible_to(user))
    if filters.model_slug:
        qs = qs.filter(ml_model__slug=filters.model_slug)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.since is not None:
        qs = qs.filter(decided_at__gte=filters.since)
    if after is not None:
        decided_at, pk = after
        # The plain bound first: it is what the (reviewer, decided_at) index range starts at
        # (the OR alone is a filter, read from the newest decision down to the cursor).
        qs = qs.filter(decided_at__lte=decided_at).filter(
            Q(decided_at__lt=decided_at) | Q(decided_at=decided_at, id__lt=pk)
        )
    rows = list(
        qs.select_related("case", "ml_model", "case__model_version").order_by("-decided_at", "-id")[
            : limit + 1
        ]
    )
    return DecisionPage(decisions=rows[:limit], has_more=len(rows) > limit)


# --- My stats ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewerStats:
    """USER's own figures over [date_from, date_to] beside the team's: the median of the
    per-reviewer figures of everyone who decided cases of the same models (USER included)."""

    date_from: date
    date_to: date
    models: list[MLModel]
    decided: int
    acceptance_rate: float | None
    time_spent_p50_s: float | None
    blind_decided: int
    blind_accept_rate: float | None
    shown_accept_rate: float | None
    override_reasons: dict[str, int]
    team_reviewers: int
    team_acceptance_rate: float | None
    team_time_spent_p50_s: float | None
    team_blind_accept_rate: float | None
    team_shown_accept_rate: float | None
    team_override_reasons: dict[str, int]
    refreshed_at: str | None


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def reviewer_stats(*, user: User, date_from: date, date_to: date) -> ReviewerStats:
    """USER's figures and the team medians over the period, from the daily rollups (one
    ``adoption_metrics`` read for the team, one narrowed to USER for their override reasons)."""
    models = list(models_with(user, Capability.REVIEW).order_by("name"))
    team = adoption_metrics(ml_models=models, date_from=date_from, date_to=date_to)
    own = adoption_metrics(ml_models=models, date_from=date_from, date_to=date_to, reviewer=user)
    rows = team["by_reviewer"]
    mine = next((r for r in rows if r["reviewer_id"] == user.pk), None) or {}
    return ReviewerStats(
        date_from=date_from,
        date_to=date_to,
        models=models,
        decided=mine.get("decided", 0),
        acceptance_rate=mine.get("acceptance_rate"),
        time_spent_p50_s=mine.get("time_spent_p50_s"),
        blind_decided=mine.get("blind_decided", 0),
        blind_accept_rate=mine.get("blind_accept_rate"),
        shown_accept_rate=mine.get("shown_accept_rate"),
        override_reasons=dict(own["override_reasons"]),
        team_reviewers=len(rows),
        team_acceptance_rate=_median(r["acceptance_rate"] for r in rows),
        team_time_spent_p50_s=_median(r["time_spent_p50_s"] for r in rows),
        team_blind_accept_rate=_median(r["blind_accept_rate"] for r in rows),
        team_shown_accept_rate=_median(r["shown_accept_rate"] for r in rows),
        team_override_reasons=dict(team["override_reasons"]),
        refreshed_at=team["refreshed_at"],
    )


def period_start(days: int, *, now: datetime | None = None) -> datetime:
    """Midnight (local time) DAYS - 1 days ago: a period of DAYS calendar days up to now."""
    return _start_of_today(now or timezone.now()) - timedelta(days=days - 1)
