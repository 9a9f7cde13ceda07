"""The conversation on a case over REST: add a comment (``services.comments.comment_add``).
Who may: the people of the model's team who review its cases or read their records
(``permissions.user_can_comment``); auditors read comments on the pages but write none."""

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.serializers import CaseCommentSerializer, error_responses
from reviewapp.models import Comment
from reviewapp.models.comments import MAX_COMMENT_CHARS
from reviewapp.permissions import Capability, user_can_comment, user_has
from reviewapp.services.access import capability_require, case_for_user, refuse
from reviewapp.services.comments import comment_add


def comment_representation(comment: Comment, *, mentioned: list) -> dict:
    """The body of ``CaseCommentSerializer`` (people by their pseudonyms)."""
    return {
        "id": comment.pk,
        "case_id": comment.case_id,
        "author": comment.author.pseudonym,
        "text": comment.text,
        "mentions": [person.pseudonym for person in mentioned],
        "created_at": comment.created_at.isoformat(),
    }


class CaseCommentApi(APIView):
    @extend_schema_serializer(component_name="CommentInput")
    class InputSerializer(serializers.Serializer):
        # Longer texts reach the service, which answers with its own 400 message.
        text = serializers.CharField(max_length=MAX_COMMENT_CHARS * 2, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: CaseCommentSerializer,
            **error_responses(400, 401, 403, 404, 415, 429),
        },
        summary="Add a comment to a case's conversation (@username mentions team members)",
        operation_id="case_comment_add",
    )
    def post(self, request: Request, case_id: int) -> Response:
        user = request.user
        if not (user_has(user, Capability.REVIEW) or user_has(user, Capability.VIEW_CASE_RECORD)):
            capability_require(
                user=user,
                capability=Capability.VIEW_CASE_RECORD,
                action="case.comment",
                target_type="case",
                target_id=str(case_id),
            )
        case = case_for_user(
            user=user, case_id=case_id, action="case.comment", related=("ml_model",)
        )
        # Read-only roles are refused before their body is looked at (the service checks too).
        refuse(
            user_can_comment(user, case),
            user=user,
            action="case.comment",
            target_type="case",
            target_id=case.pk,
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = comment_add(case=case, author=user, text=data.validated_data["text"])
        return Response(comment_representation(comment, mentioned=comment.mentioned), status=201)


urlpatterns = [
    path("cases/<int:case_id>/comments", CaseCommentApi.as_view(), name="api-case-comment-add"),
]
