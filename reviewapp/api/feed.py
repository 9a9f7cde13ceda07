"""The decision feed: GET /api/v1/decisions?after=<cursor> — the pull integration for systems
that cannot take webhooks."""

from urllib.parse import urlencode

from django.db import transaction
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.errors import InvalidInput, NotFound
from reviewapp.models import MLModel, Role
from reviewapp.selectors.feed import FEED_MAX_LIMIT, decision_feed_page, feed_limit_parse
from reviewapp.services.access import model_get_for_user
from reviewapp.services.audit import audit_record

FEED_OUT = inline_serializer(
    "DecisionFeed",
    {
        "results": inline_serializer(
            "DecisionEvent",
            {
                "event": serializers.CharField(),
                "decision_id": serializers.IntegerField(),
                "case_id": serializers.IntegerField(),
                "external_id": serializers.CharField(),
                "model": serializers.CharField(),
                "model_version": serializers.CharField(),
                "action": serializers.ChoiceField(["accept", "override"]),
                "final_label": serializers.CharField(),
                "reason_code": serializers.CharField(),
                "feedback": serializers.CharField(),
                "decided_at": serializers.DateTimeField(),
                "cursor": serializers.CharField(),
            },
            many=True,
        ),
        "next": serializers.CharField(allow_null=True),
    },
)


def _feed_model(request: Request) -> MLModel:
    user = request.user
    slug = request.query_params.get("model", "")
    if user.role == Role.SERVICE_ACCOUNT:
        ml_model = user.service_model
        if slug and slug != ml_model.slug:
            raise NotFound(f"No model '{slug}'.")
        return ml_model
    if not slug:
        raise InvalidInput(
            "Pass ?model=<slug> to read a model's decisions.", details={"model": ["Required."]}
        )
    return model_get_for_user(user=request.user, slug=slug, action="decision_feed.read")


class DecisionFeedApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", str, description="cursor of the last decision you have"),
            OpenApiParameter("limit", int, description=f"1..{FEED_MAX_LIMIT}, default 100"),
            OpenApiParameter("model", str, description="model slug (people; optional for SA)"),
        ],
        responses={200: FEED_OUT},
        summary="The model's decisions in order, cursor-paginated (no gaps, no repeats)",
    )
    def get(self, request: Request) -> Response:
        ml_model = _feed_model(request)
        limit = feed_limit_parse(request.query_params.get("limit"))
        after = request.query_params.get("after") or None
        page = decision_feed_page(ml_model=ml_model, after=after, limit=limit)
        next_url = None
        if page.has_more:
            query = {"after": page.last_cursor, "limit": limit}
            if request.query_params.get("model"):
                query["model"] = ml_model.slug
            next_url = request.build_absolute_uri(f"{reverse('api-decisions')}?{urlencode(query)}")
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action="decision_feed.read",
                target=ml_model,
                changes={"after": after, "returned": len(page.results)},
            )
        return Response({"results": page.results, "next": next_url})


urlpatterns = [path("decisions", DecisionFeedApi.as_view(), name="api-decisions")]
