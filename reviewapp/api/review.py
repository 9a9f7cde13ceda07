"""The review workflow over REST, so another tool can embed what the web pages do: claim the
next case of a queue, decide, undo one's decision within the undo window, release, skip,
escalate, renew a lease; and for leads reassign a claim and reopen a decision. One class per
operation; each validates, calls one service and renders."""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.bodies import (
    case_representation,
    decision_representation,
    opinion_representation,
    opinions_part,
)
from reviewapp.api.serializers import (
    CaseSerializer,
    ClaimStateSerializer,
    DecisionResultSerializer,
    SkipResultSerializer,
    error_responses,
)
from reviewapp.errors import InvalidInput
from reviewapp.models import Case, CaseOpinion, DecisionAction
from reviewapp.permissions import Capability
from reviewapp.selectors.queue import user_by_username
from reviewapp.services.access import case_for_user, model_for_user
from reviewapp.services.decisions import case_decide, decision_reopen, decision_undo
from reviewapp.services.queue import (
    case_claim_next,
    case_escalate,
    case_lease_renew,
    case_release,
    case_skip,
    claim_reassign,
    skip_cooldown,
)


def _case_for(
    request: Request, case_id: int, action: str, capability: Capability = Capability.REVIEW
) -> Case:
    """The case a review operation acts on, through the access gate, fetched light (the
    service re-reads it under a row lock)."""
    return case_for_user(
        user=request.user,
        case_id=case_id,
        action=action,
        capability=capability,
        related=("ml_model",),
    )


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
        responses={
            200: CaseSerializer,
            204: OpenApiResponse(description="Nothing is waiting."),
            **error_responses(401, 403, 404, 429),
        },
        summary="Lease the next case of a model's queue (the same case while you hold it)",
        operation_id="queue_claim",
    )
    def post(self, request: Request, model: str) -> Response:
        ml_model = model_for_user(
            user=request.user, slug=model, action="case.claim", capability=Capability.REVIEW
        )
        case = case_claim_next(ml_model=ml_model, reviewer=request.user)
        if case is None:
            return Response(status=204)
        case.ml_model = ml_model
        case.assigned_to = request.user
        if case.status != "decided":
            case.current_decisions = []  # a claimed case has no current decision
        return Response(case_representation(case, viewer=request.user))


_DECIDE_TEXT_LIMITS = {"final_label": 200, "reason_code": 64, "feedback": 10_000}
_DECIDE_ACTIONS = frozenset(DecisionAction.values)


def _text_plain(value: object, limit: int) -> bool:
    """A string CharField passes unchanged: no surrounding blanks (it would strip them), not
    too long, no NUL and no lone surrogate (its validators refuse them)."""
    return (
        type(value) is str
        and len(value) <= limit
        and value == value.strip()
        and "\x00" not in value
        and not any("\ud800" <= char <= "\udfff" for char in value)
    )


def _decide_input_plain(data: object) -> dict | None:
    """The decision body as ``CaseDecideApi.InputSerializer`` would validate it, for the
    plain bodies nearly every decision sends (``{"action": "accept"}``); None for anything
    else, which goes through the serializer (and its error messages). Building and running
    the serializer costs more than the rest of the request's Python outside the services."""
    if type(data) is not dict:
        return None
    action = data.get("action")
    if type(action) is not str or action not in _DECIDE_ACTIONS:
        return None
    for name, value in data.items():
        if name == "action":
            continue
        if name == "explanation_helpful":
            if value is not None and type(value) is not bool:
                return None
        elif name not in _DECIDE_TEXT_LIMITS or not _text_plain(value, _DECIDE_TEXT_LIMITS[name]):
            return None
    return dict(data)


class CaseDecideApi(APIView):
    @extend_schema_serializer(component_name="DecisionInput")
    class InputSerializer(serializers.Serializer):
        # DRF's CharField already refuses NUL and lone surrogates; its choice error would quote
        # the input back, and a lone surrogate cannot be rendered: say it without the input.
        action = serializers.ChoiceField(
            choices=DecisionAction.choices,
            error_messages={"invalid_choice": 'Must be "accept" or "override".'},
        )
        final_label = serializers.CharField(required=False, allow_blank=True, max_length=200)
        reason_code = serializers.CharField(required=False, allow_blank=True, max_length=64)
        feedback = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
        explanation_helpful = serializers.BooleanField(required=False, allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: DecisionResultSerializer,
            **error_responses(400, 401, 403, 404, 409, 415, 429),
        },
        summary="Decide a case you hold a live claim on: accept, or override with a reason",
        description=(
            "On a case that needs several independent reviewers (`reviews_required` > 1, "
            "second opinions) the answer is one opinion: `status` says where the case went "
            "(`queued` for the next reviewer, `escalated` to the leads when the opinions "
            "disagree), `decision` is null and `opinion` holds the answer; the decision is "
            "recorded, and published once, when the opinions agree or a lead decides."
        ),
        operation_id="case_decide",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.decide")
        validated = _decide_input_plain(request.data)
        if validated is None:
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            validated = data.validated_data
        decision = case_decide(case=case, reviewer=request.user, **validated)
        if isinstance(decision, CaseOpinion):  # one of several independent opinions
            given = opinions_part(decision.case, viewer=request.user)
            return Response(
                {
                    "case_id": case.pk,
                    "status": decision.case.status,
                    "decision": None,
                    "opinion": opinion_representation(decision),
                    "reviews_required": given["reviews_required"],
                    "opinions_given": given["opinions_given"],
                }
            )
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
        responses={200: ClaimStateSerializer, **error_responses(401, 403, 404, 409, 429)},
        summary="Give a claimed case back (claimant, or a lead of the team)",
        operation_id="case_release",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.release")
        return Response(_claim_state(case_release(case=case, actor=request.user)))


