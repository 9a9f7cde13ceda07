"""Daily rollups behind the adoption dashboard and the metrics API.

``rollups_refresh`` recomputes the rows of ``CaseDailyRollup`` (cases received per day),
``DecisionDailyRollup`` (current decisions per day), ``SegmentDailyRollup`` (the same per
declared segment value, plus outcomes) and ``BandDailyRollup`` (cases and decisions per
version, label and 0.05 confidence band, up to the refresh time exactly: see
``selectors.bands``) for the given days, idempotently: per day
it deletes that day's rows and inserts fresh ones in one transaction. The figures come from
GROUP BY queries run by the database (never a Python loop over cases), with the time
histograms bucketed in SQL.

Histograms are stored as ``{bucket upper bound in ms (as a string): count}`` over the
log-spaced buckets of ``reviewapp.figures`` (``HIST_BOUNDS_MS``), which also reads quantiles
back (``hist_quantile``); the SQL here buckets with the same bounds as ``bucket_of``.

Days are calendar days in ``settings.TIME_ZONE`` (UTC). Case figures belong to the day the
case was received; decision figures to the day it was decided. Every refreshed day with any
decision also gets a case row (zero counts when no case was received that day), so that the
case rows' ``refreshed_at`` tells each day's rollup generation (the dashboard's cache key).

The beat task refreshes today and yesterday every five minutes, plus any older day whose cases
changed since the last refresh (escalated, expired, decided or reopened later on), the
observed days of outcomes reported since then, and up to ``BAND_BACKFILL_DAYS_PER_RUN``
days rolled up before the band rollups existed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from reviewapp.figures import BAND_COUNT, HIST_BOUNDS_MS, bucket_of
from reviewapp.jobs import ROLLUPS_REFRESH, job_enqueue, job_enqueue_on_commit
from reviewapp.models import (
    BandDailyRollup,
    Case,
    CaseDailyRollup,
    Decision,
    DecisionDailyRollup,
    MLModel,
    ModelVersion,
    Outcome,
    SegmentDailyRollup,
    User,
)
from reviewapp.selectors.bands import (
    band_rows_live,
    day_bounds,
    sql_dt,
    sql_fetch,
    sql_of_models,
)
from reviewapp.selectors.segments import QUALITY_FIELD
from reviewapp.services.audit import audit_record

# The beat also looks this far back for days whose cases changed since the last refresh.
DIRTY_LOOKBACK_DAYS = 400
# Each beat run also refreshes up to this many older days that have other rollups but no
# band rollups yet (the backfill after the upgrade that added them), newest first.
BAND_BACKFILL_DAYS_PER_RUN = 14
# On-demand refresh from a page runs in the request up to this many days, else in a task.
INLINE_REFRESH_MAX_DAYS = 7
_ADVISORY_LOCK_NAMESPACE = 0x5EA1


def today() -> date:
    return timezone.localdate()


# ---------------------------------------------------------------------------------------------
# SQL


def _sql_band(col: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(LEAST(FLOOR({col} * 10), {BAND_COUNT - 1}) AS INTEGER)"
    return f"MIN(CAST({col} * 10 AS INTEGER), {BAND_COUNT - 1})"


def _sql_ms_between(start_col: str, end_col: str) -> str:
    """Whole milliseconds from start to end, never negative."""
    if connection.vendor == "postgresql":
        return (
            f"GREATEST(0, CAST(ROUND(EXTRACT(EPOCH FROM ({end_col} - {start_col})) * 1000) "
            "AS BIGINT))"
        )
    return (
        f"MAX(0, CAST(ROUND((julianday({end_col}) - julianday({start_col})) * 86400000.0) "
        "AS INTEGER))"
    )


def _sql_bucket(expr: str, lo: int = 0, hi: int = len(HIST_BOUNDS_MS)) -> str:
    """A nested CASE (a binary search, about 7 comparisons) giving the bucket upper bound of
    ``expr``; portable across PostgreSQL and SQLite."""
    if hi - lo == 1:
        return str(HIST_BOUNDS_MS[lo])
    mid = (lo + hi) // 2
    return (
        f"CASE WHEN {expr} <= {HIST_BOUNDS_MS[mid - 1]} THEN {_sql_bucket(expr, lo, mid)} "
        f"ELSE {_sql_bucket(expr, mid, hi)} END"
    )


def _case_rows(start: datetime, end: datetime, model_ids: list[int]) -> list[tuple]:
    c = Case._meta.db_table
    model_filter = sql_of_models("c", model_ids)
    sql = f"""
        SELECT c.ml_model_id, c.model_version_id, c.predicted_label, {_sql_band("c.confidence")},
               COUNT(*),
               SUM(CASE WHEN c.status = 'auto_approved' THEN 1 ELSE 0 END),
               SUM(CASE WHEN c.status NOT IN ('received', 'auto_approved') THEN 1 ELSE 0 END),
               SUM(CASE WHEN c.escalated_at IS NOT NULL THEN 1 ELSE 0 END),
               SUM(CASE WHEN c.escalation_source = 'sla' THEN 1 ELSE 0 END),
               SUM(CASE WHEN c.status = 'expired' THEN 1 ELSE 0 END)
        FROM {c} c
        WHERE c.created_at >= %s AND c.created_at < %s {model_filter}
        GROUP BY 1, 2, 3, 4
    """  # noqa: S608 - table names and expressions are ours; values are parameters
    params = [sql_dt(start), sql_dt(end), *model_ids]
    return sql_fetch(sql, params)


def _decision_inner(start: datetime, end: datetime, model_ids: list[int]) -> tuple[str, list]:
    """The current decisions of [start, end) with their grouping keys and durations."""
    d, c = Decision._meta.db_table, Case._meta.db_table
    model_filter = sql_of_models("d", model_ids)
    sql = f"""
        SELECT d.ml_model_id AS m, c.model_version_id AS v, d.reviewer_id AS r,
               c.predicted_label AS l, {_sql_band("c.confidence")} AS b, d.was_blind AS w,
               d.action AS action, d.reason_code AS reason,
               d.explanation_helpful AS helpful,
               {_sql_ms_between("c.created_at", "d.decided_at")} AS ttd,
               d.time_spent_ms AS spent
        FROM {d} d JOIN {c} c ON c.id = d.case_id
        WHERE d.superseded_at IS NULL AND d.decided_at >= %s AND d.decided_at < %s
              {model_filter}
    """  # noqa: S608 - table names and expressions are ours; values are parameters
    params = [sql_dt(start), sql_dt(end), *model_ids]
    return sql, params


KEYS = "m, v, r, l, b, w"


def _decision_rows(start: datetime, end: datetime, model_ids: list[int]) -> dict[tuple, dict]:
    """One dict per rollup key with every figure of a DecisionDailyRollup row."""
    inner, params = _decision_inner(start, end, model_ids)
    rows: dict[tuple, dict] = {}
    for m, v, r, label, b, w, n, acc, ovr, h_yes, h_no, ttd_sum, spent_sum in sql_fetch(
        f"""SELECT {KEYS}, COUNT(*),
                   SUM(CASE WHEN action = 'accept' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN action = 'override' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN helpful = %s THEN 1 ELSE 0 END),
                   SUM(CASE WHEN helpful = %s THEN 1 ELSE 0 END),
                   SUM(ttd), SUM(spent)
            FROM ({inner}) x GROUP BY {KEYS}""",  # noqa: S608
        [True, False, *params],
    ):
        rows[(m, v, r, label, b, bool(w))] = {
            "decided": n,
            "accepted": acc or 0,
            "overridden": ovr or 0,
            "helpful_yes": h_yes or 0,
            "helpful_no": h_no or 0,
            "time_to_decision_ms_sum": int(ttd_sum or 0),
            "time_spent_ms_sum": int(spent_sum or 0),
            "override_reasons": {},
            "time_to_decision_hist": {},
            "time_spent_hist": {},
        }
    if not rows:
        return rows
    for *key, reason, n in sql_fetch(
        f"""SELECT {KEYS}, reason, COUNT(*) FROM ({inner}) x
            WHERE action = 'override' GROUP BY {KEYS}, reason""",  # noqa: S608
        params,
    ):
        key[5] = bool(key[5])
        rows[tuple(key)]["override_reasons"][reason or "unspecified"] = n
    for field, col in (("time_to_decision_hist", "ttd"), ("time_spent_hist", "spent")):
        for *key, bucket, n in sql_fetch(
            f"""SELECT {KEYS}, bk, COUNT(*) FROM (
                    SELECT {KEYS}, {_sql_bucket(col)} AS bk FROM ({inner}) x
                ) y GROUP BY {KEYS}, bk""",  # noqa: S608
            params,
        ):
            key[5] = bool(key[5])
            rows[tuple(key)][field][str(int(bucket))] = n
    return rows


SEGMENT_FIELDS = SegmentDailyRollup.COUNTS


def _sql_segments(case_alias: str) -> str:
    """A join giving one row (s.key, s.value) per entry of the case's ``segments`` object."""
    if connection.vendor == "postgresql":
        return f"CROSS JOIN LATERAL jsonb_each_text({case_alias}.segments) AS s(key, value)"
    return f"CROSS JOIN json_each({case_alias}.segments) AS s"


