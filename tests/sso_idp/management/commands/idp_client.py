"""Register (or replace) a confidential OIDC client at the test IdP."""

from django.core.management.base import BaseCommand
from oauth2_provider.models import Application


class Command(BaseCommand):
    help = "Register a confidential authorization-code client signing ID tokens with RS256."

    def add_arguments(self, parser):
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--secret", required=True)
        parser.add_argument("--redirect-uri", required=True)

    def handle(self, *args, client_id, secret, redirect_uri, **options):
        Application.objects.filter(client_id=client_id).delete()
        Application.objects.create(
            name="reviewapp",
            client_id=client_id,
            client_secret=secret,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=redirect_uri,
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
        )
        self.stdout.write(f"client {client_id} -> {redirect_uri}")
