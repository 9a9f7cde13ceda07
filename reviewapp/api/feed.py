"""The decision feed: GET /api/v1/decisions?after=<cursor> — the pull integration for systems
that cannot take webhooks: the model's decisions (``case.decided``) and expiries
(``case.expired``) in one ordered stream."""

from urllib.parse import urlencode

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.serializers import DecisionFeedSerializer, error_responses, int_range
from reviewapp.errors import InvalidInput
from reviewapp.models import MLModel
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.feed import FEED_MAX_LIMIT, decision_feed_page, feed_limit_parse
from reviewapp.services.access import model_for_user, service_model_for
from reviewapp.services.audit import audit_record


def _feed_model(request: Request) -> MLModel:
    """A service account reads its own model's feed (?model= optional); people name it."""
    user = request.user
    slug = request.query_params.get("model", "")
    if not slug:
        if not user_has(user, Capability.SUBMIT_CASES):
            raise InvalidInput(
                "Pass ?model=<slug> to read a model's decisions.",
                details={"model": ["Required."]},
            )
        return service_model_for(user=user, action="decision_feed.read")
    return model_for_user(user=user, slug=slug, action="decision_feed.read")


class DecisionFeedApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", str, description="cursor of the last row you have"),
            OpenApiParameter(
                "limit", int_range(1, FEED_MAX_LIMIT), description="page size, default 100"
            ),
            OpenApiParameter("model", str, description="model slug (people; optional for SA)"),
        ],
        responses={200: DecisionFeedSerializer, **error_responses(400, 401, 403, 404, 429)},
        summary="The model's decisions and expiries in order, cursor-paginated (no gaps, "
        "no repeats)",
        description=(
            "Rows are events: `case.decided` (a person's decision) and `case.expired` (the "
            "availability lifetime passed and the policy's fallback applied: "
            "`fallback_applied`, with `final_label` the model's label for `apply_model`, "
            "null for `reject` and `hold`). Fields of the other event are absent."
        ),
        operation_id="decisions_feed",
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
        # A read changes nothing: its audit row is one INSERT, atomic on its own (no BEGIN
        # IMMEDIATE write lock on SQLite around it).
        audit_record(
            actor=request.user,
            action="decision_feed.read",
            target=ml_model,
            changes={"after": after, "returned": len(page.results)},
        )
        return Response({"results": page.results, "next": next_url})


urlpatterns = [path("decisions", DecisionFeedApi.as_view(), name="api-decisions")]
