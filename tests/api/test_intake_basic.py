import pytest

from reviewapp.models import AuditEvent, Case
from tests.factories import case_payload

pytestmark = pytest.mark.django_db


def test_submit_low_confidence_case_is_queued_with_reason(sa_client):
    """A case below the review threshold is queued and says why."""
    response = sa_client.post("/api/v1/cases", case_payload(external_id="t-1"), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["routing_reasons"] == ["low_confidence"]
    assert "below the review threshold 0.80" in body["routing_reason"]
    assert AuditEvent.objects.filter(action="case.submitted", target_id=str(body["id"])).exists()


def test_replay_is_200_and_different_body_is_409(sa_client):
    """Identical replay returns the same case; a different body under the same id is refused."""
    first = sa_client.post("/api/v1/cases", case_payload(external_id="t-2"), format="json")
    again = sa_client.post("/api/v1/cases", case_payload(external_id="t-2"), format="json")
    other = sa_client.post(
        "/api/v1/cases", case_payload(external_id="t-2", confidence=0.9), format="json"
    )
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json()["id"] == first.json()["id"]
    assert other.json()["error"]["code"] == "conflict"
    assert Case.objects.count() == 1
