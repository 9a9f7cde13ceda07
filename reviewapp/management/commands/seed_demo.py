"""``manage.py seed_demo``: demo teams, people, models, cases and review history."""

import os
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewapp.models import Case, CaseStatus, Decision
from reviewapp.services.demo import DEFAULT_DEMO_PASSWORD, DEMO_PEOPLE, demo_seed

PASSWORD_ENV = "REVIEWAPP_DEMO_PASSWORD"  # noqa: S105 - the name of a variable, not a secret


class Command(BaseCommand):
    help = (
        "Seed demo data: teams, one person per role (reviewer, reviewer2, lead, manager, owner, "
        "auditor, admin), two models trained now with scikit-learn on its bundled data sets "
        "(tumour-triage, wine-provenance) with a month of cases and review history. Idempotent: "
        f"a second run changes nothing. Passwords come from {PASSWORD_ENV} (or the demo "
        "default) and are printed only in the embedded mode."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Multiply the number of demo cases per model (e.g. 0.2 for a quick run).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["scale"] <= 20:
            raise CommandError("--scale must be greater than 0 and at most 20.")
        started = time.monotonic()
        password = os.environ.get(PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD
        summary = demo_seed(password=password, scale=options["scale"])
        show_secrets = settings.REVIEWAPP_SHOW_DEMO_PASSWORDS
        self.stdout.write(f"Teams: {', '.join(summary.teams)}")
        created = ", ".join(summary.users_created) or "none (all present)"
        self.stdout.write(f"People: {', '.join(p.username for p in DEMO_PEOPLE)}; new: {created}")
        if show_secrets:
            self.stdout.write(f"Demo password (every demo person): {password}")
        for result in summary.models:
            cases = Case.objects.filter(ml_model__slug=result.slug)
            waiting = cases.filter(status__in=[CaseStatus.QUEUED, CaseStatus.ESCALATED]).count()
            decided = Decision.objects.filter(ml_model__slug=result.slug).count()
            self.stdout.write(
                f"Model {result.slug}: {cases.count()} cases ({result.cases_created} new), "
                f"{waiting} waiting, {decided} decisions ({result.decisions_created} new); "
                f"service account {result.service_account}"
            )
            if result.token and show_secrets:
                self.stdout.write(f"  token for {result.service_account}: {result.token}")
        if summary.history_skipped_reason:
            self.stdout.write(f"Review history not seeded: {summary.history_skipped_reason}")
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")
