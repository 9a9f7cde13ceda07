"""Adoption metrics and label export:

- ``GET /api/v1/metrics/adoption?model=<slug>&from=YYYY-MM-DD&to=YYYY-MM-DD`` (managers and
  model owners of the model's team, auditors): the dashboard's figures as JSON, or the daily
  rows as CSV with ``format=csv``. Optional ``days`` (instead of from), ``version``, ``label``,
  ``band`` (0..9), ``reviewer`` (user id). Read from the daily rollups.
- ``GET /api/v1/export/labels?model=<slug>&format=jsonl|csv`` (same people): decided cases
  with input, prediction and the human outcome, streamed; optional ``version``, ``from``,
  ``to``, ``action``. Audited as "export.labels".
"""

import csv
import io

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.errors import InvalidInput, NotFound
from reviewapp.models import MLModel, Role, User
from reviewapp.permissions import user_can_export, user_can_view_dashboards
from reviewapp.selectors.metrics import (
    adoption_csv_rows,
    adoption_metrics,
    band_parse,
    date_parse,
    period_parse,
)
from reviewapp.services.access import model_get_for_user, permission_denied_record, require
from reviewapp.services.exports import EXPORT_ACTIONS, EXPORT_FORMATS, labels_export
from reviewapp.services.rollups import rollups_ensure

EXPORT_ROLES = (Role.MANAGER, Role.MODEL_OWNER, Role.AUDITOR)


def _model_param(request: Request) -> str:
    slug = (request.query_params.get("model") or "").strip()
    if not slug:
        raise InvalidInput("Pass ?model=<slug>.", details={"model": ["Required."]})
    return slug


def _model_for(request: Request, *, action: str, allowed) -> MLModel:
    """The model named by ?model= if the caller may use it: 403 for roles that never may,
    404 alike for missing models and models of other teams."""
    user: User = request.user
    require(
        user.role in EXPORT_ROLES and allowed(user, None),
        user=user,
        action=action,
        target_type="endpoint",
        target_id=request.path[:64],
    )
    slug = _model_param(request)
    ml_model = model_get_for_user(user=user, slug=slug, action=action)
    if not allowed(user, ml_model):
        permission_denied_record(user=user, action=action, target_type="mlmodel", target_id=slug)
        raise NotFound(f"No model '{slug}'.")
    return ml_model


def _can_view(user: User, ml_model: MLModel | None) -> bool:
    return user_can_view_dashboards(user, ml_model)


def _can_export(user: User, ml_model: MLModel | None) -> bool:
    if ml_model is None:
        return user.role in EXPORT_ROLES
    return user_can_export(user, ml_model)


class FormatParamNegotiation(DefaultContentNegotiation):
    """These endpoints use ?format= for their own output (csv, jsonl): always render errors
    and JSON with the first renderer instead of DRF's format-suffix negotiation."""

    def select_renderer(self, request: Request, renderers: list, format_suffix=None) -> tuple:
        return renderers[0], renderers[0].media_type


class AdoptionMetricsApi(APIView):
    content_negotiation_class = FormatParamNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("model", str, required=True, description="model slug"),
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="first day (default: 30 days before to)"
            ),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day (default: today)"),
            OpenApiParameter("days", int, description="period length when from is omitted"),
            OpenApiParameter("version", str, description="model version"),
            OpenApiParameter("label", str, description="predicted label"),
            OpenApiParameter("band", int, description="confidence band 0..9"),
            OpenApiParameter("reviewer", int, description="reviewer user id"),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Adoption figures of one model over a period (from the daily rollups)",
        operation_id="metrics_adoption",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        ml_model = _model_for(request, action="metrics.adoption", allowed=_can_view)
        params = request.query_params
        date_from, date_to = period_parse(params)
        fmt = (params.get("format") or "json").lower()
        if fmt not in ("json", "csv"):
            raise InvalidInput("format: json or csv.", details={"format": ["json or csv."]})
        reviewer = (params.get("reviewer") or "").strip()
        if reviewer and not reviewer.isdigit():
            raise InvalidInput("reviewer: a user id.", details={"reviewer": ["A user id."]})
        pending = rollups_ensure(ml_models=[ml_model], date_from=date_from, date_to=date_to)
        metrics = adoption_metrics(
            ml_models=[ml_model],
            date_from=date_from,
            date_to=date_to,
            model_version=(params.get("version") or "").strip() or None,
            label=(params.get("label") or "").strip() or None,
            band=band_parse(params.get("band")),
            reviewer=int(reviewer) if reviewer else None,
        )
        metrics["pending_days"] = [d.isoformat() for d in pending]
        if fmt == "csv":
            header, rows = adoption_csv_rows(metrics)
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(header)
            writer.writerows(rows)
            response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="{ml_model.slug}-adoption-{date_from}-{date_to}.csv"'
            )
            return response
        return Response(metrics)


class LabelExportApi(APIView):
    content_negotiation_class = FormatParamNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("model", str, required=True, description="model slug"),
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS)),
            OpenApiParameter("version", str, description="model version"),
            OpenApiParameter("from", OpenApiTypes.DATE, description="decided on or after"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="decided on or before"),
            OpenApiParameter("action", str, enum=list(EXPORT_ACTIONS)),
        ],
        responses={200: OpenApiTypes.STR},
        summary="Decided cases with final labels, for retraining (streamed JSONL or CSV)",
        operation_id="export_labels",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        ml_model = _model_for(request, action="export.labels", allowed=_can_export)
        params = request.query_params
        fmt = (params.get("format") or "jsonl").lower()
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput("format: jsonl or csv.", details={"format": ["jsonl or csv."]})
        action = (params.get("action") or "").strip() or None
        if action and action not in EXPORT_ACTIONS:
            raise InvalidInput(
                "action: accept or override.", details={"action": ["accept or override."]}
            )
        date_from, date_to = date_parse(params, "from"), date_parse(params, "to")
        if date_from and date_to and date_from > date_to:
            raise InvalidInput(
                "from: the period starts after it ends.",
                details={"from": ["Must be on or before to."]},
            )
        export = labels_export(
            actor=request.user,
            ml_model=ml_model,
            fmt=fmt,
            version=(params.get("version") or "").strip() or None,
            date_from=date_from,
            date_to=date_to,
            action=action,
        )
        response = StreamingHttpResponse(export.rows, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["Cache-Control"] = "no-store"
        return response


urlpatterns = [
    path("metrics/adoption", AdoptionMetricsApi.as_view(), name="api-metrics-adoption"),
    path("export/labels", LabelExportApi.as_view(), name="api-export-labels"),
]
