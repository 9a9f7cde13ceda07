"""Reading cases: look-ups scoped to what a user may see, with their current decision."""

from django.db.models import Prefetch, QuerySet

from reviewapp.models import Case, Decision, User
from reviewapp.permissions import models_visible_to


def cases_visible_to(user: User) -> QuerySet[Case]:
    return Case.objects.filter(ml_model__in=models_visible_to(user))


def with_current_decision(qs: QuerySet[Case]) -> QuerySet[Case]:
    return qs.select_related("ml_model", "model_version", "assigned_to").prefetch_related(
        Prefetch(
            "decisions",
            queryset=Decision.objects.filter(superseded_at__isnull=True).select_related("reviewer"),
            to_attr="current_decisions",
        )
    )


def current_decision(case: Case) -> Decision | None:
    decisions = getattr(case, "current_decisions", None)
    if decisions is None:
        return case.decisions.filter(superseded_at__isnull=True).select_related("reviewer").first()
    return decisions[0] if decisions else None


def case_for_page(case_id: int) -> Case:
    """A case with what its page shows loaded (model, version, routing policy)."""
    return Case.objects.select_related("ml_model", "model_version", "policy").get(pk=case_id)


def cases_by_external_id(
    *, user: User, external_id: str, model_slug: str = "", limit: int = 100
) -> list[Case]:
    """The cases USER may see with the caller's EXTERNAL_ID (of one model when MODEL_SLUG is
    given), oldest first, each with its current decision."""
    qs = cases_visible_to(user).filter(external_id=external_id)
    if model_slug:
        qs = qs.filter(ml_model__slug=model_slug)
    return list(with_current_decision(qs).order_by("id")[:limit])


def visible_case_with_decision(*, user: User, case_id: int) -> Case:
    """A case USER may see, with its current decision (Case.DoesNotExist otherwise)."""
    return with_current_decision(cases_visible_to(user)).get(pk=case_id)
