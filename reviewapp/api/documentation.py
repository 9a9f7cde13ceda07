"""``GET /api/v1/models/{model}/versions/{version}/documentation``: the documentation (model
card) in force for one model version, with its revision list. Everyone who may read the
model's cases (VIEW_CASES: its reviewers, leads, managers, owners, auditors and its service
account); 404 alike for missing and hidden models and for unknown versions. Owners write it on
the documentation page (``views.documentation``)."""

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.serializers import ModelDocumentationSerializer, error_responses
from reviewapp.errors import NotFound
from reviewapp.models import ModelDocumentation, ModelVersion
from reviewapp.permissions import Capability
from reviewapp.selectors.documentation import documentation_history, model_version_named
from reviewapp.services.access import model_for_user


def _revision(doc: ModelDocumentation) -> dict[str, Any]:
    return {
        "revision": doc.revision,
        "created_at": doc.created_at.isoformat(),
        "created_by": doc.created_by.pseudonym,
    }


def documentation_body(version: ModelVersion, history: list[ModelDocumentation]) -> dict:
    current = history[0] if history else None
    return {
        "model": version.ml_model.slug,
        "version": version.version,
        "version_status": version.status,
        "documented": current is not None,
        "current": None
        if current is None
        else {
            **_revision(current),
            "intended_use": current.intended_use,
            "limitations": current.limitations,
            "training_data": current.training_data,
            "owner_contact": current.owner_contact,
            "oncall_contact": current.oncall_contact,
        },
        "revisions": [_revision(doc) for doc in history],
    }


class ModelDocumentationApi(APIView):
    @extend_schema(
        responses={200: ModelDocumentationSerializer, **error_responses(401, 403, 404, 429)},
        summary="The documentation (model card) of one model version",
        operation_id="model_documentation",
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        ml_model = model_for_user(
            user=request.user,
            slug=slug,
            action="model.documentation_view",
            capability=Capability.VIEW_CASES,
        )
        model_version = model_version_named(ml_model, version)
        if model_version is None:
            raise NotFound(f"No version '{version[:64]}' of model '{ml_model.slug}'.")
        return Response(documentation_body(model_version, documentation_history(model_version)))


urlpatterns = [
    path(
        "models/<slug:slug>/versions/<path:version>/documentation",
        ModelDocumentationApi.as_view(),
        name="api-model-documentation",
    ),
]
