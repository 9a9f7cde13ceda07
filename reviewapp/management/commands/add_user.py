"""``manage.py add_user NAME --role ROLE --team TEAM``: add a person."""

import getpass
import os
import sys
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify

from reviewapp.models import Role, User
from reviewapp.services.accounts import team_get_or_create, user_create

PERSON_ROLES = [role for role in Role.values if role != Role.SERVICE_ACCOUNT]
TEAMLESS_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})
PASSWORD_ENV = "REVIEWAPP_PASSWORD"  # noqa: S105 - the name of a variable, not a secret


class Command(BaseCommand):
    help = (
        "Add a person with one role and their team memberships. The password comes from the "
        f"{PASSWORD_ENV} environment variable, or is asked for twice when it is unset. "
        "Teams that do not exist yet are created. Auditors and admins need no team. A password "
        "that Django's password validators refuse is an error unless --allow-weak-password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help=f"One of: {', '.join(PERSON_ROLES)}.")
        parser.add_argument(
            "--team",
            action="append",
            default=[],
            dest="teams",
            help="A team slug (repeat for several teams).",
        )
        parser.add_argument(
            "--allow-weak-password",
            action="store_true",
            help="Accept a password the validators refuse (warned about on stderr).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"].strip()
        role: str = options["role"]
        team_slugs: list[str] = list(dict.fromkeys(options["teams"]))
        if role not in PERSON_ROLES:
            raise CommandError(f"Unknown role '{role}'. Choose one of: {', '.join(PERSON_ROLES)}.")
        if not username:
            raise CommandError("The username must not be empty.")
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"A user named '{username}' already exists.")
        if not team_slugs and role not in TEAMLESS_ROLES:
            raise CommandError(f"A {role} needs at least one --team.")
        for slug in team_slugs:
            if slugify(slug) != slug:
                raise CommandError(
                    f"'{slug}' is not a valid team slug (lowercase letters, digits and dashes)."
                )
        password = self._password(username, allow_weak=options["allow_weak_password"])
        teams = [team_get_or_create(slug=slug) for slug in team_slugs]
        user = user_create(username=username, role=role, teams=teams, password=password)
        where = f" in {', '.join(t.slug for t in teams)}" if teams else ""
        self.stdout.write(f"Created {user.get_role_display().lower()} '{user.username}'{where}.")

    def _password(self, username: str, *, allow_weak: bool) -> str:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if not sys.stdin.isatty():
                raise CommandError(f"Set {PASSWORD_ENV}, or run interactively to be asked.")
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("The passwords do not match.")
        if not password:
            raise CommandError("The password must not be empty.")
        try:
            validate_password(password, user=User(username=username))
        except ValidationError as exc:
            # Weak secrets are not provisioned by accident; a throwaway setup says so.
            if not allow_weak:
                raise CommandError(
                    "Password refused: " + " ".join(exc.messages) + " (--allow-weak-password "
                    "accepts it anyway)."
                ) from None
            self.stderr.write("Warning: weak password: " + " ".join(exc.messages))
        return password
