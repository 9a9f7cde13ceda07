"""The review workflow over REST, so another tool can embed what the web pages do: claim the
next case of a queue, decide, release, escalate, renew a lease; and for leads reassign a
claim and reopen a decision. One class per operation; each validates, calls one service and
renders."""

from django.urls import path
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.intake import CASE_OUT
from reviewapp.errors import InvalidInput, NotFound
from reviewapp.models import Case, DecisionAction, User
from reviewapp.permissions import user_can_view_case
from reviewapp.selectors.cases import case_representation, decision_representation
from reviewapp.services.access import model_get_for_user, permission_denied_record
from reviewapp.services.decisions import case_decide, decision_reopen
from reviewapp.services.queue import (
    case_claim_next,
    case_escalate,
    case_lease_renew,
    case_release,
    claim_reassign,
)

CLAIM_OUT = inline_serializer(
    "ClaimState",
    {
        "id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "assigned_to": serializers.CharField(allow_null=True),
        "lease_expires_at": serializers.DateTimeField(allow_null=True),
        "escalated": serializers.BooleanField(),
    },
)
DECISION_OUT = inline_serializer(
    "DecisionResult",
    {
        "case_id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "decision": serializers.DictField(),
    },
)


def _case_for(request: Request, case_id: int, action: str) -> Case:
    """The case a review operation acts on, fetched light (the service re-reads it under a
    row lock): missing cases and other teams' cases answer 404 alike and refusals are
    audited, as services.access.case_get_for_user does for full reads."""
    case = (
        Case.objects.select_related("ml_model")
        .only("id", "ml_model__id", "ml_model__team_id", "ml_model__slug")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise NotFound("No such case.")
    if not user_can_view_case(request.user, case):
        permission_denied_record(
            user=request.user, action=action, target_type="case", target_id=str(case_id)
        )
        raise NotFound("No such case.")
    return case


def _claim_state(case: Case) -> dict:
    """A short body for transitions of a claim (who holds it and until when)."""
    return {
        "id": case.pk,
        "status": case.status,
        "assigned_to": case.assigned_to.pseudonym if case.assigned_to_id else None,
        "lease_expires_at": case.lease_expires_at.isoformat() if case.lease_expires_at else None,
        "escalated": case.escalated_at is not None,
    }


class QueueClaimApi(APIView):
    @extend_schema(
        request=None,
        responses={200: CASE_OUT, 204: OpenApiResponse(description="Nothing is waiting.")},
        summary="Lease the next case of a model's queue (the same case while you hold it)",
    )
    def post(self, request: Request, model: str) -> Response:
        ml_model = model_get_for_user(user=request.user, slug=model, action="case.claim")
        case = case_claim_next(ml_model=ml_model, reviewer=request.user)
        if case is None:
            return Response(status=204)
        case.ml_model = ml_model
        case.assigned_to = request.user
        if case.status != "decided":
            case.current_decisions = []  # a claimed case has no current decision
        return Response(case_representation(case, hide_model_answer=case.is_blind))


class CaseDecideApi(APIView):
    @extend_schema_serializer(component_name="DecisionInput")
    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=DecisionAction.choices)
        final_label = serializers.CharField(required=False, allow_blank=True, max_length=200)
        reason_code = serializers.CharField(required=False, allow_blank=True, max_length=64)
        feedback = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
        explanation_helpful = serializers.BooleanField(required=False, allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: DECISION_OUT},
        summary="Decide a case you hold a live claim on: accept, or override with a reason",
    )
    def post(self, request: Request, case_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = _case_for(request, case_id, "case.decide")
        decision = case_decide(case=case, reviewer=request.user, **data.validated_data)
        return Response(
            {
                "case_id": case.pk,
                "status": "decided",
                "decision": decision_representation(decision),
            }
        )


class CaseReleaseApi(APIView):
    @extend_schema(
        request=None,
        responses={200: CLAIM_OUT},
        summary="Give a claimed case back (claimant, or a lead of the team)",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.release")
        return Response(_claim_state(case_release(case=case, actor=request.user)))


class CaseEscalateApi(APIView):
    @extend_schema_serializer(component_name="EscalateInput")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=5000)

    @extend_schema(
        request=InputSerializer,
        responses={200: CLAIM_OUT},
        summary="Escalate a case you hold to the team's leads, with a note",
    )
    def post(self, request: Request, case_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = _case_for(request, case_id, "case.escalate")
        case = case_escalate(case=case, actor=request.user, note=data.validated_data["note"])
        return Response(_claim_state(case))


class CaseRenewApi(APIView):
    @extend_schema(
        request=None,
        responses={200: CLAIM_OUT},
        summary="Extend your live lease on a case by the policy's lease length",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.renew")
        case = case_lease_renew(case=case, reviewer=request.user)
        case.assigned_to = request.user
        return Response(_claim_state(case))


class CaseReassignApi(APIView):
    @extend_schema_serializer(component_name="ReassignInput")
    class InputSerializer(serializers.Serializer):
        to = serializers.CharField(max_length=150)

    @extend_schema(
        request=InputSerializer,
        responses={200: CLAIM_OUT},
        summary="Lead: hand a case to another reviewer or lead of the team",
    )
    def post(self, request: Request, case_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = _case_for(request, case_id, "case.reassign")
        to_user = User.objects.filter(username=data.validated_data["to"]).first()
        if to_user is None:
            raise InvalidInput("No such user.", details={"to": ["No such user."]})
        case = claim_reassign(case=case, lead=request.user, to_user=to_user)
        return Response(_claim_state(case))


class CaseReopenApi(APIView):
    @extend_schema_serializer(component_name="ReopenInput")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=5000)

    @extend_schema(
        request=InputSerializer,
        responses={200: CLAIM_OUT},
        summary="Lead: reopen a decided case (its decision is superseded; it waits again)",
    )
    def post(self, request: Request, case_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = _case_for(request, case_id, "case.reopen")
        case = decision_reopen(case=case, lead=request.user, note=data.validated_data["note"])
        return Response(_claim_state(case))


urlpatterns = [
    path("queues/<slug:model>/claim", QueueClaimApi.as_view(), name="api-queue-claim"),
    path("cases/<int:case_id>/decision", CaseDecideApi.as_view(), name="api-case-decide"),
    path("cases/<int:case_id>/release", CaseReleaseApi.as_view(), name="api-case-release"),
    path("cases/<int:case_id>/escalate", CaseEscalateApi.as_view(), name="api-case-escalate"),
    path("cases/<int:case_id>/renew", CaseRenewApi.as_view(), name="api-case-renew"),
    path("cases/<int:case_id>/reassign", CaseReassignApi.as_view(), name="api-case-reassign"),
    path("cases/<int:case_id>/reopen", CaseReopenApi.as_view(), name="api-case-reopen"),
]
