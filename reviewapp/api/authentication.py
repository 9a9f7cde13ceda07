"""Bearer tokens for service accounts and people's personal access tokens.

Every refused token is audited in aggregate: one ``auth.token_failed`` event per client
address and minute, with the count and the prefixes of the tokens tried (at most the first
12 characters, and never more than a third of what was sent), never a whole token."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from reviewapp.models import ApiToken, User, token_digest
from reviewapp.request_context import request_context_current
from reviewapp.selectors.rows import row_first
from reviewapp.services.ratelimit import audit_tally

LAST_USED_GRANULARITY = timedelta(seconds=60)
PREFIX_CHARS = 12


def token_prefix(raw: str) -> str:
    """What may be recorded of a token that was sent: its first 12 characters at most, and
    at most a third of it, with anything but printable ASCII shown as ``?``."""
    shown = raw[: min(PREFIX_CHARS, len(raw) // 3)]
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in shown)


def token_failure_audit(raw: str) -> None:
    """Tally a refused token for the client address of this request (one event a minute)."""
    ip = request_context_current().ip
    audit_tally(
        action="auth.token_failed",
        subject=f"ip:{ip}",
        ip=ip,
        target_type="api_token",
        sample=token_prefix(raw),
    )


def _live_token(digest: str) -> QuerySet[ApiToken]:
    """The unrevoked token of DIGEST with its user and the user's model (compiled once)."""
    return ApiToken.objects.select_related("user", "user__service_model").filter(
        digest=digest, revoked_at__isnull=True
    )


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            token_failure_audit(b" ".join(header[1:]).decode("latin-1"))
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            raw = header[1].decode()
        except UnicodeError:
            token_failure_audit(header[1].decode("latin-1"))
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from None
        token = row_first(_live_token, token_digest(raw))
        if token is None or not token.user.is_active:
            token_failure_audit(raw)
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
