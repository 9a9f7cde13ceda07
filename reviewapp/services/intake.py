"""Intake: validate submitted cases, route them, and store them exactly once.

Single and batch submissions share one path (``cases_submit``). Idempotency is by
``(model, external_id)``: an identical replay is a ``duplicate`` and a different body under
the same id is a conflict. Concurrent retries are settled by the database's unique
constraint, never by a lock: rows are inserted in external_id order (so racing batches wait
on each other instead of deadlocking) and only the rows this call created count as created.
On PostgreSQL a big batch is COPYed into a temporary table and moved over with one
``INSERT ... ON CONFLICT DO NOTHING RETURNING``; otherwise the ORM inserts with RETURNING
and, if a concurrent writer got there first, retries with ``ON CONFLICT DO NOTHING`` and
matches each row to the submission that created it by its ``intake_key``.

Hostile input is an item error, never a 500: every string, key and number of an item is
checked by ``reviewapp.validation.json_problems`` (NUL, lone surrogates, non-finite numbers,
nesting and length limits) before anything is written. Should the database still refuse a
row, the whole store is rolled back and redone case by case, each in its own savepoint, so
that the refused case gets its own error and every other case is kept (a row that SQLite's
``INSERT OR IGNORE`` drops silently gets a generic "could not be stored" error)."""

import hashlib
import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import JSONField
from django.utils import timezone

from reviewapp.errors import InvalidInput, NotFound
from reviewapp.models import (
    PRIORITY_BY_NAME,
    Case,
    CaseStatus,
    MLModel,
    ModelVersion,
    PolicyStatus,
    RoutingPolicy,
    User,
    VersionStatus,
)
from reviewapp.services.audit import audit_event_build, audit_record, audit_record_many
from reviewapp.services.routing import route_case
from reviewapp.validation import json_problems, safe_text, text_problem

logger = logging.getLogger(__name__)

ALLOWED_KEYS = frozenset(
    {
        "external_id",
        "model",
        "model_version",
        "input",
        "prediction",
        "explanation",
        "priority",
        "metadata",
    }
)
MAX_CONTRIBUTIONS = 1000
# What base value plus contributions add up to (presentation.explanations reconciles them).
EXPLANATION_SCALES = ("log_odds", "probability", "raw")
COPY_THRESHOLD = 50  # from this many new cases on, PostgreSQL loads them with COPY
SCORE_SUM_TOLERANCE = 0.01
MAX_PROBLEMS_REPORTED = 10  # per case, from the walk over its strings, keys and numbers
# What the database (or the driver, encoding a lone surrogate) raises for a row it refuses.
STORE_ERRORS = (DataError, IntegrityError, ValueError)
NOT_STORED = "This case could not be stored"
VERSION_RETIRED = "version_retired"  # the error code of a case naming a retired version


@dataclass
class ItemResult:
    index: int
    status: str  # "created" | "duplicate" | "error"
    case_id: int | None = None
    external_id: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    code: str = ""  # for errors: "invalid" | "conflict" | "version_retired"
    case: Case | None = field(default=None, repr=False)  # the new row, when created

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.external_id is not None:
            body["external_id"] = self.external_id
        if self.case_id is not None:
            body["id"] = self.case_id
        if self.status == "error":
            body["error"] = {
                "code": self.code or "invalid",
                "message": _first_message(self.errors),
                "details": self.errors,
            }
        return body

    def message(self) -> str:
        """The first error as one sentence (never blank): ``field: message``, or the bare
        message for errors of the case as a whole."""
        for key, messages in self.errors.items():
            if messages:
                return messages[0] if key == "non_field_errors" else f"{key}: {messages[0]}"
        return f"{NOT_STORED}."


def _first_message(errors: dict[str, list[str]]) -> str:
    for key, messages in errors.items():
        if messages:
            return f"{key}: {messages[0]}"
    return f"{NOT_STORED}."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _canonical(item: dict) -> bytes:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def body_digest(item: dict) -> str:
    """SHA-256 of the canonical JSON form of a submitted body (key order does not matter)."""
    return hashlib.sha256(_canonical(item)).hexdigest()