def _segment_rows(start: datetime, end: datetime, model_ids: list[int]) -> dict[tuple, dict]:
    """{(model id, field, value): SegmentDailyRollup figures} for [start, end): cases by the
    day they were received, current decisions by the day taken, outcomes by the day observed
    (as ``selectors.quality`` reads them). ``outcomes_final_correct`` counts outcomes equal
    to the case's final label: its current decision's, else the model's own. Rows of the
    reserved field ``QUALITY_FIELD`` split the day's outcomes by route and model version for
    ``selectors.quality`` (there ``outcomes_final_correct`` counts human labels only)."""
    c, d, o = Case._meta.db_table, Decision._meta.db_table, Outcome._meta.db_table
    seg = _sql_segments("c")
    dt = [sql_dt(start), sql_dt(end), *model_ids]
    rows: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(SEGMENT_FIELDS, 0))
    case_filter = sql_of_models("c", model_ids)
    for m, k, v, n, auto, people in sql_fetch(
        f"""SELECT c.ml_model_id, s.key, s.value, COUNT(*),
                   SUM(CASE WHEN c.status = 'auto_approved' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN c.status NOT IN ('received', 'auto_approved') THEN 1 ELSE 0 END)
            FROM {c} c {seg}
            WHERE c.created_at >= %s AND c.created_at < %s {case_filter}
            GROUP BY 1, 2, 3""",  # noqa: S608 - table names and expressions are ours
        dt,
    ):
        rows[(m, k, v)].update(received=n, auto_approved=auto or 0, to_people=people or 0)
    dec_filter = sql_of_models("d", model_ids)
    for m, k, v, n, acc, ovr in sql_fetch(
        f"""SELECT d.ml_model_id, s.key, s.value, COUNT(*),
                   SUM(CASE WHEN d.action = 'accept' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN d.action = 'override' THEN 1 ELSE 0 END)
            FROM {d} d JOIN {c} c ON c.id = d.case_id {seg}
            WHERE d.superseded_at IS NULL AND d.decided_at >= %s AND d.decided_at < %s
                  {dec_filter}
            GROUP BY 1, 2, 3""",  # noqa: S608
        dt,
    ):
        rows[(m, k, v)].update(decided=n, accepted=acc or 0, overridden=ovr or 0)
    out_filter = sql_of_models("o", model_ids)
    for m, k, v, n, auto, model_right, final_right in sql_fetch(
        f"""SELECT o.ml_model_id, s.key, s.value, COUNT(*),
                   SUM(CASE WHEN c.status = 'auto_approved' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN c.predicted_label = o.label THEN 1 ELSE 0 END),
                   SUM(CASE WHEN COALESCE(d.final_label, c.predicted_label) = o.label
                       THEN 1 ELSE 0 END)
            FROM {o} o JOIN {c} c ON c.id = o.case_id {seg}
            LEFT JOIN {d} d ON d.case_id = c.id AND d.superseded_at IS NULL
            WHERE o.observed_at >= %s AND o.observed_at < %s {out_filter}
            GROUP BY 1, 2, 3""",  # noqa: S608
        dt,
    ):
        rows[(m, k, v)].update(
            outcomes=n,
            outcomes_auto_approved=auto or 0,
            outcomes_model_correct=model_right or 0,
            outcomes_final_correct=final_right or 0,
        )
    # The quality figures' own partition of the day's outcomes, under a reserved field name
    # no declared segment field can take: "<route>:<version>" with route auto (auto-approved),
    # reviewed (a current human decision) or other (waiting, expired, reopened).
    mv = ModelVersion._meta.db_table
    for m, value, n, auto, model_right, final_right in sql_fetch(
        f"""SELECT o.ml_model_id,
                   CASE WHEN c.status = 'auto_approved' THEN 'auto'
                        WHEN d.id IS NOT NULL THEN 'reviewed' ELSE 'other' END || ':' || v.version,
                   COUNT(*),
                   SUM(CASE WHEN c.status = 'auto_approved' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN c.predicted_label = o.label THEN 1 ELSE 0 END),
                   SUM(CASE WHEN d.final_label = o.label THEN 1 ELSE 0 END)
            FROM {o} o JOIN {c} c ON c.id = o.case_id
            JOIN {mv} v ON v.id = c.model_version_id
            LEFT JOIN {d} d ON d.case_id = c.id AND d.superseded_at IS NULL
            WHERE o.observed_at >= %s AND o.observed_at < %s {out_filter}
            GROUP BY 1, 2""",  # noqa: S608
        dt,
    ):
        rows[(m, QUALITY_FIELD, value)].update(
            outcomes=n,
            outcomes_auto_approved=auto or 0,
            outcomes_model_correct=model_right or 0,
            outcomes_final_correct=final_right or 0,
        )
    return dict(rows)


