"""Home, health and readiness, and the 404/500 handlers (JSON error body under /api/)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reviewapp.error_pages import api_error, error_page, is_api
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.system import database_ping

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
    checks: dict[str, str] = {}
    ok = True
    try:
        database_ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
        ok = False
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        try:
            import redis

            redis.Redis.from_url(broker, socket_connect_timeout=1, socket_timeout=1).ping()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {exc.__class__.__name__}"
            ok = False
    else:
        checks["broker"] = "not configured (embedded)"
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


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
    if is_api(request):
        return api_error(500)
    return defaults.server_error(request)
