"""Model and alert events in the pull feed (DESIGN.md "Events"): suspending automation and a
tripped tripwire each add one feed row, in order after the decisions before them, with the
event's own fields under ``data``; nothing needs a webhook to be registered."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import Case, TripwireKind
from reviewapp.services.breaker import automation_suspend
from reviewapp.services.decisions import case_decide
from reviewapp.services.health import tripwire_create, tripwires_check
from reviewapp.services.queue import case_claim_next
from tests.factories import make_cases

pytestmark = pytest.mark.django_db(transaction=True)  # the feed serves committed rows


def _feed(client) -> list[dict]:
    response = client.get("/api/v1/decisions")
    assert response.status_code == 200
    return response.json()["results"]


def test_suspension_and_alert_are_feed_rows_in_order(sa_client, ml_model, reviewer, manager):
    """decision, model.automation_suspended, alert.raised: one row each, in that order."""
    make_cases(ml_model, 1, confidence=0.3)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_decide(case=case, reviewer=reviewer, action="accept")
    automation_suspend(ml_model=ml_model, actor=manager, reason="odd spike")
    tripwire_create(ml_model=ml_model, actor=manager, kind=TripwireKind.QUEUE_AGE, threshold=30)
    make_cases(ml_model, 1, confidence=0.3)
    Case.objects.filter(status="queued").update(created_at=timezone.now() - timedelta(hours=1))
    assert tripwires_check()["raised"] == 1

    rows = _feed(sa_client)
    assert [r["event"] for r in rows] == [
        "case.decided",
        "model.automation_suspended",
        "alert.raised",
    ]
    suspended, alert = rows[1], rows[2]
    assert suspended["model"] == ml_model.slug
    assert suspended["data"]["reason"] == "odd spike"
    assert "case_id" not in suspended
    assert alert["data"]["kind"] == TripwireKind.QUEUE_AGE
    assert alert["event_id"] > suspended["event_id"]

    resumed_from = sa_client.get("/api/v1/decisions", {"after": rows[1]["cursor"]}).json()
    assert [r["event"] for r in resumed_from["results"]] == ["alert.raised"]
