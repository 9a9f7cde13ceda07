"""The served OpenAPI document as a response contract for tests: each operation's documented
response schema, turned into JSON Schema with undocumented fields refused.

OpenAPI 3.0 is JSON Schema with ``nullable`` added; ``json_schema`` turns ``nullable: true``
into ``anyOf [..., null]`` and closes every object that lists its ``properties`` without
saying anything about others (``additionalProperties: false``). Objects that declare
``additionalProperties`` themselves (free-form maps such as ``input`` or ``metadata``) stay
as documented.
"""

import json
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from django.test import Client

SCHEMA_URL = "/api/schema/?format=json"

FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value))


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


def fetch_openapi() -> dict[str, Any]:
    """The document /api/schema/ serves."""
    response = Client().get(SCHEMA_URL)
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


def json_schema(node: Any, *, close: bool = True) -> Any:
    """An OpenAPI 3.0 schema (any part of one) as JSON Schema; see the module docstring."""
    if isinstance(node, list):
        return [json_schema(item, close=close) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: json_schema(sub, close=close) for name, sub in value.items()}
        else:
            out[key] = json_schema(value, close=close)
    if close and out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if node.get("nullable") is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def closed_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document whose response components refuse undocumented fields (for
    schemathesis' own response validation). Request components are left as they are."""
    copy = json.loads(json.dumps(document))
    schemas = copy.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        if not name.endswith("Request"):
            _close_in_place(schema)
    return copy


def _close_in_place(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close_in_place(item)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "properties":
            for sub in value.values():
                _close_in_place(sub)
        else:
            _close_in_place(value)
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)


class Contract:
    """Checks responses against the documented response of one operation."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = json_schema(document.get("components", {}))
        self.operations: dict[str, dict[str, Any]] = {}
        for path, item in document["paths"].items():
            for method, operation in item.items():
                self.operations[operation["operationId"]] = {
                    **operation,
                    "path": path,
                    "method": method,
                }

    def schema_for(self, operation_id: str, status: int, media_type: str) -> dict[str, Any]:
        """The documented JSON Schema of one response; AssertionError when undocumented."""
        operation = self.operations[operation_id]
        responses = operation["responses"]
        assert str(status) in responses, (
            f"{operation_id} answered {status}, which it does not document "
            f"(documented: {sorted(responses)})"
        )
        content = responses[str(status)].get("content", {})
        assert media_type in content, (
            f"{operation_id} {status} answered {media_type}; documented: {sorted(content)}"
        )
        return content[media_type]["schema"]

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft7Validator:
        root = {"allOf": [json_schema(schema)], "components": self.components}
        return jsonschema.Draft7Validator(root, format_checker=FORMATS)

    def check(self, response: Any, operation_id: str) -> Any:
        """Validate a test-client response against OPERATION_ID's documented response for its
        status code; returns the parsed body."""
        media_type = response["Content-Type"].split(";")[0].strip()
        schema = self.schema_for(operation_id, response.status_code, media_type)
        body = json.loads(response.content)
        errors = sorted(self.validator(schema).iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{operation_id} {response.status_code} breaks its schema:\n" + (
            "\n".join(f"  at {list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])
        )
        return body
