"""Access helpers: fetch an object for a user or answer "not found" alike for missing and
forbidden objects, so ids leak nothing. Denials are audited."""

from django.db import transaction

from reviewapp.errors import NotFound, PermissionDenied
from reviewapp.models import Case, MLModel, User
from reviewapp.permissions import user_can_view_case, user_can_view_model
from reviewapp.services.audit import audit_record


def permission_denied_record(
    *, user: User | None, action: str, target_type: str, target_id: str
) -> None:
    """Audit a refused attempt (in its own transaction: nothing else is being written)."""
    with transaction.atomic():
        audit_record(
            actor=user,
            action="permission.denied",
            target_type=target_type,
            target_id=str(target_id),
            changes={"attempted": action},
        )


def case_get_for_user(*, user: User, case_id: int | str, action: str = "case.view") -> Case:
    try:
        case = Case.objects.select_related("ml_model", "model_version", "assigned_to").get(
            pk=int(case_id)
        )
    except (Case.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such case.") from None
    if not user_can_view_case(user, case):
        permission_denied_record(
            user=user, action=action, target_type="case", target_id=str(case_id)
        )
        raise NotFound("No such case.")
    return case


def model_get_for_user(*, user: User, slug: str, action: str = "model.view") -> MLModel:
    try:
        ml_model = MLModel.objects.get(slug=slug)
    except MLModel.DoesNotExist:
        raise NotFound(f"No model '{slug}'.") from None
    if not user_can_view_model(user, ml_model):
        permission_denied_record(user=user, action=action, target_type="mlmodel", target_id=slug)
        raise NotFound(f"No model '{slug}'.")
    return ml_model


def require(
    allowed: bool, *, user: User, action: str, target_type: str = "", target_id: str = ""
) -> None:
    """Raise 403 (and audit it) unless ``allowed``."""
    if not allowed:
        permission_denied_record(
            user=user, action=action, target_type=target_type, target_id=target_id
        )
        raise PermissionDenied("You do not have permission to do this.")
