"""The model-health page: live accuracy, drift, tripwires and alerts, threshold calibration.

Managers and model owners of the model's team see it, auditors read it (every change form is
hidden and refused on the server), reviewers and leads get 403. Reads are bounded whatever
the volume: the period is whole days, today included; accuracy and calibration read the
band rollups (``selectors.bands``: a few rows a day, and the minutes since the last refresh
counted live); drift reads the period's latest ``FEATURE_SAMPLE_CAP`` cases.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from reviewapp.models import Alert, MLModel, Tripwire, TripwireAction, TripwireKind
from reviewapp.permissions import Capability, user_has
from reviewapp.presentation.health import health_figures
from reviewapp.presentation.params import HEALTH_PERIODS as PERIODS
from reviewapp.presentation.params import form_date, form_number, health_filters
from reviewapp.selectors.bands import band_rows, day_bounds
from reviewapp.selectors.calibration import calibration_report, pending_proposals
from reviewapp.selectors.health import (
    FEATURE_SAMPLE_CAP,
    PSI_MODERATE,
    PSI_SIGNIFICANT,
    accuracy_of_bands,
    drift_report,
    health_watch,
)
from reviewapp.selectors.registry import models_with_team
from reviewapp.services.access import capability_require, model_for_user, object_of_model
from reviewapp.services.health import (
    KIND_LIMITS,
    alert_resolve,
    baseline_create,
    threshold_propose,
    tripwire_create,
    tripwire_disable,
)

PAGE = "reviewapp/health/page.html"


# --- access and errors --------------------------------------------------------------------


def _visible_models(user) -> list[MLModel]:
    return models_with_team(user, Capability.VIEW_DASHBOARDS)


def _page_url(ml_model: MLModel, filters: dict[str, Any], anchor: str = "") -> str:
    query = urlencode(
        {"model": ml_model.slug, "days": filters["days"], "target": f"{filters['target_pct']:g}"}
    )
    return f"{reverse('dashboard-health')}?{query}" + (f"#{anchor}" if anchor else "")


# --- the page ------------------------------------------------------------------------------


def _page_context(request: HttpRequest, ml_model: MLModel, filters: dict) -> dict[str, Any]:
    user = request.user
    now = timezone.now()
    # The period is whole calendar days, today included, so that the band rollups serve it.
    date_to = timezone.localdate(now)
    date_from = date_to - timedelta(days=filters["days"] - 1)
    start = day_bounds(date_from)[0]
    bands = band_rows(ml_model, date_from=date_from, date_to=date_to)
    accuracy = accuracy_of_bands(ml_model, bands)
    drift = drift_report(ml_model, start=start, end=now)
    calibration = calibration_report(
        ml_model,
        start=start,
        end=now,
        target_error_rate=filters["target_pct"] / 100,
        band_figures=bands,
    )
    watch = health_watch(ml_model)
    return {
        "ml_model": ml_model,
        "models": _visible_models(user),
        "filters": filters,
        "periods": PERIODS,
        "start": start,
        "end": now,
        "can_manage": user_has(user, Capability.MANAGE_HEALTH, ml_model),
        "is_owner": user_has(user, Capability.MANAGE_MODEL, ml_model),
        "accuracy": accuracy,
        "drift": drift,
        "psi_moderate": PSI_MODERATE,
        "psi_significant": PSI_SIGNIFICANT,
        "sample_cap": FEATURE_SAMPLE_CAP,
        "calibration": calibration,
        **health_figures(accuracy=accuracy, drift=drift, calibration=calibration),
        "tripwires": watch.tripwires,
        "tripwire_kinds": [(kind.value, kind.label, KIND_LIMITS[kind][2]) for kind in TripwireKind],
        "tripwire_actions": TripwireAction.choices,
        "open_alerts": watch.open_alerts,
        "recent_alerts": watch.recent_alerts,
        "pending_proposals": pending_proposals(ml_model),
        "today": now.date(),
        "default_baseline_start": date_from,
        "page_url": _page_url(ml_model, filters),
    }


@require_GET
@login_required
def health_page(request: HttpRequest) -> HttpResponse:
    """The model-health page for one model (?model=slug&days=30&target=2)."""
    user = request.user
    capability_require(user=user, capability=Capability.VIEW_DASHBOARDS, action="health.view")
    filters = health_filters(request.GET)
    slug = request.GET.get("model", "")
    if not slug:
        models = _visible_models(user)
        if not models:
            return render(request, PAGE, {"ml_model": None, "models": [], "filters": filters})
        slug = models[0].slug
    ml_model = model_for_user(
        user=user, slug=slug, action="health.view", capability=Capability.VIEW_DASHBOARDS
    )
    context = _page_context(request, ml_model, filters)
    if request.htmx:
        return render(request, f"{PAGE}#health-body", context)
    return render(request, PAGE, context)


def _model_to_change(
    request: HttpRequest, slug: str, *, action: str, capability: Capability, anchor: str
) -> MLModel:
    """The model if the user has CAPABILITY on it (the access gate); a refused form post
    returns to the page section ANCHOR with the message."""
    ml_model = model_for_user(user=request.user, slug=slug, action=action, capability=capability)
    request.error_back_url = _page_url(ml_model, health_filters(request.POST), anchor)
    return ml_model


def _back(request: HttpRequest, ml_model: MLModel, anchor: str) -> HttpResponse:
    """Back to the page section, keeping the posted filters."""
    return redirect(_page_url(ml_model, health_filters(request.POST), anchor))


@require_POST
@login_required
def baseline_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The model owner picks the baseline window (whole days, UTC, end day included)."""
    ml_model = _model_to_change(
        request, slug, action="baseline.create", capability=Capability.MANAGE_MODEL, anchor="drift"
    )
    first = form_date(request.POST.get("window_start", ""), "window_start")
    last = form_date(request.POST.get("window_end", ""), "window_end")
    baseline = baseline_create(
        ml_model=ml_model,
        actor=request.user,
        window_start=datetime.combine(first, time.min, tzinfo=UTC),
        window_end=datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC),
    )
    messages.success(
        request,
        f"Drift baseline set: {baseline.n_cases:,} cases from {first:%Y-%m-%d} to {last:%Y-%m-%d}.",
    )
    return _back(request, ml_model, "drift")


