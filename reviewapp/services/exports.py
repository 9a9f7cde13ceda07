"""Label exports for retraining: decided cases with their input, the model's prediction and
the human outcome. Each export is audited (its filters; the row count is not known before
the stream ends). The records come from ``selectors.exports``; the API renders them as JSON
Lines or CSV with ``presentation.exports``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from django.db import transaction

from reviewapp.models import MLModel, User
from reviewapp.selectors.bands import day_bounds
from reviewapp.selectors.exports import label_records
from reviewapp.services.audit import audit_record

EXPORT_FORMATS = ("jsonl", "csv")
EXPORT_ACTIONS = ("accept", "override")


def labels_export(
    *,
    actor: User,
    ml_model: MLModel,
    fmt: str = "jsonl",
    version: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    action: str | None = None,
) -> Iterator[dict]:
    """Audit the export ("export.labels" with its filters, at once) and return the decided
    cases as lazily read records (``selectors.exports.label_records``). Days are calendar
    days of the site's time zone, both ends included. The caller has checked the export
    capability."""
    filters = {
        "format": fmt,
        "version": version or None,
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
        "action": action or None,
    }
    with transaction.atomic():
        audit_record(actor=actor, action="export.labels", target=ml_model, changes=filters)
    return label_records(
        ml_model=ml_model,
        version=version,
        decided_from=day_bounds(date_from)[0] if date_from else None,
        decided_before=day_bounds(date_to)[1] if date_to else None,
        action=action,
    )
