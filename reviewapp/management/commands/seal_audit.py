"""``manage.py seal_audit``: seal every audit event not yet sealed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reviewapp.services.audit import audit_seal


class Command(BaseCommand):
    help = (
        "Seal every audit event not yet sealed into the hash chain (Celery beat does this every "
        "minute). Events younger than REVIEWAPP_AUDIT_SEAL_LAG_S wait unless --lag is given. "
        "Each new seal's head is appended to REVIEWAPP_AUDIT_ANCHOR_FILE and logged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--lag", type=int, default=None, help="Seal only events older than this (seconds)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sealed = audit_seal(lag_seconds=options["lag"])
        self.stdout.write(f"sealed {sealed} events")
