"""Operations: the Prometheus exposition (/metrics) and the system page for admins and
auditors (/system/). Both read ``selectors.system.system_snapshot``, so a person and Prometheus
see the same figures (docs/operations.md)."""

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reviewapp.metrics.exposition import CONTENT_TYPE, metrics_text
from reviewapp.permissions import Capability
from reviewapp.presentation.system import system_page_context
from reviewapp.selectors.system import system_snapshot
from reviewapp.services.access import capability_require

PAGE_TEMPLATE = "reviewapp/system/page.html"
# A request that came through a proxy is not a local one, whatever the peer address says.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(f"{text}\n", status=status, content_type="text/plain; charset=utf-8")


def is_loopback_peer(request: HttpRequest) -> bool:
    """Whether the request came straight from this host: REMOTE_ADDR in 127.0.0.0/8 or ::1
    (or an IPv4-mapped loopback), and no proxy forwarded it."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback and not any(h in request.META for h in FORWARDING_HEADERS)


def metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the scrape may read the metrics, else the answer: with
    REVIEWAPP_METRICS_TOKEN set, 401 without ``Authorization: Bearer <token>``; without it,
    403 for anything but a direct loopback client."""
    token = str(getattr(settings, "REVIEWAPP_METRICS_TOKEN", "") or "")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return None
        response = _plain("A valid bearer token is required to read the metrics.", 401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if is_loopback_peer(request):
        return None
    return _plain(
        "The metrics are served to local clients only (set REVIEWAPP_METRICS_TOKEN to scrape "
        "from elsewhere).",
        403,
    )


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition (text format 0.0.4)."""
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE)


@login_required
@require_GET
def system_page(request: HttpRequest) -> HttpResponse:
    """Worker heartbeat, periodic jobs, services, queues, outbox and seal lag, for people."""
    capability_require(user=request.user, capability=Capability.VIEW_SYSTEM, action="system.view")
    return render(request, PAGE_TEMPLATE, system_page_context(system_snapshot()))


urlpatterns = [path("", system_page, name="system")]
