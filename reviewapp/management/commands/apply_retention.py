"""``manage.py apply_retention [--batch N] [--dry-run]``: remove the content of finished cases
past their model's retention period now (beat also runs this daily)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewapp.errors import ReviewAppError
from reviewapp.services.retention import DEFAULT_BATCH, retention_apply, retention_due_count


class Command(BaseCommand):
    help = (
        "Remove input, metadata, explanation, feedback and comments of every decided, "
        "auto-approved or expired case older than its model's retention_days (labels, "
        "timestamps, routing and digests are kept), in batches of --batch cases, each batch "
        "one transaction audited as case.redacted. --dry-run only counts the cases due."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="Cases per batch.")
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            counts = retention_due_count()
            for slug, n in counts.items():
                self.stdout.write(f"{slug}: {n} cases due")
            self.stdout.write(f"due {sum(counts.values())} cases (dry run: nothing removed)")
            return
        try:
            run = retention_apply(batch=options["batch"])
        except ReviewAppError as exc:
            raise CommandError(exc.message) from None
        for slug, n in sorted(run.by_model.items()):
            self.stdout.write(f"{slug}: {n} cases")
        self.stdout.write(
            f"redacted {run.cases} cases in {run.batches} batches "
            f"({run.seconds:.1f} s, {run.rate:.0f} cases/s)"
        )
