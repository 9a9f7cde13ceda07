"""Saving a model's labelling guidelines: the Markdown text and the short definitions of its
labels and reason codes. Every save is a new version (earlier ones are kept) and is audited
as ``guidelines.updated``; only the model's owners (Capability.MANAGE_MODEL) may save."""

from django.db import transaction

from reviewapp.errors import InvalidInput
from reviewapp.models import GuidelineVersion, MLModel, RoutingPolicy, User
from reviewapp.models.guidelines import MAX_DEFINITION_CHARS, MAX_GUIDELINE_CHARS
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.guidelines import guidelines_version_number
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record
from reviewapp.validation import text_problem


def _definitions(raw: dict[str, str] | None, allowed: list[str], field: str) -> dict[str, str]:
    """The non-empty definitions of RAW, in the order of ALLOWED; InvalidInput for unknown
    keys, overlong or unstorable text."""
    raw = raw or {}
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"{field}: not known here: {', '.join(unknown)}.",
            details={field: [f"Not one of: {', '.join(allowed)}."]},
        )
    cleaned: dict[str, str] = {}
    for key in allowed:
        text = " ".join(str(raw.get(key, "")).split())
        if problem := text_problem(text):
            raise InvalidInput(f"{field}: {problem}", details={field: [problem]})
        if len(text) > MAX_DEFINITION_CHARS:
            message = f"At most {MAX_DEFINITION_CHARS} characters ({key})."
            raise InvalidInput(f"{field}: {message}", details={field: [message]})
        if text:
            cleaned[key] = text
    return cleaned


def _reason_codes(ml_model: MLModel) -> list[str]:
    """The reason codes of the model's policies, active ones first (definitions may be
    written for any code a policy of the model uses)."""
    codes: list[str] = []
    policies = RoutingPolicy.objects.filter(ml_model=ml_model).order_by("-version")
    for reason_codes in policies.values_list("reason_codes", flat=True):
        codes.extend(c for c in reason_codes or [] if c not in codes)
    return codes


@refusals_audited
@transaction.atomic
def guidelines_save(
    *,
    ml_model: MLModel,
    actor: User,
    text: str,
    label_definitions: dict[str, str] | None = None,
    reason_definitions: dict[str, str] | None = None,
) -> GuidelineVersion:
    """Save a new version of ML_MODEL's guidelines (the previous ones are kept) and audit it
    as ``guidelines.updated`` with the version. 403 unless ACTOR owns the model; 400 for
    overlong text or definitions of labels or reason codes the model does not have."""
    refuse(
        user_has(actor, Capability.MANAGE_MODEL, ml_model),
        user=actor,
        action="guidelines.update",
        target_type="mlmodel",
        target_id=ml_model.slug,
    )
    text = (text or "").replace("\r\n", "\n").strip()
    if problem := text_problem(text):
        raise InvalidInput(f"text: {problem}", details={"text": [problem]})
    if len(text) > MAX_GUIDELINE_CHARS:
        message = f"At most {MAX_GUIDELINE_CHARS} characters."
        raise InvalidInput(f"text: {message}", details={"text": [message]})
    labels = _definitions(label_definitions, list(ml_model.labels), "label_definitions")
    reasons = _definitions(reason_definitions, _reason_codes(ml_model), "reason_definitions")
    # The model row's lock serialises saves, so version numbers do not collide.
    MLModel.objects.select_for_update().filter(pk=ml_model.pk).first()
    previous = guidelines_version_number(ml_model.pk)
    guidelines = GuidelineVersion.objects.create(
        ml_model=ml_model,
        version=(previous or 0) + 1,
        text=text,
        label_definitions=labels,
        reason_definitions=reasons,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="guidelines.updated",
        target=ml_model,
        changes={
            "version": [previous, guidelines.version],
            "text_chars": len(text),
            "label_definitions": sorted(labels),
            "reason_definitions": sorted(reasons),
        },
    )
    return guidelines
