"""Recording ground truth (``POST /api/v1/outcomes``): the model's service account reports
the label its own system later observed for cases it submitted.

One result per item, in order: ``created``; ``duplicate`` (the case already has this label);
``conflict`` (the case already has a different label: kept as it was); ``unknown_case`` (no
case of this model has the ``external_id``, which is also what another model's ids look like);
``error`` (the item is malformed). Valid items are kept when others fail. The whole request
is one transaction and writes one audit event with the counts (``outcome.record``).
Concurrent reports of the same case are safe: the unique constraint on the case decides,
and the loser answers ``duplicate`` or ``conflict``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reviewapp.errors import InvalidInput
from reviewapp.models import Case, MLModel, Outcome, User
from reviewapp.services.audit import audit_record
from reviewapp.validation import json_problems, text_problem

STATUSES = ("created", "duplicate", "conflict", "unknown_case", "error")
FIELDS = ("external_id", "label", "observed_at")
DEFAULT_CLOCK_SKEW_S = 300
MAX_EXTERNAL_ID_CHARS = 200


def clock_skew() -> timedelta:
    """How far in the future an ``observed_at`` may be (clocks differ): 5 minutes unless
    ``REVIEWAPP_OUTCOME_CLOCK_SKEW_S`` says otherwise."""
    return timedelta(
        seconds=int(getattr(settings, "REVIEWAPP_OUTCOME_CLOCK_SKEW_S", DEFAULT_CLOCK_SKEW_S))
    )


@dataclass
class OutcomeResult:
    index: int
    status: str = "error"
    external_id: str | None = None
    case_id: int | None = None
    code: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.external_id is not None:
            body["external_id"] = self.external_id
        if self.case_id is not None:
            body["case_id"] = self.case_id
        if self.errors:
            key, messages = next(iter(self.errors.items()))
            body["error"] = {
                "code": self.code or "invalid",
                "message": messages[0] if key == "non_field_errors" else f"{key}: {messages[0]}",
                "details": self.errors,
            }
        return body


def outcome_items_or_error(body: Any) -> list[Any]:
    """The list of items of a body ``{"outcomes": [...]}``; 400 otherwise."""
    if isinstance(body, dict) and isinstance(body.get("outcomes"), list):
        return body["outcomes"]
    raise InvalidInput(
        'Send a JSON object {"outcomes": [{"external_id", "label", "observed_at"}, ...]}.',
        details={"outcomes": ["Required: a list of outcome objects."]},
    )


def _observed_at(raw: Any, now: datetime) -> tuple[datetime | None, str]:
    if not isinstance(raw, str) or not raw.strip():
        return None, "Required: an ISO 8601 date and time with a timezone."
    try:
        value = parse_datetime(raw.strip())
    except ValueError:  # well-formed but impossible (month 13, hour 25)
        value = None
    if value is None:
        return None, "Not a date and time: use ISO 8601, e.g. 2025-03-10T09:30:00Z."
    if value.tzinfo is None or value.utcoffset() is None:
        return None, "Give a timezone (Z or an offset such as +02:00)."
    try:
        value = value.astimezone(UTC)  # as stored; year 1 with a positive offset overflows
    except OverflowError:
        return None, "Out of range."
    if value > now + clock_skew():
        return None, "Is in the future."
    return value, ""


def _item_errors(
    item: Any, *, labels: set[str], now: datetime
) -> tuple[dict[str, list[str]], datetime | None]:
    """The problems of one item by field (empty when it is valid), and its observed_at."""
    if not isinstance(item, dict):
        return {"non_field_errors": ["Each outcome is an object."]}, None
    problems = json_problems(item, limit=1)
    if problems:
        path, message = problems[0]
        return {path or "non_field_errors": [message]}, None
    errors: dict[str, list[str]] = {}
    unknown = sorted(k for k in item if k not in FIELDS)
    if unknown:
        errors["non_field_errors"] = [f"Unknown field '{unknown[0][:40]}'."]
    external_id = item.get("external_id")
    if not isinstance(external_id, str) or not external_id:
        errors["external_id"] = ["Required: the case's external_id (a string)."]
    elif len(external_id) > MAX_EXTERNAL_ID_CHARS:
        errors["external_id"] = [f"At most {MAX_EXTERNAL_ID_CHARS} characters."]
    label = item.get("label")
    if not isinstance(label, str) or not label:
        errors["label"] = ["Required: a label of the model (a string)."]
    elif label not in labels:
        errors["label"] = [f"Not a label of this model: one of {', '.join(sorted(labels))}."]
    observed_at, message = _observed_at(item.get("observed_at"), now)
    if message:
        errors["observed_at"] = [message]
    return errors, observed_at


def outcomes_record(*, ml_model: MLModel, items: list[Any], actor: User) -> list[OutcomeResult]:
    """Validate and store the outcomes of ITEMS for ML_MODEL's cases; one result per item."""
    now = timezone.now()
    labels = {str(label) for label in (ml_model.labels or [])}
    results = [OutcomeResult(index=i) for i in range(len(items))]
    valid: list[tuple[int, str, str, datetime]] = []  # (index, external_id, label, observed_at)
    for i, item in enumerate(items):
        errors, observed_at = _item_errors(item, labels=labels, now=now)
        external_id = item.get("external_id") if isinstance(item, dict) else None
        if isinstance(external_id, str) and text_problem(external_id) is None:
            results[i].external_id = external_id[:MAX_EXTERNAL_ID_CHARS]
        if errors:
            results[i].errors = errors
            continue
        valid.append((i, external_id, item["label"], observed_at))
    request_key = uuid.uuid4()
    with transaction.atomic():
        _store(ml_model=ml_model, valid=valid, results=results, actor=actor, key=request_key)
        counts = outcome_counts(results)
        audit_record(
            actor=actor,
            action="outcome.record",
            target=ml_model,
            changes={"items": len(items), **counts},
        )
    return results


