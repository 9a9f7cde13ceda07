"""The audit log pages (under /audit/), for auditors only: browse with filters and keyset
pagination, export as CSV or JSON Lines (streamed, and audited), and verify the hash chain
(audited). Everyone else gets a 403, and the refusal itself is audited.

With htmx the filter form and the pager swap only the table (``#audit-rows``) and push the
URL; without JavaScript they are plain links and GET forms.
"""

import csv
import json
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from reviewapp.errors import PermissionDenied
from reviewapp.permissions import user_can_view_audit
from reviewapp.selectors.audit import (
    AuditFilters,
    audit_action_names,
    audit_export_chunks,
    audit_page,
)
from reviewapp.services.access import require
from reviewapp.services.audit import event_fields
from reviewapp.services.audit_ops import audit_chain_verify, audit_export_record, verify_message

LOG_TEMPLATE = "reviewapp/audit/log.html"
FORBIDDEN_TEMPLATE = "reviewapp/audit/forbidden.html"
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
EXPORT_COLUMNS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "changes",
    "ip",
    "user_agent",
    "request_id",
)
# Spreadsheet formula injection: a cell starting with one of these is prefixed with a quote.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
    """Auditors only; anyone else gets the 403 page and the denial is audited."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                require(
                    user_can_view_audit(request.user),
                    user=request.user,
                    action=action,
                    target_type="page",
                    target_id=request.path[:64],
                )
            except PermissionDenied as exc:
                return render(request, FORBIDDEN_TEMPLATE, {"message": exc.message}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _cursor(value: str | None) -> int | None:
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


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
            before=_cursor(request.GET.get("before")),
            after=_cursor(request.GET.get("after")),
        )
        for event in page.events:
            keys = list(event.changes)
            event.changes_keys = ", ".join(keys[:4]) + (" …" if len(keys) > 4 else "")
            event.changes_json = json.dumps(event.changes, indent=2, sort_keys=True, default=str)
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


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(filters: AuditFilters) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for chunk in audit_export_chunks(filters):
        for event in chunk:
            row = event_fields(event)
            row["changes"] = json.dumps(row["changes"], sort_keys=True, default=str)
            yield writer.writerow([_csv_cell(row[c]) for c in EXPORT_COLUMNS])


def _jsonl_lines(filters: AuditFilters) -> Iterator[str]:
    for chunk in audit_export_chunks(filters):
        yield "".join(json.dumps(event_fields(e), default=str) + "\n" for e in chunk)


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
    lines = _csv_lines(filters) if export_format == "csv" else _jsonl_lines(filters)
    response = StreamingHttpResponse(lines, content_type=EXPORT_FORMATS[export_format])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{export_format}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@auditor_required("audit.verify")
def audit_verify_view(request: HttpRequest) -> HttpResponse:
    result = audit_chain_verify(actor=request.user)
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
