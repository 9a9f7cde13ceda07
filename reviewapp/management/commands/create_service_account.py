"""``manage.py create_service_account MODEL --labels a,b,c [--team TEAM]``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.text import slugify

from reviewapp.errors import ReviewAppError
from reviewapp.models import MLModel
from reviewapp.services.accounts import service_account_create, team_get_or_create
from reviewapp.services.policies import model_register


class Command(BaseCommand):
    help = (
        "Create a service account (the API identity of one model) and print its token alone on "
        "the last line. A model that does not exist yet is registered first with --labels and "
        "the default routing policy; it belongs to --team, or, when --team is omitted, to a "
        "team named after the model (created if needed). For an existing model, --labels and "
        "--team may be omitted, and must match the model when given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="The model's slug, for example fraud-screening.")
        parser.add_argument("--labels", default="", help="The label set, comma-separated.")
        parser.add_argument("--team", default="", help="The owning team's slug.")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["model"]
        labels = [label.strip() for label in options["labels"].split(",") if label.strip()]
        team_slug: str = options["team"]
        if slugify(slug) != slug:
            raise CommandError(f"'{slug}' is not a valid model slug (lowercase, digits, dashes).")
        if team_slug and slugify(team_slug) != team_slug:
            raise CommandError(f"'{team_slug}' is not a valid team slug.")
        try:
            with transaction.atomic():
                ml_model = MLModel.objects.select_related("team").filter(slug=slug).first()
                if ml_model is None:
                    ml_model = self._register(slug=slug, labels=labels, team_slug=team_slug)
                else:
                    self._check_matches(ml_model, labels=labels, team_slug=team_slug)
                user, raw = service_account_create(ml_model=ml_model)
        except ReviewAppError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Service account '{user.username}' created for model '{ml_model.slug}'. "
            "Its token is shown once: store it now."
        )
        self.stdout.write(raw)

    def _register(self, *, slug: str, labels: list[str], team_slug: str) -> MLModel:
        if len(labels) < 2:
            raise CommandError(f"Model '{slug}' is new: give its labels with --labels a,b[,c].")
        team = team_get_or_create(slug=team_slug or slug)
        ml_model = model_register(slug=slug, labels=labels, team=team)
        self.stdout.write(
            f"Registered model '{slug}' (labels: {', '.join(ml_model.labels)}) for team "
            f"'{team.slug}' with the default routing policy."
        )
        return ml_model

    def _check_matches(self, ml_model: MLModel, *, labels: list[str], team_slug: str) -> None:
        if labels and labels != list(ml_model.labels):
            raise CommandError(
                f"Model '{ml_model.slug}' exists with labels {','.join(ml_model.labels)}; "
                f"--labels {','.join(labels)} differ. Omit --labels or give the same set."
            )
        if team_slug and team_slug != ml_model.team.slug:
            raise CommandError(
                f"Model '{ml_model.slug}' belongs to team '{ml_model.team.slug}', "
                f"not '{team_slug}'."
            )
