"""Adoption metrics and label export:

- ``GET /api/v1/metrics/adoption?model=<slug>&from=YYYY-MM-DD&to=YYYY-MM-DD`` (managers and
  model owners of the model's team, auditors): the dashboard's figures as JSON, or the daily
  rows as CSV with ``format=csv``. Optional ``days`` (instead of from), ``version``, ``label``,
  ``band`` (0..9), ``reviewer`` (user id). Read from the daily rollups.
- ``GET /api/v1/export/labels?model=<slug>&format=jsonl|csv`` (same people): decided cases
  with input, prediction and the human outcome, streamed; optional ``version``, ``from``,
  ``to``, ``action``. Audited as "export.labels".
"""

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.params import model_param
from reviewapp.api.serializers import (
    TEXT,
    AdoptionMetricsSerializer,
    error_responses,
    int_range,
)
from reviewapp.errors import InvalidInput
from reviewapp.figures import BAND_COUNT
from reviewapp.permissions import Capability
from reviewapp.presentation.exports import (
    CONTENT_TYPES,
    CSV_CONTENT_TYPE,
    adoption_csv_text,
    download_name,
    label_lines,
)
from reviewapp.presentation.opinions import agreement_figures
from reviewapp.presentation.params import band_parse, date_parse, period_parse
from reviewapp.selectors.metrics import MAX_PERIOD_DAYS, adoption_metrics
from reviewapp.selectors.opinions import opinion_agreement
from reviewapp.services.exports import EXPORT_ACTIONS, EXPORT_FORMATS, labels_export
from reviewapp.services.rollups import rollups_as_of, rollups_ensure


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
            OpenApiParameter(
                "days",
                int_range(1, MAX_PERIOD_DAYS),
                description="period length when from is omitted",
            ),
            OpenApiParameter("version", str, description="model version"),
            OpenApiParameter("label", str, description="predicted label"),
            OpenApiParameter("band", int_range(0, BAND_COUNT - 1), description="confidence band"),
            OpenApiParameter("reviewer", int_range(1), description="reviewer user id"),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={
            (200, "application/json"): AdoptionMetricsSerializer,
            (200, "text/csv"): TEXT,
            **error_responses(400, 401, 403, 404, 429),
        },
        summary="Adoption figures of one model over a period (from the daily rollups)",
        operation_id="metrics_adoption",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        ml_model = model_param(
            request, action="metrics.adoption", capability=Capability.VIEW_DASHBOARDS
        )
        params = request.query_params
        date_from, date_to = period_parse(params)
        fmt = (params.get("format") or "json").lower()
        if fmt not in ("json", "csv"):
            raise InvalidInput("format: json or csv.", details={"format": ["json or csv."]})
        reviewer = (params.get("reviewer") or "").strip()
        if reviewer and not reviewer.isdigit():
            raise InvalidInput("reviewer: a user id.", details={"reviewer": ["A user id."]})
        pending = rollups_ensure(ml_models=[ml_model], date_from=date_from, date_to=date_to)
        as_of = rollups_as_of(ml_models=[ml_model], date_from=date_from, date_to=date_to)
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
        metrics["figures_as_of"] = as_of.isoformat() if as_of else None
        if fmt == "csv":
            response = HttpResponse(adoption_csv_text(metrics), content_type=CSV_CONTENT_TYPE)
            filename = download_name(f"{ml_model.slug}-adoption", date_from, date_to, "csv")
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        metrics["second_opinions"] = agreement_figures(
            opinion_agreement(ml_models=[ml_model], date_from=date_from, date_to=date_to)
        )
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
        responses={
            (200, "application/x-ndjson"): TEXT,
            (200, "text/csv"): TEXT,
            **error_responses(400, 401, 403, 404, 429),
        },
        summary="Decided cases with final labels, for retraining (streamed JSONL or CSV)",
        operation_id="export_labels",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        ml_model = model_param(request, action="export.labels", capability=Capability.EXPORT)
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
        records = labels_export(
            actor=request.user,
            ml_model=ml_model,
            fmt=fmt,
            version=(params.get("version") or "").strip() or None,
            date_from=date_from,
            date_to=date_to,
            action=action,
        )
        response = StreamingHttpResponse(label_lines(records, fmt), content_type=CONTENT_TYPES[fmt])
        filename = download_name(f"{ml_model.slug}-labels", date_from, date_to, fmt)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response


urlpatterns = [
    path("metrics/adoption", AdoptionMetricsApi.as_view(), name="api-metrics-adoption"),
    path("export/labels", LabelExportApi.as_view(), name="api-export-labels"),
]
