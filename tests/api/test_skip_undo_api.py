"""POST /api/v1/cases/{id}/skip and /undo: the API twins of the page's ``s`` and ``z``."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, CaseSkip, CaseStatus, Decision, Role
from reviewapp.services.accounts import token_create
from reviewapp.services.webhooks import deliveries_due_claim, delivery_send
from reviewapp.tasks.webhooks import webhooks_send_due_task
from tests.conftest import bearer_client
from tests.factories import make_cases, make_user
from tests.services import test_webhooks

pytestmark = pytest.mark.django_db

# The real local HTTP receiver and the hooked model of the webhook tests.
receiver = test_webhooks.receiver
allow_private = test_webhooks.allow_private
hooked = test_webhooks.hooked


@pytest.fixture
def rita(reviewer):
    return bearer_client(token_create(user=reviewer)[1])


@pytest.fixture
def window(settings):
    settings.REVIEWAPP_UNDO_WINDOW_S = 10
    return settings


def _claim(client, slug="fraud-screening"):
    return client.post(f"/api/v1/queues/{slug}/claim", format="json")


def _decide(client, case_id: int):
    response = client.post(f"/api/v1/cases/{case_id}/decision", {"action": "accept"}, format="json")
    assert response.status_code == 200, response.content
    return response


def test_skip_returns_the_claim_state_and_the_next_claim_is_another_case(ml_model, rita):
    """200 with the case back in the queue and until when it is held back; the same person's
    next claim returns another waiting case, then the skipped one when it alone waits."""
    first, second = make_cases(ml_model, 2)
    assert _claim(rita).json()["id"] == first
    response = rita.post(f"/api/v1/cases/{first}/skip", format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["assigned_to"], body["lease_expires_at"]) == (
        first,
        "queued",
        None,
        None,
    )
    until = timezone.datetime.fromisoformat(body["skipped_until"])
    assert timedelta(seconds=590) < until - timezone.now() <= timedelta(seconds=600)
    assert _claim(rita).json()["id"] == second
    _decide(rita, second)
    assert _claim(rita).json()["id"] == first
    assert AuditEvent.objects.filter(action="case.skipped", target_id=str(first)).count() == 1


def test_skip_without_a_claim_is_409_and_others_cases_are_hidden(ml_model, rita, other_team):
    """409 no_live_claim for a case you do not hold; 404 for another team's case."""
    (case_id,) = make_cases(ml_model, 1)
    response = rita.post(f"/api/v1/cases/{case_id}/skip", format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_live_claim"
    stranger = make_user(Role.REVIEWER, team=other_team)
    client = bearer_client(token_create(user=stranger)[1])
    assert client.post(f"/api/v1/cases/{case_id}/skip", format="json").status_code == 404
    assert client.post("/api/v1/cases/999999/skip", format="json").status_code == 404
    assert not CaseSkip.objects.exists()


def test_skip_counts_and_the_manager_cannot_skip(ml_model, rita, reviewer, manager):
    """Every skip is a row (counted per case and reviewer); a manager is refused (403)."""
    (case_id,) = make_cases(ml_model, 1)
    for _ in range(2):
        assert _claim(rita).json()["id"] == case_id
        assert rita.post(f"/api/v1/cases/{case_id}/skip", format="json").status_code == 200
    assert CaseSkip.objects.filter(case_id=case_id, reviewer=reviewer).count() == 2
    boss = bearer_client(token_create(user=manager)[1])
    assert boss.post(f"/api/v1/cases/{case_id}/skip", format="json").status_code == 403


def test_undo_within_the_window_returns_the_case_claimed_again(ml_model, rita, reviewer, window):
    """200 with the case body: assigned to the caller again with a fresh lease, no decision;
    the decision row is kept, superseded and undone."""
    (case_id,) = make_cases(ml_model, 1)
    _claim(rita)
    _decide(rita, case_id)
    response = rita.post(f"/api/v1/cases/{case_id}/undo", format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["decision"]) == (case_id, "assigned", None)
    assert body["assigned_to"] == reviewer.pseudonym
    assert timezone.datetime.fromisoformat(body["lease_expires_at"]) > timezone.now()
    decision = Decision.objects.get(case_id=case_id)
    assert decision.undone_at is not None
    assert decision.superseded_at is not None
    assert _claim(rita).json()["id"] == case_id  # the claim is theirs again
    _decide(rita, case_id)
    assert Decision.objects.filter(case_id=case_id).count() == 2


def test_undo_after_the_window_is_409(ml_model, rita, window):
    """409 undo_window_passed once REVIEWAPP_UNDO_WINDOW_S has gone by."""
    (case_id,) = make_cases(ml_model, 1)
    _claim(rita)
    _decide(rita, case_id)
    Decision.objects.update(decided_at=timezone.now() - timedelta(seconds=11))
    response = rita.post(f"/api/v1/cases/{case_id}/undo", format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "undo_window_passed"
    assert Case.objects.get(pk=case_id).status == CaseStatus.DECIDED


def test_undo_of_someone_elses_decision_is_409(ml_model, rita, lead, window):
    """Another reviewer or a lead of the team gets 409 undo_window_passed, within the window."""
    (case_id,) = make_cases(ml_model, 1)
    _claim(rita)
    _decide(rita, case_id)
    other = make_user(Role.REVIEWER, team=ml_model.team)
    for person in (other, lead):
        client = bearer_client(token_create(user=person)[1])
        response = client.post(f"/api/v1/cases/{case_id}/undo", format="json")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "undo_window_passed"
    assert Decision.objects.get(case_id=case_id).undone_at is None


def test_undo_without_a_window_is_409(ml_model, rita):
    """With REVIEWAPP_UNDO_WINDOW_S = 0 nothing can be undone."""
    (case_id,) = make_cases(ml_model, 1)
    _claim(rita)
    _decide(rita, case_id)
    assert rita.post(f"/api/v1/cases/{case_id}/undo", format="json").status_code == 409


@pytest.mark.django_db(transaction=True)
def test_undone_decision_is_neither_in_the_feed_nor_sent(
    ml_model, rita, sa_client, receiver, hooked, window
):
    """Through the API: an undone decision never reaches the receiver nor the feed; the
    decision that stands does, once its window has passed."""
    (case_id,) = make_cases(ml_model, 1)
    _claim(rita)
    _decide(rita, case_id)
    assert sa_client.get("/api/v1/decisions").json()["results"] == []
    assert rita.post(f"/api/v1/cases/{case_id}/undo", format="json").status_code == 200
    _decide(rita, case_id)
    assert sa_client.get("/api/v1/decisions").json()["results"] == []  # still in its window
    undone, kept = Decision.objects.order_by("pk")
    Decision.objects.update(decided_at=timezone.now() - timedelta(seconds=60))
    results = _feed_when(sa_client, 1)
    assert [r["decision_id"] for r in results] == [kept.pk]
    later = timezone.now() + timedelta(seconds=60)
    assert webhooks_send_due_task() == 0  # not due by the wall clock yet
    for delivery_id in deliveries_due_claim(now=later):
        delivery_send(delivery_id=delivery_id, now=later)
    sent = [r["body"] for r in receiver.accepted]
    assert len(sent) == 1
    assert f'"decision_id":{kept.pk}'.encode() in sent[0]
    assert f'"decision_id":{undone.pk}'.encode() not in b"".join(
        r["body"] for r in receiver.received
    )


def _feed_when(client, n: int) -> list[dict]:
    """The feed's rows once it serves N of them (PostgreSQL: the feed trails open
    transactions of other sessions)."""
    deadline = time.monotonic() + (30 if connection.vendor == "postgresql" else 0)
    while True:
        results = client.get("/api/v1/decisions").json()["results"]
        if len(results) >= n or time.monotonic() >= deadline:
            return results
        time.sleep(0.05)