def _lock_day(day: date, model_id: int | None) -> None:
    """Serialise concurrent refreshes of the same day (PostgreSQL; SQLite's IMMEDIATE
    transactions already serialise writers)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [_ADVISORY_LOCK_NAMESPACE, day.toordinal()],
            )


def _refresh_day(day: date, model_id: int | None) -> tuple[int, int]:
    start, end = day_bounds(day)
    now = timezone.now()
    with transaction.atomic():
        _lock_day(day, model_id)
        model_ids = [model_id] if model_id else list(MLModel.objects.values_list("pk", flat=True))
        case_rows = _case_rows(start, end, model_ids)
        decision_rows = _decision_rows(start, end, model_ids)
        segment_rows = _segment_rows(start, end, model_ids)
        # Up to the refresh time exactly: the band readers count from there on live.
        band_rows = band_rows_live(model_ids, [(start, min(end, now))])
        scope = Q(day=day) & (Q(ml_model_id=model_id) if model_id else Q())
        CaseDailyRollup.objects.filter(scope).delete()
        DecisionDailyRollup.objects.filter(scope).delete()
        SegmentDailyRollup.objects.filter(scope).delete()
        BandDailyRollup.objects.filter(scope).delete()
        BandDailyRollup.objects.bulk_create(
            [
                BandDailyRollup(
                    day=day,
                    ml_model_id=m,
                    model_version_id=v,
                    predicted_label=label,
                    band=band,
                    refreshed_at=now,
                    **figures,
                )
                for (m, v, label, band), figures in band_rows.items()
            ],
            batch_size=500,
        )
        SegmentDailyRollup.objects.bulk_create(
            [
                SegmentDailyRollup(
                    day=day, ml_model_id=m, field=k, value=v, refreshed_at=now, **figures
                )
                for (m, k, v), figures in segment_rows.items()
            ],
            batch_size=500,
        )
        case_objs = [
            CaseDailyRollup(
                day=day,
                ml_model_id=m,
                model_version_id=v,
                predicted_label=label,
                confidence_band=b,
                received=n,
                auto_approved=auto or 0,
                queued=queued or 0,
                escalated=esc or 0,
                sla_breached=sla or 0,
                expired=exp or 0,
                refreshed_at=now,
            )
            for m, v, label, b, n, auto, queued, esc, sla, exp in case_rows
        ]
        # A zero row marks a day that has decisions but no cases received, so that every
        # refreshed day with data has a generation stamp in the case table.
        models_with_cases = {obj.ml_model_id for obj in case_objs}
        for m, v, _r, label, b, _w in decision_rows:
            if m not in models_with_cases:
                models_with_cases.add(m)
                case_objs.append(
                    CaseDailyRollup(
                        day=day,
                        ml_model_id=m,
                        model_version_id=v,
                        predicted_label=label,
                        confidence_band=b,
                        refreshed_at=now,
                    )
                )
        CaseDailyRollup.objects.bulk_create(case_objs, batch_size=500)
        DecisionDailyRollup.objects.bulk_create(
            [
                DecisionDailyRollup(
                    day=day,
                    ml_model_id=m,
                    model_version_id=v,
                    reviewer_id=r,
                    predicted_label=label,
                    confidence_band=b,
                    was_blind=w,
                    refreshed_at=now,
                    **figures,
                )
                for (m, v, r, label, b, w), figures in decision_rows.items()
            ],
            batch_size=500,
        )
    return len(case_objs), len(decision_rows)


def rollups_refresh(*, days: Iterable[date] | None = None, ml_model: MLModel | None = None) -> dict:
    """Recompute the rollup rows of ``days`` (default: today and yesterday) for one model or
    for all. Idempotent. Returns {"days": n, "case_rows": n, "decision_rows": n}."""
    if days is None:
        days = [today() - timedelta(days=1), today()]
    days = sorted(set(days))
    model_id = ml_model.pk if ml_model else None
    case_total = decision_total = 0
    for day in days:
        n_case, n_decision = _refresh_day(day, model_id)
        case_total += n_case
        decision_total += n_decision
    return {"days": len(days), "case_rows": case_total, "decision_rows": decision_total}


def rollups_dirty_days(*, since: datetime | None = None) -> list[date]:
    """Days whose figures may have changed since ``since`` (default: the last refresh minus
    ten minutes): today, yesterday, the received-days of cases escalated, expired or decided
    since then, and the decided-days of decisions superseded since then."""
    recent = [today() - timedelta(days=1), today()]
    if since is None:
        last = CaseDailyRollup.objects.aggregate(last=Max("refreshed_at"))["last"]
        if last is None:
            return recent
        since = last - timedelta(minutes=10)
    floor = timezone.now() - timedelta(days=DIRTY_LOOKBACK_DAYS)
    changed = Case.objects.filter(created_at__gte=floor).filter(
        Q(decided_at__gte=since) | Q(escalated_at__gte=since) | Q(expired_at__gte=since)
    )
    days = set(recent)
    days.update(changed.dates("created_at", "day"))
    days.update(Decision.objects.filter(superseded_at__gte=since).dates("decided_at", "day"))
    # Outcomes reported since then, or whose case was decided or reopened since then: their
    # observed days (the segment and quality rollups count outcomes there).
    days.update(Outcome.objects.filter(recorded_at__gte=since).dates("observed_at", "day"))
    reopened = Decision.objects.filter(superseded_at__gte=since).values("case_id")
    touched = Q(case_id__in=changed.values("pk")) | Q(case_id__in=reopened)
    days.update(Outcome.objects.filter(touched).dates("observed_at", "day"))
    days.update(_band_backfill_days(exclude=days))
    return sorted(d for d in days if d <= today())


def _band_backfill_days(*, exclude: set[date]) -> list[date]:
    """Up to ``BAND_BACKFILL_DAYS_PER_RUN`` days, newest first, that have case rollups (so
    data) but no band rollups: days rolled up before the band rollups existed. Two small
    queries on the rollup tables."""
    banded = set(BandDailyRollup.objects.values_list("day", flat=True).distinct())
    rolled = (
        CaseDailyRollup.objects.filter(received__gt=0)
        .values_list("day", flat=True)
        .distinct()
        .order_by("-day")
    )
    todo = [d for d in rolled if d not in banded and d not in exclude]
    return todo[:BAND_BACKFILL_DAYS_PER_RUN]


def rollups_missing_days(*, ml_models: list[MLModel], date_from: date, date_to: date) -> list[date]:
    """Days of the period (up to today) that have data but no rollup rows yet. Cheap: one
    query on the rollup table, then one indexed probe on cases for the missing days only."""
    date_to = min(date_to, today())
    if not ml_models or date_from > date_to:
        return []
    model_ids = [m.pk for m in ml_models]
    have = set(
        CaseDailyRollup.objects.filter(
            ml_model_id__in=model_ids, day__gte=date_from, day__lte=date_to
        )
        .values_list("day", flat=True)
        .distinct()
    )
    missing = [
        date_from + timedelta(days=i)
        for i in range((date_to - date_from).days + 1)
        if date_from + timedelta(days=i) not in have
    ]
    if not missing:
        return []
    ranges = Q()
    for day in missing:
        start, end = day_bounds(day)
        ranges |= Q(created_at__gte=start, created_at__lt=end)
    with_cases = set(
        Case.objects.filter(ml_model_id__in=model_ids).filter(ranges).dates("created_at", "day")
    )
    decision_ranges = Q()
    for day in missing:
        start, end = day_bounds(day)
        decision_ranges |= Q(decided_at__gte=start, decided_at__lt=end)
    with_decisions = set(
        Decision.objects.filter(ml_model_id__in=model_ids, superseded_at__isnull=True)
        .filter(decision_ranges)
        .dates("decided_at", "day")
    )
    return sorted(d for d in missing if d in with_cases or d in with_decisions)


def rollups_ensure(*, ml_models: list[MLModel], date_from: date, date_to: date) -> list[date]:
    """For a read (GET): the period's days that have data but no rollups yet are handed to the
    Celery task, never computed in the request (reads don't write). Returns those days, so
    the page or response can say its figures are still being prepared. A broker outage is
    logged, not raised: beat's periodic refresh picks the days up anyway."""
    missing = rollups_missing_days(ml_models=ml_models, date_from=date_from, date_to=date_to)
    for ml_model in ml_models if missing else []:
        job_enqueue_on_commit(
            ROLLUPS_REFRESH,
            robust=True,
            days=[d.isoformat() for d in missing],
            ml_model_id=ml_model.pk,
        )
    return missing


def rollups_as_of(*, ml_models: list[MLModel], date_from: date, date_to: date) -> datetime | None:
    """When the period's figures were last computed (the oldest refresh among its rollups)."""
    return CaseDailyRollup.objects.filter(
        ml_model__in=ml_models, day__gte=date_from, day__lte=date_to
    ).aggregate(m=Min("refreshed_at"))["m"]


def rollups_refresh_request(
    *, actor: User, ml_models: list[MLModel], date_from: date, date_to: date
) -> str:
    """A manager asks for the period's rollups to be recomputed now: short periods are
    refreshed in the request, long ones by the Celery task. Audited. Returns "done" or
    "queued"."""
    date_to = min(date_to, today())
    days = [date_from + timedelta(days=i) for i in range(max(0, (date_to - date_from).days + 1))]
    inline = len(days) <= INLINE_REFRESH_MAX_DAYS
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="rollups.refresh_requested",
            target_type="mlmodel",
            target_id=",".join(m.slug for m in ml_models)[:64],
            changes={
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
                "days": len(days),
                "mode": "inline" if inline else "task",
            },
        )
    if not days:
        return "done"
    if inline:
        for ml_model in ml_models:
            rollups_refresh(days=days, ml_model=ml_model)
        return "done"
    for ml_model in ml_models:
        job_enqueue(ROLLUPS_REFRESH, days=[d.isoformat() for d in days], ml_model_id=ml_model.pk)
    return "queued"


