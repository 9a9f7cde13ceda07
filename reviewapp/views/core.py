"""Home, health and readiness, and the 404/500 handlers (JSON error body under /api/)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reviewapp.models import Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it lives in."""
    role = request.user.role
    if role in (Role.REVIEWER, Role.LEAD):
        return redirect("review-home")
    if role in (Role.MANAGER, Role.MODEL_OWNER):
        return redirect("dashboard-adoption")
    if role == Role.AUDITOR:
        return redirect("audit-log")
    if role == Role.ADMIN:
        return redirect("admin:index")
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
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
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


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: the API's error body for /api/ paths, the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return _api_error(404, "not_found", "No such endpoint.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the API's error body for /api/ paths, the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return _api_error(500, "server_error", "Something went wrong on our side.")
    return defaults.server_error(request)
