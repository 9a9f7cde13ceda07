"""Resolve and check once (Sentry's ``convert_args``): a page view that acts on a model gets
the model, already through the access gate, instead of its slug."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from reviewapp.permissions import Capability
from reviewapp.services.access import model_for_user


def model_from_slug(
    capability: Capability,
    *,
    action: str = "",
    back: Callable[[Any], str] | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Turn the view's ``slug`` argument into the model, if the user has CAPABILITY on it (403
    for roles without it, 404 alike for missing and other teams' models, audited). BACK(model)
    is where a refused form post returns to (the page-error middleware reads it)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            ml_model = model_for_user(
                user=request.user,
                slug=slug,
                action=action or view.__name__,
                capability=capability,
            )
            if back is not None:
                request.error_back_url = back(ml_model)
            return view(request, ml_model, *args, **kwargs)

        return wrapper

    return decorator


def model_detail_url(ml_model: Any) -> str:
    return reverse("model-detail", kwargs={"slug": ml_model.slug})


# The model pages' gates: a refused form post returns to the model page.
model_page = model_from_slug(
    Capability.VIEW_MODEL_PAGES, action="model.page", back=model_detail_url
)
model_owner_action = model_from_slug(Capability.MANAGE_MODEL, back=model_detail_url)
model_manager_action = model_from_slug(Capability.APPROVE_POLICY, back=model_detail_url)
model_halt_action = model_from_slug(Capability.HALT_AUTOMATION, back=model_detail_url)
