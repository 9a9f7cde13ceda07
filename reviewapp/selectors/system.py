"""Readiness probes of the backing services that the app reads from."""

from django.db import connection


def database_ping() -> None:
    """One round trip to the database; raises whatever the driver raises when it is down."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
