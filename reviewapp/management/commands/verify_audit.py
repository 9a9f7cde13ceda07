"""``manage.py verify_audit [--since-last] [--anchor FILE]``: exit status 0 only when the audit
chain is intact (and, with ``--anchor``, when every anchored seal is still in the database).
Every run is recorded as an ``audit.verified`` event of the system, the checkpoint of the
next incremental check."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from reviewapp.models import AuditEvent, AuditSeal
from reviewapp.services.audit import audit_verify, audit_verify_incremental
from reviewapp.services.audit_anchor import AnchorError
from reviewapp.services.audit_ops import (
    audit_verified_record,
    audit_verify_anchored,
    verify_message,
)


class Command(BaseCommand):
    help = (
        "Check the audit hash chain: every sealed event must be unchanged, none removed or "
        "inserted. By default the whole chain is re-hashed; with --since-last, only the seals "
        "newer than the last verification that passed, plus REVIEWAPP_AUDIT_SCRUB_SEALS older "
        "ones in turn (the whole chain without such a verification). With --anchor FILE (a "
        "copy of REVIEWAPP_AUDIT_ANCHOR_FILE), every seal head in the file must also still be "
        "in the database with the same range and hash. Exit status 0 when intact; otherwise "
        "1, naming the first bad event or seal on stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            type=Path,
            default=None,
            metavar="FILE",
            help="An anchor file of seal heads (JSON lines) kept outside the database.",
        )
        parser.add_argument(
            "--since-last",
            action="store_true",
            help="Verify incrementally, from the last verification that passed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchor: Path | None = options["anchor"]
        incremental: bool = options["since_last"]
        matched = None
        if anchor is None:
            result = audit_verify_incremental() if incremental else audit_verify()
        else:
            try:
                result, matched = audit_verify_anchored(anchor=anchor, incremental=incremental)
            except AnchorError as exc:
                raise CommandError(str(exc)) from None
        # Counted before this run's own event is recorded. The head by the indexed range start.
        last = AuditSeal.objects.order_by("-first_event_id").values_list("last_event_id", flat=True)
        unsealed = AuditEvent.objects.filter(pk__gt=last.first() or 0).count()
        try:
            audit_verified_record(actor=None, result=result)
        except DatabaseError as exc:  # a read-only copy: the check stands, unrecorded
            self.stderr.write(f"warning: the verification was not recorded: {exc}")
        if not result.ok:
            self.stderr.write(verify_message(result))
            sys.exit(1)
        line = verify_message(result) + f" ({unsealed} not yet sealed)"
        if matched is not None:
            line += f"; anchor: {matched} seal head{' matches' if matched == 1 else 's match'}"
        self.stdout.write(line)
