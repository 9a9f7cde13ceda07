"""The request context: bound by the middleware per request, bindable by tasks, read by audit."""

import uuid

import pytest

from reviewapp.models import AuditEvent
from reviewapp.request_context import (
    RequestContext,
    request_context_bind,
    request_context_current,
)
from reviewapp.services.audit import audit_record


def test_bind_sets_and_restores_the_context_even_on_errors():
    """Nested bindings stack; leaving a block (also by an exception) restores the outer one."""
    assert request_context_current() == RequestContext()
    with request_context_bind(request_id="outer", ip="192.0.2.1", user_agent="a") as outer:
        assert request_context_current() is outer
        inner_ids = []

        def fail_inside() -> None:
            with request_context_bind(request_id="inner"):
                inner_ids.append(request_context_current().request_id)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail_inside()
        assert inner_ids == ["inner"]
        assert request_context_current() is outer
    assert request_context_current() == RequestContext()


@pytest.mark.django_db
def test_audit_events_written_inside_a_binding_carry_it():
    """What a Celery task binds (e.g. the id of the request that queued it) reaches the log."""
    with request_context_bind(request_id="req-task-7", user_agent="celery:rollups"):
        audit_record(actor=None, action="test.bound", target_type="x", target_id="1")
    audit_record(actor=None, action="test.unbound", target_type="x", target_id="2")
    bound = AuditEvent.objects.get(action="test.bound")
    unbound = AuditEvent.objects.get(action="test.unbound")
    assert (bound.request_id, bound.ip, bound.user_agent) == ("req-task-7", None, "celery:rollups")
    assert (unbound.request_id, unbound.ip, unbound.user_agent) == ("", None, "")


def test_middleware_binds_the_request_and_echoes_its_id(rf):
    """The middleware exposes the server's request id, the client's own id, the address and
    the agent while the view runs, and echoes the server's id."""
    from reviewapp.middleware import RequestContextMiddleware

    seen = []

    def view(request):
        from django.http import HttpResponse

        seen.append(request_context_current())
        return HttpResponse("ok")

    request = rf.get(
        "/", HTTP_X_REQUEST_ID="req-9", HTTP_USER_AGENT="ua/1", REMOTE_ADDR="192.0.2.9"
    )
    response = RequestContextMiddleware(view)(request)
    [ctx] = seen
    assert uuid.UUID(hex=ctx.request_id).version == 4  # the server's own id
    assert ctx == RequestContext(
        request_id=ctx.request_id, ip="192.0.2.9", user_agent="ua/1", client_request_id="req-9"
    )
    assert response["X-Request-ID"] == ctx.request_id
    assert request_context_current() == RequestContext()
