"""Changing audit rows behind the app's back, as an attacker with database access would.
On PostgreSQL the append-only trigger is switched off for the statement (the test database
user is a superuser); pending deferred constraint checks are fired first, since PostgreSQL
refuses ALTER TABLE while they are queued."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from reviewapp.models import AuditEvent


@contextmanager
def _trigger_off() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE reviewapp_auditevent DISABLE TRIGGER USER")
        try:
            yield
        finally:
            cursor.execute("ALTER TABLE reviewapp_auditevent ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def audit_rows_update(ids: list[int], **fields: object) -> None:
    with _trigger_off():
        AuditEvent.objects.filter(pk__in=ids).update(**fields)


def audit_rows_delete(ids: list[int]) -> None:
    with _trigger_off():
        AuditEvent.objects.filter(pk__in=ids).delete()
