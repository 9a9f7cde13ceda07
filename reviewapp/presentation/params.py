"""Request parameters as values: periods, dates, confidence bands, the model-health page's
filters, form numbers and keyset cursors. Bad input is ``InvalidInput`` (a 400 with the
field named) unless a parser documents a fallback."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, TypeVar

from django.utils import timezone

from reviewapp.errors import InvalidInput
from reviewapp.figures import BAND_COUNT
from reviewapp.selectors.metrics import MAX_PERIOD_DAYS

HEALTH_PERIODS = (7, 30, 90)
HEALTH_DEFAULT_DAYS = 30
HEALTH_DEFAULT_TARGET_PCT = 2.0

Number = TypeVar("Number", int, float)


def days_in_period(date_from: date, date_to: date) -> int:
    """Calendar days in [date_from, date_to], both included (0 for a reversed period)."""
    return max(0, (date_to - date_from).days + 1)


def period_parse(
    params: Mapping[str, Any], *, default_days: int = 30, today: date | None = None
) -> tuple[date, date]:
    """(date_from, date_to) from ``from``/``to`` (YYYY-MM-DD) or ``days`` (a preset) query
    parameters; defaults to the last ``default_days`` days up to today. InvalidInput on bad
    dates, a reversed period or one longer than MAX_PERIOD_DAYS."""
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    parsed: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (params.get(name) or "").strip()
        parsed[name] = None
        if raw:
            try:
                parsed[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = ["Use a date as YYYY-MM-DD."]
    days_raw = (params.get("days") or "").strip()
    days = default_days
    if days_raw:
        if days_raw.isdigit() and 1 <= int(days_raw) <= MAX_PERIOD_DAYS:
            days = int(days_raw)
        else:
            errors["days"] = [f"A whole number of days, 1 to {MAX_PERIOD_DAYS}."]
    if errors:
        field, messages = next(iter(errors.items()))
        raise InvalidInput(f"{field}: {messages[0]}", details=errors)
    date_to = parsed["to"] or today
    date_from = parsed["from"] or date_to - timedelta(days=days - 1)
    if date_from > date_to:
        raise InvalidInput(
            "from: the period starts after it ends.", details={"from": ["Must be on or before to."]}
        )
    if days_in_period(date_from, date_to) > MAX_PERIOD_DAYS:
        raise InvalidInput(
            f"The period is longer than {MAX_PERIOD_DAYS} days.",
            details={"from": [f"At most {MAX_PERIOD_DAYS} days before to."]},
        )
    return date_from, date_to


def date_parse(params: Mapping[str, Any], name: str) -> date | None:
    """An optional YYYY-MM-DD query parameter."""
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            f"{name}: use a date as YYYY-MM-DD.", details={name: ["Use a date as YYYY-MM-DD."]}
        ) from None


def band_parse(raw: str | None) -> int | None:
    """A confidence band filter (0..9) from a query parameter, or None."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if raw.isdigit() and int(raw) < BAND_COUNT:
        return int(raw)
    raise InvalidInput(
        "band: a confidence band from 0 to 9.", details={"band": ["An integer from 0 to 9."]}
    )


def health_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    """The model-health page's ``days`` (one of HEALTH_PERIODS) and ``target`` (the target
    error rate in percent, 0.1..50); anything else falls back to the default."""
    try:
        days = int(params.get("days", HEALTH_DEFAULT_DAYS))
    except (TypeError, ValueError):
        days = HEALTH_DEFAULT_DAYS
    if days not in HEALTH_PERIODS:
        days = HEALTH_DEFAULT_DAYS
    try:
        target_pct = float(params.get("target", HEALTH_DEFAULT_TARGET_PCT))
    except (TypeError, ValueError):
        target_pct = HEALTH_DEFAULT_TARGET_PCT
    if not 0.1 <= target_pct <= 50:
        target_pct = HEALTH_DEFAULT_TARGET_PCT
    return {"days": days, "target_pct": round(target_pct, 2)}


def form_date(value: str | None, field: str) -> date:
    """A required YYYY-MM-DD form value."""
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise InvalidInput(
            "Give dates as YYYY-MM-DD.", details={field: ["A date such as 2025-01-31."]}
        ) from None


def form_number(
    post: Mapping[str, Any],
    field: str,
    cast: type[Number],
    *,
    default: str = "",
    message: str,
    hint: str,
) -> Number:
    """POST[field] as CAST (float or int); InvalidInput with MESSAGE and HINT otherwise."""
    try:
        return cast(post.get(field, default))
    except ValueError:
        raise InvalidInput(message, details={field: [hint]}) from None


def cursor_param(value: str | None) -> int | None:
    """A keyset cursor (a non-negative id) from a query parameter; None when absent or bad."""
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None
