"""Figures by population segment (``by_segment`` of the adoption and quality metrics), read from
``SegmentDailyRollup`` (never from cases): for each segment field the model declares
(``MLModel.segment_fields``, values read from a case's metadata or input at intake) and each of
its values over [date_from, date_to]:

* ``received``, ``auto_approved``, ``to_people`` (cases received in the period) and
  ``sent_to_people_rate``;
* ``decided``, ``accepted``, ``overridden`` (current decisions taken in the period),
  ``acceptance_rate``, ``override_rate`` and ``live_accuracy`` (accepted / decided, as on the
  model-health page: an accept means the model was right, an override that it was wrong);
* ``outcomes`` (ground truth observed in the period), ``outcome_accuracy`` (the model's label
  equals the outcome) and ``final_accuracy`` (the case's final label, a person's when
  reviewed, else the model's, equals the outcome), over the same outcomes;
* each accuracy with its 95% Wilson interval (``…_ci``) and the same rate over the rest of
  the field's values (``rest_…``);
* ``disparity``: true when live or outcome accuracy is worse than the rest's beyond both
  intervals with at least ``REVIEWAPP_SEGMENT_MIN_SAMPLE`` cases a side
  (``reviewapp.figures.segment_disparity``); ``disparity_on`` names which.

Filters of the adoption figures (version, label, band, reviewer) do not apply: a segment's
figures cover the whole model. Cases without a value for a field are in none of its segments.
At most ``MAX_VALUES`` values per field are listed (the most received); the rest of the field
still counts in the ``rest_…`` rates. One aggregate query on the rollup table per model that
declares fields (none otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.conf import settings
from django.db.models import Sum

from reviewapp.figures import segment_disparity
from reviewapp.models import MLModel, SegmentDailyRollup
from reviewapp.selectors.health import wilson_interval

COUNTS = SegmentDailyRollup.COUNTS
MAX_VALUES = 100
# Reserved rollup field (no declared field name may start with "@"): the day's outcomes split
# by route and version, "<auto|reviewed|other>:<version>", read by selectors.quality.
QUALITY_FIELD = "@quality"
DEFAULT_MIN_SAMPLE = 30
# (figure, successes, trials) of the accuracies screened for a disparity.
ACCURACIES = (
    ("live_accuracy", "accepted", "decided"),
    ("outcome_accuracy", "outcomes_model_correct", "outcomes"),
)


def segment_min_sample() -> int:
    """Cases needed on each side (the segment and the rest) before a disparity is flagged."""
    return int(getattr(settings, "REVIEWAPP_SEGMENT_MIN_SAMPLE", DEFAULT_MIN_SAMPLE))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _ci(part: int, whole: int) -> list[float] | None:
    if whole <= 0:
        return None
    low, high = wilson_interval(part, whole)
    return [round(low, 4), round(high, 4)]


def segment_figures(counts: dict[str, int], rest: dict[str, int], min_sample: int) -> dict:
    """One segment value's figures from its counts and those of the rest of its field."""
    row: dict[str, Any] = {key: counts[key] for key in COUNTS[:7]}
    row["sent_to_people_rate"] = _rate(counts["to_people"], counts["received"])
    row["acceptance_rate"] = _rate(counts["accepted"], counts["decided"])
    row["override_rate"] = _rate(counts["overridden"], counts["decided"])
    flagged = []
    for name, part, whole in ACCURACIES:
        ci, rest_ci = _ci(counts[part], counts[whole]), _ci(rest[part], rest[whole])
        row[name] = _rate(counts[part], counts[whole])
        row[f"{name}_ci"] = ci
        row[f"rest_{name}"] = _rate(rest[part], rest[whole])
        if segment_disparity(
            n=counts[whole], ci=ci, rest_n=rest[whole], rest_ci=rest_ci, min_sample=min_sample
        ):
            flagged.append(name)
    row["final_accuracy"] = _rate(counts["outcomes_final_correct"], counts["outcomes"])
    row["final_accuracy_ci"] = _ci(counts["outcomes_final_correct"], counts["outcomes"])
    row["disparity"] = bool(flagged)
    row["disparity_on"] = flagged
    return row


def declared_fields(ml_models: Iterable[MLModel]) -> list[str]:
    """The segment fields declared by any of the models, in declaration order."""
    fields: list[str] = []
    for ml_model in ml_models:
        for name in ml_model.segment_fields or []:
            if name not in fields:
                fields.append(name)
    return fields


def segment_breakdown(
    *, ml_models: Iterable[MLModel], date_from: date, date_to: date
) -> dict[str, list[dict]]:
    """{field: [one row per value, most received first]} for the models' declared segment
    fields over [date_from, date_to] (see the module docstring); {} when none is declared.
    Over several models, a field's values are summed across the models that declare it."""
    ml_models = list(ml_models)
    fields = declared_fields(ml_models)
    if not fields or date_from > date_to:
        return {}
    totals: dict[str, dict[str, dict[str, int]]] = {name: {} for name in fields}
    for ml_model in ml_models:
        declared = ml_model.segment_fields or []
        if not declared:
            continue
        rows = (
            SegmentDailyRollup.objects.filter(
                ml_model=ml_model, day__gte=date_from, day__lte=date_to, field__in=declared
            )
            .values("field", "value")
            .annotate(**{key: Sum(key) for key in COUNTS})
            .order_by()
        )
        for row in rows:
            into = totals[row["field"]].setdefault(row["value"], dict.fromkeys(COUNTS, 0))
            for key in COUNTS:
                into[key] += row[key] or 0
    min_sample = segment_min_sample()
    out: dict[str, list[dict]] = {}
    for name in fields:
        values = totals[name]
        field_total = dict.fromkeys(COUNTS, 0)
        for counts in values.values():
            for key in COUNTS:
                field_total[key] += counts[key]
        ordered = sorted(values.items(), key=lambda kv: (-kv[1]["received"], kv[0]))
        out[name] = [
            {
                "value": value,
                **segment_figures(
                    counts,
                    {key: field_total[key] - counts[key] for key in COUNTS},
                    min_sample,
                ),
            }
            for value, counts in ordered[:MAX_VALUES]
        ]
    return out
