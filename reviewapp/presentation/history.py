"""A reviewer's own work in words: the progress line of the case page, the "My decisions"
filters (query parameters -> ``HistoryFilters``), its keyset cursor and rows, and the "My
stats" figures as sentences that inform rather than judge (each beside the team median)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from reviewapp.errors import InvalidInput
from reviewapp.models import Decision, DecisionAction, MLModel, User
from reviewapp.permissions import user_may_see_model_answer
from reviewapp.presentation.case_record import decision_text
from reviewapp.selectors.history import HistoryFilters, Progress, ReviewerStats, period_start

# period parameter -> (label, days; None for any time)
PERIODS: dict[str, tuple[str, int | None]] = {
    "": ("Any time", None),
    "today": ("Today", 1),
    "7d": ("Last 7 days", 7),
    "30d": ("Last 30 days", 30),
    "90d": ("Last 90 days", 90),
}
ACTIONS = {"": "Any action", DecisionAction.ACCEPT: "Accepted", DecisionAction.OVERRIDE: "Overrode"}
STATS_PERIODS = (7, 30, 90)
STATS_DEFAULT_DAYS = 30


def progress_text(progress: Progress) -> str:
    """ "3 decided today · 12 waiting in this queue"."""
    return f"{progress.decided_today} decided today · {progress.waiting} waiting in this queue"


# --- My decisions: parameters and cursor -----------------------------------------------------


def history_params(
    params: Mapping[str, Any], *, models: Iterable[MLModel], now: datetime | None = None
) -> tuple[HistoryFilters, str]:
    """(filters, period key) from the ``model``, ``action`` and ``period`` query parameters;
    InvalidInput naming the parameter for a value that is not offered."""
    model_slug = (params.get("model") or "").strip()
    action = (params.get("action") or "").strip()
    period = (params.get("period") or "").strip()
    errors: dict[str, list[str]] = {}
    if model_slug and model_slug not in {m.slug for m in models}:
        errors["model"] = ["Not one of your models."]
    if action not in ACTIONS:
        errors["action"] = ['Use "accept" or "override".']
    if period not in PERIODS:
        errors["period"] = [f"One of: {', '.join(k for k in PERIODS if k)}."]
    if errors:
        name, messages = next(iter(errors.items()))
        raise InvalidInput(f"{name}: {messages[0]}", details=errors)
    days = PERIODS[period][1]
    since = period_start(days, now=now) if days else None
    return HistoryFilters(model_slug=model_slug, action=action, since=since), period


def history_cursor_encode(decision: Decision) -> str:
    raw = f"{decision.decided_at.isoformat()}|{decision.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def history_cursor_decode(cursor: str | None) -> tuple[datetime, int] | None:
    """The keyset position a cursor names, None when absent; InvalidInput when malformed."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, pk = raw.split("|")
        decided_at = parse_datetime(when)
        if decided_at is None or decided_at.tzinfo is None:
            raise ValueError(when)
        return decided_at, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "after: not a position in this list.", details={"after": ["Not a cursor of this list."]}
        ) from None


# --- My decisions: rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    decision: Decision
    case_id: int
    external_id: str
    model_name: str
    text: str
    reason: str
    blind: bool
    superseded: bool
    time_spent_text: str


def duration_text(seconds: float | None) -> str:
    """42 -> "42 s", 125 -> "2 min 5 s", 4000 -> "1 h 6 min", 0.3 -> "under 1 s"; None -> "—"."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return "under 1 s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def history_rows(decisions: Iterable[Decision], *, user: User) -> list[HistoryRow]:
    rows = []
    for d in decisions:
        case = d.case
        visible = user_may_see_model_answer(user, case)
        rows.append(
            HistoryRow(
                decision=d,
                case_id=case.pk,
                external_id=case.external_id,
                model_name=d.ml_model.name,
                text=decision_text(d, predicted_label=case.predicted_label, answer_visible=visible),
                reason=d.reason_code.replace("_", " ") if visible else "",
                blind=d.was_blind,
                superseded=d.superseded_at is not None,
                time_spent_text=duration_text(d.time_spent_ms / 1000),
            )
        )
    return rows


# --- My stats --------------------------------------------------------------------------------


def stats_days(params: Mapping[str, Any]) -> int:
    """The stats page's period: ``days`` one of STATS_PERIODS (else 400)."""
    raw = (params.get("days") or "").strip()
    if not raw:
        return STATS_DEFAULT_DAYS
    if raw.isdigit() and int(raw) in STATS_PERIODS:
        return int(raw)
    allowed = ", ".join(map(str, STATS_PERIODS))
    raise InvalidInput(f"days: one of {allowed}.", details={"days": [f"One of {allowed}."]})


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


