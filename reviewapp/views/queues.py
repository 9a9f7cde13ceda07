"""Queue overview for leads and managers: per model of their teams the waiting, claimed,
escalated and expired counts, the oldest waiting case and SLA breaches; for one model its
claims (leads may release or reassign them), escalated cases and a keyset-paginated list
of waiting cases."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from reviewapp.case_rules import routing_codes
from reviewapp.errors import InvalidInput, ReviewAppError
from reviewapp.models import Case, MLModel
from reviewapp.permissions import Capability, user_has, user_may_see_model_answer
from reviewapp.selectors.queue import (
    claims_for,
    escalated_for,
    queue_overview,
    reassign_candidates,
    skips_by_reviewer,
    skips_for_cases,
    user_by_username,
    waiting_cases_page,
)
from reviewapp.services.access import capability_require, case_for_user, model_for_user
from reviewapp.services.queue import case_release, claim_reassign


def _require_overview(request: HttpRequest) -> None:
    capability_require(
        user=request.user,
        capability=Capability.VIEW_QUEUE_OVERVIEW,
        action="queue.overview",
        target_type="page",
        target_id="queues",
    )


def _overview_url(ml_model: MLModel) -> str:
    return f"{reverse('queue-overview')}?model={ml_model.slug}"


@login_required
@require_GET
def queue_overview_page(request: HttpRequest) -> HttpResponse:
    _require_overview(request)
    rows = queue_overview(user=request.user)
    if not rows:
        return render(request, "reviewapp/queues/overview.html", {"rows": [], "selected": None})
    busiest = max(rows, key=lambda r: (r.waiting + r.claimed + r.escalated > 0, r.waiting))
    slug = request.GET.get("model") or busiest.ml_model.slug
    ml_model = model_for_user(
        user=request.user,
        slug=slug,
        action="queue.overview",
        capability=Capability.VIEW_QUEUE_OVERVIEW,
    )
    try:
        page = waiting_cases_page(ml_model=ml_model, after=request.GET.get("after") or None)
    except ReviewAppError as exc:
        messages.error(request, exc.message)
        page = waiting_cases_page(ml_model=ml_model)
    skips = skips_for_cases([case.pk for case in page.cases])
    for case in page.cases:
        # What this person may read of each case (blind cases hide the model's answer).
        case.ml_model = ml_model
        case.skip_tally = skips.get(case.pk)
        case.answer_shown = user_may_see_model_answer(request.user, case)
        case.why = routing_codes(case, request.user)
    context = {
        "rows": rows,
        "selected": ml_model,
        "page": page,
        "is_lead": user_has(request.user, Capability.LEAD, ml_model),
        "now": timezone.now(),
    }
    if request.htmx and request.GET.get("after"):
        return render(request, "reviewapp/queues/overview.html#waiting-rows", context)
    context.update(
        claims=claims_for(ml_model=ml_model),
        escalated=escalated_for(ml_model=ml_model),
        candidates=reassign_candidates(ml_model=ml_model),
        reviewer_skips=skips_by_reviewer(ml_model=ml_model),
    )
    return render(request, "reviewapp/queues/overview.html", context)


def _claim_action(request: HttpRequest, case_id: int, action: str) -> tuple[Case, MLModel]:
    """A lead's action on a claim: the access gate with the lead capability."""
    case = case_for_user(
        user=request.user,
        case_id=case_id,
        action=action,
        capability=Capability.LEAD,
        related=("ml_model",),
    )
    request.error_back_url = _overview_url(case.ml_model)
    return case, case.ml_model


@login_required
@require_POST
def claim_release(request: HttpRequest, case_id: int) -> HttpResponse:
    case, ml_model = _claim_action(request, case_id, "case.release")
    case_release(case=case, actor=request.user)
    messages.success(request, f"Case {case.pk} is back in the queue.")
    return HttpResponseRedirect(_overview_url(ml_model))


@login_required
@require_POST
def claim_reassign_view(request: HttpRequest, case_id: int) -> HttpResponse:
    case, ml_model = _claim_action(request, case_id, "case.reassign")
    to_user = user_by_username(request.POST.get("to", ""))
    if to_user is None:
        raise InvalidInput("Pick a reviewer to hand the case to.", details={"to": ["Required."]})
    claim_reassign(case=case, lead=request.user, to_user=to_user)
    messages.success(request, f"Case {case.pk} now belongs to {to_user.username}.")
    return HttpResponseRedirect(_overview_url(ml_model))


urlpatterns = [
    path("", queue_overview_page, name="queue-overview"),
    path("cases/<int:case_id>/release", claim_release, name="queue-claim-release"),
    path("cases/<int:case_id>/reassign", claim_reassign_view, name="queue-claim-reassign"),
]
