"""``manage.py seed_demo``: demo teams, people, models, cases and review history."""

import os
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewapp.management.demo import DEFAULT_DEMO_PASSWORD, DEMO_PEOPLE, demo_seed
from reviewapp.models import Case, CaseStatus, Decision, ModelVersion, VersionStatus

PASSWORD_ENV = "REVIEWAPP_DEMO_PASSWORD"  # noqa: S105 - the name of a variable, not a secret


class Command(BaseCommand):
    help = (
        "Seed demo data: teams, one person per role (reviewer, reviewer2, lead, manager, owner, "
        "auditor, admin), two models trained now with scikit-learn on its bundled data sets "
        "(tumour-triage, wine-provenance) with a month of cases and review history, guidelines, "
        "a comment thread on an escalation, ground truth, segments with a planted gap, and a "
        "later model version waiting for a manager's approval. Idempotent: "
        f"a second run changes nothing. Passwords come from --password or {PASSWORD_ENV}; the "
        "demo default is used only with DEBUG on. They are printed only in the embedded mode."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Multiply the number of demo cases per model (e.g. 0.2 for a quick run).",
        )
        parser.add_argument(
            "--password",
            default=None,
            help=f"The demo people's password (else {PASSWORD_ENV}; required with DEBUG off).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["scale"] <= 20:
            raise CommandError("--scale must be greater than 0 and at most 20.")
        started = time.monotonic()
        password = options["password"] or os.environ.get(PASSWORD_ENV)
        if not password:
            if not settings.DEBUG:
                # The published demo password must never guard accounts outside a dev box.
                raise CommandError(
                    f"DEBUG is off: give the demo people a password with --password or "
                    f"{PASSWORD_ENV}; the published demo default is for DEBUG mode only."
                )
            password = DEFAULT_DEMO_PASSWORD
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
            waiting_versions = ModelVersion.objects.filter(
                ml_model__slug=result.slug,
                status=VersionStatus.CANDIDATE,
                activation_proposed_at__isnull=False,
            ).values_list("version", flat=True)
            for version in waiting_versions:
                self.stdout.write(f"  version {version} waits for a manager's approval")
            if result.token and show_secrets:
                self.stdout.write(f"  token for {result.service_account}: {result.token}")
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")
