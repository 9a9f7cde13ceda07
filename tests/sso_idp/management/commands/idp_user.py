"""Create or update a person at the test IdP with exactly the given groups."""

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or update an IdP user: idp_user NAME --password P [--email E] --groups a,b"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--groups", default="", help="comma-separated group names")

    def handle(self, *args, username, password, email, groups, **options):
        user, _created = User.objects.get_or_create(username=username)
        user.email = email or f"{username}@idp.test"
        user.first_name = username.title()
        user.set_password(password)
        user.save()
        names = [name for name in groups.split(",") if name]
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in names])
        # The first line is the OIDC subject (the provider's user id), which the test reads.
        self.stdout.write(f"sub={user.pk}\ngroups={','.join(names)}")
