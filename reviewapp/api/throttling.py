"""The API's rate limits, as DRF throttles (``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``).

The counting is ``reviewapp.services.ratelimit``: fixed windows in the shared cache (Redis in
production), failing open when the cache is down, refusals audited once per limit, subject and
minute. These classes only pick the limits of a request and answer a refusal with DRF's
``Throttled`` (429, ``Retry-After`` and ``{"error": {"code": "throttled", ..., "details":
{"retry_after_s": N}}}`` through the one exception handler).

Which routes each limit covers is data (``SUBMIT_ROUTES``, ``REVIEW_ROUTES``, by URL name), so
the views carry no throttle wiring; tests/api/test_limits.py checks that every route of
``reviewapp.api.review`` is in ``REVIEW_ROUTES`` (``skip`` and ``undo`` are listed ahead of
their endpoints) and that the submit names resolve.

``ApiThrottle`` (the one throttle class) takes every limit of a request in one call, so one
round trip to Redis:

- ``api``: every API request, per user (per client address when anonymous);
- POST ``cases`` and ``cases/batch``, per service account: ``submit_requests``,
  ``submit_burst`` and ``submit_cases`` (a batch of N cases costs N);
- POST claim, decide, release, escalate, skip, renew, undo, reassign and reopen, per person:
  ``review`` (the same budget as the review pages).
"""

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from reviewapp.request_context import request_context_current
from reviewapp.services.ratelimit import Refusal, rate_limit_refusal_audit, rate_limits_take

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.views import APIView

SUBMIT_ROUTES = frozenset({"api-cases", "api-cases-batch"})
BATCH_ROUTE = "api-cases-batch"
REVIEW_ROUTES = frozenset(
    {
        "api-queue-claim",
        "api-case-decide",
        "api-case-release",
        "api-case-escalate",
        "api-case-skip",
        "api-case-renew",
        "api-case-undo",
        "api-case-reassign",
        "api-case-reopen",
    }
)

MESSAGES = {
    "api": "Too many API requests (limit {rate}).",
    "submit_requests": "Too many submissions from this service account (limit {rate}).",
    "submit_burst": "Too many submissions at once from this service account (limit {rate}).",
    "submit_cases": "Too many cases submitted by this service account (limit {rate} cases).",
    "review": "Too many review actions (limit {rate}).",
}


def _route(request: Request) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.url_name or "") if match is not None else ""


def _subject(request: Request) -> str:
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{request_context_current().ip}"


def _refuse(request: Request, refusal: Refusal) -> None:
    user = request.user if request.user is not None and request.user.is_authenticated else None
    rate_limit_refusal_audit(refusal, actor=user, ip=request_context_current().ip)
    message = MESSAGES[refusal.name].format(rate=refusal.rate.text)
    if refusal.unattainable:
        message = (
            f"This batch of {refusal.cost} cases is larger than the limit of "
            f"{refusal.rate.text} cases; send smaller batches."
        )
    raise Throttled(wait=refusal.retry_after_s, detail=message)


class _LimitThrottle(BaseThrottle):
    """Counts the limits ``limits`` names for the request; raises ``Throttled`` when one is
    over (the message names the limit)."""

    def limits(self, request: Request) -> list[tuple[str, int]]:
        raise NotImplementedError

    def allow_request(self, request: Request, view: "APIView") -> bool:
        limits = self.limits(request)
        if limits:
            refusal = rate_limits_take(subject=_subject(request), limits=limits)
            if refusal is not None:
                _refuse(request, refusal)
        return True

    def wait(self) -> float | None:
        return None


def api_limits(request: Request) -> list[tuple[str, int]]:
    """Every API request, per user: REVIEWAPP_RATE_API."""
    return [("api", 1)]


def batch_cost(request: Request) -> int:
    """How many cases a submit request carries: 1 for a single case, the number of items for
    a batch. A body the view will refuse anyway (too large, too many items, not a service
    account's) costs 1, so that it burns no case budget."""
    if _route(request) != BATCH_ROUTE or not getattr(request.user, "is_service_account", False):
        return 1
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > settings.REVIEWAPP_MAX_BATCH_BYTES:
        return 1
    data = request.data  # parsed once; the view reads the same parsed body
    items = data.get("cases") if isinstance(data, dict) else data
    if not isinstance(items, list) or len(items) > settings.REVIEWAPP_MAX_BATCH_ITEMS:
        return 1
    return max(1, len(items))


def submit_limits(request: Request) -> list[tuple[str, int]]:
    """Case submissions, per service account: requests per minute (REVIEWAPP_RATE_SUBMIT_
    REQUESTS), requests per second (REVIEWAPP_RATE_SUBMIT_BURST) and cases per minute
    (REVIEWAPP_RATE_SUBMIT_CASES)."""
    if request.method != "POST" or _route(request) not in SUBMIT_ROUTES:
        return []
    return [("submit_requests", 1), ("submit_burst", 1), ("submit_cases", batch_cost(request))]


def review_limits(request: Request) -> list[tuple[str, int]]:
    """Review actions, per person: REVIEWAPP_RATE_REVIEW."""
    if request.method != "POST" or _route(request) not in REVIEW_ROUTES:
        return []
    return [("review", 1)]


class ApiThrottle(_LimitThrottle):
    """Every limit of an API request (``api``, and ``submit_*`` or ``review`` by route),
    counted together in one round trip to the store: a request refused by one is counted
    against none, and the refusal with the longest wait is the one answered."""

    def limits(self, request: Request) -> list[tuple[str, int]]:
        return [*api_limits(request), *submit_limits(request), *review_limits(request)]
