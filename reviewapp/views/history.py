"""A reviewer's own work (under /review/): "My decisions" (their decisions, newest first,
filterable by model, action and period, keyset-paginated, each linking to the case's
read-only page) and "My stats" (their own figures beside the team median).

With htmx the filter form and the pager swap only the list (``#history-rows``) and push the
URL; without JavaScript they are plain GET forms and links."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from reviewapp.permissions import Capability
from reviewapp.presentation.history import (
    ACTIONS,
    PERIODS,
    STATS_PERIODS,
    history_cursor_decode,
    history_cursor_encode,
    history_params,
    history_rows,
    stats_days,
    stats_view,
)
from reviewapp.selectors.history import history_models, my_decisions_page, reviewer_stats
from reviewapp.services.access import capability_require

DECISIONS_TEMPLATE = "reviewapp/history/decisions.html"
STATS_TEMPLATE = "reviewapp/history/stats.html"


def _require_reviewer(request: HttpRequest, action: str) -> None:
    capability_require(
        user=request.user,
        capability=Capability.REVIEW,
        action=action,
        target_type="page",
        target_id=request.path[:64],
    )


@login_required
@require_GET
def my_decisions(request: HttpRequest) -> HttpResponse:
    """The signed-in reviewer's own decisions, newest first."""
    _require_reviewer(request, "history.view")
    models = history_models(request.user)
    filters, period = history_params(request.GET, models=models)
    page = my_decisions_page(
        user=request.user, filters=filters, after=history_cursor_decode(request.GET.get("after"))
    )
    params = filters.as_params(period=period)
    older_url = ""
    if page.has_more:
        older_url = "?" + urlencode({**params, "after": history_cursor_encode(page.decisions[-1])})
    context = {
        "rows": history_rows(page.decisions, user=request.user),
        "models": models,
        "actions": ACTIONS,
        "periods": {key: label for key, (label, _days) in PERIODS.items()},
        "filters": params,
        "is_first_page": not request.GET.get("after"),
        "first_url": reverse("my-decisions") + ("?" + urlencode(params) if params else ""),
        "older_url": older_url,
    }
    template = f"{DECISIONS_TEMPLATE}#history-rows" if request.htmx else DECISIONS_TEMPLATE
    return render(request, template, context)


@login_required
@require_GET
def my_stats(request: HttpRequest) -> HttpResponse:
    """The signed-in reviewer's own figures beside the team median."""
    _require_reviewer(request, "stats.view")
    days = stats_days(request.GET)
    date_to = timezone.localdate()
    stats = reviewer_stats(
        user=request.user, date_from=date_to - timedelta(days=days - 1), date_to=date_to
    )
    context = {"stats": stats, "view": stats_view(stats), "days": days, "periods": STATS_PERIODS}
    return render(request, STATS_TEMPLATE, context)


urlpatterns = [
    path("history/", my_decisions, name="my-decisions"),
    path("stats/", my_stats, name="my-stats"),
]