@require_POST
@login_required
def tripwire_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    ml_model = _model_to_change(
        request,
        slug,
        action="tripwire.create",
        capability=Capability.MANAGE_HEALTH,
        anchor="tripwires",
    )
    post = request.POST
    invalid = "The tripwire is not valid."
    tripwire = tripwire_create(
        ml_model=ml_model,
        actor=request.user,
        kind=post.get("kind", ""),
        threshold=form_number(post, "threshold", float, message=invalid, hint="A number."),
        window_days=form_number(
            post, "window_days", int, default="7", message=invalid, hint="A whole number of days."
        ),
        notify_url=post.get("notify_url", ""),
        notify_email=post.get("notify_email", ""),
        action=post.get("action", TripwireAction.ALERT),
    )
    messages.success(request, f"Tripwire added: {tripwire.get_kind_display()}.")
    return _back(request, ml_model, "tripwires")


@require_POST
@login_required
def tripwire_disable_view(request: HttpRequest, slug: str, tripwire_id: int) -> HttpResponse:
    ml_model = _model_to_change(
        request,
        slug,
        action="tripwire.disable",
        capability=Capability.MANAGE_HEALTH,
        anchor="tripwires",
    )
    tripwire = object_of_model(Tripwire, tripwire_id, ml_model, "tripwire")
    tripwire_disable(tripwire=tripwire, actor=request.user)
    messages.success(request, "Tripwire disabled.")
    return _back(request, ml_model, "tripwires")


@require_POST
@login_required
def alert_resolve_view(request: HttpRequest, slug: str, alert_id: int) -> HttpResponse:
    ml_model = _model_to_change(
        request, slug, action="alert.resolve", capability=Capability.MANAGE_HEALTH, anchor="alerts"
    )
    alert = object_of_model(Alert, alert_id, ml_model, "alert")
    alert_resolve(alert=alert, actor=request.user, note=request.POST.get("note", ""))
    messages.success(request, "Alert resolved.")
    return _back(request, ml_model, "alerts")


@require_POST
@login_required
def threshold_propose_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The model owner turns a calibration threshold into a routing-policy proposal."""
    ml_model = _model_to_change(
        request,
        slug,
        action="policy.propose",
        capability=Capability.MANAGE_MODEL,
        anchor="calibration",
    )
    threshold = form_number(
        request.POST,
        "threshold",
        float,
        message="The threshold must be a number.",
        hint="Between 0 and 1.",
    )
    filters = health_filters(request.POST)
    policy = threshold_propose(
        ml_model=ml_model,
        proposer=request.user,
        threshold=threshold,
        note=(
            f"Threshold calibration: review threshold {threshold:.2f} for an auto-approved "
            f"error rate under {filters['target_pct']:g}% (last {filters['days']} days)."
        ),
    )
    messages.success(
        request,
        f"Proposed policy v{policy.version} with review threshold {threshold:.2f}; "
        "it takes effect once a manager approves it.",
    )
    return redirect(_page_url(ml_model, filters, "calibration"))


urlpatterns = [
    path("", health_page, name="dashboard-health"),
    path("<slug:slug>/baseline/", baseline_create_view, name="health-baseline-create"),
    path("<slug:slug>/tripwires/", tripwire_create_view, name="health-tripwire-create"),
    path(
        "<slug:slug>/tripwires/<int:tripwire_id>/disable/",
        tripwire_disable_view,
        name="health-tripwire-disable",
    ),
    path(
        "<slug:slug>/alerts/<int:alert_id>/resolve/",
        alert_resolve_view,
        name="health-alert-resolve",
    ),
    path("<slug:slug>/propose/", threshold_propose_view, name="health-threshold-propose"),
]
