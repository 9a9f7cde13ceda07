"""Case intake and read endpoints: POST /cases, POST /cases/batch, GET /cases[/{id}]."""

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.errors import Conflict, InvalidInput, PayloadTooLarge, PermissionDenied
from reviewapp.models import Case, MLModel, Role
from reviewapp.selectors.cases import case_representation, cases_visible_to, with_current_decision
from reviewapp.services.access import case_get_for_user, permission_denied_record
from reviewapp.services.audit import audit_event_build, audit_record_many
from reviewapp.services.intake import batch_items_or_error, case_submit_one, cases_submit


class ContributionSerializer(serializers.Serializer):
    feature = serializers.CharField()
    value = serializers.JSONField(required=False)
    weight = serializers.FloatField()


class ExplanationSerializer(serializers.Serializer):
    method = serializers.CharField(required=False)
    base_value = serializers.FloatField(required=False)
    contributions = ContributionSerializer(many=True)
    summary = serializers.CharField(required=False)


class PredictionSerializer(serializers.Serializer):
    label = serializers.CharField()
    confidence = serializers.FloatField(min_value=0, max_value=1)
    scores = serializers.DictField(child=serializers.FloatField(), required=False)


class CaseSubmitSerializer(serializers.Serializer):
    """Documents the submit body; validation is done by services.intake for speed."""

    external_id = serializers.CharField(max_length=200)
    model_version = serializers.CharField(max_length=64)
    input = serializers.DictField()
    prediction = PredictionSerializer()
    explanation = ExplanationSerializer(required=False)
    priority = serializers.ChoiceField(["low", "normal", "high", "urgent"], default="normal")
    metadata = serializers.DictField(required=False)


CASE_OUT = inline_serializer(
    "Case",
    {
        "id": serializers.IntegerField(),
        "external_id": serializers.CharField(),
        "model": serializers.CharField(),
        "model_version": serializers.CharField(),
        "status": serializers.CharField(),
        "routing_reason": serializers.CharField(),
        "routing_reasons": serializers.ListField(child=serializers.CharField()),
        "decision": serializers.DictField(allow_null=True),
        "url": serializers.CharField(),
    },
)
BATCH_OUT = inline_serializer(
    "BatchResult",
    {"results": serializers.ListField(child=serializers.DictField())},
)


def _service_model(request: Request, action: str) -> MLModel:
    user = request.user
    if user.role != Role.SERVICE_ACCOUNT or user.service_model_id is None:
        permission_denied_record(
            user=user, action=action, target_type="endpoint", target_id=request.path
        )
        raise PermissionDenied("Only a model's service account may submit cases.")
    return user.service_model


def _check_size(request: Request, limit: int) -> None:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"The body is {int(length)} bytes; the limit is {limit} bytes.")


class CaseListCreateApi(APIView):
    @extend_schema(
        request=CaseSubmitSerializer,
        responses={201: CASE_OUT, 200: CASE_OUT},
        summary="Submit one case (idempotent by external_id)",
        operation_id="case_submit",
    )
    def post(self, request: Request) -> Response:
        _check_size(request, settings.REVIEWAPP_MAX_CASE_BYTES)
        ml_model = _service_model(request, "case.submit")
        result = case_submit_one(ml_model=ml_model, item=request.data, submitted_by=request.user)
        if result.status == "error":
            error = Conflict if result.code == "conflict" else InvalidInput
            details = dict(result.errors)
            message = next(iter(result.errors.values()))[0]
            field = next(iter(result.errors))
            raise error(
                message if field == "non_field_errors" else f"{field}: {message}", details=details
            )
        if result.case is not None:  # just created: nothing to read back, no decision yet
            case = result.case
            case.current_decisions = []
        else:
            case = with_current_decision(cases_visible_to(request.user)).get(pk=result.case_id)
        status = 201 if result.status == "created" else 200
        return Response(case_representation(case), status=status)

    @extend_schema(
        parameters=[
            OpenApiParameter("external_id", str, required=True),
            OpenApiParameter("model", str, required=False, description="model slug"),
        ],
        responses={200: inline_serializer("CaseList", {"results": serializers.ListField()})},
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
        qs = cases_visible_to(request.user).filter(external_id=external_id)
        if request.query_params.get("model"):
            qs = qs.filter(ml_model__slug=request.query_params["model"])
        cases = list(with_current_decision(qs).order_by("id")[:100])
        if cases:
            audit_record_view(request, cases)
        return Response({"results": [case_representation(c) for c in cases], "next": None})


def audit_record_view(request: Request, cases: list[Case]) -> None:
    """One case.viewed event per case read, written together."""
    with transaction.atomic():
        audit_record_many(
            audit_event_build(actor=request.user, action="case.viewed", target=case)
            for case in cases
        )


class CaseBatchApi(APIView):
    @extend_schema(
        request=inline_serializer("CaseBatch", {"cases": CaseSubmitSerializer(many=True)}),
        responses={200: BATCH_OUT},
        summary="Submit up to 1,000 cases; one result per item, in order",
        operation_id="cases_submit_batch",
    )
    def post(self, request: Request) -> Response:
        _check_size(request, settings.REVIEWAPP_MAX_BATCH_BYTES)
        ml_model = _service_model(request, "case.submit_batch")
        items = batch_items_or_error(request.data)
        limit = settings.REVIEWAPP_MAX_BATCH_ITEMS
        if len(items) > limit:
            raise PayloadTooLarge(
                f"A batch holds at most {limit} cases; this one has {len(items)}."
            )
        if not items:
            raise InvalidInput("The batch is empty.", details={"cases": ["At least one case."]})
        results = cases_submit(ml_model=ml_model, items=items, submitted_by=request.user)
        counts = {"created": 0, "duplicate": 0, "error": 0}
        for r in results:
            counts[r.status] += 1
        return Response({"results": [r.as_dict() for r in results], "counts": counts})


class CaseDetailApi(APIView):
    @extend_schema(
        responses={200: CASE_OUT},
        summary="Read one case with its status and decision",
        operation_id="case_retrieve",
    )
    def get(self, request: Request, case_id: int) -> Response:
        case = case_get_for_user(user=request.user, case_id=case_id)
        hide = (
            case.is_blind
            and case.decided_at is None
            and request.user.role in (Role.REVIEWER, Role.LEAD)
        )
        audit_record_view(request, [case])
        return Response(case_representation(case, hide_model_answer=hide))
