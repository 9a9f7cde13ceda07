"""The page twin of the API's one exception handler: every refusal or error a view raises
becomes, in every mode (DEBUG on or off):

- under ``/api/``: the JSON error body of DESIGN.md, whatever raised it (an unknown path, a
  CSRF failure, an unexpected exception), never Django's HTML debug page;
- for an htmx request: a readable error panel swapped in place of the element the request
  targeted (so the page keeps its styling and htmx keeps working);
- for a form POST refused with 400: back to the page it came from, with the message;
- otherwise: a styled 403/404/409 page with the navigation and a way back.

Refusals are recorded in the audit log once (``services.access.denial_audit``).
"""

import logging
from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from reviewapp.errors import ReviewAppError
from reviewapp.services.access import denial_audit

logger = logging.getLogger("reviewapp.errors")

ERROR_TEMPLATE = "reviewapp/error.html"
STATUS_CODES = {
    400: ("invalid", "The request is not valid."),
    401: ("not_authenticated", "Sign in first."),
    403: ("permission_denied", "You do not have permission to do this."),
    404: ("not_found", "There is nothing here."),
    405: ("method_not_allowed", "This address does not take that method."),
    409: ("conflict", "That changed meanwhile."),
    413: ("payload_too_large", "The request is too large."),
    415: ("unsupported_media_type", "Send the body as JSON."),
    429: ("throttled", "Too many requests; try again shortly."),
    500: ("server_error", "Something went wrong on our side."),
    503: ("unavailable", "A part of the service is unavailable; try again shortly."),
}
TITLES = {
    "no_live_claim": "This case is no longer yours",
    "not_claimed": "This case is no longer yours",
    "already_decided": "Already decided",
    "permission_denied": "Not allowed",
    "not_found": "Not found",
    "method_not_allowed": "Not found",
    "conflict": "That changed meanwhile",
}
RESTYLED_STATUSES = frozenset({403, 404, 405})
# A database connection lost mid-request (PostgreSQL restarted, a backend terminated, a
# failover) is a 503 the client may retry, never a 500 (README, "Failure modes").
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_S = 5
DATABASE_UNAVAILABLE = "The database is unavailable for a moment; try again shortly."


def retry_after(response: HttpResponse, exc: Exception | None = None) -> HttpResponse:
    """Give a 503 its Retry-After header (the error's retry_after_s detail, else 5 s)."""
    if response.status_code == 503 and not response.has_header("Retry-After"):
        details = getattr(exc, "details", None) or {}
        response["Retry-After"] = str(int(details.get("retry_after_s", RETRY_AFTER_S)))
    return response


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, code: str = "", message: str = "", details: dict | None = None):
    default_code, default_message = STATUS_CODES.get(status, ("error", "The request failed."))
    response = JsonResponse(
        {
            "error": {
                "code": code or default_code,
                "message": message or default_message,
                "details": details or {},
            }
        },
        status=status,
    )
    response.reviewapp_error = True
    return response


def error_text(exc: ReviewAppError) -> str:
    """The message with the details it names (for forms: "threshold: A number.")."""
    details = "; ".join(
        f"{'' if field == 'non_field_errors' else field + ': '}{' '.join(map(str, msgs))}"
        for field, msgs in exc.details.items()
        if isinstance(msgs, list)
    )
    if details and details not in exc.message:
        return f"{exc.message} {details}".strip()
    return exc.message


def _back_url(request: HttpRequest) -> tuple[str, str]:
    back = getattr(request, "error_back_url", None)
    if back:
        return back, "Back"
    if request.path.startswith("/review/"):
        return reverse("review-home"), "Back to your queues"
    referer = request.headers.get("Referer", "")
    if (
        referer
        and referer != request.build_absolute_uri()
        and url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return referer, "Back to the previous page"
    return reverse("home"), "Back to your start page"


def error_page(request: HttpRequest, *, status: int, code: str = "", message: str = ""):
    """The styled error page, or its panel for htmx requests."""
    default_code, default_message = STATUS_CODES.get(status, ("error", "That did not work."))
    code = code or default_code
    back_url, back_text = _back_url(request)
    target = getattr(getattr(request, "htmx", None), "target", None) or ""
    context = {
        "status": status,
        "code": code,
        "title": TITLES.get(code, "That did not work"),
        "message": message or default_message,
        "back_url": back_url,
        "back_text": back_text,
        "panel_id": target or "error-panel",
    }
    if getattr(request, "htmx", False):
        response = render(request, f"{ERROR_TEMPLATE}#error-panel", context, status=status)
        response["HX-Retarget"] = f"#{target}" if target else "#main"
        response["HX-Reswap"] = "outerHTML" if target else "innerHTML"
    else:
        response = render(request, ERROR_TEMPLATE, context, status=status)
    response.reviewapp_error = True
    return response


def _as_status(exc: Exception) -> tuple[int, str, str] | None:
    if isinstance(exc, ReviewAppError):
        return exc.status_code, exc.code, error_text(exc)
    if isinstance(exc, Http404):
        return 404, "not_found", ""
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "permission_denied", ""
    if isinstance(exc, SuspiciousOperation):
        return 400, "invalid", ""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return 503, "database_unavailable", DATABASE_UNAVAILABLE
    return None


class ErrorPageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        status = response.status_code
        if status < 400 or getattr(response, "reviewapp_error", False):
            return response
        content_type = response.get("Content-Type", "")
        if is_api(request):
            if "json" not in content_type:
                return api_error(status)
            return response
        if status in RESTYLED_STATUSES and content_type.startswith("text/html"):
            # Django's own 403/404/405 (an unknown address, a CSRF failure, a wrong method,
            # the debug 404 page): the styled page instead.
            return error_page(request, status=status)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        mapped = _as_status(exc)
        if mapped is None:
            if is_api(request):
                logger.exception("Unhandled error on %s", request.path)
                return api_error(500)
            return None  # Django's handler500 (or the debug page under DEBUG)
        status, code, message = mapped
        denial_audit(exc)
        if is_api(request):
            details = exc.details if isinstance(exc, ReviewAppError) else None
            return retry_after(api_error(status, code, message, details), exc)
        if request.method == "POST" and status == 400 and not getattr(request, "htmx", False):
            back_url, _ = _back_url(request)
            messages.error(request, message)
            return redirect(back_url)
        if isinstance(exc, UNAVAILABLE_ERRORS):  # the styled page needs the database
            response = HttpResponse(message, status=503, content_type="text/plain")
            response.reviewapp_error = True
            return retry_after(response, exc)
        return retry_after(error_page(request, status=status, code=code, message=message), exc)
