"""Rate limits that hold across processes, fail open, and are audited in aggregate.

Counting: fixed windows in the cache named by ``REVIEWAPP_RATE_LIMIT_CACHE`` (Redis in
production, so every gunicorn process shares the counts): one atomic ``INCR`` per limit per
request, keyed by limit, subject and window. A request refused by any of its limits is not
counted against the others (its counts are taken back), so a refused batch of 1,000 cases does
not burn the budget it was refused for. Every limit is configured as a rate, ``N/period``
(``600/minute``, ``30/10minute``, ``100/second``); ``REVIEWAPP_RATE_LIMITS`` maps each limit
to its setting.

Failing open: when the store raises (Redis down, a timeout), every limit allows the request;
a warning is logged (at most once a minute per process), ``rate_limit_fail_open_total``
counts the allowed requests, and the store is left alone for
``REVIEWAPP_RATE_LIMIT_RETRY_S`` seconds so a dead Redis costs no connection attempt per
request. Rate limiting must never turn a healthy request into a 500.

Aggregated audit (``audit_tally``): refusals and failed token authentications are written as
one audit event per (action, subject, minute) with the count, not one per request. The
count is shared through the store; the event of a minute is written once that minute is
over, by the first request any process then serves (``audit_tally_flush``, called by the
middleware after each response), and exactly one process writes it (an ``add`` claims it).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from reviewapp.backoff import Backoff
from reviewapp.models import User
from reviewapp.request_context import request_context_bind, request_context_current
from reviewapp.services.audit import audit_record

logger = logging.getLogger("reviewapp.ratelimit")

# Each limit and the setting that holds its rate (README, "Limits").
REVIEWAPP_RATE_LIMITS = {
    "api": "REVIEWAPP_RATE_API",
    "submit_requests": "REVIEWAPP_RATE_SUBMIT_REQUESTS",
    "submit_burst": "REVIEWAPP_RATE_SUBMIT_BURST",
    "submit_cases": "REVIEWAPP_RATE_SUBMIT_CASES",
    "review": "REVIEWAPP_RATE_REVIEW",
    "login_ip": "REVIEWAPP_RATE_LOGIN_IP",
}
TALLY_WINDOW_S = 60
TALLY_GRACE_S = 2  # a closed minute is written this long after its end (late increments land)
TALLY_MAX_SAMPLES = 10

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
_OFF = frozenset({"", "0", "off", "none", "unlimited"})


def time_now() -> float:
    """The clock of the limits (tests replace it)."""
    return time.time()


@dataclass(frozen=True)
class Rate:
    """At most LIMIT units per WINDOW_S seconds."""

    limit: int
    window_s: int
    text: str


@lru_cache(maxsize=64)
def rate_parse(text: str) -> Rate | None:
    """``"600/minute"``, ``"30/10minute"``, ``"100/second"``, ``"5000/h"``; ``""``, ``"0"``,
    ``"off"`` mean no limit (None). Anything else is a configuration error."""
    text = (text or "").strip().lower()
    if text in _OFF:
        return None
    match = _RATE_RE.match(text)
    unit = match.group(3) if match else ""
    if match and unit not in _UNITS and unit.endswith("s"):
        unit = unit[:-1]
    if not match or unit not in _UNITS or int(match.group(1)) < 1:
        raise ImproperlyConfigured(
            f"Rate {text!r}: expected N/period such as 600/minute, 30/10minute or 100/second."
        )
    multiplier = int(match.group(2) or 1)
    if multiplier < 1:
        raise ImproperlyConfigured(f"Rate {text!r}: the period must be at least 1.")
    return Rate(limit=int(match.group(1)), window_s=multiplier * _UNITS[unit], text=text)


def limit_rate(name: str) -> Rate | None:
    """The configured rate of limit NAME (a key of REVIEWAPP_RATE_LIMITS), None when off."""
    return rate_parse(str(getattr(settings, REVIEWAPP_RATE_LIMITS[name], "") or ""))


# --- the store, failing open ------------------------------------------------------------------


def _retry_s() -> float:
    return float(getattr(settings, "REVIEWAPP_RATE_LIMIT_RETRY_S", 5))


_backoff = Backoff("rate-limit store", retry_s=_retry_s, log=logger)
_fail_open = {"total": 0}
_fail_open_lock = threading.Lock()


def _allowed_unchecked() -> None:
    with _fail_open_lock:
        _fail_open["total"] += 1


def _store() -> BaseCache | None:
    """The counter store, or None while it is considered down (back-off after an error)."""
    if _backoff.is_down():
        _allowed_unchecked()
        return None
    return caches[settings.REVIEWAPP_RATE_LIMIT_CACHE]


def _store_failed(exc: BaseException) -> None:
    """Note a store error: allow the request (fail open), back off, warn once a minute."""
    _allowed_unchecked()
    _backoff.failed(exc, "requests allowed unlimited (fail open)")


def rate_limit_fail_open_total() -> int:
    """How many limit checks this process allowed because the store was down."""
    return _fail_open["total"]


def _incr(store: BaseCache, key: str, amount: int, timeout: int) -> int:
    if store.add(key, amount, timeout=timeout):
        return amount
    try:
        return store.incr(key, amount)
    except ValueError:  # expired between add and incr
        store.set(key, amount, timeout=timeout)
        return amount


def _key(name: str, subject: str, rate: Rate, now: float) -> tuple[str, float]:
    """The counter key of the window NOW falls in, and the seconds until that window ends."""
    window = int(now // rate.window_s)
    return f"rl:{name}:{subject}:{rate.window_s}:{window}", (window + 1) * rate.window_s - now


# --- taking and checking ----------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A limit that refused: which, for whom, and when to try again."""

    name: str
    subject: str
    rate: Rate
    retry_after_s: int
    cost: int = 1

    @property
    def unattainable(self) -> bool:
        """The request alone costs more than the limit allows in a window."""
        return self.cost > self.rate.limit


