"""Bad submissions: the documented error body, the right status, and nothing written."""

import json

import pytest
from django.test import override_settings

from reviewapp.models import AuditEvent, Case, ModelVersion
from tests.factories import case_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases"
BATCH_URL = "/api/v1/cases/batch"


def _without(body: dict, key: str) -> dict:
    body.pop(key)
    return body


def _with_prediction(**changes) -> dict:
    body = case_payload()
    body["prediction"].update(changes)
    return body


def _with_weight(weight) -> dict:
    body = case_payload()
    body["explanation"]["contributions"][0]["weight"] = weight
    return body


INVALID_BODIES = {
    "missing external_id": (_without(case_payload(), "external_id"), "external_id"),
    "blank external_id": (case_payload(external_id="   "), "external_id"),
    "external_id not a string": (case_payload(external_id=123), "external_id"),
    "label not in label set": (_with_prediction(label="cat"), "prediction.label"),
    "confidence above 1": (
        case_payload(prediction={"label": "fraud", "confidence": 1.2}),
        "prediction.confidence",
    ),
    "confidence below 0": (
        case_payload(prediction={"label": "fraud", "confidence": -0.1}),
        "prediction.confidence",
    ),
    "confidence a bool": (
        case_payload(prediction={"label": "fraud", "confidence": True}),
        "prediction.confidence",
    ),
    "confidence a string": (
        case_payload(prediction={"label": "fraud", "confidence": "0.7"}),
        "prediction.confidence",
    ),
    "confidence missing": (case_payload(prediction={"label": "fraud"}), "prediction.confidence"),
    "scores not summing to 1": (
        _with_prediction(scores={"fraud": 0.62, "legit": 0.2}),
        "prediction.scores",
    ),
    "scores with unknown label": (
        _with_prediction(scores={"fraud": 0.62, "dog": 0.38}),
        "prediction.scores",
    ),
    "score a string": (
        _with_prediction(scores={"fraud": "0.62", "legit": 0.38}),
        "prediction.scores",
    ),
    "weight a string": (_with_weight("high"), "explanation.contributions[0].weight"),
    "weight null": (_with_weight(None), "explanation.contributions[0].weight"),
    "weight a bool": (_with_weight(True), "explanation.contributions[0].weight"),
    "contribution without feature": (
        case_payload(explanation={"contributions": [{"weight": 0.1}]}),
        "explanation.contributions[0].feature",
    ),
    "explanation not an object": (case_payload(explanation=[1, 2]), "explanation"),
    "explanation scale not in the enum": (
        case_payload(explanation={"scale": "logit", "contributions": []}),
        "explanation.scale",
    ),
    "explanation scale a list": (
        case_payload(explanation={"scale": ["log_odds"], "contributions": []}),
        "explanation.scale",
    ),
    "unknown top-level field": (case_payload(colour="red"), "non_field_errors"),
    "unknown prediction field": (_with_prediction(margin=0.2), "prediction"),
    "priority invalid": (case_payload(priority="asap"), "priority"),
    "priority unhashable": (case_payload(priority=["high"]), "priority"),
    "priority an object": (case_payload(priority={"level": "high"}), "priority"),
    "input not an object": (case_payload(input=[1, 2, 3]), "input"),
    "input missing": (_without(case_payload(), "input"), "input"),
    "metadata not an object": (case_payload(metadata="checkout"), "metadata"),
    "model_version missing": (_without(case_payload(), "model_version"), "model_version"),
    "other model named": (case_payload(model="credit-scoring"), "model"),
}


def _counts() -> tuple[int, int, int]:
    return Case.objects.count(), AuditEvent.objects.count(), ModelVersion.objects.count()


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
def test_invalid_case_is_400_with_error_body_and_writes_nothing(sa_client, body, field):
    """Each validation failure answers 400 with the error body naming the field; no row."""
    before = _counts()
    response = sa_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"], error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert _counts() == before


@pytest.mark.parametrize("scale", ["log_odds", "probability", "raw", None])
def test_explanation_scale_is_accepted_and_echoed(sa_client, scale):
    """Each documented scale (or null) is accepted and read back as submitted."""
    body = case_payload()
    body["explanation"]["scale"] = scale
    response = sa_client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["explanation"]["scale"] == scale


