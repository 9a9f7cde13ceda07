"""``manage.py erase_case MODEL EXTERNAL_ID --reason TEXT [--actor USERNAME]``: erase one
case's content on request (a person's right to erasure), audited with the reason."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewapp.errors import ReviewAppError
from reviewapp.models import MLModel, User
from reviewapp.services.retention import case_erase


class Command(BaseCommand):
    help = (
        "Erase the input, metadata, explanation, feedback and comments of one finished case of "
        "MODEL, found by the model's own id for it (labels, timestamps and digests are kept). "
        "The erasure is audited as case.erased with --reason, as --actor (a model owner of the "
        "model's team or an admin; without --actor: the operator at the command line, audited "
        "as system). A case still "
        "waiting for a decision is refused: decide it or let it expire first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="The model's slug.")
        parser.add_argument("external_id", help="The model's id of the case.")
        parser.add_argument("--reason", required=True, help="Why (recorded in the audit log).")
        parser.add_argument("--actor", help="Username of a model owner or an admin.")

    def handle(self, *args: Any, **options: Any) -> None:
        ml_model = MLModel.objects.select_related("team").filter(slug=options["model"]).first()
        if ml_model is None:
            raise CommandError(f"No model '{options['model']}'.")
        if options["actor"]:
            actor = User.objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"No user '{options['actor']}'.")
        else:
            actor = None  # the operator at the command line, audited as "system"
        try:
            erasure = case_erase(
                ml_model=ml_model,
                external_id=options["external_id"],
                actor=actor,
                reason=options["reason"],
            )
        except ReviewAppError as exc:
            raise CommandError(exc.message) from None
        case = erasure.case
        if erasure.erased:
            self.stdout.write(f"erased case {case.pk} ({ml_model.slug}:{case.external_id})")
        else:
            self.stdout.write(f"case {case.pk} was already erased: nothing changed")
