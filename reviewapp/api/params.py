"""Request pieces several endpoints share: the body-size check and the model named by
``?model=``, resolved through the access gate."""

from django.conf import settings
from rest_framework.request import Request

from reviewapp.errors import InvalidInput, PayloadTooLarge
from reviewapp.models import MLModel
from reviewapp.permissions import Capability
from reviewapp.services.access import capability_require, model_for_user


def body_size_check(request: Request, limit: int) -> None:
    """413 when the declared body is larger than LIMIT bytes (before it is parsed)."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"The body is {int(length)} bytes; the limit is {limit} bytes.")


def batch_size_check(items: list, *, what: str, holds: str, field: str) -> None:
    """413 past REVIEWAPP_MAX_BATCH_ITEMS items, 400 for none (batch bodies of the API)."""
    limit = settings.REVIEWAPP_MAX_BATCH_ITEMS
    if len(items) > limit:
        raise PayloadTooLarge(f"{holds} at most {limit} {what}; this one has {len(items)}.")
    if not items:
        raise InvalidInput(
            "The batch is empty." if what == "cases" else f"No {what}.",
            details={field: [f"At least one {what[:-1]}."]},
        )


def model_param(request: Request, *, action: str, capability: Capability) -> MLModel:
    """The model named by ?model=: 403 for roles that never have CAPABILITY, 400 without
    ?model=, 404 alike for missing models and models the caller may not use."""
    capability_require(
        user=request.user,
        capability=capability,
        action=action,
        target_type="endpoint",
        target_id=request.path,
    )
    slug = (request.query_params.get("model") or "").strip()
    if not slug:
        raise InvalidInput("Pass ?model=<slug>.", details={"model": ["Required."]})
    return model_for_user(user=request.user, slug=slug, action=action, capability=capability)
