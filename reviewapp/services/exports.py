"""Label exports for retraining: decided cases with their input, the model's prediction and
the human outcome, streamed as JSON lines or CSV. Each export is audited (its filters; the
row count is not known before the stream ends)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import QuerySet

from reviewapp.models import Decision, MLModel, User
from reviewapp.services.audit import audit_record
from reviewapp.services.rollups import day_bounds

EXPORT_FORMATS = ("jsonl", "csv")
EXPORT_ACTIONS = ("accept", "override")
CHUNK_SIZE = 2000
CSV_COLUMNS = (
    "case_id",
    "external_id",
    "model",
    "model_version",
    "input",
    "predicted_label",
    "confidence",
    "final_label",
    "action",
    "reason_code",
    "feedback",
    "explanation_helpful",
    "was_blind",
    "reviewer",
    "received_at",
    "decided_at",
    "time_to_decision_s",
)
_FIELDS = {
    "case_id": "case_id",
    "external_id": "case__external_id",
    "model_version": "case__model_version__version",
    "input": "case__input",
    "predicted_label": "case__predicted_label",
    "confidence": "case__confidence",
    "final_label": "final_label",
    "action": "action",
    "reason_code": "reason_code",
    "feedback": "feedback",
    "explanation_helpful": "explanation_helpful",
    "was_blind": "was_blind",
    "reviewer": "reviewer__pseudonym",
    "received_at": "case__created_at",
    "decided_at": "decided_at",
}


@dataclass(frozen=True)
class LabelExport:
    rows: Iterator[str]
    content_type: str
    filename: str


def labels_export_queryset(
    *,
    ml_model: MLModel,
    version: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    action: str | None = None,
) -> QuerySet:
    """Current decisions of the model in decision order, as plain values."""
    qs = Decision.objects.filter(ml_model=ml_model, superseded_at__isnull=True)
    if version:
        qs = qs.filter(case__model_version__version=version)
    if date_from:
        qs = qs.filter(decided_at__gte=day_bounds(date_from)[0])
    if date_to:
        qs = qs.filter(decided_at__lt=day_bounds(date_to)[1])
    if action:
        qs = qs.filter(action=action)
    return qs.order_by("decided_at", "id").values_list(*_FIELDS.values())


def _records(qs: QuerySet, slug: str) -> Iterator[dict]:
    names = list(_FIELDS)
    for values in qs.iterator(chunk_size=CHUNK_SIZE):
        row = dict(zip(names, values, strict=True))
        row["model"] = slug
        row["time_to_decision_s"] = round(
            (row["decided_at"] - row["received_at"]).total_seconds(), 3
        )
        row["received_at"] = row["received_at"].isoformat()
        row["decided_at"] = row["decided_at"].isoformat()
        yield row


def _jsonl(qs: QuerySet, slug: str) -> Iterator[str]:
    for row in _records(qs, slug):
        yield (
            json.dumps(
                {
                    "case_id": row["case_id"],
                    "external_id": row["external_id"],
                    "model": row["model"],
                    "model_version": row["model_version"],
                    "input": row["input"],
                    "prediction": {
                        "label": row["predicted_label"],
                        "confidence": row["confidence"],
                    },
                    "final_label": row["final_label"],
                    "action": row["action"],
                    "reason_code": row["reason_code"],
                    "feedback": row["feedback"],
                    "explanation_helpful": row["explanation_helpful"],
                    "was_blind": row["was_blind"],
                    "reviewer": row["reviewer"],
                    "received_at": row["received_at"],
                    "decided_at": row["decided_at"],
                    "time_to_decision_s": row["time_to_decision_s"],
                },
                cls=DjangoJSONEncoder,
                separators=(",", ":"),
            )
            + "\n"
        )


def _csv_safe(value: object) -> object:
    """Defuse spreadsheet formulas in free text (a cell starting with = + - @ or a tab)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(qs: QuerySet, slug: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for i, row in enumerate(_records(qs, slug)):
        row["input"] = json.dumps(row["input"], cls=DjangoJSONEncoder, sort_keys=True)
        writer.writerow([_csv_safe(row[c]) for c in CSV_COLUMNS])
        if i % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def labels_export(
    *,
    actor: User,
    ml_model: MLModel,
    fmt: str = "jsonl",
    version: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    action: str | None = None,
) -> LabelExport:
    """Audit the export ("export.labels" with its filters) and return the streamed rows.
    The caller has checked ``user_can_export``."""
    filters = {
        "format": fmt,
        "version": version or None,
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
        "action": action or None,
    }
    with transaction.atomic():
        audit_record(actor=actor, action="export.labels", target=ml_model, changes=filters)
    qs = labels_export_queryset(
        ml_model=ml_model, version=version, date_from=date_from, date_to=date_to, action=action
    )
    stamp = "-".join(x for x in (filters["from"], filters["to"]) if x) or "all"
    if fmt == "csv":
        return LabelExport(
            _csv(qs, ml_model.slug),
            "text/csv; charset=utf-8",
            f"{ml_model.slug}-labels-{stamp}.csv",
        )
    return LabelExport(
        _jsonl(qs, ml_model.slug), "application/x-ndjson", f"{ml_model.slug}-labels-{stamp}.jsonl"
    )
