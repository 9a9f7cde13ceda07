"""``manage.py set_webhook MODEL URL``: register a model's callback URL and a new secret."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewapp.errors import ReviewAppError
from reviewapp.models import MLModel
from reviewapp.services.webhooks import webhook_set


class Command(BaseCommand):
    help = (
        "Register (or change) the model's webhook callback URL and issue a new signing secret, "
        "printed alone on the last line (shown once: store it in the receiver). The URL must be "
        "http(s) and, unless REVIEWAPP_WEBHOOK_ALLOW_PRIVATE is set, resolve to public addresses."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="The model's slug, for example fraud-screening.")
        parser.add_argument("url", help="The callback URL, for example https://example.com/hook.")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["model"]
        ml_model = MLModel.objects.filter(slug=slug).first()
        if ml_model is None:
            raise CommandError(f"No model '{slug}'. Register it with create_service_account first.")
        try:
            secret = webhook_set(ml_model=ml_model, url=options["url"], actor=None)
        except ReviewAppError as exc:
            raise CommandError(exc.message) from None
        ml_model.refresh_from_db(fields=["webhook_url"])
        self.stdout.write(
            f"Webhook of model '{slug}' set to {ml_model.webhook_url}. Decisions are POSTed there "
            "signed with the secret below (X-Reviewapp-Signature: t=<unix>,v1=<hex HMAC-SHA256 "
            'of "t.body">). It is shown once: store it now.'
        )
        self.stdout.write(secret)
