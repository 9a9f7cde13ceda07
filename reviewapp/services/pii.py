"""Revealing a masked personal-data field of one case (``MLModel.pii_fields``): managers and
model owners of the team and auditors see those fields masked on the case record until they
reveal one; each reveal is audited as ``case.pii_revealed`` with the field's name, never its
value. The masking itself is ``reviewapp/pii.py``."""

from django.db import transaction

from reviewapp.errors import InvalidInput
from reviewapp.models import Case, User
from reviewapp.permissions import user_can_reveal_pii
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record


@refusals_audited
@transaction.atomic
def case_pii_reveal(*, case: Case, actor: User, field: str) -> str:
    """Record that ACTOR reveals FIELD of CASE and return the field's name. 403 unless ACTOR
    may (``permissions.user_can_reveal_pii``); 400 unless FIELD is one of the model's
    personal-data fields."""
    refuse(
        user_can_reveal_pii(actor, case),
        user=actor,
        action="case.pii_reveal",
        target_type="case",
        target_id=case.pk,
    )
    fields = list(case.ml_model.pii_fields or [])
    if field not in fields:
        message = "Not one of the model's personal-data fields."
        raise InvalidInput(f"field: {message}", details={"field": [message]})
    audit_record(actor=actor, action="case.pii_revealed", target=case, changes={"field": field})
    return field