def test_body_not_an_object_is_400(sa_client):
    """A JSON list posted to the single endpoint is refused, nothing stored."""
    before = _counts()
    response = sa_client.post(URL, [case_payload()], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "non_field_errors": ["Each case must be a JSON object."]
    }
    assert _counts() == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"external_id": "x",',
        # Python's json would accept these; the API's strict parser must not.
        json.dumps(case_payload(confidence=0.5)).replace("0.5", "NaN", 1).encode(),
        b'{"external_id": "x", "prediction": {"label": "fraud", "confidence": Infinity}}',
    ],
    ids=["garbage", "truncated", "NaN", "Infinity"],
)
def test_malformed_json_is_400_malformed(sa_client, raw):
    """A body that is not strict JSON answers 400 "malformed" and writes nothing."""
    before = _counts()
    response = sa_client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert _counts() == before


def test_nan_weight_in_explanation_is_malformed(sa_client):
    """NaN smuggled into an explanation weight is refused by the strict JSON parser."""
    body = json.dumps(_with_weight(0.123456)).replace("0.123456", "NaN").encode()
    before = _counts()
    response = sa_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert _counts() == before


def test_wrong_content_type_is_415(sa_client):
    """Form-encoded or text bodies answer 415 with the error body."""
    before = _counts()
    response = sa_client.post(
        URL, "external_id=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    text = sa_client.post(URL, json.dumps(case_payload()), content_type="text/plain")
    assert text.status_code == 415
    assert _counts() == before


def test_body_over_256_kib_is_413(sa_client):
    """A single case over 256 KiB answers 413 before anything is parsed or stored."""
    body = case_payload(metadata={"blob": "x" * (256 * 1024)})
    before = _counts()
    response = sa_client.post(URL, body, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert _counts() == before


def _blob(size: int) -> dict[str, str]:
    """About ``size`` characters of metadata, in strings under the 10,000-character limit."""
    return {f"part-{i}": "x" * 8000 for i in range(size // 8000 + 1)}


def test_body_just_under_limit_is_accepted(sa_client):
    """The 256 KiB limit is not off by a wide margin: a 200 KiB case goes through."""
    response = sa_client.post(URL, case_payload(metadata=_blob(200 * 1024)), format="json")
    assert response.status_code == 201, response.content


def test_batch_over_1000_items_is_413(sa_client):
    """A batch of 1,001 cases is refused whole with 413; nothing stored."""
    items = [case_payload(external_id=f"b-{i}") for i in range(1001)]
    before = _counts()
    response = sa_client.post(BATCH_URL, {"cases": items}, format="json")
    assert response.status_code == 413
    assert "1001" in response.json()["error"]["message"]
    assert _counts() == before


@override_settings(REVIEWAPP_MAX_BATCH_BYTES=64 * 1024)
def test_batch_over_byte_limit_is_413(sa_client):
    """A batch body over the configured byte limit answers 413."""
    items = [case_payload(external_id=f"b-{i}") for i in range(200)]
    before = _counts()
    response = sa_client.post(BATCH_URL, {"cases": items}, format="json")
    assert response.status_code == 413
    assert _counts() == before


def test_batch_item_over_256_kib_is_an_item_error(sa_client):
    """Inside a batch, one oversized case is an item error; the others are kept."""
    big = case_payload(external_id="big", metadata=_blob(257 * 1024))
    small = case_payload(external_id="small")
    response = sa_client.post(BATCH_URL, {"cases": [big, small]}, format="json")
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["status"] == "error"
    assert "256 KiB" in first["error"]["message"]
    assert second["status"] == "created"
    assert list(Case.objects.values_list("external_id", flat=True)) == ["small"]


@pytest.mark.parametrize("body", [{"cases": []}, []], ids=["object", "list"])
def test_empty_batch_is_400(sa_client, body):
    """An empty batch answers 400."""
    response = sa_client.post(BATCH_URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert Case.objects.count() == 0


@pytest.mark.parametrize("body", [{"cases": "x"}, {"items": []}, "cases", 7])
def test_batch_body_of_wrong_shape_is_400(sa_client, body):
    """A batch body that is neither {"cases": [...]} nor a list answers 400."""
    response = sa_client.post(BATCH_URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"cases": ["Required: a list of case objects."]}
