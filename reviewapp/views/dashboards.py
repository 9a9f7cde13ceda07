"""The adoption dashboard: are people using and trusting the models?

Managers and model owners see their teams' models, auditors every model; reviewers, leads and
admins get 403 (audited). Filters (period, team, model, version, label, band) are a GET form;
htmx swaps the results partial, and the page works the same without JavaScript. Figures come
from the daily rollups through ``selectors.metrics.adoption_metrics`` (never a scan of cases);
days of the period that have data but no rollups yet are refreshed on the way (a few inline,
more by the Celery task), and managers may ask for a refresh of the period.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from reviewapp.errors import InvalidInput
from reviewapp.permissions import Capability, user_has
from reviewapp.presentation.adoption import adoption_figures, quality_card
from reviewapp.presentation.exports import CSV_CONTENT_TYPE, adoption_csv_text, download_name
from reviewapp.presentation.opinions import agreement_card
from reviewapp.presentation.params import band_parse, period_parse
from reviewapp.selectors.metrics import adoption_metrics, band_label
from reviewapp.selectors.opinions import opinion_agreement
from reviewapp.selectors.quality import quality_metrics
from reviewapp.selectors.registry import model_versions, models_with_team
from reviewapp.services.access import capability_require
from reviewapp.services.access import refused as denied
from reviewapp.services.rollups import (
    BAND_COUNT,
    rollups_as_of,
    rollups_ensure,
    rollups_refresh_request,
)

PAGE = "reviewapp/dashboards/adoption.html"
PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30


def _require_dashboards(request: HttpRequest) -> None:
    capability_require(
        user=request.user,
        capability=Capability.VIEW_DASHBOARDS,
        action="dashboard.adoption",
        target_type="page",
        target_id="dashboard-adoption",
    )


def _selection(request: HttpRequest, params) -> dict[str, Any]:
    """The filters as chosen, resolved against what the user may see. Unknown or foreign
    team/model slugs are 404 alike (and audited)."""
    user = request.user
    visible = models_with_team(user, Capability.VIEW_DASHBOARDS, order_by=("team__slug", "slug"))
    teams = sorted({m.team for m in visible}, key=lambda t: t.slug)
    team_slug = (params.get("team") or "").strip()
    model_slug = (params.get("model") or "").strip()
    team = next((t for t in teams if t.slug == team_slug), None)
    if team_slug and team is None:
        raise denied(
            user=user,
            action="dashboard.adoption",
            target_type="team",
            target_id=team_slug,
            message="No such team.",
            as_missing=True,
        )
    in_team = [m for m in visible if team is None or m.team_id == team.pk]
    ml_model = next((m for m in visible if m.slug == model_slug), None)
    if model_slug and ml_model is None:
        raise denied(
            user=user,
            action="dashboard.adoption",
            target_type="mlmodel",
            target_id=model_slug,
            message=f"No model '{model_slug}'.",
            as_missing=True,
        )
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


def _context(request: HttpRequest, params) -> dict[str, Any]:
    sel = _selection(request, params)
    date_from, date_to, preset = _period(request, params)
    ml_model = sel["ml_model"]
    versions = model_versions(ml_model) if ml_model else []
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
    as_of = rollups_as_of(ml_models=sel["selected"], date_from=date_from, date_to=date_to)
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
    can_export = ml_model is not None and user_has(request.user, Capability.EXPORT, ml_model)
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
        **adoption_figures(m),
        "bands_label": band_label(band) if band is not None else "",
        "pending": pending,
        "figures_as_of": as_of,
        "refreshed_at": (datetime.fromisoformat(refreshed_at) if refreshed_at else None),
        "csv_url": f"{reverse('dashboard-adoption-csv')}?{_query(**base, **period_q)}",
        "export_jsonl_url": (
            f"{reverse('api-export-labels')}?{export_q}&format=jsonl" if can_export else ""
        ),
        "export_csv_url": (
            f"{reverse('api-export-labels')}?{export_q}&format=csv" if can_export else ""
        ),
        # "Did review help?": ground truth of one model (not filtered by version or label).
        "quality": (
            quality_card(quality_metrics(ml_model=ml_model, date_from=date_from, date_to=date_to))
            if ml_model is not None
            else None
        ),
        "can_refresh": user_has(request.user, Capability.REFRESH_FIGURES),
        # Second opinions: how often independent reviewers named the same label.
        "agreement": agreement_card(
            opinion_agreement(ml_models=sel["selected"], date_from=date_from, date_to=date_to)
        ),
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
    name = context["f"]["model"] or context["f"]["team"] or "all-models"
    response = HttpResponse(adoption_csv_text(context["m"]), content_type=CSV_CONTENT_TYPE)
    filename = download_name(f"adoption-{name}", context["date_from"], context["date_to"], "csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def adoption_refresh(request: HttpRequest) -> HttpResponse:
    """A manager or model owner recomputes the period's rollups now (audited)."""
    capability_require(
        user=request.user,
        capability=Capability.REFRESH_FIGURES,
        action="rollups.refresh",
        target_type="page",
        target_id="dashboard-adoption",
    )
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
