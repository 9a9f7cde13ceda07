"""The OpenAPI document and the browsable docs."""

import json
import re

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_is_a_valid_openapi_3_document(schema):
    """/api/schema/ validates against the OpenAPI 3.0 JSON schema."""
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_schema_lists_the_intake_paths(schema):
    """The intake endpoints are documented with their methods."""
    paths = schema["paths"]
    assert "post" in paths["/api/v1/cases"]
    assert "get" in paths["/api/v1/cases"]
    assert "post" in paths["/api/v1/cases/batch"]
    assert "get" in paths["/api/v1/cases/{case_id}"]
    submit = paths["/api/v1/cases"]["post"]
    assert set(submit["responses"]) >= {"200", "201"}
    assert submit["operationId"] == "case_submit"


def test_intake_operation_ids_are_unique(schema):
    """Every operation id is unique (no numeral-suffixed collisions)."""
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert {"case_submit", "case_lookup", "cases_submit_batch", "case_retrieve"} <= set(ids)


def test_schema_describes_the_submit_body(schema):
    """The submit body names its required fields."""
    ref = schema["paths"]["/api/v1/cases"]["post"]["requestBody"]["content"]["application/json"]
    name = ref["schema"]["$ref"].rsplit("/", 1)[-1]
    body = schema["components"]["schemas"][name]
    assert {"external_id", "model_version", "input", "prediction"} <= set(body["required"])


def test_docs_use_only_local_assets(client):
    """/api/docs/ loads its scripts and styles from /static/ (no CDN) and no inline script."""
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(r.startswith("/static/") and r.endswith(".js") for r in refs)
    assert all(r.startswith("/") and not r.startswith("//") for r in refs), refs
    assert "cdn" not in html.lower()
    assert "https://" not in html
    assert "http://" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script breaks the CSP"


def test_unknown_api_path_is_json_404(client):
    """An unknown path under /api/ answers the JSON error body, not an HTML page."""
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No such endpoint.", "details": {}}
    }


def test_unknown_page_path_is_not_json(client):
    """Outside /api/ a 404 stays an HTML page."""
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
