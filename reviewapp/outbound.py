"""Outbound HTTP: the one way reviewapp calls other systems (webhook deliveries and alert
notifications).

- ``url_check`` is the SSRF guard: http(s) only, no credentials in the URL, and every address
  the host resolves to must be public unless ``REVIEWAPP_WEBHOOK_ALLOW_PRIVATE`` is on. IPv6
  addresses that carry an IPv4 address (IPv4-mapped ``::ffff:0:0/96``, 6to4 ``2002::/16``,
  Teredo ``2001::/32``) are judged by that IPv4 address too.
- ``signature`` / ``signature_verify``: the ``X-Reviewapp-Signature`` header of DESIGN.md,
  ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``.
- ``signed_post`` checks the URL again, signs the body when given a secret, and POSTs it once
  to the address that was checked (no second DNS look-up, so no DNS rebinding), with TLS
  still verifying the host name, no redirects, no proxies from the environment, connect and
  read timeouts of ``REVIEWAPP_WEBHOOK_TIMEOUT_S`` and a bounded response excerpt.

Retries, backoff and recording attempts belong to the callers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from reviewapp.errors import InvalidInput

SIGNATURE_HEADER = "X-Reviewapp-Signature"
EVENT_HEADER = "X-Reviewapp-Event"
DELIVERY_HEADER = "X-Reviewapp-Delivery"
RESPONSE_EXCERPT_CHARS = 500
MAX_URL_CHARS = 500

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- the SSRF guard -----------------------------------------------------------------------


def embedded_ipv4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and how: IPv4-mapped (``::ffff:a.b.c.d``),
    6to4 (``2002:AABB:CCDD::/48``) or Teredo (``2001:0::/32``, the client address being the
    bitwise NOT of the last 32 bits). None for IPv4 and other IPv6 addresses."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    return None


def _own_problem(ip: IPAddress) -> str:
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    ):
        if flag:
            return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    return ""


def address_problem(ip: IPAddress) -> str:
    """Why an address may not be called, as a phrase ("a loopback address"), or "" for a
    public address. An IPv6 address carrying an IPv4 address is refused when that IPv4 address
    would be ("a loopback address (6to4 for 127.0.0.1)"). An IPv4-mapped address is judged by
    its IPv4 address alone (that is where the connection goes); 6to4 and Teredo addresses
    must also pass as IPv6 addresses themselves."""
    embedded = embedded_ipv4(ip)
    if embedded is not None:
        ipv4, how = embedded
        problem = _own_problem(ipv4)
        if problem:
            return f"{problem} ({how} for {ipv4})"
        if how == "IPv4-mapped":
            return ""
    return _own_problem(ip)


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed the guard, with the address to connect to."""

    url: str
    scheme: str
    hostname: str
    port: int
    address: str


def _refusal(message: str) -> InvalidInput:
    return InvalidInput(message, details={"url": [message]}, code="invalid_webhook_url")


