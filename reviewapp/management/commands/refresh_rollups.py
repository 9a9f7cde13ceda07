"""``manage.py refresh_rollups``: recompute the daily rollups of the last days, now."""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewapp.models import MLModel
from reviewapp.services.rollups import rollups_refresh, today


class Command(BaseCommand):
    help = (
        "Recompute the daily rollups (cases, decisions, segments, bands) of the last --days "
        "days, today included, for every model or one (--model). Celery beat keeps today, "
        "yesterday and changed days fresh every five minutes; run this after an upgrade that "
        "adds a rollup, or after loading data by hand. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=2, help="How many days back (default 2).")
        parser.add_argument("--model", default="", help="Only this model (its slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        ml_model = None
        if options["model"]:
            ml_model = MLModel.objects.filter(slug=options["model"]).first()
            if ml_model is None:
                raise CommandError(f"No model '{options['model']}'.")
        last = today()
        done = 0
        for back in range(options["days"]):  # one day a transaction, newest first
            rollups_refresh(days=[last - timedelta(days=back)], ml_model=ml_model)
            done += 1
            if done % 30 == 0:
                self.stdout.write(f"{done} days refreshed")
        self.stdout.write(f"refreshed {done} days")