def rate_limits_take(
    *, subject: str, limits: Sequence[tuple[str, int]], now: float | None = None
) -> Refusal | None:
    """Count each (limit name, cost) of LIMITS against SUBJECT. When one is over its rate the
    counts are taken back and the refusal with the longest wait is returned; None means
    allowed (also whenever the store fails: fail open)."""
    wanted = [(name, cost, rate) for name, cost in limits if (rate := limit_rate(name)) and cost]
    if not wanted:
        return None
    store = _store()
    if store is None:
        return None
    now = time_now() if now is None else now
    taken: list[tuple[str, int]] = []
    refusals: list[Refusal] = []
    try:
        keys = [(name, cost, rate, *_key(name, subject, rate, now)) for name, cost, rate in wanted]
        counters_add = getattr(store, "counters_add", None)  # Redis: one round trip for all
        if counters_add is not None:
            counts = counters_add(
                [(key, cost, rate.window_s + 5) for _, cost, rate, key, _ in keys]
            )
        else:
            counts = [_incr(store, key, cost, rate.window_s + 5) for _, cost, rate, key, _ in keys]
        for (name, cost, rate, key, remaining), count in zip(keys, counts, strict=True):
            taken.append((key, cost))
            if count > rate.limit:
                wait = max(1, math.ceil(remaining))
                refusals.append(Refusal(name, subject, rate, wait, cost))
        if refusals:
            for key, cost in taken:
                store.decr(key, cost)
    except Exception as exc:  # any store failure means: allow (fail open)
        _store_failed(exc)
        return None
    return max(refusals, key=lambda r: r.retry_after_s) if refusals else None


def rate_limit_check(*, name: str, subject: str, now: float | None = None) -> Refusal | None:
    """Whether SUBJECT has used up limit NAME in the current window, without counting (for
    limits on failures, such as sign-ins: check first, count the failure afterwards)."""
    rate = limit_rate(name)
    store = _store() if rate else None
    if rate is None or store is None:
        return None
    now = time_now() if now is None else now
    key, remaining = _key(name, subject, rate, now)
    try:
        count = store.get(key) or 0
    except Exception as exc:  # fail open
        _store_failed(exc)
        return None
    if count >= rate.limit:
        return Refusal(name, subject, rate, max(1, math.ceil(remaining)))
    return None


def rate_limit_count(*, name: str, subject: str, cost: int = 1, now: float | None = None) -> None:
    """Count COST against limit NAME for SUBJECT (a failure, after the fact)."""
    rate = limit_rate(name)
    store = _store() if rate else None
    if rate is None or store is None:
        return
    now = time_now() if now is None else now
    key, _ = _key(name, subject, rate, now)
    try:
        _incr(store, key, cost, rate.window_s + 5)
    except Exception as exc:  # fail open
        _store_failed(exc)


# --- aggregated audit -------------------------------------------------------------------------


@dataclass
class _Tally:
    action: str
    subject: str
    window_start: int
    actor: User | None
    ip: str | None
    target_type: str
    target_id: str
    details: dict
    first_request_id: str
    count: int = 0
    samples: list[str] = field(default_factory=list)


