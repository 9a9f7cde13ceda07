"""A model's per-band figures for any run of days: the columns of ``BandDailyRollup`` (cases
received and auto-approved, current decisions and accepts, and the decided cases' confidence
sum, per model version, predicted label and 0.05 confidence band).

Whole days come from the band rollups; the rest is counted live with the very SQL the
refresh runs (``band_rows_live``), so a reader never waits for the beat and never scans
more than it must:

* a day with no band rollup yet (not refreshed since it had data, e.g. just after an
  upgrade, until the beat's backfill reaches it) is counted live, whole;
* a day refreshed before it ended (today, normally) is read from its rollup up to the
  refresh and counted live from then on (five minutes of data at most while beat runs).

A rollup holds what was current at its refresh: a decision reopened since then still counts
until the next refresh (five minutes for today and yesterday, the beat's dirty-day pass for
older days).

Days are calendar days in ``settings.TIME_ZONE`` (``day_bounds``), as in the other rollups.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Min, Sum
from django.utils import timezone

from reviewapp.models import BandDailyRollup, Case, Decision, MLModel

BAND_COUNT = 20  # 0.05 wide: the health page's what-if grid (selectors.calibration)
BAND_NUDGE = 1e-9  # so that 0.85 * 20 lands in band 17 despite binary rounding


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the site's time zone, as aware datetimes."""
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE) if settings.USE_TZ else UTC
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


# --- SQL shared with services.rollups ------------------------------------------------------


def sql_dt(value: datetime):
    """A datetime as the database driver takes it in a raw query."""
    return connection.ops.adapt_datetimefield_value(value)


def sql_fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def sql_of_models(alias: str, model_ids: list[int]) -> str:
    """The filter keeping ALIAS's rows to MODEL_IDS (parameters: the ids). The per-model time
    indexes (model, time) then serve every day's range: without a model condition the day's
    rows of every model were found by reading the whole table, a cost that grew with it."""
    if not model_ids:
        return "AND 1 = 0"
    return f"AND {alias}.ml_model_id IN ({', '.join(['%s'] * len(model_ids))})"


def _sql_in_ranges(col: str, ranges: list[tuple[datetime, datetime]]) -> tuple[str, list]:
    """``(col >= a AND col < b) OR ...`` over RANGES, with its parameters."""
    sql = " OR ".join(f"({col} >= %s AND {col} < %s)" for _ in ranges)
    params = [sql_dt(v) for pair in ranges for v in pair]
    return f"({sql})", params


def _sql_band(col: str) -> str:
    """The 0.05 band of a confidence, 0..19 (1.0 in band 19), on PostgreSQL and SQLite."""
    scaled, top = f"{col} * {BAND_COUNT} + {BAND_NUDGE}", BAND_COUNT - 1
    if connection.vendor == "postgresql":
        return f"CAST(LEAST(GREATEST(FLOOR({scaled}), 0), {top}) AS INTEGER)"
    return f"MIN(MAX(CAST({scaled} AS INTEGER), 0), {top})"


# --- counting live --------------------------------------------------------------------------

Key = tuple[int, int, str, int]  # (model id, model version id, predicted label, band)


def band_rows_live(
    model_ids: list[int], ranges: list[tuple[datetime, datetime]]
) -> dict[Key, dict[str, float]]:
    """The ``BandDailyRollup.COUNTS`` of the cases received and the current decisions taken
    in RANGES ([start, end) pairs), per key (two grouped queries; none without ranges)."""
    rows: dict[Key, dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(BandDailyRollup.COUNTS, 0)
    )
    if not ranges or not model_ids:
        return rows
    c, d = Case._meta.db_table, Decision._meta.db_table
    received_in, received_params = _sql_in_ranges("c.created_at", ranges)
    for m, v, label, band, n, auto in sql_fetch(
        f"""SELECT c.ml_model_id, c.model_version_id, c.predicted_label,
                   {_sql_band("c.confidence")}, COUNT(*),
                   SUM(CASE WHEN c.status = 'auto_approved' THEN 1 ELSE 0 END)
            FROM {c} c
            WHERE {received_in} {sql_of_models("c", model_ids)}
            GROUP BY 1, 2, 3, 4""",  # noqa: S608 - table names and expressions are ours
        [*received_params, *model_ids],
    ):
        rows[(m, v, label, band)].update(received=n, auto_approved=auto or 0)
    decided_in, decided_params = _sql_in_ranges("d.decided_at", ranges)
    for m, v, label, band, n, accepted, confidence in sql_fetch(
        f"""SELECT d.ml_model_id, c.model_version_id, c.predicted_label,
                   {_sql_band("c.confidence")}, COUNT(*),
                   SUM(CASE WHEN d.action = 'accept' THEN 1 ELSE 0 END), SUM(c.confidence)
            FROM {d} d JOIN {c} c ON c.id = d.case_id
            WHERE d.superseded_at IS NULL AND {decided_in} {sql_of_models("d", model_ids)}
            GROUP BY 1, 2, 3, 4""",  # noqa: S608
        [*decided_params, *model_ids],
    ):
        rows[(m, v, label, band)].update(
            decided=n, accepted=accepted or 0, confidence_sum=float(confidence or 0.0)
        )
    return rows


