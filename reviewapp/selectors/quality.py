"""Did review help? Accuracy against ground truth (``models.Outcome``), read for
``GET /api/v1/metrics/quality`` and the adoption dashboard's card.

Over the model's cases whose outcome was observed in the period:

* ``auto_approved``: cases the model decided alone; ``model_accuracy`` is the share whose
  predicted label equals the outcome;
* ``reviewed``: cases with a current human decision; ``model_accuracy`` as above,
  ``final_accuracy`` the share whose final (human) label equals the outcome, and
  ``review_gain`` = final minus model accuracy on those same cases (null without any);
* cases still waiting, expired or reopened count in ``outcomes`` only.

Counts come from the quality rows of the segment rollups (``services.rollups``: the day's
outcomes by route and version, refreshed with the other rollups) for the days that have them,
plus a live count of the outcomes those rows do not hold yet (days never rolled up, outcomes
reported after their day's refresh), so the figures stay exact for new outcomes and cost one
small query at 10^5 outcomes. A decision taken on a case after its outcome's day was rolled up
shows at that day's next refresh (the beat marks the day dirty).

Each rate has a 95% Wilson interval (``…_ci``: ``[low, high]``, null with no cases), and
``by_version`` repeats the figures per model version. ``by_segment`` breaks the outcomes (and
the adoption figures) down by the model's declared segment fields, from the segment rollups
(``selectors.segments``; an empty object when none is declared). Two or three queries.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from reviewapp.models import CaseStatus, Decision, MLModel, Outcome, SegmentDailyRollup
from reviewapp.selectors.health import wilson_interval
from reviewapp.selectors.segments import QUALITY_FIELD, segment_breakdown

COUNTS = ("outcomes", "auto_n", "auto_right", "reviewed_n", "reviewed_model_right", "final_right")


def _rate(successes: int, n: int) -> tuple[float | None, list[float] | None]:
    if n <= 0:
        return None, None
    low, high = wilson_interval(successes, n)
    return successes / n, [low, high]


def quality_figures(counts: dict[str, int]) -> dict[str, Any]:
    """The figures of one group from its counts (see COUNTS)."""
    auto_acc, auto_ci = _rate(counts["auto_right"], counts["auto_n"])
    rev_acc, rev_ci = _rate(counts["reviewed_model_right"], counts["reviewed_n"])
    final_acc, final_ci = _rate(counts["final_right"], counts["reviewed_n"])
    gain = None if rev_acc is None or final_acc is None else final_acc - rev_acc
    return {
        "outcomes": counts["outcomes"],
        "auto_approved": {
            "n": counts["auto_n"],
            "model_accuracy": auto_acc,
            "model_accuracy_ci": auto_ci,
        },
        "reviewed": {
            "n": counts["reviewed_n"],
            "model_accuracy": rev_acc,
            "model_accuracy_ci": rev_ci,
            "final_accuracy": final_acc,
            "final_accuracy_ci": final_ci,
        },
        "review_gain": gain,
    }


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    tz = timezone.get_default_timezone()
    start = datetime.combine(date_from, time.min, tzinfo=tz)
    return start, datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz)


def _rolled(
    ml_model: MLModel, date_from: date, date_to: date
) -> tuple[dict[str, dict[str, int]], dict[date, datetime]]:
    """The period's counts by version from the quality rollup rows, and {day: refreshed_at}
    of the days that have such rows (one query)."""
    by_version: dict[str, dict[str, int]] = {}
    refreshed: dict[date, datetime] = {}
    for day, value, n, model_right, final_right, at in SegmentDailyRollup.objects.filter(
        ml_model=ml_model, field=QUALITY_FIELD, day__gte=date_from, day__lte=date_to
    ).values_list(
        "day",
        "value",
        "outcomes",
        "outcomes_model_correct",
        "outcomes_final_correct",
        "refreshed_at",
    ):
        refreshed[day] = min(at, refreshed.get(day, at))
        route, _, version = value.partition(":")
        counts = by_version.setdefault(version, dict.fromkeys(COUNTS, 0))
        counts["outcomes"] += n
        if route == "auto":
            counts["auto_n"] += n
            counts["auto_right"] += model_right
        elif route == "reviewed":
            counts["reviewed_n"] += n
            counts["reviewed_model_right"] += model_right
            counts["final_right"] += final_right
    return by_version, refreshed


def _not_rolled(ml_model: MLModel, date_from: date, date_to: date, refreshed: dict) -> list[int]:
    """Ids of the period's outcomes the quality rollups do not hold: those of days without
    rollup rows, and those reported after their day's refresh. One pass over the period's
    outcomes with a hash join on their day (no join with cases)."""
    start, end = _bounds(date_from, date_to)
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor == "postgresql":
        day_of, row = (
            "CAST(o.observed_at AT TIME ZONE %s AS date)",
            "SELECT %s::date AS d, %s::timestamptz AS r",
        )
        day_params = [settings.TIME_ZONE]
    else:  # SQLite stores UTC text; the site's days are UTC days (settings.TIME_ZONE)
        day_of, row = "date(o.observed_at)", "SELECT %s AS d, %s AS r"
        day_params = []
    cutoffs = " UNION ALL ".join([row] * len(refreshed))
    params = [
        value for day, at in sorted(refreshed.items()) for value in (day.isoformat(), adapt(at))
    ]
    table = Outcome._meta.db_table
    sql = (
        f"SELECT o.id FROM {table} o LEFT JOIN ({cutoffs}) g ON g.d = {day_of} "  # noqa: S608
        "WHERE o.ml_model_id = %s AND o.observed_at >= %s AND o.observed_at < %s "
        "AND (g.r IS NULL OR o.recorded_at > g.r)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *day_params, ml_model.pk, adapt(start), adapt(end)])
        return [pk for (pk,) in cursor.fetchall()]


def quality_metrics(*, ml_model: MLModel, date_from: date, date_to: date) -> dict[str, Any]:
    """Accuracy of the model and of review against the outcomes observed in
    [DATE_FROM, DATE_TO] (whole days, both included): the quality rollup rows of the days
    that have them (``services.rollups``, refreshed with the other rollups), plus a live count
    of the outcomes they do not hold yet (days without rollups, outcomes reported since)."""
    rolled, refreshed = _rolled(ml_model, date_from, date_to)
    start, end = _bounds(date_from, date_to)
    live = Outcome.objects.filter(ml_model=ml_model, observed_at__gte=start, observed_at__lt=end)
    if refreshed:
        # The ids first (usually none or a few): the join with cases and decisions then runs
        # over those alone.
        ids = _not_rolled(ml_model, date_from, date_to, refreshed)
        live = Outcome.objects.filter(pk__in=ids)
    counts = _live_counts(live) if not refreshed or ids else {}
    for version, row in rolled.items():
        into = counts.setdefault(version, dict.fromkeys(COUNTS, 0))
        for key in COUNTS:
            into[key] += row[key]
    total = dict.fromkeys(COUNTS, 0)
    by_version = []
    for version in sorted(counts):
        row = counts[version]
        for key in COUNTS:
            total[key] += row[key]
        by_version.append({"version": version, **quality_figures(row)})
    return {
        "model": ml_model.slug,
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        **quality_figures(total),
        "by_version": by_version,
        "by_segment": segment_breakdown(ml_models=[ml_model], date_from=date_from, date_to=date_to),
    }


def _live_counts(outcomes: QuerySet) -> dict[str, dict[str, int]]:
    """{version: COUNTS} of OUTCOMES, counted from the cases and decisions (one query)."""
    final_label = Subquery(
        Decision.objects.filter(case=OuterRef("case_id"), superseded_at__isnull=True).values(
            "final_label"
        )[:1]
    )
    auto = Q(case__status=CaseStatus.AUTO_APPROVED)
    model_right = Q(case__predicted_label=F("label"))
    reviewed = Q(final_label__isnull=False)
    rows = (
        outcomes.annotate(final_label=final_label, version=F("case__model_version__version"))
        .values("version")
        .annotate(
            outcomes=Count("pk"),
            auto_n=Count("pk", filter=auto),
            auto_right=Count("pk", filter=auto & model_right),
            reviewed_n=Count("pk", filter=reviewed),
            reviewed_model_right=Count("pk", filter=reviewed & model_right),
            final_right=Count("pk", filter=Q(final_label=F("label"))),
        )
        .order_by("version")
    )
    return {row["version"] or "": {key: row[key] for key in COUNTS} for row in rows}