@dataclass(frozen=True)
class StatLine:
    """One figure: the person's own value, the team median beside it, and a sentence."""

    key: str
    title: str
    own: str
    team: str
    sentence: str


@dataclass(frozen=True)
class ReasonRow:
    reason: str
    own: int
    own_share: str
    team_share: str


@dataclass(frozen=True)
class StatsView:
    lines: list[StatLine]
    reasons: list[ReasonRow]
    intro: str
    note: str


def stats_view(stats: ReviewerStats) -> StatsView:
    """The figures of "My stats" as lines of own value, team median and a neutral sentence."""
    n = stats.decided
    team_n = stats.team_reviewers
    team_note = (
        f"median of the {team_n} people who decided cases of your models"
        if team_n > 1
        else "no one else decided cases of your models in this period"
    )
    lines = [
        StatLine(
            key="acceptance",
            title="Kept the model's label",
            own=_pct(stats.acceptance_rate),
            team=_pct(stats.team_acceptance_rate),
            sentence=(
                f"You kept the model's label in {_pct(stats.acceptance_rate)} of your {n} "
                f"decisions; the team median is {_pct(stats.team_acceptance_rate)}. Neither "
                "number is a target: it depends on the cases each person was served."
                if n
                else "You took no decisions in this period."
            ),
        ),
        StatLine(
            key="time",
            title="Median time to decide",
            own=duration_text(stats.time_spent_p50_s),
            team=duration_text(stats.team_time_spent_p50_s),
            sentence=(
                "From opening a case to saving the decision, your median is "
                f"{duration_text(stats.time_spent_p50_s)}; the team median is "
                f"{duration_text(stats.team_time_spent_p50_s)}."
                if stats.time_spent_p50_s is not None
                else "No timed decisions in this period."
            ),
        ),
        StatLine(
            key="blind",
            title="Agreement when the answer was hidden",
            own=_pct(stats.blind_accept_rate),
            team=_pct(stats.team_blind_accept_rate),
            sentence=(
                f"On {stats.blind_decided} blind case{'s' if stats.blind_decided != 1 else ''} "
                f"you named the model's label {_pct(stats.blind_accept_rate)} of the time, and "
                f"kept it {_pct(stats.shown_accept_rate)} of the time when it was shown (team "
                f"medians: {_pct(stats.team_blind_accept_rate)} hidden, "
                f"{_pct(stats.team_shown_accept_rate)} shown). A gap between the two tells the "
                "team how much seeing the model's answer sways reviews."
                if stats.blind_decided
                else "None of your decisions in this period were blind reviews."
            ),
        ),
    ]
    own_total = sum(stats.override_reasons[code] for code in stats.override_reasons)
    team_total = sum(stats.team_override_reasons[c] for c in stats.team_override_reasons)
    reasons = [
        ReasonRow(
            reason=code.replace("_", " "),
            own=stats.override_reasons.get(code, 0),
            own_share=_pct(stats.override_reasons.get(code, 0) / own_total if own_total else None),
            team_share=_pct(
                stats.team_override_reasons.get(code, 0) / team_total if team_total else None
            ),
        )
        for code in sorted(
            set(stats.override_reasons) | set(stats.team_override_reasons),
            key=lambda c: (
                -stats.override_reasons.get(c, 0),
                -stats.team_override_reasons.get(c, 0),
                c,
            ),
        )
    ]
    period = f"{stats.date_from:%-d %b} to {stats.date_to:%-d %b %Y}"
    return StatsView(
        lines=lines,
        reasons=reasons,
        intro=f"Your own figures for {period}, each beside the team figure ({team_note}).",
        note=(
            "These figures are for your own reflection. They are read from the daily rollups"
            + (
                f", last refreshed {stats.refreshed_at[:16].replace('T', ' ')} UTC."
                if stats.refreshed_at
                else "."
            )
        ),
    )
