"""Changing audit rows behind the app's back, as an attacker with database access would.
On PostgreSQL the append-only triggers are switched off for the statement (the test database
user is a superuser); pending deferred constraint checks are fired first, since PostgreSQL
refuses ALTER TABLE while they are queued."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import connection

from reviewapp.models import AuditEvent, AuditSeal

EVENTS = "reviewapp_auditevent"
SEALS = "reviewapp_auditseal"


@contextmanager
def _trigger_off(*tables: str) -> Iterator[None]:
    tables = tables or (EVENTS,)
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield
        finally:
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def audit_rows_update(ids: list[int], **fields: object) -> None:
    with _trigger_off():
        AuditEvent.objects.filter(pk__in=ids).update(**fields)


def audit_rows_delete(ids: list[int]) -> None:
    with _trigger_off():
        AuditEvent.objects.filter(pk__in=ids).delete()


def audit_row_forge(event_id: int, occurred_at: datetime) -> None:
    """Insert an event with a chosen id (INSERT needs no trigger off)."""
    AuditEvent.objects.create(
        pk=event_id,
        occurred_at=occurred_at,
        actor_label="mallory",
        actor_role="admin",
        action="forged",
    )


def audit_seal_cut(seal: AuditSeal) -> None:
    """Delete a seal and the events it covers: the newest link of the chain is gone."""
    with _trigger_off(EVENTS, SEALS):
        AuditEvent.objects.filter(pk__gte=seal.first_event_id, pk__lte=seal.last_event_id).delete()
        AuditSeal.objects.filter(pk=seal.pk).delete()


def audit_seal_update(seal: AuditSeal, **fields: object) -> None:
    with _trigger_off(SEALS):
        AuditSeal.objects.filter(pk=seal.pk).update(**fields)
