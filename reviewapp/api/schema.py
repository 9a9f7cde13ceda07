"""OpenAPI: describe the bearer-token authentication to drf-spectacular, and say which request
bodies refuse fields they do not name."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

# Intake (services.intake.case_payload_errors) answers 400 for unknown keys in a case, its
# prediction and its explanation; a contribution may carry extra keys, and DRF input
# serializers ignore unknown fields, so those stay open.
CLOSED_REQUEST_COMPONENTS = ("CaseSubmitRequest", "PredictionRequest", "ExplanationRequest")


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "reviewapp.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A service account token or a personal access token (rva_…).",
        }


def close_request_bodies(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: ``additionalProperties: false`` on the request
    components that the server refuses unknown fields in."""
    schemas = result.get("components", {}).get("schemas", {})
    for name in CLOSED_REQUEST_COMPONENTS:
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    return result
