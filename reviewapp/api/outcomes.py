"""Ground truth and the quality it measures:

- ``POST /api/v1/outcomes`` (the model's service account): up to 1,000 observed labels of
  the model's cases, ``{"outcomes": [{"external_id", "label", "observed_at"}]}``; ``200``
  with one result per item, in order (``services.outcomes``).
- ``GET /api/v1/metrics/quality?model=&from=&to=`` (people with VIEW_DASHBOARDS on the
  model): accuracy of the model and of review against those outcomes
  (``selectors.quality``).
"""

from django.conf import settings
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.params import batch_size_check, body_size_check, model_param
from reviewapp.api.serializers import (
    OutcomeBatchResultSerializer,
    QualityMetricsSerializer,
    error_responses,
    int_range,
)
from reviewapp.permissions import Capability
from reviewapp.presentation.params import period_parse
from reviewapp.selectors.metrics import MAX_PERIOD_DAYS
from reviewapp.selectors.quality import quality_metrics
from reviewapp.services.access import service_model_for
from reviewapp.services.outcomes import outcome_counts, outcome_items_or_error, outcomes_record


class OutcomeItemSerializer(serializers.Serializer):
    """Documents one item; validation is done by services.outcomes (per item)."""

    external_id = serializers.CharField(max_length=200)
    label = serializers.CharField(max_length=200)
    observed_at = serializers.DateTimeField(help_text="ISO 8601 with a timezone; not future.")


class OutcomeBatchApi(APIView):
    @extend_schema(
        request=inline_serializer(
            "OutcomeBatch", {"outcomes": OutcomeItemSerializer(many=True, min_length=1)}
        ),
        responses={
            200: OutcomeBatchResultSerializer,
            **error_responses(400, 401, 403, 413, 415, 429),
        },
        summary="Report up to 1,000 observed outcomes (ground truth); one result per item",
        operation_id="outcomes_record",
    )
    def post(self, request: Request) -> Response:
        body_size_check(request, settings.REVIEWAPP_MAX_BATCH_BYTES)
        ml_model = service_model_for(
            user=request.user, action="outcome.record", endpoint=request.path
        )
        items = outcome_items_or_error(request.data)
        batch_size_check(items, what="outcomes", holds="A request holds", field="outcomes")
        results = outcomes_record(ml_model=ml_model, items=items, actor=request.user)
        return Response(
            {"results": [r.as_dict() for r in results], "counts": outcome_counts(results)}
        )


class QualityMetricsApi(APIView):
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
        ],
        responses={200: QualityMetricsSerializer, **error_responses(400, 401, 403, 404, 429)},
        summary="Did review help? Model and final accuracy against observed outcomes",
        operation_id="metrics_quality",
    )
    def get(self, request: Request) -> Response:
        ml_model = model_param(
            request, action="metrics.quality", capability=Capability.VIEW_DASHBOARDS
        )
        date_from, date_to = period_parse(request.query_params)
        return Response(quality_metrics(ml_model=ml_model, date_from=date_from, date_to=date_to))


urlpatterns = [
    path("outcomes", OutcomeBatchApi.as_view(), name="api-outcomes"),
    path("metrics/quality", QualityMetricsApi.as_view(), name="api-metrics-quality"),
]
