"""Case intake and read endpoints: POST /cases, POST /cases/batch, GET /cases[/{id}]."""

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.bodies import case_representation
from reviewapp.api.params import batch_size_check, body_size_check
from reviewapp.api.serializers import (
    BatchResultSerializer,
    CaseListSerializer,
    CaseSerializer,
    error_responses,
)
from reviewapp.errors import Conflict, InvalidInput
from reviewapp.selectors.cases import cases_by_external_id, visible_case_with_decision
from reviewapp.services.access import case_for_user, service_model_for
from reviewapp.services.audit import case_views_record
from reviewapp.services.intake import (
    EXPLANATION_SCALES,
    VERSION_RETIRED,
    batch_items_or_error,
    case_submit_one,
    cases_submit,
)


class ContributionSerializer(serializers.Serializer):
    feature = serializers.CharField()
    value = serializers.JSONField(required=False)
    weight = serializers.FloatField()


class ExplanationSerializer(serializers.Serializer):
    method = serializers.CharField(required=False)
    scale = serializers.ChoiceField(
        EXPLANATION_SCALES,
        required=False,
        allow_null=True,
        help_text="What base_value plus the contributions add up to: the predicted label's "
        "log-odds, its probability, or a raw model score.",
    )
    base_value = serializers.FloatField(required=False, allow_null=True)
    contributions = ContributionSerializer(many=True, required=False)
    summary = serializers.CharField(required=False, allow_null=True, max_length=2000)


class PredictionSerializer(serializers.Serializer):
    label = serializers.CharField()
    confidence = serializers.FloatField(min_value=0, max_value=1)
    scores = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=1), required=False, allow_null=True
    )


class CaseSubmitSerializer(serializers.Serializer):
    """Documents the submit body; validation is done by services.intake for speed."""

    external_id = serializers.CharField(max_length=200)
    model_version = serializers.CharField(max_length=64)
    input = serializers.DictField()
    prediction = PredictionSerializer()
    explanation = ExplanationSerializer(required=False)
    priority = serializers.ChoiceField(["low", "normal", "high", "urgent"], default="normal")
    metadata = serializers.DictField(required=False)


class CaseListCreateApi(APIView):
    @extend_schema(
        request=CaseSubmitSerializer,
        responses={
            201: OpenApiResponse(CaseSerializer, description="Created."),
            200: OpenApiResponse(CaseSerializer, description="Identical replay: the stored case."),
            **error_responses(400, 401, 403, 409, 413, 415, 429),
        },
        summary="Submit one case (idempotent by external_id)",
        operation_id="case_submit",
    )
    def post(self, request: Request) -> Response:
        body_size_check(request, settings.REVIEWAPP_MAX_CASE_BYTES)
        ml_model = service_model_for(user=request.user, action="case.submit", endpoint=request.path)
        result = case_submit_one(ml_model=ml_model, item=request.data, submitted_by=request.user)
        if result.status == "error":
            # conflict and version_retired are 409s (with their own code), the rest 400s.
            error = Conflict if result.code in ("conflict", VERSION_RETIRED) else InvalidInput
            raise error(result.message(), details=dict(result.errors), code=result.code or None)
        if result.case is not None:  # just created: nothing to read back, no decision yet
            case = result.case
            case.current_decisions = []
        else:
            case = visible_case_with_decision(user=request.user, case_id=result.case_id)
        status = 201 if result.status == "created" else 200
        return Response(case_representation(case, viewer=request.user), status=status)

    @extend_schema(
        parameters=[
            OpenApiParameter("external_id", str, required=True),
            OpenApiParameter("model", str, required=False, description="model slug"),
        ],
        responses={200: CaseListSerializer, **error_responses(400, 401, 429)},
        summary="Look a case up by the caller's external_id",
        operation_id="case_lookup",
    )
    def get(self, request: Request) -> Response:
        external_id = request.query_params.get("external_id")
        if not external_id:
            raise InvalidInput(
                "Pass ?external_id=<your id> (and optionally &model=<slug>).",
                details={"external_id": ["Required."]},
            )
        cases = cases_by_external_id(
            user=request.user,
            external_id=external_id,
            model_slug=request.query_params.get("model") or "",
        )
        if cases:
            case_views_record(actor=request.user, cases=cases)
        return Response(
            {
                "results": [case_representation(c, viewer=request.user) for c in cases],
                "next": None,
            }
        )


class CaseBatchApi(APIView):
    @extend_schema(
        request=inline_serializer("CaseBatch", {"cases": CaseSubmitSerializer(many=True)}),
        responses={200: BatchResultSerializer, **error_responses(400, 401, 403, 413, 415, 429)},
        summary="Submit up to 1,000 cases; one result per item, in order",
        operation_id="cases_submit_batch",
    )
    def post(self, request: Request) -> Response:
        body_size_check(request, settings.REVIEWAPP_MAX_BATCH_BYTES)
        ml_model = service_model_for(
            user=request.user, action="case.submit_batch", endpoint=request.path
        )
        items = batch_items_or_error(request.data)
        batch_size_check(items, what="cases", holds="A batch holds", field="cases")
        results = cases_submit(ml_model=ml_model, items=items, submitted_by=request.user)
        counts = {"created": 0, "duplicate": 0, "error": 0}
        for r in results:
            counts[r.status] += 1
        return Response({"results": [r.as_dict() for r in results], "counts": counts})


class CaseDetailApi(APIView):
    @extend_schema(
        responses={200: CaseSerializer, **error_responses(401, 404, 429)},
        summary="Read one case with its status and decision",
        operation_id="case_retrieve",
    )
    def get(self, request: Request, case_id: int) -> Response:
        case = case_for_user(user=request.user, case_id=case_id, action="case.view")
        case_views_record(actor=request.user, cases=[case])
        return Response(case_representation(case, viewer=request.user))
