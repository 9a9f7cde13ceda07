"""The one exception handler: every API error becomes
{"error": {"code": ..., "message": ..., "details": {...}}}."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from reviewapp.errors import ReviewAppError
from reviewapp.services.access import denial_audit, denial_record


def error_response(
    status_code: int, code: str, message: str, details: dict | None = None
) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "details": details or {}}}, status=status_code
    )


def _flatten_message(detail: object) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            return f"{key}: {_flatten_message(value)}"
    if isinstance(detail, list) and detail:
        return _flatten_message(detail[0])
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ReviewAppError):
        denial_audit(exc)
        response = error_response(exc.status_code, exc.code, exc.message, exc.details)
    elif isinstance(exc, Http404):
        response = error_response(404, "not_found", "Not found.")
    elif isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response = error_response(
            400, "invalid", f"Invalid request. {_flatten_message(details)}", details
        )
    elif isinstance(exc, exceptions.ParseError):
        response = error_response(400, "malformed", f"Malformed request body: {exc.detail}")
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        response = error_response(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        )
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = error_response(401, "not_authenticated", str(exc.detail))
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    elif isinstance(exc, exceptions.PermissionDenied | DjangoPermissionDenied):
        request = context.get("request")
        view = context.get("view")
        denial_record(
            user=getattr(request, "user", None),
            action=f"api:{view.__class__.__name__}" if view else "api",
            target_type="endpoint",
            target_id=getattr(request, "path", "")[:64],
        )
        response = error_response(
            403, "permission_denied", "You do not have permission to do this."
        )
    elif isinstance(exc, exceptions.Throttled):
        response = error_response(429, "throttled", str(exc.detail), {"retry_after_s": exc.wait})
    elif isinstance(exc, exceptions.MethodNotAllowed):
        response = error_response(405, "method_not_allowed", str(exc.detail))
    elif isinstance(exc, exceptions.NotAcceptable):
        response = error_response(406, "not_acceptable", str(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        response = error_response(exc.status_code, exc.default_code, str(exc.detail))
    else:
        return None
    if getattr(exc, "wait", None):
        response["Retry-After"] = str(int(exc.wait))
    elif response.status_code == 503:  # a part is down (ServiceUnavailable): when to retry
        details = getattr(exc, "details", None) or {}
        response["Retry-After"] = str(int(details.get("retry_after_s", 5)))
    return response