# --- reading a period ------------------------------------------------------------------------


@dataclass
class BandRow:
    """One (model version, predicted label, band) of a period, summed over its days."""

    version_id: int
    label: str
    band: int
    received: int = 0
    auto_approved: int = 0
    decided: int = 0
    accepted: int = 0
    confidence_sum: float = 0.0


def live_ranges(
    refreshed: dict[date, datetime], date_from: date, date_to: date
) -> list[tuple[datetime, datetime]]:
    """What the rollups of [DATE_FROM, DATE_TO] leave to count live, given REFRESHED (each
    rolled-up day's refresh time): days without a rollup whole, consecutive ones merged, and
    each rolled-up day from its refresh to its end when it was refreshed before it ended."""
    ranges: list[tuple[datetime, datetime]] = []
    day = date_from
    while day <= date_to:
        start, end = day_bounds(day)
        at = refreshed.get(day)
        if at is not None and at >= end:
            pass
        elif at is not None:
            ranges.append((max(at, start), end))
        elif ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
        day += timedelta(days=1)
    return ranges


def band_rows(ml_model: MLModel, *, date_from: date, date_to: date) -> list[BandRow]:
    """ML_MODEL's figures per (version, label, band) over the days [DATE_FROM, DATE_TO] (up to
    today): the band rollups, plus the rest counted live (two to four queries)."""
    return _band_rows(ml_model, date_from, min(date_to, timezone.localdate()), edges=[])


def band_rows_between(ml_model: MLModel, *, start: datetime, end: datetime) -> list[BandRow]:
    """The same over [START, END) to the second (the tripwires' rolling windows): the whole
    days inside from the band rollups; the part day at the start counted live; the day of
    END from its rollup when that was refreshed by END (today, normally), with the minutes
    since counted live, else live too."""
    if end <= start:
        return []
    first, last = timezone.localdate(start), timezone.localdate(end)
    if day_bounds(first)[0] < start:
        first += timedelta(days=1)
    if day_bounds(last)[0] >= end:  # END at midnight: the day before is the last, whole
        last -= timedelta(days=1)
    if first > last:  # inside one day, not from its start
        return _band_rows(ml_model, first, last, edges=[(start, end)])
    edges = [(start, day_bounds(first)[0])] if start < day_bounds(first)[0] else []
    return _band_rows(ml_model, first, last, edges=edges, until=end)


def _band_rows(
    ml_model: MLModel,
    date_from: date,
    date_to: date,
    *,
    edges: list[tuple[datetime, datetime]],
    until: datetime | None = None,
) -> list[BandRow]:
    """The days [DATE_FROM, DATE_TO] from the rollups and what they leave live, plus EDGES
    (ranges outside those days) live. UNTIL (inside DATE_TO, or its end): nothing after it
    counts, so DATE_TO's rollup is read only if it was refreshed by then."""
    if date_from > date_to and not edges:
        return []
    rollups = BandDailyRollup.objects.filter(
        ml_model=ml_model, day__gte=date_from, day__lte=date_to
    )
    refreshed = (
        dict(
            rollups.values("day")
            .annotate(at=Min("refreshed_at"))
            .values_list("day", "at")
            .order_by()
        )
        if date_from <= date_to
        else {}
    )
    if until is not None and date_from <= date_to and until < day_bounds(date_to)[1]:
        at = refreshed.get(date_to)
        if at is not None and at > until:  # it holds cases after UNTIL: count the day live
            del refreshed[date_to]
            rollups = rollups.exclude(day=date_to)
    out: dict[tuple[int, str, int], BandRow] = {}

    def row(version_id: int, label: str, band: int) -> BandRow:
        key = (version_id, label, band)
        if key not in out:
            out[key] = BandRow(version_id=version_id, label=label, band=band)
        return out[key]

    if refreshed:
        summed = (
            rollups.values("model_version_id", "predicted_label", "band")
            .annotate(**{f"s_{name}": Sum(name) for name in BandDailyRollup.COUNTS})
            .order_by()
        )
        for figures in summed:
            target = row(figures["model_version_id"], figures["predicted_label"], figures["band"])
            for name in BandDailyRollup.COUNTS:
                setattr(target, name, getattr(target, name) + (figures[f"s_{name}"] or 0))
    ranges = [*edges, *live_ranges(refreshed, date_from, date_to)]
    if until is not None:
        ranges = [(a, min(b, until)) for a, b in ranges if a < min(b, until)]
    for (_m, version_id, label, band), figures in band_rows_live([ml_model.pk], ranges).items():
        target = row(version_id, label, band)
        for name, value in figures.items():
            setattr(target, name, getattr(target, name) + value)
    return sorted(out.values(), key=lambda r: (r.version_id, r.label, r.band))


def model_days(ml_model: MLModel) -> tuple[date, date]:
    """All of ML_MODEL's days: from the day it was registered (or of its first case, if
    imported cases are older) to today. One indexed probe."""
    first = (
        Case.objects.filter(ml_model=ml_model)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    since = min(ml_model.created_at, first) if first else ml_model.created_at
    return timezone.localdate(since), timezone.localdate()
