"""The system page (/system/): admins and auditors see the worker heartbeat, the periodic
jobs, services, queues, outbox and seal lag; nobody else does; the nav links it for them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, Role, WebhookDelivery
from reviewapp.presentation.system import duration_text
from reviewapp.selectors.system import system_snapshot, tallies_reset
from reviewapp.services.jobruns import job_run_record
from tests import factories


@pytest.fixture(autouse=True)
def _fresh_tallies():
    tallies_reset()
    yield
    tallies_reset()


@pytest.fixture
def world(db):
    """A model with three waiting cases (the oldest two hours old), one pending delivery, a
    recent heartbeat and a failed rollup run."""
    ml_model = factories.make_model(slug="sys-model", team=factories.make_team("sys"))
    ids = factories.make_cases(ml_model, 3, confidence=0.3)
    Case.objects.filter(pk=ids[0]).update(created_at=timezone.now() - timedelta(hours=2))
    WebhookDelivery.objects.create(
        ml_model=ml_model, event="case.decided", payload={}, url="http://example.invalid/h"
    )
    job_run_record(name="reviewapp.tasks.worker_heartbeat_task", duration_s=0.01, ok=True)
    job_run_record(
        name="reviewapp.tasks.rollups_refresh_task",
        duration_s=1.5,
        ok=False,
        error="OperationalError: the database went away",
    )
    return ml_model


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AUDITOR])
def test_admins_and_auditors_see_the_figures(world, client, role):
    """The page shows the same figures as the snapshot /metrics exports."""
    client.force_login(factories.make_user(role))
    response = client.get("/system/")
    assert response.status_code == 200
    page = response.content.decode()
    snapshot = system_snapshot()
    assert "Worker heartbeat" in page
    assert "worker_heartbeat_task" in page
    assert "rollups_refresh_task" in page
    assert "OperationalError: the database went away" in page
    assert "failed" in page
    assert "never ran" in page  # e.g. the SLA job, which nothing ran here
    assert "sys-model" in page
    (queue,) = [q for q in snapshot.queues if q.model == "sys-model"]
    assert queue.waiting == 3
    assert f'<td class="num">{queue.waiting}</td>' in page
    assert duration_text(queue.oldest_waiting_s) == "2 h"
    assert "2 h" in page
    assert snapshot.outbox_pending == 1
    assert "1 deliveries not yet delivered" in page
    assert f"{AuditEvent.objects.count()} audit events not yet sealed" in page
    assert "Database" in page
    assert 'href="/system/"' in page  # the nav link


@pytest.mark.parametrize(
    "role", [Role.REVIEWER, Role.LEAD, Role.MANAGER, Role.MODEL_OWNER, Role.SERVICE_ACCOUNT]
)
def test_other_roles_are_refused(world, client, role):
    """Everyone else gets 403 (audited) and no nav link."""
    if role == Role.SERVICE_ACCOUNT:
        user = factories.make_service_account(world)[0]
    else:
        user = factories.make_user(role, team=world.team)
    client.force_login(user)
    response = client.get("/system/")
    assert response.status_code == 403
    assert b"worker_heartbeat_task" not in response.content
    assert AuditEvent.objects.filter(
        action="permission.denied", actor=user, changes__attempted="system.view"
    ).exists()
    if role != Role.SERVICE_ACCOUNT:
        home = client.get("/", follow=True)
        assert b'href="/system/"' not in home.content


def test_anonymous_is_sent_to_sign_in(db, client):
    """Signed-out visitors are redirected to the login page."""
    response = client.get("/system/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_durations_read_well():
    """Ages are written for people."""
    assert duration_text(None) == "never"
    assert duration_text(float("inf")) == "never"
    assert duration_text(42.7) == "42 s"
    assert duration_text(600) == "10 min"
    assert duration_text(3 * 3600 + 300) == "3 h 5 min"
    assert duration_text(50 * 3600) == "2 d 2 h"
