"""Home, health and readiness, and the 404/500 handlers (JSON error body under /api/)."""

import sys

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reviewapp.error_pages import (
    DATABASE_UNAVAILABLE,
    UNAVAILABLE_ERRORS,
    api_error,
    error_page,
    is_api,
    retry_after,
)
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.system import outbox_stale_after_s, outbox_state, service_checks

# Where each person starts: the first page their role has.
HOME_PAGES = (
    (Capability.REVIEW, "review-home"),
    (Capability.VIEW_AUDIT, "audit-log"),
    (Capability.VIEW_DASHBOARDS, "dashboard-adoption"),
    (Capability.VIEW_QUEUE_OVERVIEW, "queue-overview"),
    (Capability.ADMINISTER, "admin:index"),
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it lives in."""
    user = request.user
    for capability, url_name in HOME_PAGES:
        if user_has(user, capability):
            return redirect(url_name)
    return render(request, "reviewapp/home.html")


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness (README, "Failure modes"). 503 only when the database is down: nothing works
    without it. Redis (broker, cache) down or a stale outbox is 200 with status "degraded":
    intake, claims, decisions and pages keep working, so a load balancer keeps this node."""
    checks = service_checks()
    database_ok = checks["database"] == "ok"
    outbox: dict[str, object] = {"stale_after_s": outbox_stale_after_s()}
    if database_ok:
        try:
            state = outbox_state()
        except Exception as exc:
            checks["outbox"] = f"error: {exc.__class__.__name__}"
        else:
            age = None if state.oldest_age_s is None else round(state.oldest_age_s, 1)
            outbox.update(undelivered=state.undelivered, oldest_undelivered_age_s=age)
            checks["outbox"] = (
                f"stale: oldest undelivered is {age:.0f} s old" if state.stale else "ok"
            )
    else:
        checks["outbox"] = "unknown (database unavailable)"
    degraded = [
        name
        for name, value in checks.items()
        if value != "ok" and not value.startswith("not configured")
    ]
    status = "unavailable" if not database_ok else ("degraded" if degraded else "ok")
    response = JsonResponse(
        {"status": status, "checks": checks, "degraded": degraded, "outbox": outbox},
        status=503 if not database_ok else 200,
    )
    if not database_ok:
        response["Retry-After"] = "5"
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: the API's error body under /api/, the styled page elsewhere."""
    if is_api(request):
        return api_error(404, "not_found", "No such endpoint.")
    return error_page(request, status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403."""
    if is_api(request):
        return api_error(403)
    return error_page(request, status=403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400."""
    if is_api(request):
        return api_error(400)
    return error_page(request, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the API's error body under /api/, the plain page elsewhere (no template
    context: whatever failed may fail again while rendering)."""
    failure = sys.exc_info()[1]  # handler500 runs while the exception is being handled
    if isinstance(failure, UNAVAILABLE_ERRORS):  # lost the database outside a view: 503
        response = (
            api_error(503, "database_unavailable", DATABASE_UNAVAILABLE)
            if is_api(request)
            else HttpResponse(DATABASE_UNAVAILABLE, status=503, content_type="text/plain")
        )
        return retry_after(response)
    if is_api(request):
        return api_error(500)
    return defaults.server_error(request)
