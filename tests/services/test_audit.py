"""The audit log: every write leaves its event, the table is append-only on PostgreSQL, and
the sealed hash chain names any event changed, removed or inserted after sealing."""

import itertools
import threading
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection, transaction

from reviewapp.models import ApiToken, AuditEvent, AuditSeal
from reviewapp.services.accounts import token_create, token_revoke
from reviewapp.services.audit import audit_record, audit_seal, audit_verify
from tests.conftest import bearer_client
from tests.factories import case_payload, make_user

TABLE = "reviewapp_auditevent"


def _events(n: int, action: str = "test.event") -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_record(actor=None, action=action, target_type="thing", target_id=str(i))
            for i in range(n)
        ]


@contextmanager
def _triggers_off():
    """Tamper as a superuser would: switch the append-only triggers off, then back on."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        # Fire the pending deferred FK checks first: ALTER TABLE refuses to run with them.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def _raw(sql: str, params: list) -> None:
    with _triggers_off(), connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- every write leaves its event -----------------------------------------------------------


@pytest.mark.django_db
def test_single_submission_is_audited_with_request_context(sa_client, service_account):
    """POST /cases writes case.submitted with actor, request id, IP and user agent."""
    response = sa_client.post(
        "/api/v1/cases",
        case_payload(external_id="a-1"),
        format="json",
        HTTP_X_REQUEST_ID="req-42",
        HTTP_USER_AGENT="fraud-scorer/2.3",
        REMOTE_ADDR="192.0.2.7",
    )
    event = AuditEvent.objects.get(action="case.submitted")
    assert event.target_type == "case"
    assert event.target_id == str(response.json()["id"])
    assert event.actor == service_account[0]
    assert event.changes["client_request_id"] == "req-42"
    assert (event.request_id, event.ip, event.user_agent) == (
        response["X-Request-ID"],
        "192.0.2.7",
        "fraud-scorer/2.3",
    )
    assert event.changes["external_id"] == "a-1"


@pytest.mark.django_db
def test_new_model_version_is_audited_once(sa_client):
    """A version seen for the first time leaves model_version.registered, only once."""
    sa_client.post("/api/v1/cases", case_payload(model_version="3.0.0"), format="json")
    sa_client.post("/api/v1/cases", case_payload(model_version="3.0.0"), format="json")
    [event] = AuditEvent.objects.filter(action="model_version.registered")
    assert event.changes == {"model": "fraud-screening", "version": "3.0.0", "status": "active"}
    assert event.target_type == "modelversion"


@pytest.mark.django_db
def test_token_created_and_revoked_are_audited(team):
    """Creating and revoking a token are audited with who did it; the secret is not."""
    admin = make_user("admin", username="ada")
    person = make_user("model_owner", team=team)
    token, raw = token_create(user=person, name="ci", actor=admin)
    token_revoke(token=token, actor=admin)
    token_revoke(token=token, actor=admin)  # a second revoke changes nothing
    created = AuditEvent.objects.get(action="token.created", target_id=str(token.pk))
    revoked = AuditEvent.objects.filter(action="token.revoked", target_id=str(token.pk))
    assert created.actor == admin
    assert revoked.count() == 1
    assert revoked[0].actor == admin
    assert raw not in str(created.changes)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


@pytest.mark.django_db
def test_rejected_submission_writes_no_event(sa_client):
    """A refused case writes nothing to the audit log."""
    before = AuditEvent.objects.count()
    sa_client.post("/api/v1/cases", case_payload(label="cat"), format="json")
    assert AuditEvent.objects.count() == before


# --- append-only on PostgreSQL --------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE reviewapp_auditevent SET action = 'forged' WHERE id = %s",
        "DELETE FROM reviewapp_auditevent WHERE id = %s",
        "TRUNCATE reviewapp_auditevent",
    ],
    ids=["update", "delete", "truncate"],
)
def test_audit_table_refuses_update_delete_truncate(sql):
    """The database itself refuses to change or remove audit events."""
    [event] = _events(1)
    params = [event.pk] if "%s" in sql else []
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending FK checks
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


@pytest.mark.postgres
@pytest.mark.django_db
def test_orm_update_and_delete_are_refused():
    """The ORM cannot change or delete an audit event either."""
    [event] = _events(1)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk, action="test.event").exists()


# --- seal and verify ------------------------------------------------------------------------


@pytest.mark.django_db
def test_intact_chain_verifies():
    """Sealed events verify; the count of sealed events matches."""
    _events(7)
    total = AuditEvent.objects.count()
    assert audit_seal(chunk=3) == total
    assert audit_seal() == 0
    result = audit_verify()
    assert result.ok, result
    assert result.events == total
    assert result.seals == AuditSeal.objects.count() >= 3
    _events(2)
    assert audit_seal() == 2
    assert audit_verify().ok


@pytest.mark.django_db
def test_lag_keeps_recent_events_unsealed():
    """Events younger than the lag wait for the next run."""
    _events(3)
    assert audit_seal(lag_seconds=3600) == 0
    assert not AuditSeal.objects.exists()


@pytest.mark.django_db
def test_changed_event_is_named():
    """An event edited after sealing is reported by id as changed."""
    events = _events(5)
    audit_seal()
    _raw(
        "UPDATE reviewapp_auditevent SET changes = %s WHERE id = %s",
        ['{"forged": true}', events[2].pk],
    )
    result = audit_verify()
    assert not result.ok
    assert (result.event_id, result.problem) == (events[2].pk, "changed after sealing")


@pytest.mark.django_db
def test_deleted_event_is_named():
    """An event deleted after sealing is reported by id as removed."""
    events = _events(5)
    audit_seal()
    _raw("DELETE FROM reviewapp_auditevent WHERE id = %s", [events[3].pk])
    result = audit_verify()
    assert (result.ok, result.event_id, result.problem) == (
        False,
        events[3].pk,
        "removed after sealing",
    )


@pytest.mark.django_db
def test_inserted_event_is_named():
    """A row slipped into a sealed id range afterwards is reported by id as inserted."""
    events = _events(5)
    gap = events[2]
    _raw(
        "DELETE FROM reviewapp_auditevent WHERE id = %s", [gap.pk]
    )  # a gap, as a rolled-back tx leaves
    audit_seal()
    assert audit_verify().ok
    _raw(
        "INSERT INTO reviewapp_auditevent (id, occurred_at, actor_label, actor_role, action, "
        "target_type, target_id, changes, user_agent, request_id) "
        "VALUES (%s, %s, 'mallory', 'admin', 'forged', '', '', '{}', '', '')",
        [gap.pk, gap.occurred_at],
    )
    result = audit_verify()
    assert (result.ok, result.event_id, result.problem) == (
        False,
        gap.pk,
        "inserted after sealing",
    )


@pytest.mark.django_db
def test_altered_seal_is_reported():
    """A seal whose stored digests were rewritten no longer matches its hash."""
    _events(3)
    audit_seal()
    seal = AuditSeal.objects.get()
    digests = seal.event_digests
    digests[0][1] = "0" * 64
    with _triggers_off(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE reviewapp_auditseal DISABLE TRIGGER USER")
        AuditSeal.objects.filter(pk=seal.pk).update(event_digests=digests)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE reviewapp_auditseal ENABLE TRIGGER USER")
    result = audit_verify()
    assert not result.ok
    assert result.problem == f"seal {seal.pk} was altered"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sealers_do_not_fork_the_chain():
    """Four sealers racing over the same events build one unbroken chain."""
    _events(60)
    barrier = threading.Barrier(4)
    totals: list[int] = []

    def sealer() -> None:
        try:
            barrier.wait(timeout=10)
            totals.append(audit_seal(chunk=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=sealer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(totals) == AuditEvent.objects.count() == 60
    seals = list(AuditSeal.objects.order_by("first_event_id"))
    for before, after in itertools.pairwise(seals):
        assert after.first_event_id == before.last_event_id + 1
        assert after.previous_id == before.pk
    result = audit_verify()
    assert result.ok, result
    assert result.events == 60


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sealer_waits_for_writers_in_flight():
    """An event whose transaction is still open when the sealer runs is not left out of a
    sealed range (it would later read as inserted)."""
    _events(2)
    started, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                audit_record(actor=None, action="slow.event")
                started.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    started.wait(timeout=10)
    _events(1)  # committed, with a higher id than the in-flight event
    sealer = threading.Thread(target=lambda: (audit_seal(), connection.close()))
    sealer.start()
    sealer.join(timeout=0.5)
    assert sealer.is_alive(), "the sealer must wait for the open writer"
    release.set()
    writer.join(timeout=10)
    sealer.join(timeout=10)
    assert audit_verify().ok
    assert audit_verify().events == 4


@pytest.mark.django_db
def test_bearer_audit_actor_label(service_account):
    """Events of a service account name it by username and role."""
    bearer_client(service_account[1]).post("/api/v1/cases", case_payload(), format="json")
    event = AuditEvent.objects.get(action="case.submitted")
    assert event.actor_label == service_account[0].username
    assert event.actor_role == "service_account"
