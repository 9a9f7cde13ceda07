"""Owner-level model settings that are not routing policy: the declared segment fields, the
retention period and the fields holding personal data. Only the model's owners
(Capability.MANAGE_MODEL) may change them; each change is audited as ``model.configured``
with the old and new values (names of fields, never case values)."""

import re

from django.db import transaction

from reviewapp.errors import InvalidInput
from reviewapp.models import MLModel, User
from reviewapp.permissions import Capability, user_has
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record

# A field name of a case's input or metadata: letters, digits, _ . - (at most 64 characters).
FIELD_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_FIELDS = 20
MAX_RETENTION_DAYS = 36_500


def field_names_clean(raw: object, field: str) -> list[str]:
    """RAW as a list of distinct field names (a list, or a comma-separated string), in the
    order given; InvalidInput for anything else."""
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise InvalidInput(f"{field}: give a list of field names.", details={field: ["A list."]})
    names: list[str] = []
    for name in raw:
        name = name.strip()
        if not FIELD_NAME_RE.match(name):
            message = f"{name[:70]!r} is not a field name (letters, digits, _ . -; at most 64)."
            raise InvalidInput(f"{field}: {message}", details={field: [message]})
        if name not in names:
            names.append(name)
    if len(names) > MAX_FIELDS:
        message = f"At most {MAX_FIELDS} fields."
        raise InvalidInput(f"{field}: {message}", details={field: [message]})
    return names


def retention_days_clean(raw: object) -> int | None:
    """RAW as a number of days (0 … 36,500) or None (kept for ever)."""
    if raw is None or raw == "":
        return None
    try:
        days = int(str(raw))
    except ValueError:
        days = -1
    if not 0 <= days <= MAX_RETENTION_DAYS:
        message = f"A whole number of days from 0 to {MAX_RETENTION_DAYS}, or empty."
        raise InvalidInput(f"retention_days: {message}", details={"retention_days": [message]})
    return days


UNSET = object()


@refusals_audited
@transaction.atomic
def model_configure(
    *,
    ml_model: MLModel,
    actor: User | None,
    segment_fields: object = UNSET,
    retention_days: object = UNSET,
    pii_fields: object = UNSET,
) -> dict[str, list]:
    """Set the given settings of ML_MODEL (those left UNSET keep their value). 403 unless
    ACTOR owns the model (None: an operator at the command line, audited as "system"); 400
    for a malformed value. Returns the changes ({} if none)."""
    if actor is not None:
        refuse(
            user_has(actor, Capability.MANAGE_MODEL, ml_model),
            user=actor,
            action="model.configure",
            target_type="mlmodel",
            target_id=ml_model.slug,
        )
    wanted: dict[str, object] = {}
    if segment_fields is not UNSET:
        wanted["segment_fields"] = field_names_clean(segment_fields, "segment_fields")
    if retention_days is not UNSET:
        wanted["retention_days"] = retention_days_clean(retention_days)
    if pii_fields is not UNSET:
        wanted["pii_fields"] = field_names_clean(pii_fields, "pii_fields")
    locked = MLModel.objects.select_for_update().get(pk=ml_model.pk)
    segments = wanted.get("segment_fields", locked.segment_fields or [])
    personal = wanted.get("pii_fields", locked.pii_fields or [])
    if both := [name for name in segments if name in personal]:
        # Segment values are kept after retention and shown on dashboards: never personal data.
        message = f"{', '.join(both)}: a personal-data field cannot be a segment field."
        raise InvalidInput(message, details={"segment_fields": [message]})
    changes = {
        name: [getattr(locked, name), value]
        for name, value in wanted.items()
        if getattr(locked, name) != value
    }
    if not changes:
        return {}
    for name, (_old, value) in changes.items():
        setattr(locked, name, value)
        setattr(ml_model, name, value)
    locked.save(update_fields=list(changes))
    audit_record(actor=actor, action="model.configured", target=locked, changes=changes)
    return changes