class CaseSkipApi(APIView):
    @extend_schema(
        request=None,
        responses={200: SkipResultSerializer, **error_responses(401, 403, 404, 409, 429)},
        summary="Skip a case you hold: it goes back, and your next claims serve other waiting "
        "cases first",
        description=(
            "The case returns to its queue (the leads' queue when escalated). For "
            "`REVIEWAPP_SKIP_COOLDOWN_S` your claims on this model pass it over unless nothing "
            "else waits. `409 no_live_claim` when you hold no live claim on it."
        ),
        operation_id="case_skip",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.skip")
        skip = case_skip(case=case, reviewer=request.user)
        until = skip.skipped_at + skip_cooldown()
        return Response({**_claim_state(skip.case), "skipped_until": until.isoformat()})


class CaseUndoApi(APIView):
    @extend_schema(
        request=None,
        responses={200: CaseSerializer, **error_responses(401, 403, 404, 409, 429)},
        summary="Undo your decision within the undo window: the case is yours again",
        description=(
            "Only the person who decided, within `REVIEWAPP_UNDO_WINDOW_S` (default 10 s) of "
            "the decision: it is withdrawn before anything was published (webhook, feed) and "
            "the case is claimed by you again with a fresh lease. `409 undo_window_passed` "
            "after the window, when the case's decision is not yours, and for a blind "
            "decision (final at once: saving it showed the model's answer)."
        ),
        operation_id="case_undo",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.undo")
        case = decision_undo(case=case, reviewer=request.user)
        case.current_decisions = []  # withdrawn: the case has no current decision
        return Response(case_representation(case, viewer=request.user))


class CaseEscalateApi(APIView):
    @extend_schema_serializer(component_name="EscalateInput")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=5000)

    @extend_schema(
        request=InputSerializer,
        responses={200: ClaimStateSerializer, **error_responses(400, 401, 403, 404, 409, 415, 429)},
        summary="Escalate a case you hold to the team's leads, with a note",
        operation_id="case_escalate",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.escalate")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = case_escalate(case=case, actor=request.user, note=data.validated_data["note"])
        return Response(_claim_state(case))


class CaseRenewApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ClaimStateSerializer, **error_responses(401, 403, 404, 409, 429)},
        summary="Extend your live lease on a case by the policy's lease length",
        operation_id="case_renew",
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
        responses={200: ClaimStateSerializer, **error_responses(400, 401, 403, 404, 409, 415, 429)},
        summary="Lead: hand a case to another reviewer or lead of the team",
        operation_id="case_reassign",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.reassign", Capability.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        to_user = user_by_username(data.validated_data["to"])
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
        responses={200: ClaimStateSerializer, **error_responses(400, 401, 403, 404, 409, 415, 429)},
        summary="Lead: reopen a decided case (its decision is superseded; it waits again)",
        operation_id="case_reopen",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = _case_for(request, case_id, "case.reopen", Capability.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = decision_reopen(case=case, lead=request.user, note=data.validated_data["note"])
        return Response(_claim_state(case))


urlpatterns = [
    path("queues/<slug:model>/claim", QueueClaimApi.as_view(), name="api-queue-claim"),
    path("cases/<int:case_id>/decision", CaseDecideApi.as_view(), name="api-case-decide"),
    path("cases/<int:case_id>/release", CaseReleaseApi.as_view(), name="api-case-release"),
    path("cases/<int:case_id>/skip", CaseSkipApi.as_view(), name="api-case-skip"),
    path("cases/<int:case_id>/undo", CaseUndoApi.as_view(), name="api-case-undo"),
    path("cases/<int:case_id>/escalate", CaseEscalateApi.as_view(), name="api-case-escalate"),
    path("cases/<int:case_id>/renew", CaseRenewApi.as_view(), name="api-case-renew"),
    path("cases/<int:case_id>/reassign", CaseReassignApi.as_view(), name="api-case-reassign"),
    path("cases/<int:case_id>/reopen", CaseReopenApi.as_view(), name="api-case-reopen"),
]