def url_check(url: str, *, allow_private: bool | None = None) -> CheckedUrl:
    """Parse and resolve a callback URL; refuse (InvalidInput, code ``invalid_webhook_url``)
    what is not http(s), carries credentials, does not resolve, or resolves to a loopback,
    private, link-local, multicast, reserved, unspecified or otherwise non-public address
    (unless ``allow_private``, by default ``REVIEWAPP_WEBHOOK_ALLOW_PRIVATE``)."""
    if allow_private is None:
        allow_private = settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE
    url = (url or "").strip()
    if not url:
        raise _refusal("Give a callback URL such as https://example.com/hooks/reviewapp.")
    if len(url) > MAX_URL_CHARS:
        raise _refusal(f"The callback URL is longer than {MAX_URL_CHARS} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refusal(f"'{url}' is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise _refusal("The callback URL must start with http:// or https://.")
    hostname = parts.hostname
    if not hostname:
        raise _refusal("The callback URL has no host name.")
    if parts.username or parts.password:
        raise _refusal(
            "Do not put credentials in the callback URL; receivers should verify the "
            f"{SIGNATURE_HEADER} header instead."
        )
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _refusal(f"The callback host '{hostname}' does not resolve ({exc}).") from None
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _refusal(f"The callback host '{hostname}' does not resolve.")
    if not allow_private:
        for address in addresses:
            problem = address_problem(ipaddress.ip_address(address))
            if problem:
                raise _refusal(
                    f"The callback host '{hostname}' resolves to {address}, {problem}. "
                    "Callbacks to loopback, private, link-local, multicast, reserved or "
                    "unspecified addresses are refused (REVIEWAPP_WEBHOOK_ALLOW_PRIVATE allows "
                    "them, for local development only)."
                )
    return CheckedUrl(
        url=url, scheme=parts.scheme, hostname=hostname, port=port, address=addresses[0]
    )


# --- signing --------------------------------------------------------------------------------


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The header value: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def signature_verify(
    *, secret: str, header: str, body: bytes, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: check the HMAC and that the timestamp is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp, given = int(fields["t"]), fields["v1"]
    except (ValueError, KeyError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(_mac(secret, timestamp, body), given)


# --- sending ------------------------------------------------------------------------------


class _PinnedAdapter(HTTPAdapter):
    """Connects to the checked address while TLS still verifies the original host name."""

    def __init__(self, *, hostname: str) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


@dataclass(frozen=True)
class HttpOutcome:
    """One POST: the status code (None when no answer), an error ("" on a 2xx), the start of
    the response body, and how long it took. ``refused``: the guard stopped it before any
    connection was made."""

    status_code: int | None
    error: str
    excerpt: str
    duration_ms: int
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error


def _post(*, checked: CheckedUrl, body: bytes, headers: Mapping[str, str]) -> HttpOutcome:
    parts = urlsplit(checked.url)
    ip = ipaddress.ip_address(checked.address)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = urlunsplit(
        (parts.scheme, f"{host}:{checked.port}", parts.path or "/", parts.query, "")
    )
    name = parts.hostname or ""
    name = f"[{name}]" if ":" in name else name
    host_header = name if parts.port is None else f"{name}:{parts.port}"
    timeout = float(settings.REVIEWAPP_WEBHOOK_TIMEOUT_S)
    started = time.monotonic()
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: we call the checked address
    session.mount(f"{parts.scheme}://", _PinnedAdapter(hostname=checked.hostname))
    try:
        response = session.post(
            pinned,
            data=body,
            headers={**headers, "Host": host_header},
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
        try:
            raw = response.raw.read(RESPONSE_EXCERPT_CHARS * 4, decode_content=True) or b""
        finally:
            response.close()
        excerpt = raw.decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS]
        error = ""
        if response.is_redirect:
            location = response.headers.get("Location", "?")
            error = f"Redirect refused ({response.status_code} to {location})."
        elif not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
        return HttpOutcome(
            response.status_code, error[:1000], excerpt, int((time.monotonic() - started) * 1000)
        )
    except requests.Timeout:
        error = f"Timed out after {timeout:g} s."
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {exc}"
    finally:
        session.close()
    return HttpOutcome(None, error[:1000], "", int((time.monotonic() - started) * 1000))


def signed_post(
    *, url: str, body: bytes, headers: Mapping[str, str], secret: str = ""
) -> HttpOutcome:
    """POST ``body`` to ``url`` once: the guard runs again first (a refusal comes back as an
    outcome with ``refused`` and the guard's message as the error), then, when ``secret`` is
    given, the ``X-Reviewapp-Signature`` header is added for the current time."""
    try:
        checked = url_check(url)
    except InvalidInput as exc:
        return HttpOutcome(None, exc.message, "", 0, refused=True)
    all_headers = dict(headers)
    if secret:
        all_headers[SIGNATURE_HEADER] = signature(
            secret=secret, timestamp=int(time.time()), body=body
        )
    return _post(checked=checked, body=body, headers=all_headers)
