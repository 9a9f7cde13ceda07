"""The audit log pages (under /audit/), for auditors only: browse with filters and keyset
pagination, export as CSV or JSON Lines (streamed, and audited), and verify the hash chain
(audited). Everyone else gets a 403, and the refusal itself is audited.

With htmx the filter form and the pager swap only the table (``#audit-rows``) and push the
URL; without JavaScript they are plain links and GET forms.
"""

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from reviewapp.permissions import Capability
from reviewapp.presentation.audit import audit_event_rows
from reviewapp.presentation.exports import CONTENT_TYPES, audit_lines
from reviewapp.presentation.params import cursor_param
from reviewapp.selectors.audit import (
    AuditFilters,
    audit_action_names,
    audit_export_chunks,
    audit_page,
)
from reviewapp.services.access import capability_require
from reviewapp.services.audit import event_fields
from reviewapp.services.audit_ops import audit_chain_verify, audit_export_record, verify_message

LOG_TEMPLATE = "reviewapp/audit/log.html"
EXPORT_FORMATS = CONTENT_TYPES


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        required=False,
        max_length=64,
        help_text="e.g. case.decided, or case.* for every case action",
    )
    actor = forms.CharField(required=False, max_length=150, help_text="a username, or 'system'")
    target_type = forms.CharField(required=False, max_length=64, help_text="e.g. case, user")
    target_id = forms.CharField(required=False, max_length=64)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end of the range is before its start.")
        return data

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            action=data.get("action", ""),
            actor=data.get("actor", ""),
            target_type=data.get("target_type", ""),
            target_id=data.get("target_id", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


def auditor_required(action: str) -> Callable:
    """Auditors only (the access gate: anyone else gets the 403 page, audited)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            capability_require(
                user=request.user,
                capability=Capability.VIEW_AUDIT,
                action=action,
                target_type="page",
                target_id=request.path[:64],
            )
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _filter_form(request: HttpRequest) -> tuple[AuditFilterForm, AuditFilters | None]:
    form = AuditFilterForm(request.GET or None)
    if not request.GET:
        return form, AuditFilters()
    return form, form.filters() if form.is_valid() else None


@require_GET
@auditor_required("audit.view")
def audit_log(request: HttpRequest) -> HttpResponse:
    form, filters = _filter_form(request)
    context: dict[str, Any] = {"form": form, "action_names": audit_action_names()}
    if filters is not None:
        page = audit_page(
            filters,
            before=cursor_param(request.GET.get("before")),
            after=cursor_param(request.GET.get("after")),
        )
        audit_event_rows(page.events)
        params = filters.as_params()
        context.update(
            page=page,
            filters=params,
            query=urlencode(params),
            older_url=f"?{urlencode({**params, 'before': page.older})}" if page.older else "",
            newer_url=f"?{urlencode({**params, 'after': page.newer})}" if page.newer else "",
        )
    partial = request.htmx and not request.htmx.boosted
    return render(request, f"{LOG_TEMPLATE}#audit-rows" if partial else LOG_TEMPLATE, context)


def _export_chunks(filters: AuditFilters) -> Iterator[list[dict]]:
    """The matching events as plain records, chunk by chunk."""
    for chunk in audit_export_chunks(filters):
        yield [event_fields(event) for event in chunk]


@require_GET
@auditor_required("audit.export")
def audit_export(request: HttpRequest) -> HttpResponse:
    export_format = request.GET.get("format", "csv")
    form, filters = _filter_form(request)
    if export_format not in EXPORT_FORMATS or filters is None:
        problem = "Choose format=csv or format=jsonl." if filters else "Fix the filters first."
        return render(
            request,
            LOG_TEMPLATE,
            {"form": form, "action_names": audit_action_names(), "export_error": problem},
            status=400,
        )
    audit_export_record(
        actor=request.user, export_format=export_format, filters=filters.as_params()
    )
    lines = audit_lines(_export_chunks(filters), export_format)
    response = StreamingHttpResponse(lines, content_type=EXPORT_FORMATS[export_format])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{export_format}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@auditor_required("audit.verify")
def audit_verify_view(request: HttpRequest) -> HttpResponse:
    # A person waits for the answer: no scrub of older seals (the hourly job does it), and
    # the walk of newer seals stops at the button's budget (the message says what is left).
    result = audit_chain_verify(
        actor=request.user,
        scrub_seals=0,
        max_seconds=settings.REVIEWAPP_AUDIT_VERIFY_BUTTON_S,
    )
    message = verify_message(result)
    if request.htmx:
        return render(
            request,
            f"{LOG_TEMPLATE}#verify-result",
            {"verify_result": result, "verify_message": message},
        )
    (messages.success if result.ok else messages.error)(request, message)
    # Back to the same filtered view; the query is appended to our own path (no open redirect).
    query = request.POST.get("query", "").replace("\r", "").replace("\n", "")
    return redirect(reverse("audit-log") + (f"?{query}" if query else ""))


urlpatterns = [
    path("", audit_log, name="audit-log"),
    path("export/", audit_export, name="audit-export"),
    path("verify/", audit_verify_view, name="audit-verify"),
]