def rollups_direct(*, ml_model: MLModel, day: date) -> dict:
    """Figures of one day computed straight from cases and decisions with the ORM (for
    checks and tests: the rollups must equal this)."""
    start, end = day_bounds(day)
    cases = Case.objects.filter(ml_model=ml_model, created_at__gte=start, created_at__lt=end)
    decisions = Decision.objects.filter(
        ml_model=ml_model, superseded_at__isnull=True, decided_at__gte=start, decided_at__lt=end
    ).select_related("case")
    reasons: dict[str, int] = defaultdict(int)
    ttd_hist: dict[int, int] = defaultdict(int)
    for decision in decisions:
        if decision.action == "override":
            reasons[decision.reason_code] += 1
        ms = max(0, round((decision.decided_at - decision.case.created_at).total_seconds() * 1000))
        ttd_hist[bucket_of(ms)] += 1
    return {
        "received": cases.count(),
        "auto_approved": cases.filter(status="auto_approved").count(),
        "queued": cases.exclude(status__in=["received", "auto_approved"]).count(),
        "escalated": cases.filter(escalated_at__isnull=False).count(),
        "sla_breached": cases.filter(escalation_source="sla").count(),
        "expired": cases.filter(status="expired").count(),
        "decided": decisions.count(),
        "accepted": decisions.filter(action="accept").count(),
        "overridden": decisions.filter(action="override").count(),
        "override_reasons": dict(reasons),
        "time_to_decision_hist": dict(ttd_hist),
    }