def _store(
    *,
    ml_model: MLModel,
    valid: list[tuple[int, str, str, datetime]],
    results: list[OutcomeResult],
    actor: User,
    key: uuid.UUID,
) -> None:
    if not valid:
        return
    case_ids = dict(
        Case.objects.filter(
            ml_model=ml_model, external_id__in={ext for _, ext, _, _ in valid}
        ).values_list("external_id", "pk")
    )
    new: dict[int, Outcome] = {}  # case id -> the row this request inserts (first item wins)
    for index, external_id, label, observed_at in valid:
        case_id = case_ids.get(external_id)
        result = results[index]
        if case_id is None:
            result.status, result.code = "unknown_case", "unknown_case"
            result.errors = {"external_id": ["No case of this model has this external_id."]}
            continue
        result.case_id = case_id
        if case_id not in new:
            new[case_id] = Outcome(
                case_id=case_id,
                ml_model=ml_model,
                label=label,
                observed_at=observed_at,
                recorded_by=actor,
                request_key=key,
            )
    Outcome.objects.bulk_create(new.values(), ignore_conflicts=True, batch_size=500)
    stored = {
        case_id: (label, request_key)
        for case_id, label, request_key in Outcome.objects.filter(
            case_id__in=list(new)
        ).values_list("case_id", "label", "request_key")
    }
    claimed: set[int] = set()  # cases whose insert was answered "created" already
    for index, _external_id, label, _observed_at in valid:
        result = results[index]
        if result.case_id is None:
            continue
        stored_label, stored_key = stored[result.case_id]
        if stored_key == key and result.case_id not in claimed:
            result.status = "created"
            claimed.add(result.case_id)
        elif stored_label == label:
            result.status = "duplicate"
        else:
            result.status, result.code = "conflict", "conflict"
            result.errors = {
                "label": [f"The case already has the outcome '{stored_label}'; it is kept."]
            }


def outcome_counts(results: list[OutcomeResult]) -> dict[str, int]:
    """How many results of each status (every status present, zero when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status] += 1
    return counts
