"""``manage.py create_token USER``: a personal access token, alone on the last line."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewapp.models import User
from reviewapp.services.accounts import token_create


class Command(BaseCommand):
    help = (
        "Create a personal access token (Authorization: Bearer <token>) for a user. The token "
        "is printed once, alone on the last line; only its digest is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to recognise the token by.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user named '{options['username']}'.") from None
        if not user.is_active:
            raise CommandError(f"User '{user.username}' is deactivated.")
        token, raw = token_create(user=user, name=options["name"][:100] or "personal access token")
        self.stdout.write(
            f"Token {token.prefix}… created for '{user.username}'. It is shown once: store it now."
        )
        self.stdout.write(raw)
