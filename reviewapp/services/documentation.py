"""Saving a model version's documentation (its model card): intended use, limitations,
training data provenance, owner contact and on-call contact. Every save is a new revision
of that version's card (earlier ones are kept; the highest is in force) and is audited as
``model.documentation_saved`` with the revision and the names of the fields that changed,
never the texts. Only the model's owners (Capability.MANAGE_MODEL) may save. A version
cannot be proposed for activation, nor approved, without one (services/versions.py)."""

from django.db import transaction

from reviewapp.errors import InvalidInput
from reviewapp.models import ModelDocumentation, ModelVersion, User
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.documentation import documentation_current
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record
from reviewapp.validation import text_problem

DOCUMENTATION_SAVED = "model.documentation_saved"
TEXT_LIMIT = 10_000  # intended use, limitations, training data
CONTACT_LIMIT = 200  # owner and on-call contacts (the column's length)
FIELDS: dict[str, int] = {
    "intended_use": TEXT_LIMIT,
    "limitations": TEXT_LIMIT,
    "training_data": TEXT_LIMIT,
    "owner_contact": CONTACT_LIMIT,
    "oncall_contact": CONTACT_LIMIT,
}


def _clean(values: dict[str, str]) -> dict[str, str]:
    """Each field stripped (contacts on one line); InvalidInput naming every bad field."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, limit in FIELDS.items():
        raw = values[name]
        if not isinstance(raw, str):
            errors[name] = ["A text is required."]
            continue
        text = raw.replace("\r\n", "\n").strip()
        if limit == CONTACT_LIMIT:
            text = " ".join(text.split())
        if problem := text_problem(text):
            errors[name] = [problem]
        elif not text:
            errors[name] = ["Required."]
        elif len(text) > limit:
            errors[name] = [f"At most {limit} characters."]
        cleaned[name] = text
    if errors:
        field, messages = next(iter(errors.items()))
        raise InvalidInput(f"{field}: {messages[0]}", details=errors)
    return cleaned


@refusals_audited
@transaction.atomic
def documentation_save(
    *,
    model_version: ModelVersion,
    actor: User,
    intended_use: str,
    limitations: str,
    training_data: str,
    owner_contact: str,
    oncall_contact: str,
) -> ModelDocumentation:
    """Save a new revision of MODEL_VERSION's documentation and audit it. 403 unless ACTOR
    owns the model; 400 for an empty, overlong or unstorable field. Saving the same texts
    again writes no new revision (the one in force is returned)."""
    ml_model = model_version.ml_model
    refuse(
        user_has(actor, Capability.MANAGE_MODEL, ml_model),
        user=actor,
        action="model.documentation_save",
        target_type="modelversion",
        target_id=model_version.pk,
        message="Only the model's owners may write its documentation.",
    )
    cleaned = _clean(
        {
            "intended_use": intended_use,
            "limitations": limitations,
            "training_data": training_data,
            "owner_contact": owner_contact,
            "oncall_contact": oncall_contact,
        }
    )
    # The version row's lock serialises saves, so revision numbers do not collide.
    version = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
    previous = documentation_current(version)
    changed = sorted(
        name for name in FIELDS if previous is None or getattr(previous, name) != cleaned[name]
    )
    if previous is not None and not changed:
        return previous  # nothing changed: no new revision, nothing to audit
    documentation = ModelDocumentation.objects.create(
        model_version=version,
        revision=(previous.revision if previous else 0) + 1,
        created_by=actor,
        **cleaned,
    )
    audit_record(
        actor=actor,
        action=DOCUMENTATION_SAVED,
        target=version,
        changes={
            "model": ml_model.slug,
            "version": version.version,
            "revision": [previous.revision if previous else None, documentation.revision],
            "fields": changed,
        },
    )
    return documentation
