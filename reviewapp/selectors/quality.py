"""Did review help? Accuracy against ground truth (``models.Outcome``), read for
``GET /api/v1/metrics/quality`` and the adoption dashboard's card.

Over the model's cases whose outcome was observed in the period:

* ``auto_approved``: cases the model decided alone; ``model_accuracy`` is the share whose
  predicted label equals the outcome;
* ``reviewed``: cases with a current human decision; ``model_accuracy`` as above,
  ``final_accuracy`` the share whose final (human) label equals the outcome, and
  ``review_gain`` = final minus model accuracy on those same cases (null without any);
* cases still waiting, expired or reopened count in ``outcomes`` only.

Each rate has a 95% Wilson interval (``…_ci``: ``[low, high]``, null with no cases), and
``by_version`` repeats the figures per model version. ``by_segment`` is an empty object until
models declare segment fields (another piece of work). One aggregate query.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from reviewapp.models import CaseStatus, Decision, MLModel, Outcome
from reviewapp.selectors.health import wilson_interval

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


def quality_metrics(*, ml_model: MLModel, date_from: date, date_to: date) -> dict[str, Any]:
    """Accuracy of the model and of review against the outcomes observed in
    [DATE_FROM, DATE_TO] (whole days, both included)."""
    start, end = _bounds(date_from, date_to)
    final_label = Subquery(
        Decision.objects.filter(case=OuterRef("case_id"), superseded_at__isnull=True).values(
            "final_label"
        )[:1]
    )
    auto = Q(case__status=CaseStatus.AUTO_APPROVED)
    model_right = Q(case__predicted_label=F("label"))
    reviewed = Q(final_label__isnull=False)
    rows = (
        Outcome.objects.filter(ml_model=ml_model, observed_at__gte=start, observed_at__lt=end)
        .annotate(final_label=final_label, version=F("case__model_version__version"))
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
    total = dict.fromkeys(COUNTS, 0)
    by_version = []
    for row in rows:
        for key in COUNTS:
            total[key] += row[key]
        by_version.append({"version": row["version"] or "", **quality_figures(row)})
    return {
        "model": ml_model.slug,
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        **quality_figures(total),
        "by_version": by_version,
        "by_segment": {},
    }
