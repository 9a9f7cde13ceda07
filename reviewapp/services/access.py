"""The one access gate: the only way the API, the pages and the services get a model or a case
for a user. Each call names the capability it needs (``permissions.Capability``):

- a role that never has the capability is refused with 403 (nothing about any object leaks);
- a missing object and an object the user may not use answer alike with 404, so ids leak
  nothing (Zulip's ``access_stream_by_id``);
- every refusal is audited (``permission.denied``) exactly once, in its own transaction so
  that it is kept when the caller's transaction rolls back.

One refusal mechanism: a refusal is the app's own ``PermissionDenied`` (or ``NotFound``)
carrying a ``Denial``. ``refused`` builds it; ``denial_audit`` records it once. The gate
records at once (it runs before any transaction); services that refuse inside their
transaction are wrapped in ``refusals_audited``, which records after the rollback; the API's
exception handler and the page-error middleware record whatever is still unrecorded, then
answer with the error body or a styled page.
"""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import transaction
from django.db.models import QuerySet

from reviewapp.errors import Denial, NotFound, PermissionDenied, ReviewAppError
from reviewapp.models import Case, MLModel, User
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.rows import row_first
from reviewapp.services.audit import audit_record

P = ParamSpec("P")
R = TypeVar("R")

CASE_RELATED = ("ml_model", "model_version", "assigned_to", "policy")
DENIED = "You do not have permission to do this."


def denial_record(
    *, user: User | None, action: str, target_type: str = "", target_id: str = ""
) -> None:
    """Audit a refused attempt (in its own transaction: nothing else is being written)."""
    with transaction.atomic():
        audit_record(
            actor=user if user is not None and user.is_authenticated else None,
            action="permission.denied",
            target_type=target_type,
            target_id=str(target_id)[:64],
            changes={"attempted": action},
        )


def refused(
    *,
    user: User | None,
    action: str,
    target_type: str = "",
    target_id: object = "",
    message: str = DENIED,
    as_missing: bool = False,
) -> ReviewAppError:
    """The error for a refused attempt (403, or 404 AS_MISSING), not yet recorded."""
    denial = Denial(user=user, action=action, target_type=target_type, target_id=str(target_id))
    if as_missing:
        return NotFound(message, denial=denial)
    return PermissionDenied(message, denial=denial)


def denial_audit(exc: BaseException) -> None:
    """Record the refusal EXC carries, once."""
    denial = getattr(exc, "denial", None)
    if denial is None or denial.recorded:
        return
    denial_record(
        user=denial.user,
        action=denial.action,
        target_type=denial.target_type,
        target_id=denial.target_id,
    )
    denial.recorded = True


def _recorded(exc: ReviewAppError) -> ReviewAppError:
    denial_audit(exc)
    return exc


def refusals_audited(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a service (outside its ``transaction.atomic``): a refusal raised inside rolls the
    transaction back, then is recorded in a transaction of its own."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ReviewAppError as exc:
            denial_audit(exc)
            raise

    return wrapper


def capability_require(
    *,
    user: User | None,
    capability: Capability,
    action: str,
    target_type: str = "",
    target_id: str = "",
) -> None:
    """403 (audited) unless the user's role has CAPABILITY at all."""
    if not user_has(user, capability):
        raise _recorded(
            refused(user=user, action=action, target_type=target_type, target_id=target_id)
        )


def refuse(
    allowed: bool,
    *,
    user: User | None,
    action: str,
    target_type: str = "",
    target_id: object = "",
    message: str = DENIED,
) -> None:
    """403 unless ALLOWED: for object-level rules evaluated on an object the user may see
    (only the claimant decides, four eyes...). Recorded by ``refusals_audited`` or the
    error mappers, after the caller's transaction is gone."""
    if not allowed:
        raise refused(
            user=user, action=action, target_type=target_type, target_id=target_id, message=message
        )


def _model_by_slug(slug: str) -> QuerySet[MLModel]:
    return MLModel.objects.select_related("team").filter(slug=slug)


@functools.cache
def _case_by_pk(related: tuple[str, ...]) -> Callable[[int], QuerySet[Case]]:
    """One query builder per RELATED, so that ``row_first`` compiles each shape once."""

    def build(pk: int) -> QuerySet[Case]:
        return Case.objects.select_related(*related).filter(pk=pk)

    return build


def model_for_user(
    *,
    user: User | None,
    slug: str,
    action: str,
    capability: Capability = Capability.VIEW_CASES,
) -> MLModel:
    """The model SLUG if USER has CAPABILITY on it; 403 for roles without it, 404 alike for
    missing models and models the user may not use."""
    capability_require(
        user=user, capability=capability, action=action, target_type="mlmodel", target_id=slug
    )
    ml_model = row_first(_model_by_slug, slug)
    if ml_model is None:
        raise NotFound(f"No model '{slug}'.")
    if not user_has(user, capability, ml_model):
        raise _recorded(
            refused(
                user=user,
                action=action,
                target_type="mlmodel",
                target_id=slug,
                message=f"No model '{slug}'.",
                as_missing=True,
            )
        )
    return ml_model


def service_model_for(*, user: User | None, action: str, endpoint: str = "") -> MLModel:
    """The model a service account submits for (403 for anyone else, audited against the
    ENDPOINT path)."""
    ml_model = getattr(user, "service_model", None) if user is not None else None
    if ml_model is None or not user_has(user, Capability.SUBMIT_CASES, ml_model):
        raise _recorded(
            refused(
                user=user,
                action=action,
                target_type="endpoint",
                target_id=endpoint,
                message="Only a model's service account may submit cases.",
            )
        )
    return ml_model


def case_for_user(
    *,
    user: User | None,
    case_id: int | str,
    action: str,
    capability: Capability = Capability.VIEW_CASES,
    related: tuple[str, ...] = CASE_RELATED,
) -> Case:
    """The case CASE_ID if USER has CAPABILITY on its model; 403 for roles without it, 404
    alike for missing cases and cases the user may not use. RELATED picks what is joined
    (services re-read the case under a row lock, so their callers fetch it light)."""
    capability_require(
        user=user, capability=capability, action=action, target_type="case", target_id=case_id
    )
    try:
        pk = int(case_id)
    except (TypeError, ValueError):
        raise NotFound("No such case.") from None
    case = row_first(_case_by_pk(tuple(related)), pk)
    if case is None:
        raise NotFound("No such case.")
    if not user_has(user, capability, case.ml_model):
        raise _recorded(
            refused(
                user=user,
                action=action,
                target_type="case",
                target_id=pk,
                message="No such case.",
                as_missing=True,
            )
        )
    return case


def object_of_model(model_class: type, pk: int, ml_model: MLModel, name: str) -> object:
    """A row (tripwire, alert, policy, delivery) that belongs to ML_MODEL; 404 alike for
    missing rows and other models' rows. The caller has gated ML_MODEL."""
    obj = model_class.objects.filter(pk=pk, ml_model=ml_model).first()
    if obj is None:
        raise NotFound(f"No such {name}.")
    return obj
