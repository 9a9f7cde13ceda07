"""The adoption dashboard: are people using and trusting the models?

Managers and model owners see their teams' models, auditors every model; reviewers, leads and
admins get 403 (audited). Filters (period, team, model, version, label, band) are a GET form;
htmx swaps the results partial, and the page works the same without JavaScript. Figures come
from the daily rollups through ``selectors.metrics.adoption_metrics`` (never a scan of cases);
days of the period that have data but no rollups yet are refreshed on the way (a few inline,
more by the Celery task), and managers may ask for a refresh of the period.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from reviewapp import charts
from reviewapp.errors import InvalidInput
from reviewapp.models import ModelVersion, Role
from reviewapp.permissions import models_visible_to, user_can_export, user_can_view_dashboards
from reviewapp.selectors.metrics import (
    FLAG_HELP,
    adoption_csv_rows,
    adoption_metrics,
    band_label,
    band_parse,
    period_parse,
)
from reviewapp.services.access import permission_denied_record
from reviewapp.services.rollups import BAND_COUNT, rollups_ensure, rollups_refresh_request

PAGE = "reviewapp/dashboards/adoption.html"
PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30


def _require_dashboards(request: HttpRequest) -> None:
    if not user_can_view_dashboards(request.user):
        permission_denied_record(
            user=request.user,
            action="dashboard.adoption",
            target_type="page",
            target_id="dashboard-adoption",
        )
        raise DjangoPermissionDenied


def _selection(request: HttpRequest, params) -> dict[str, Any]:
    """The filters as chosen, resolved against what the user may see. Unknown or foreign
    team/model slugs are 404 alike (and audited)."""
    user = request.user
    visible = [
        m
        for m in models_visible_to(user).select_related("team").order_by("team__slug", "slug")
        if user_can_view_dashboards(user, m)
    ]
    teams = sorted({m.team for m in visible}, key=lambda t: t.slug)
    team_slug = (params.get("team") or "").strip()
    model_slug = (params.get("model") or "").strip()
    team = next((t for t in teams if t.slug == team_slug), None)
    if team_slug and team is None:
        permission_denied_record(
            user=user, action="dashboard.adoption", target_type="team", target_id=team_slug
        )
        raise Http404("No such team.")
    in_team = [m for m in visible if team is None or m.team_id == team.pk]
    ml_model = next((m for m in visible if m.slug == model_slug), None)
    if model_slug and ml_model is None:
        permission_denied_record(
            user=user, action="dashboard.adoption", target_type="mlmodel", target_id=model_slug
        )
        raise Http404("No such model.")
    if ml_model is not None and team is not None and ml_model.team_id != team.pk:
        ml_model = None  # the team changed: show the team's models
    selected = [ml_model] if ml_model else in_team
    return {
        "visible": visible,
        "teams": teams,
        "team": team,
        "models_in_team": in_team,
        "ml_model": ml_model,
        "selected": selected,
    }


def _period(request: HttpRequest, params) -> tuple[date, date, int | None]:
    """(from, to, preset days or None); bad input falls back to the default with a message."""
    try:
        date_from, date_to = period_parse(params, default_days=DEFAULT_DAYS)
    except InvalidInput as exc:
        messages.error(request, f"{exc.message} Showing the last {DEFAULT_DAYS} days instead.")
        date_from, date_to = period_parse({}, default_days=DEFAULT_DAYS)
    n = (date_to - date_from).days + 1
    preset = n if n in PRESETS and date_to == timezone.localdate() else None
    return date_from, date_to, preset


def _query(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _pct(value: float | None) -> str:
    return charts.format_value(value, "percent")


def _dur(value: float | None) -> str:
    return charts.format_value(value, "duration")


def _tiles(m: dict) -> list[dict]:
    return [
        {
            "label": "Cases received",
            "value": f"{m['received']:,}",
            "sub": f"{m['auto_approved']:,} auto-approved",
            "tone": "accent",
        },
        {
            "label": "Sent to people",
            "value": _pct(m["sent_to_people_rate"]),
            "sub": f"{m['queued']:,} cases queued",
            "tone": "accent",
        },
        {
            "label": "Acceptance",
            "value": _pct(m["acceptance_rate"]),
            "sub": f"{m['accepted']:,} of {m['decided']:,} decided",
            "tone": "good",
        },
        {
            "label": "Override rate",
            "value": _pct(m["override_rate"]),
            "sub": f"{m['overridden']:,} overridden",
            "tone": "warn",
        },
        {
            "label": "Time to decision",
            "value": f"{_dur(m['time_to_decision_p50_s'])} · {_dur(m['time_to_decision_p90_s'])}",
            "sub": "median · 90th percentile",
            "tone": "accent",
        },
        {
            "label": "Active reviewers",
            "value": f"{m['active_reviewers']:,}",
            "sub": f"median {_dur(m['time_spent_p50_s'])} per case",
            "tone": "accent",
        },
        {
            "label": "Escalated · expired",
            "value": f"{m['escalated']:,} · {m['expired']:,}",
            "sub": f"{m['sla_breached']:,} SLA breaches",
            "tone": "bad" if m["expired"] or m["sla_breached"] else "accent",
        },
        {
            "label": "Explanations helpful",
            "value": _pct(m["helpful_rate"]),
            "sub": f"{m['helpful_yes'] + m['helpful_no']:,} answers",
            "tone": "good",
        },
    ]


def _charts(m: dict) -> dict[str, Any]:
    daily = m["daily"]
    x = [date.fromisoformat(r["date"]).strftime("%b %d") for r in daily]
    return {
        "rates": charts.line_chart(
            [
                ("Acceptance", list(zip(x, [r["acceptance_rate"] for r in daily], strict=True))),
                ("Override", list(zip(x, [r["override_rate"] for r in daily], strict=True))),
            ],
            y_format="percent",
            y_max=1.0,
            height=240,
            width=640,
            label="Daily acceptance and override rate",
        ),
        "volume": charts.stacked_bar_chart(
            x,
            [
                ("Auto-approved", [r["auto_approved"] for r in daily]),
                ("Sent to people", [r["queued"] for r in daily]),
            ],
            height=240,
            width=640,
            label="Cases received per day",
            first_series=5,
        ),
        "ttd": charts.line_chart(
            [
                (
                    "Median time to decision",
                    list(zip(x, [r["time_to_decision_p50_s"] for r in daily], strict=True)),
                )
            ],
            y_format="duration",
            height=200,
            width=640,
            label="Daily median time to decision",
        ),
        "reasons": charts.hbar_chart(
            list(m["override_reasons"].items())[:10],
            width=640,
            label="Override reasons",
            series_index=1,
            label_width=170,
        ),
    }


def _reviewer_rows(m: dict) -> list[dict]:
    rows = []
    for r in m["by_reviewer"]:
        gap = r["agreement_gap"]
        rows.append(
            {
                **r,
                "acceptance": _pct(r["acceptance_rate"]),
                "override": _pct(r["override_rate"]),
                "spent": _dur(r["time_spent_p50_s"]),
                "shown": _pct(r["shown_accept_rate"]),
                "blind": _pct(r["blind_accept_rate"]) if r["blind_decided"] else "\u2013",
                "gap": "\u2013" if gap is None else f"{gap * 100:+.0f} pts",
                "flag_help": [(f, FLAG_HELP[f]) for f in r["flags"]],
            }
        )
    return rows


def _breakdowns(m: dict) -> list[tuple[str, str, list[dict]]]:
    out = []
    for title, key, rows in (
        ("version", "version", m["by_version"]),
        ("predicted label", "label", m["by_label"]),
        ("confidence band", "band", m["by_band"]),
    ):
        out.append(
            (
                title,
                key,
                [
                    {
                        "name": r[key],
                        "received": f"{r['received']:,}",
                        "queued": f"{r['queued']:,}",
                        "decided": f"{r['decided']:,}",
                        "acceptance": _pct(r["acceptance_rate"]),
                        "override": _pct(r["override_rate"]),
                        "ttd": _dur(r.get("time_to_decision_p50_s")),
                    }
                    for r in rows
                ],
            )
        )
    return out


def _context(request: HttpRequest, params) -> dict[str, Any]:
    sel = _selection(request, params)
    date_from, date_to, preset = _period(request, params)
    ml_model = sel["ml_model"]
    versions = (
        list(ModelVersion.objects.filter(ml_model=ml_model).order_by("-created_at", "-id"))
        if ml_model
        else []
    )
    version = (params.get("version") or "").strip()
    if version and version not in {v.version for v in versions}:
        version = ""
    label = (params.get("label") or "").strip()
    try:
        band = band_parse(params.get("band"))
    except InvalidInput as exc:
        messages.error(request, exc.message)
        band = None
    labels = sorted({lab for m in sel["selected"] for lab in (m.labels or [])})
    if label not in labels:
        label = ""
    pending = rollups_ensure(ml_models=sel["selected"], date_from=date_from, date_to=date_to)
    m = adoption_metrics(
        ml_models=sel["selected"],
        date_from=date_from,
        date_to=date_to,
        model_version=version or None,
        label=label or None,
        band=band,
    )
    base = {
        "team": sel["team"].slug if sel["team"] else "",
        "model": ml_model.slug if ml_model else "",
        "version": version,
        "label": label,
        "band": "" if band is None else band,
    }
    period_q = {"from": date_from.isoformat(), "to": date_to.isoformat()}
    refreshed_at = m["refreshed_at"]
    can_export = ml_model is not None and user_can_export(request.user, ml_model)
    export_q = _query(model=base["model"], version=version, **period_q)
    return {
        **sel,
        "date_from": date_from,
        "date_to": date_to,
        "n_days": (date_to - date_from).days + 1,
        "preset": preset,
        "presets": [
            (d, f"{reverse('dashboard-adoption')}?{_query(**base, days=d)}") for d in PRESETS
        ],
        "versions": versions,
        "labels": labels,
        "bands": [(b, band_label(b)) for b in range(BAND_COUNT - 1, -1, -1)],
        "f": base,
        "m": m,
        "tiles": _tiles(m),
        "charts": _charts(m),
        "reviewer_rows": _reviewer_rows(m),
        "breakdowns": _breakdowns(m),
        "trust": {
            "shown": _pct(m["trust"]["shown_accept_rate"]),
            "blind": _pct(m["trust"]["blind_accept_rate"]),
            "gap": (
                f"{m['trust']['agreement_gap'] * 100:+.0f} pts"
                if m["trust"]["agreement_gap"] is not None
                else ""
            ),
        },
        "queue_wait": _dur(m["queue_wait_avg_s"]),
        "bands_label": band_label(band) if band is not None else "",
        "pending": pending,
        "refreshed_at": (datetime.fromisoformat(refreshed_at) if refreshed_at else None),
        "csv_url": f"{reverse('dashboard-adoption-csv')}?{_query(**base, **period_q)}",
        "export_jsonl_url": (
            f"{reverse('api-export-labels')}?{export_q}&format=jsonl" if can_export else ""
        ),
        "export_csv_url": (
            f"{reverse('api-export-labels')}?{export_q}&format=csv" if can_export else ""
        ),
        "can_refresh": request.user.role in (Role.MANAGER, Role.MODEL_OWNER),
        "self_query": _query(**base, **period_q),
    }


@login_required
@require_GET
def adoption(request: HttpRequest) -> HttpResponse:
    _require_dashboards(request)
    context = _context(request, request.GET)
    template = f"{PAGE}#results" if request.htmx else PAGE
    return render(request, template, context)


@login_required
@require_GET
def adoption_csv(request: HttpRequest) -> HttpResponse:
    """The daily rows of the current selection as CSV."""
    _require_dashboards(request)
    context = _context(request, request.GET)
    header, rows = adoption_csv_rows(context["m"])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    name = context["f"]["model"] or context["f"]["team"] or "all-models"
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="adoption-{name}-{context["date_from"]}-{context["date_to"]}.csv"'
    )
    return response


@login_required
@require_POST
def adoption_refresh(request: HttpRequest) -> HttpResponse:
    """A manager or model owner recomputes the period's rollups now (audited)."""
    _require_dashboards(request)
    if request.user.role not in (Role.MANAGER, Role.MODEL_OWNER):
        permission_denied_record(
            user=request.user,
            action="rollups.refresh",
            target_type="page",
            target_id="dashboard-adoption",
        )
        raise DjangoPermissionDenied
    sel = _selection(request, request.POST)
    date_from, date_to, _ = _period(request, request.POST)
    date_to = min(date_to, timezone.localdate())
    if date_from > date_to:
        date_from = date_to
    mode = rollups_refresh_request(
        actor=request.user, ml_models=sel["selected"], date_from=date_from, date_to=date_to
    )
    if mode == "done":
        messages.success(request, "Figures recomputed for the period.")
    else:
        messages.success(
            request, "Recomputing the figures for the period: reload in a minute to see them."
        )
    query = _query(
        team=request.POST.get("team"),
        model=request.POST.get("model"),
        version=request.POST.get("version"),
        label=request.POST.get("label"),
        band=request.POST.get("band"),
        **{"from": date_from.isoformat(), "to": date_to.isoformat()},
    )
    return HttpResponseRedirect(f"{reverse('dashboard-adoption')}?{query}")


urlpatterns = [
    path("", adoption, name="dashboard-adoption"),
    path("adoption.csv", adoption_csv, name="dashboard-adoption-csv"),
    path("refresh", adoption_refresh, name="dashboard-adoption-refresh"),
]