# Unwritten tallies by minute (window start), then by (action, subject): a flush looks at the
# few minutes held, not at every subject.
_tallies: dict[int, dict[tuple[str, str], _Tally]] = {}
_tallies_lock = threading.Lock()


def audit_tally(
    *,
    action: str,
    subject: str,
    actor: User | None = None,
    ip: str | None = None,
    target_type: str = "",
    target_id: str = "",
    details: dict | None = None,
    sample: str = "",
    now: float | None = None,
) -> None:
    """Count one occurrence of ACTION for SUBJECT in the current minute; the minute's one
    audit event (with the count and up to 10 distinct SAMPLES) is written after it ends."""
    now = time_now() if now is None else now
    window_start = int(now // TALLY_WINDOW_S) * TALLY_WINDOW_S
    store = _store()
    if store is not None:
        try:
            _incr(store, f"rl:tally:{action}:{subject}:{window_start}", 1, 3600)
        except Exception as exc:  # the local count stands in
            _store_failed(exc)
    with _tallies_lock:
        minute = _tallies.setdefault(window_start, {})
        tally = minute.get((action, subject))
        if tally is None:
            tally = minute[(action, subject)] = _Tally(
                action=action,
                subject=subject,
                window_start=window_start,
                actor=actor if actor is not None and actor.is_authenticated else None,
                ip=ip,
                target_type=target_type,
                target_id=target_id,
                details=dict(details or {}),
                first_request_id=request_context_current().request_id,
            )
        tally.count += 1
        if sample and sample not in tally.samples and len(tally.samples) < TALLY_MAX_SAMPLES:
            tally.samples.append(sample)


def audit_tally_flush(*, now: float | None = None, force: bool = False) -> int:
    """Write the audit events of the minutes that are over (all of them with FORCE); returns
    how many this process wrote. A minute counted by several processes is written once."""
    if not _tallies:
        return 0
    now = time_now() if now is None else now
    with _tallies_lock:
        due = [
            window_start
            for window_start in _tallies
            if force or window_start + TALLY_WINDOW_S + TALLY_GRACE_S <= now
        ]
        tallies = [tally for window in due for tally in _tallies.pop(window).values()]
    written = 0
    for tally in tallies:
        count = _tally_claim(tally)
        if count is None:
            continue  # another process writes this minute
        try:
            _tally_write(tally, count)
        except Exception:
            logger.exception(
                "could not write the %s audit event of %s", tally.action, tally.subject
            )
            continue
        written += 1
    return written


def _tally_claim(tally: _Tally) -> int | None:
    """The minute's shared count if this process is the one to write it, else None."""
    store = _store()
    if store is None:
        return tally.count
    base = f"{tally.action}:{tally.subject}:{tally.window_start}"
    try:
        if not store.add(f"rl:tally-written:{base}", 1, timeout=3600):
            return None
        shared = store.get(f"rl:tally:{base}")
    except Exception as exc:  # write with the local count
        _store_failed(exc)
        return tally.count
    return max(int(shared or 0), tally.count)


def _tally_write(tally: _Tally, count: int) -> None:
    changes = {
        **tally.details,
        "subject": tally.subject,
        "count": count,
        "window_start": datetime.fromtimestamp(tally.window_start, tz=UTC).isoformat(),
        "window_s": TALLY_WINDOW_S,
        "first_request_id": tally.first_request_id,
    }
    if tally.samples:
        changes["samples"] = tally.samples
    # The event is about that minute, not about the request that happens to write it.
    with request_context_bind(ip=tally.ip), transaction.atomic():
        audit_record(
            actor=tally.actor,
            action=tally.action,
            target_type=tally.target_type,
            target_id=tally.target_id[:64],
            changes=changes,
        )


def rate_limit_refusal_audit(
    refusal: Refusal, *, actor: User | None = None, ip: str | None = None
) -> None:
    """Tally a refusal: one ``rate_limit.exceeded`` event per limit, subject and minute."""
    audit_tally(
        action="rate_limit.exceeded",
        subject=refusal.subject,
        actor=actor,
        ip=ip,
        target_type="rate_limit",
        target_id=refusal.name,
        details={
            "limit": refusal.name,
            "rate": refusal.rate.text,
            "setting": REVIEWAPP_RATE_LIMITS[refusal.name],
        },
    )


def rate_limit_reset() -> None:
    """Forget unwritten tallies and the store's back-off (between tests)."""
    with _tallies_lock:
        _tallies.clear()
    _backoff.reset()
    with _fail_open_lock:
        _fail_open["total"] = 0