MAX_SEGMENT_VALUE_CHARS = 200


def segments_of(*, fields: list[str], metadata: Any, data: Any) -> dict[str, str]:
    """The case's segment values for the model's declared segment ``fields``: each read from
    ``metadata``, else from the ``input``, as a short string (numbers as written, booleans
    ``true``/``false``, at most 200 characters). A field that is missing, null, empty or not
    a scalar is left out: the case is in no segment of that field."""
    out: dict[str, str] = {}
    for name in fields:
        for source in (metadata, data):
            value = source.get(name) if isinstance(source, dict) else None
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float | str):
                text = str(value).strip()
            else:
                continue
            if text:
                out[name] = text[:MAX_SEGMENT_VALUE_CHARS]
                break
    return out


def active_policy(ml_model: MLModel) -> RoutingPolicy:
    """The model's active routing policy, with the model row as stored now (``policy.ml_model``
    tells whether its automation is suspended: read in the same query)."""
    policy = (
        RoutingPolicy.objects.select_related("ml_model")
        .filter(ml_model=ml_model, status=PolicyStatus.ACTIVE)
        .first()
    )
    if policy is None:
        raise NotFound(f"Model '{ml_model.slug}' has no active routing policy.")
    return policy


def case_payload_errors(item: Any, *, ml_model: MLModel) -> dict[str, list[str]]:
    """Every problem with one submitted case, by field. Empty when the case is valid."""
    if not isinstance(item, dict):
        return {"non_field_errors": ["Each case must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    # Strings, keys and numbers anywhere in the case: what the database could not store.
    for path, message in json_problems(item, limit=MAX_PROBLEMS_REPORTED):
        errors.setdefault(path or "non_field_errors", []).append(message)
    walked = set(errors)

    def add(key: str, message: str) -> None:
        if key not in walked:  # one message per field: the walk's is the more precise
            errors.setdefault(key, []).append(message)

    unknown = sorted(str(key) for key in set(item) - ALLOWED_KEYS)
    if unknown:
        add("non_field_errors", f"Unknown fields: {_shown_list(unknown)}.")
    external_id = item.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip():
        add("external_id", "Required: a non-empty string.")
    elif len(external_id) > 200:
        add("external_id", "At most 200 characters.")
    if "model" in item and item["model"] != ml_model.slug:
        add("model", f"This token submits to model '{ml_model.slug}' only.")
    version = item.get("model_version")
    if not isinstance(version, str) or not version.strip():
        add("model_version", "Required: a non-empty string such as '2.3.0'.")
    elif len(version) > 64:
        add("model_version", "At most 64 characters.")
    if not isinstance(item.get("input"), dict):
        add("input", "Required: a JSON object of feature name to value.")
    _prediction_errors(item.get("prediction"), ml_model=ml_model, add=add)
    if item.get("explanation") is not None:
        _explanation_errors(item["explanation"], add=add)
    priority = item.get("priority", "normal")
    if not isinstance(priority, str) or priority not in PRIORITY_BY_NAME:
        add("priority", f"One of: {', '.join(PRIORITY_BY_NAME)}.")
    if "metadata" in item and not isinstance(item["metadata"], dict):
        add("metadata", "Must be a JSON object.")
    return errors


def _prediction_errors(prediction: Any, *, ml_model: MLModel, add: Any) -> None:
    if not isinstance(prediction, dict):
        add("prediction", "Required: an object with 'label' and 'confidence'.")
        return
    labels = ml_model.labels
    label = prediction.get("label")
    if not isinstance(label, str) or label not in labels:
        add("prediction.label", f"Must be one of the model's labels: {', '.join(labels)}.")
    confidence = prediction.get("confidence")
    if not _is_number(confidence) or not 0 <= confidence <= 1:
        add("prediction.confidence", "Required: a number between 0 and 1.")
    unknown = sorted(set(prediction) - {"label", "confidence", "scores"})
    if unknown:
        add("prediction", f"Unknown fields: {_shown_list(unknown)}.")
    scores = prediction.get("scores")
    if scores is None:
        return
    if not isinstance(scores, dict) or not scores:
        add("prediction.scores", "Must be an object of label to probability.")
        return
    bad_labels = sorted(str(k) for k in scores if k not in labels)
    if bad_labels:
        add("prediction.scores", f"Unknown labels: {_shown_list(bad_labels)}.")
    values = list(scores.values())
    if not all(_is_number(v) and 0 <= v <= 1 for v in values):
        add("prediction.scores", "Every score must be a number between 0 and 1.")
    elif abs(sum(values) - 1.0) > SCORE_SUM_TOLERANCE:
        add("prediction.scores", f"Scores must sum to 1 (they sum to {sum(values):.4f}).")


def _explanation_errors(explanation: Any, *, add: Any) -> None:
    if not isinstance(explanation, dict):
        add("explanation", "Must be an object with 'contributions'.")
        return
    unknown = sorted(
        str(key)
        for key in set(explanation) - {"method", "scale", "base_value", "contributions", "summary"}
    )
    if unknown:
        add("explanation", f"Unknown fields: {_shown_list(unknown)}.")
    if "method" in explanation and not isinstance(explanation["method"], str):
        add("explanation.method", "Must be a string such as 'shap'.")
    if explanation.get("scale") is not None and explanation["scale"] not in EXPLANATION_SCALES:
        add("explanation.scale", f"Must be one of {', '.join(EXPLANATION_SCALES)}.")
    if explanation.get("base_value") is not None and not _is_number(explanation["base_value"]):
        add("explanation.base_value", "Must be a number.")
    summary = explanation.get("summary")
    if summary is not None and (not isinstance(summary, str) or len(summary) > 2000):
        add("explanation.summary", "Must be a string of at most 2,000 characters.")
    contributions = explanation.get("contributions", [])
    if not isinstance(contributions, list):
        add("explanation.contributions", "Must be a list of {feature, value, weight}.")
        return
    if len(contributions) > MAX_CONTRIBUTIONS:
        add("explanation.contributions", f"At most {MAX_CONTRIBUTIONS} contributions.")
        return
    for i, contribution in enumerate(contributions):
        if not isinstance(contribution, dict):
            add(f"explanation.contributions[{i}]", "Must be an object {feature, value, weight}.")
        elif not isinstance(contribution.get("feature"), str) or not contribution["feature"]:
            add(f"explanation.contributions[{i}].feature", "Required: the feature name.")
        elif not _is_number(contribution.get("weight")):
            add(f"explanation.contributions[{i}].weight", "Required: a finite number.")


def _shown_list(names: list[str]) -> str:
    """Names quoted back to the caller: escaped and cut short, so a hostile key cannot break
    the response (a lone surrogate cannot be encoded) or blow it up."""
    shown = [safe_text(name) for name in names[:10]]
    return ", ".join(shown) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _versions_for(ml_model: MLModel, names: set[str], *, actor: User) -> dict[str, ModelVersion]:
    """Model versions by name, creating (and auditing) the ones seen for the first time. Two
    submissions racing to create one version settle on the unique constraint: only the one
    that created it records ``model_version.registered``. The model's first version is
    ``active`` at once; every later one starts as a ``candidate`` (services/versions.py)."""
    found = {
        v.version: v for v in ModelVersion.objects.filter(ml_model=ml_model, version__in=names)
    }
    new = sorted(names - found.keys())
    has_versions = bool(found) or (
        bool(new) and ModelVersion.objects.filter(ml_model=ml_model).exists()
    )
    for name in new:
        status = VersionStatus.CANDIDATE if has_versions else VersionStatus.ACTIVE
        now = timezone.now()
        version, created = ModelVersion.objects.get_or_create(
            ml_model=ml_model,
            version=name,
            defaults={
                "status": status,
                "status_changed_at": now,
                "activated_at": now if status == VersionStatus.ACTIVE else None,
            },
        )
        has_versions = True
        if created:
            audit_record(
                actor=actor,
                action="model_version.registered",
                target=version,
                changes={"model": ml_model.slug, "version": name, "status": version.status},
            )
        found[name] = version
    return found


def _refuse_retired(
    *,
    ml_model: MLModel,
    retired: set[str],
    valid: dict[str, tuple[int, dict, str]],
    results: list[ItemResult],
) -> None:
    """New cases of a retired version are refused (``version_retired``, a 409 for a single
    submit); replays of cases stored before it was retired are still answered as usual.
    Consumes the refused and settled items from VALID."""
    named = [ext for ext, (_i, item, _d) in valid.items() if item["model_version"] in retired]
    stored = Case.objects.filter(ml_model=ml_model, external_id__in=named).values_list(
        "external_id", "body_digest", "id"
    )
    for external_id, stored_digest, case_id in stored:
        index, _item, digest = valid.pop(external_id)
        _settle_existing(results[index], stored_digest, digest, case_id)
    for external_id in [ext for ext in named if ext in valid]:
        index, item, _digest = valid.pop(external_id)
        result = results[index]
        result.status, result.code = "error", VERSION_RETIRED
        result.errors = {
            "model_version": [
                f"Version '{safe_text(item['model_version'], limit=64)}' of model "
                f"'{ml_model.slug}' is retired: it takes no new cases."
            ]
        }


def cases_submit(*, ml_model: MLModel, items: list[Any], submitted_by: User) -> list[ItemResult]:
    """Validate, route and store a list of cases in one transaction. Valid items are kept even
    when others fail; the result has one entry per item, in order. An ``external_id`` repeated
    within the list shares the outcome of its first occurrence when the body is the same, and
    is a conflict when it differs."""
    results: list[ItemResult] = [ItemResult(index=i, status="error") for i in range(len(items))]
    valid: dict[str, tuple[int, dict, str]] = {}  # external_id -> (index, item, digest)
    repeats: list[tuple[int, int]] = []  # (index, index of the first occurrence)
    max_bytes = settings.REVIEWAPP_MAX_CASE_BYTES
    for i, item in enumerate(items):
        errors = case_payload_errors(item, ml_model=ml_model)
        result = results[i]
        external_id = item.get("external_id") if isinstance(item, dict) else None
        if isinstance(external_id, str) and text_problem(external_id) is None:
            result.external_id = external_id  # echoed back only when it can be rendered
        if errors:
            result.errors, result.code = errors, "invalid"
            continue
        try:
            canonical = _canonical(item)
        except ValueError as exc:  # the walk above refuses what cannot be encoded
            result.code = "invalid"
            result.errors = {"non_field_errors": [f"{NOT_STORED}: {_reason(exc)}."]}
            continue
        if len(canonical) > max_bytes:
            result.code = "invalid"
            result.errors = {
                "non_field_errors": [f"A case may be at most {max_bytes // 1024} KiB."]
            }
            continue
        digest = hashlib.sha256(canonical).hexdigest()
        earlier = valid.get(item["external_id"])
        if earlier is None:
            valid[item["external_id"]] = (i, item, digest)
        elif earlier[2] == digest:
            repeats.append((i, earlier[0]))
        else:
            result.code = "conflict"
            result.errors = {
                "external_id": [
                    f"'{item['external_id']}' is repeated in this batch with a different body "
                    f"(item {earlier[0]})."
                ]
            }
    if valid:
        try:
            _store(ml_model=ml_model, valid=dict(valid), results=results, actor=submitted_by)
        except STORE_ERRORS as exc:
            # Validation let through something the database refuses: everything above was
            # rolled back; store again case by case so that only the refused ones fail.
            logger.warning(
                "Intake for model %s: the database refused a submission of %d cases (%s); "
                "storing them one by one.",
                ml_model.slug,
                len(valid),
                _reason(exc),
            )
            _store_one_by_one(ml_model=ml_model, valid=valid, results=results, actor=submitted_by)
        for index, _item, _digest in valid.values():
            result = results[index]
            if result.status == "error" and not result.errors:  # never a blank error
                result.code = "invalid"
                result.errors = {"non_field_errors": [f"{NOT_STORED}."]}
    for index, first in repeats:
        _copy_outcome(results[index], results[first])
    return results


def _store(
    *,
    ml_model: MLModel,
    valid: dict[str, tuple[int, dict, str]],
    results: list[ItemResult],
    actor: User,
) -> None:
    """Settle replays and insert the new cases, in one transaction (``valid`` is consumed)."""
    with transaction.atomic():
        policy = active_policy(ml_model)
        if connection.vendor != "postgresql" or len(valid) >= COPY_THRESHOLD:
            # Replays are settled up front. Small PostgreSQL submissions skip this: their
            # INSERT ... ON CONFLICT DO NOTHING finds replays anyway, one round trip less.
            existing = Case.objects.filter(
                ml_model=ml_model, external_id__in=list(valid)
            ).values_list("external_id", "body_digest", "id")
            for external_id, stored_digest, case_id in existing:
                index, _item, digest = valid.pop(external_id)
                _settle_existing(results[index], stored_digest, digest, case_id)
        if valid:
            _insert_new(
                ml_model=ml_model,
                policy=policy,
                valid=valid,
                results=results,
                actor=actor,
            )


def _store_one_by_one(
    *,
    ml_model: MLModel,
    valid: dict[str, tuple[int, dict, str]],
    results: list[ItemResult],
    actor: User,
) -> None:
    """After the database refused a submission: store each case on its own, in its own
    savepoint (in external_id order, like the bulk insert), so that a case the database
    refuses fails alone, with the database's reason, and every other case is kept."""
    with transaction.atomic():
        for external_id in sorted(valid):
            index = valid[external_id][0]
            shown = results[index].external_id
            results[index] = ItemResult(index=index, status="error", external_id=shown)
            try:
                _store(
                    ml_model=ml_model,
                    valid={external_id: valid[external_id]},
                    results=results,
                    actor=actor,
                )
            except STORE_ERRORS as exc:
                results[index] = ItemResult(
                    index=index,
                    status="error",
                    external_id=shown,
                    code="invalid",
                    errors={"non_field_errors": [f"{NOT_STORED}: {_reason(exc)}."]},
                )


def _reason(exc: BaseException) -> str:
    """The first line of a database error, safe to quote back to the caller."""
    lines = str(exc).strip().splitlines()
    return safe_text(lines[0] if lines else type(exc).__name__, limit=200)


def _copy_outcome(result: ItemResult, first: ItemResult) -> None:
    """An identical repeat within one list: a duplicate of whatever its first occurrence is."""
    result.case_id = first.case_id
    if first.status == "error":
        result.status, result.code, result.errors = "error", first.code, dict(first.errors)
    else:
        result.status = "duplicate"


def _settle_existing(result: ItemResult, stored_digest: str, digest: str, case_id: int) -> None:
    result.case_id = case_id
    if stored_digest == digest:
        result.status = "duplicate"
    else:
        result.status = "error"
        result.code = "conflict"
        result.errors = {
            "external_id": [
                f"'{result.external_id}' was already submitted with a different body "
                f"(case {case_id})."
            ]
        }


def _insert_new(
    *,
    ml_model: MLModel,
    policy: RoutingPolicy,
    valid: dict[str, tuple[int, dict, str]],
    results: list[ItemResult],
    actor: User,
) -> None:
    versions = _versions_for(
        ml_model, {item["model_version"] for _, item, _ in valid.values()}, actor=actor
    )
    retired = {name for name, v in versions.items() if v.status == VersionStatus.RETIRED}
    if retired:
        _refuse_retired(ml_model=ml_model, retired=retired, valid=valid, results=results)
        if not valid:
            return
    suspended = policy.ml_model.automation_suspended_at is not None
    now = timezone.now()
    intake_key = uuid.uuid4()
    sla = timedelta(minutes=policy.sla_minutes)
    lifetime = timedelta(minutes=policy.availability_minutes)
    cases = []
    for _index, item, digest in valid.values():
        prediction = item["prediction"]
        version = versions[item["model_version"]]
        outcome = route_case(
            policy=policy,
            ml_model=ml_model,
            label=prediction["label"],
            confidence=float(prediction["confidence"]),
            data=item["input"],
            version=version.version,
            version_status=version.status,
            automation_suspended=suspended,
        )
        queued = outcome.status == CaseStatus.QUEUED
        cases.append(
            Case(
                ml_model=ml_model,
                model_version=version,
                policy=policy,
                external_id=item["external_id"],
                body_digest=digest,
                intake_key=intake_key,
                input=item["input"],
                predicted_label=prediction["label"],
                confidence=float(prediction["confidence"]),
                scores=prediction.get("scores"),
                explanation=item.get("explanation"),
                metadata=item.get("metadata") or {},
                segments=segments_of(
                    fields=ml_model.segment_fields or [],
                    metadata=item.get("metadata"),
                    data=item["input"],
                ),
                priority=PRIORITY_BY_NAME[item.get("priority", "normal")],
                status=outcome.status,
                routing_reasons=outcome.reasons,
                routing_detail=outcome.detail[:500],
                is_blind=outcome.is_blind,
                reviews_required=outcome.reviews_required,
                submitted_by=actor,
                created_at=now,
                sla_due_at=now + sla if queued else None,
                expires_at=now + lifetime if queued else None,
            )
        )
    # One insertion order for everyone, so that overlapping concurrent batches wait for each
    # other on the unique index instead of deadlocking.
    cases.sort(key=lambda c: c.external_id)
    created_ids = _cases_insert(cases, ml_model=ml_model, intake_key=intake_key)
    created = []
    for case in cases:
        pk = created_ids.get(case.external_id)
        if pk is not None:
            case.pk = pk
            case._state.adding = False
            created.append(case)
            result = results[valid[case.external_id][0]]
            result.status, result.case_id, result.case = "created", pk, case
    if len(created) < len(cases):
        # A concurrent submission stored some of these external ids first.
        lost = [c.external_id for c in cases if c.external_id not in created_ids]
        stored = Case.objects.filter(ml_model=ml_model, external_id__in=lost).values_list(
            "external_id", "body_digest", "id"
        )
        for external_id, stored_digest, case_id in stored:
            index, _item, digest = valid[external_id]
            _settle_existing(results[index], stored_digest, digest, case_id)
    audit_record_many(
        audit_event_build(
            actor=actor,
            action="case.submitted",
            target_type="case",
            target_id=str(case.pk),
            changes={
                "external_id": case.external_id,
                "status": case.status,
                "routing_reasons": case.routing_reasons,
            },
        )
        for case in created
    )


def _cases_insert(cases: list[Case], *, ml_model: MLModel, intake_key: uuid.UUID) -> dict:
    """{external_id: id} of the rows this call created, by the fastest path for the database."""
    if connection.vendor == "postgresql" and len(cases) >= COPY_THRESHOLD:
        return _cases_copy_insert(cases)
    if connection.vendor == "postgresql":
        return _cases_values_insert(cases)
    return _cases_orm_insert(cases, ml_model=ml_model, intake_key=intake_key)


def _cases_orm_insert(cases: list[Case], *, ml_model: MLModel, intake_key: uuid.UUID) -> dict:
    """Insert with the ORM; returns {external_id: id} of the rows this call created. The fast
    path is one multi-row INSERT; if a concurrent writer got some ids first, the rows are
    inserted with ON CONFLICT DO NOTHING and matched back by this call's ``intake_key``."""
    try:
        with transaction.atomic():
            Case.objects.bulk_create(cases)
        return {c.external_id: c.pk for c in cases}
    except IntegrityError:
        for case in cases:
            case.pk = None
        Case.objects.bulk_create(cases, ignore_conflicts=True)
        return dict(
            Case.objects.filter(
                ml_model=ml_model,
                external_id__in=[c.external_id for c in cases],
                intake_key=intake_key,
            ).values_list("external_id", "id")
        )


_CASE_FIELDS = [f for f in Case._meta.concrete_fields if not f.primary_key]
_CASE_JSON = [isinstance(f, JSONField) for f in _CASE_FIELDS]
_CASE_PLACEHOLDERS = "(" + ", ".join("%s::jsonb" if j else "%s" for j in _CASE_JSON) + ")"


def _cases_copy_insert(cases: list[Case]) -> dict:
    """PostgreSQL: COPY the rows into a temporary table, then one
    ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` into the case table. Returns
    {external_id: id} of the rows this call created; ids a concurrent writer got first are
    left out (ON CONFLICT waits for that writer to commit or roll back). Several times
    faster than a multi-row INSERT for big batches: no per-value SQL adaptation."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _CASE_FIELDS)
    table = quote(Case._meta.db_table)
    temp = "reviewapp_intake_load"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS "  # noqa: S608 - fixed names
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        # The raw driver's COPY: its errors are turned into Django's like any other query's.
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {temp} ({columns}) FROM STDIN") as copy,
        ):
            for case in cases:
                copy.write_row(_case_row(case))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {temp} "  # noqa: S608
            f"ORDER BY {quote('external_id')} "
            f"ON CONFLICT ({quote('ml_model_id')}, {quote('external_id')}) DO NOTHING "
            f"RETURNING {quote('external_id')}, {quote('id')}"
        )
        created = dict(cursor.fetchall())
        cursor.execute(f"DROP TABLE {temp}")
    return created


def _case_row(case: Case) -> list[Any]:
    return [
        (json.dumps(value) if value is not None else None) if is_json else value
        for value, is_json in zip(
            (getattr(case, f.attname) for f in _CASE_FIELDS), _CASE_JSON, strict=True
        )
    ]


def _cases_values_insert(cases: list[Case]) -> dict:
    """PostgreSQL, small submissions: one ``INSERT ... VALUES ... ON CONFLICT DO NOTHING
    RETURNING``. Returns {external_id: id} of the rows this call created (no savepoint and no
    fallback needed: a concurrent writer's ids are simply not returned)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _CASE_FIELDS)
    params = [value for case in cases for value in _case_row(case)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Case._meta.db_table)} ({columns}) "  # noqa: S608 - fixed names
            f"VALUES {', '.join([_CASE_PLACEHOLDERS] * len(cases))} "
            f"ON CONFLICT ({quote('ml_model_id')}, {quote('external_id')}) DO NOTHING "
            f"RETURNING {quote('external_id')}, {quote('id')}",
            params,
        )
        return dict(cursor.fetchall())


def case_submit_one(*, ml_model: MLModel, item: Any, submitted_by: User) -> ItemResult:
    """Submit a single case; raises nothing for bad input, the result says what happened."""
    [result] = cases_submit(ml_model=ml_model, items=[item], submitted_by=submitted_by)
    return result


def batch_items_or_error(body: Any) -> list[Any]:
    """The list of cases of a batch body: ``{"cases": [...]}`` or a bare list."""
    if isinstance(body, dict) and isinstance(body.get("cases"), list):
        return body["cases"]
    if isinstance(body, list):
        return body
    raise InvalidInput(
        'A batch is a JSON object {"cases": [...]} (or a JSON list) of up to 1,000 cases.',
        details={"cases": ["Required: a list of case objects."]},
    )
