"""The context of the work being done (request id, client address, user agent), recorded with
every audit event.

The HTTP middleware binds it for each request; a Celery task or a command may bind its own
with ``request_context_bind`` (for instance the id of the request that queued the task).
Outside any binding it is empty, and audit events carry no IP, user agent or request id.
It lives in a ContextVar, so each thread (and asyncio task) sees its own.

``request_id`` is always made by the server (a uuid4 hex for each HTTP request); an id the
client sent in ``X-Request-ID`` is kept apart as ``client_request_id``, so a caller can
correlate its own logs but can never choose, collide with or forge the server's id.
``ip`` is the client address resolved once by ``reviewapp.middleware.client_ip`` (proxy-aware,
see ``REVIEWAPP_TRUSTED_PROXIES``); lockout, rate limits and the audit all read that one value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    client_request_id: str = ""


_current: ContextVar[RequestContext] = ContextVar("reviewapp_request", default=RequestContext())  # noqa: B039 - frozen


def request_context_current() -> RequestContext:
    """The context bound now (an empty one outside any binding)."""
    return _current.get()


@contextmanager
def request_context_bind(
    *,
    request_id: str = "",
    ip: str | None = None,
    user_agent: str = "",
    client_request_id: str = "",
) -> Iterator[RequestContext]:
    """Bind a context for the duration of the ``with`` block; the previous one comes back
    afterwards, also when the block raises."""
    context = RequestContext(
        request_id=request_id,
        ip=ip,
        user_agent=user_agent,
        client_request_id=client_request_id,
    )
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
