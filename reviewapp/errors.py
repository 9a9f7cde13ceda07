"""The app's own errors. The API's exception handler turns each into the error body of
DESIGN.md; the page-error middleware turns them into styled pages or htmx panels."""

from dataclasses import dataclass
from typing import Any


@dataclass
class Denial:
    """A refused attempt that the audit log must record once (``services.access``)."""

    user: Any
    action: str
    target_type: str = ""
    target_id: str = ""
    recorded: bool = False


class ReviewAppError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        details: dict | None = None,
        code: str | None = None,
        denial: Denial | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.denial = denial
        if code:
            self.code = code


class InvalidInput(ReviewAppError):
    status_code = 400
    code = "invalid"


class NotFound(ReviewAppError):
    status_code = 404
    code = "not_found"


class PermissionDenied(ReviewAppError):
    status_code = 403
    code = "permission_denied"


class Conflict(ReviewAppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ReviewAppError):
    status_code = 413
    code = "payload_too_large"


class ServiceUnavailable(ReviewAppError):
    status_code = 503
    code = "unavailable"
