"""Reading decided cases for the label export: the model's current decisions in decision
order, as plain records (no model instances), read in chunks so that millions of rows
stream in constant memory. Rendering them (JSON Lines, CSV) is ``presentation.exports``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Q, QuerySet

from reviewapp.models import Decision, MLModel
from reviewapp.pii import pii_mask

CHUNK_SIZE = 2000
LABEL_FIELDS = {
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


def labels_export_queryset(
    *,
    ml_model: MLModel,
    version: str | None = None,
    decided_from: datetime | None = None,
    decided_before: datetime | None = None,
    action: str | None = None,
) -> QuerySet:
    """Current decisions of the model in decision order, as tuples of LABEL_FIELDS and then
    the decision id (the keyset of the chunks)."""
    qs = Decision.objects.filter(ml_model=ml_model, superseded_at__isnull=True)
    if version:
        qs = qs.filter(case__model_version__version=version)
    if decided_from:
        qs = qs.filter(decided_at__gte=decided_from)
    if decided_before:
        qs = qs.filter(decided_at__lt=decided_before)
    if action:
        qs = qs.filter(action=action)
    return qs.order_by("decided_at", "id").values_list(*LABEL_FIELDS.values(), "id")


def _label_chunks(qs: QuerySet, *, chunk: int = CHUNK_SIZE) -> Iterator[list[tuple]]:
    """QS (ordered by decided_at, id; each tuple ending with decided_at's position and the
    id) in chunks read by keyset from the (model, decided_at) index: no server-side cursor,
    whose WITH HOLD result PostgreSQL builds in full before the first row (27 s at 10^7
    decisions), and no OFFSET."""
    at = list(LABEL_FIELDS).index("decided_at")
    rows = list(qs[:chunk])
    while rows:
        yield rows
        last_at, last_id = rows[-1][at], rows[-1][-1]
        after = qs.filter(decided_at__gte=last_at).filter(
            Q(decided_at__gt=last_at) | Q(decided_at=last_at, id__gt=last_id)
        )
        rows = list(after[:chunk])


def label_records(
    *,
    ml_model: MLModel,
    version: str | None = None,
    decided_from: datetime | None = None,
    decided_before: datetime | None = None,
    action: str | None = None,
) -> Iterator[dict]:
    """The decided cases as records: LABEL_FIELDS plus ``model`` (the slug) and
    ``time_to_decision_s``, with times in ISO form, the model's personal-data fields of the
    input masked. Lazy: nothing is read until iterated."""
    qs = labels_export_queryset(
        ml_model=ml_model,
        version=version,
        decided_from=decided_from,
        decided_before=decided_before,
        action=action,
    )
    names = list(LABEL_FIELDS)
    slug = ml_model.slug
    pii_fields = list(ml_model.pii_fields or [])
    for values in itertools.chain.from_iterable(_label_chunks(qs)):
        row = dict(zip(names, values[:-1], strict=True))
        if pii_fields:  # personal data leaves only as its salted hash (reviewapp/pii.py)
            row["input"] = pii_mask(row["input"], pii_fields)
        row["model"] = slug
        row["time_to_decision_s"] = round(
            (row["decided_at"] - row["received_at"]).total_seconds(), 3
        )
        row["received_at"] = row["received_at"].isoformat()
        row["decided_at"] = row["decided_at"].isoformat()
        yield row
