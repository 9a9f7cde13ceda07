"""Request middleware: the request context (server-made request id, the client's own id,
the proxy-aware client address, user agent; see ``reviewapp.request_context``) and the rate
limits of the pages (failed sign-ins per client address, review actions per person).

``client_ip`` is the one function that resolves the client address. Lockout (django-axes,
``AXES_CLIENT_IP_CALLABLE``), rate limits and the audit log all use it, directly or through
the bound request context. ``X-Forwarded-For`` counts only when the immediate peer
(``REMOTE_ADDR``) is a trusted proxy (``REVIEWAPP_TRUSTED_PROXIES``):

- empty (the default): no proxy is trusted; the client is ``REMOTE_ADDR``;
- a list of addresses or CIDR networks (``10.0.0.0/8, 192.168.1.10``): when the peer is in
  it, ``X-Forwarded-For`` is read from the right, skipping trusted addresses; the first
  untrusted address is the client (so a client cannot spoof one by sending the header);
- a number N of proxy hops in front of the app: the client is the N-th address from the
  right of ``X-Forwarded-For`` (the peer is trusted whatever it is: use this only when
  nothing but the proxies can reach the app).
"""

import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from reviewapp.error_pages import error_page
from reviewapp.request_context import request_context_bind
from reviewapp.services.ratelimit import (
    Refusal,
    audit_tally_flush,
    rate_limit_check,
    rate_limit_count,
    rate_limit_refusal_audit,
    rate_limits_take,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
CLIENT_REQUEST_ID_MAX = 64
# Pages whose POST is a sign-in attempt, and pages that are review actions (per person; the
# same budget as the API's review endpoints, reviewapp/api/throttling.py).
LOGIN_VIEWS = frozenset({"login", "admin:login"})
REVIEW_PAGE_VIEWS = frozenset(
    {
        "review-claim-next",
        "review-decide",
        "review-release",
        "review-escalate",
        "review-skip",
        "review-undo",
        "review-renew",
    }
)


@dataclass(frozen=True)
class TrustedProxies:
    hops: int = 0
    networks: tuple[IPNetwork, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.hops or self.networks)

    def trusts(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self.networks)


@lru_cache(maxsize=16)
def trusted_proxies_parse(value: str | int | tuple[str, ...]) -> TrustedProxies:
    """REVIEWAPP_TRUSTED_PROXIES: a hop count (``1``), or addresses and CIDR networks (a list,
    or one comma-separated string); empty trusts no proxy."""
    if isinstance(value, int):
        return TrustedProxies(hops=max(0, value))
    items = value.split(",") if isinstance(value, str) else value
    items = [item.strip() for item in items if item and item.strip()]
    if len(items) == 1 and items[0].isdigit():
        return TrustedProxies(hops=int(items[0]))
    try:
        networks = tuple(ipaddress.ip_network(item, strict=False) for item in items)
    except ValueError as exc:
        raise ImproperlyConfigured(f"REVIEWAPP_TRUSTED_PROXIES: {exc}") from None
    return TrustedProxies(networks=networks)


def trusted_proxies() -> TrustedProxies:
    value = getattr(settings, "REVIEWAPP_TRUSTED_PROXIES", "") or ""
    return trusted_proxies_parse(tuple(value) if isinstance(value, list | tuple) else value)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``),
    or None when it is not one."""
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _resolve(remote: str, forwarded: str, proxies: TrustedProxies) -> str | None:
    peer = _address(remote)
    if peer is None or not proxies or not forwarded.strip():
        return str(peer) if peer else None
    chain = [*forwarded.split(","), remote]
    if proxies.hops:
        hop = chain[-(proxies.hops + 1)] if len(chain) > proxies.hops else chain[0]
        address = _address(hop)
        return str(address) if address else str(peer)
    if not proxies.trusts(peer):
        return str(peer)
    client = peer
    for hop in reversed(chain[:-1]):
        address = _address(hop)
        if address is None:
            break  # garbage in the header: the last hop we could read is the client
        client = address
        if not proxies.trusts(address):
            break
    return str(client)


def client_ip(request: HttpRequest) -> str | None:
    """The client address of REQUEST: REMOTE_ADDR, or the address a trusted proxy forwarded
    (see the module docstring). Resolved once per request."""
    cached = getattr(request, "_reviewapp_client_ip", False)
    if cached is not False:
        return cached
    ip = _resolve(
        request.META.get("REMOTE_ADDR") or "",
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        trusted_proxies(),
    )
    request._reviewapp_client_ip = ip  # type: ignore[attr-defined]
    return ip


def client_request_id(request: HttpRequest) -> str:
    """The caller's own ``X-Request-ID`` when it is printable ASCII (else empty), cut to 64."""
    incoming = request.headers.get("X-Request-ID", "")[:CLIENT_REQUEST_ID_MAX]
    return incoming if incoming.isascii() and incoming.isprintable() else ""


class RequestContextMiddleware:
    """Binds the request context while the request is handled, echoes the server's request
    id in ``X-Request-ID``, then writes the aggregated audit events of minutes that are over
    (``services.ratelimit.audit_tally_flush``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = uuid.uuid4().hex
        with request_context_bind(
            request_id=request_id,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:300],
            client_request_id=client_request_id(request),
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        audit_tally_flush()
        return response


def _throttled_page(request: HttpRequest, refusal: Refusal, message: str) -> HttpResponse:
    minutes = max(1, round(refusal.retry_after_s / 60))
    wait = (
        f"{refusal.retry_after_s} seconds" if refusal.retry_after_s < 90 else f"{minutes} minutes"
    )
    response = error_page(request, status=429, code="throttled", message=f"{message} {wait}.")
    response["Retry-After"] = str(refusal.retry_after_s)
    return response


class RateLimitMiddleware:
    """Limits on the pages: failed sign-ins per client address (``REVIEWAPP_RATE_LOGIN_IP``,
    for the login form and the admin's; password spraying across many usernames from one
    address is refused with 429 before any password is checked), and review actions per person
    (``REVIEWAPP_RATE_REVIEW``). Place it after the authentication middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "_reviewapp_login_attempt", False) and response.status_code == 200:
            # The form came back: the attempt failed (a success redirects, a lockout is 429).
            rate_limit_count(name="login_ip", subject=f"ip:{client_ip(request)}")
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict
    ) -> HttpResponse | None:
        match = request.resolver_match
        if request.method != "POST" or match is None:
            return None
        ip = client_ip(request)
        if match.view_name in LOGIN_VIEWS:
            refusal = rate_limit_check(name="login_ip", subject=f"ip:{ip}")
            if refusal is not None:
                rate_limit_refusal_audit(refusal, ip=ip)
                return _throttled_page(
                    request,
                    refusal,
                    "Too many failed sign-ins from your network. Try again in",
                )
            request._reviewapp_login_attempt = True  # type: ignore[attr-defined]
        elif match.view_name in REVIEW_PAGE_VIEWS and request.user.is_authenticated:
            refusal = rate_limits_take(subject=f"user:{request.user.pk}", limits=[("review", 1)])
            if refusal is not None:
                rate_limit_refusal_audit(refusal, actor=request.user, ip=ip)
                return _throttled_page(
                    request, refusal, "You are going faster than the review limit. Try again in"
                )
        return None
