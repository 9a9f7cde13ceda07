"""Queue overview for leads and managers: per model of their teams the waiting, claimed,
escalated and expired counts, the oldest waiting case and SLA breaches; for one model its
claims (leads may release or reassign them), escalated cases and a keyset-paginated list
of waiting cases."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from reviewapp.errors import ReviewAppError
from reviewapp.models import Case, MLModel, User
from reviewapp.permissions import user_can_lead, user_can_view_queue_overview, user_team_ids
from reviewapp.selectors.queue import (
    claims_for,
    escalated_for,
    queue_overview,
    reassign_candidates,
    waiting_cases_page,
)
from reviewapp.services.access import permission_denied_record
from reviewapp.services.queue import case_release, claim_reassign


def _require_overview(request: HttpRequest) -> None:
    if not user_can_view_queue_overview(request.user):
        permission_denied_record(
            user=request.user, action="queue.overview", target_type="page", target_id="queues"
        )
        raise DjangoPermissionDenied


def _team_model(request: HttpRequest, slug: str) -> MLModel:
    ml_model = MLModel.objects.filter(slug=slug, team_id__in=user_team_ids(request.user)).first()
    if ml_model is None:
        raise Http404("No such model.")
    return ml_model


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
    ml_model = _team_model(request, slug)
    try:
        page = waiting_cases_page(ml_model=ml_model, after=request.GET.get("after") or None)
    except ReviewAppError as exc:
        messages.error(request, exc.message)
        page = waiting_cases_page(ml_model=ml_model)
    context = {
        "rows": rows,
        "selected": ml_model,
        "page": page,
        "is_lead": user_can_lead(request.user, ml_model),
        "now": timezone.now(),
    }
    if request.htmx and request.GET.get("after"):
        return render(request, "reviewapp/queues/overview.html#waiting-rows", context)
    context.update(
        claims=claims_for(ml_model=ml_model),
        escalated=escalated_for(ml_model=ml_model),
        candidates=reassign_candidates(ml_model=ml_model),
    )
    return render(request, "reviewapp/queues/overview.html", context)


def _claim_action(request: HttpRequest, case_id: int) -> tuple[Case, MLModel]:
    _require_overview(request)
    case = (
        Case.objects.select_related("ml_model")
        .filter(pk=case_id, ml_model__team_id__in=user_team_ids(request.user))
        .first()
    )
    if case is None:
        raise Http404("No such case.")
    return case, case.ml_model


@login_required
@require_POST
def claim_release(request: HttpRequest, case_id: int) -> HttpResponse:
    case, ml_model = _claim_action(request, case_id)
    try:
        case_release(case=case, actor=request.user)
        messages.success(request, f"Case {case.pk} is back in the queue.")
    except ReviewAppError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(_overview_url(ml_model))


@login_required
@require_POST
def claim_reassign_view(request: HttpRequest, case_id: int) -> HttpResponse:
    case, ml_model = _claim_action(request, case_id)
    to_user = User.objects.filter(username=request.POST.get("to", "")).first()
    try:
        if to_user is None:
            messages.error(request, "Pick a reviewer to hand the case to.")
        else:
            claim_reassign(case=case, lead=request.user, to_user=to_user)
            messages.success(request, f"Case {case.pk} now belongs to {to_user.username}.")
    except ReviewAppError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(_overview_url(ml_model))


urlpatterns = [
    path("", queue_overview_page, name="queue-overview"),
    path("cases/<int:case_id>/release", claim_release, name="queue-claim-release"),
    path("cases/<int:case_id>/reassign", claim_reassign_view, name="queue-claim-reassign"),
]
