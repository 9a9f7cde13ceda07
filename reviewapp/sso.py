"""Single sign-on with OpenID Connect (mozilla-django-oidc), and the break-glass local login.

SSO is off unless ``OIDC_RP_CLIENT_ID`` is set (config/settings/base.py, README "SSO set-up").
When it is on, ``/oidc/authenticate/`` sends the browser to the identity provider (IdP) and
``/oidc/callback/`` exchanges the returned code, checks the ID token (signature, nonce,
audience, issuer), reads the user-info claims and signs the person in:

- the username comes from ``REVIEWAPP_OIDC_USERNAME_CLAIM`` (default ``preferred_username``);
- the IdP groups (``REVIEWAPP_OIDC_GROUPS_CLAIM``, default ``groups``) are mapped to one role
  and to teams by ``REVIEWAPP_OIDC_GROUP_MAP``; the first entry of the map the person is in
  gives the role, every matching entry adds its team. Nothing mapped: refused.
- role and team changes go through ``services.accounts`` (audited as ``user.role_changed``,
  ``membership.added`` / ``membership.removed``); each SSO login is audited as
  ``auth.sso_login`` with the issuer and subject, each refusal as ``auth.sso_refused`` and
  each failed exchange as ``auth.sso_failed``.

SSO never takes over a local account (one with a usable password), a service account or a
deactivated user. With SSO on, local password login is kept for ``REVIEWAPP_LOCAL_LOGIN_ROLES``
(default: admin) only, as break-glass access when the IdP is down.
"""

import logging
import re
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from reviewapp.models import Role, User
from reviewapp.permissions import user_may_sign_in_with_password
from reviewapp.services.accounts import (
    team_get_or_create,
    user_create,
    user_set_role,
    user_set_teams,
)
from reviewapp.services.audit import audit_record

logger = logging.getLogger(__name__)

SSO_BACKEND = "reviewapp.sso.SSOBackend"
SSO_ROLES = frozenset(Role.values) - {Role.SERVICE_ACCOUNT}
_TEAM_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")
_MAX_AUDITED_GROUPS = 50


def sso_enabled() -> bool:
    """True when an OpenID Connect client is configured (``OIDC_RP_CLIENT_ID`` is set)."""
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", ""))


def sso_provider_name() -> str:
    """The name on the "Sign in with ..." button, or "" when SSO is off."""
    if not sso_enabled():
        return ""
    return getattr(settings, "REVIEWAPP_OIDC_PROVIDER_NAME", "") or "single sign-on"


class SSORefusedError(Exception):
    """The IdP vouched for the person, but reviewapp will not sign them in."""

    def __init__(self, reason: str, *, username: str = "", groups: list[str] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.username = username
        self.groups = groups or []


class SSOExchangeError(Exception):
    """The IdP's answers do not fit together (audited as ``auth.sso_failed``)."""


class GroupMapError(ValueError):
    """``REVIEWAPP_OIDC_GROUP_MAP`` is malformed."""


@dataclass(frozen=True)
class GroupGrant:
    """What one IdP group gives: a role and, optionally, a team (by slug)."""

    role: str
    team: str = ""


@dataclass(frozen=True)
class SSOAccess:
    """The role and teams a person's IdP groups resolve to, and the groups that matched."""

    role: str
    teams: tuple[str, ...]
    groups: tuple[str, ...]


def group_map_parse(raw: Any) -> dict[str, GroupGrant]:
    """Validate the group map: ``{"<idp group>": {"role": "<role>", "team": "<slug>"}}``,
    ``team`` optional. Order is kept: it decides the role when several groups match."""
    if not isinstance(raw, dict):
        raise GroupMapError("REVIEWAPP_OIDC_GROUP_MAP must be a JSON object of group -> grant.")
    grants: dict[str, GroupGrant] = {}
    for group, grant in raw.items():
        if not isinstance(grant, dict) or set(grant) - {"role", "team"}:
            raise GroupMapError(f"Group '{group}': expected {{'role': ..., 'team': ...}}.")
        role, team = grant.get("role"), grant.get("team") or ""
        if role not in SSO_ROLES:
            raise GroupMapError(
                f"Group '{group}': role must be one of {', '.join(sorted(SSO_ROLES))}."
            )
        if not isinstance(team, str) or (team and not _TEAM_SLUG.match(team)):
            raise GroupMapError(f"Group '{group}': team must be a slug.")
        grants[str(group)] = GroupGrant(role=role, team=team)
    return grants


def groups_claim_values(claims: dict) -> list[str]:
    """The IdP groups of a claim set: a list of strings, or one string; anything else is none."""
    value = claims.get(getattr(settings, "REVIEWAPP_OIDC_GROUPS_CLAIM", "groups") or "groups")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def sso_access_resolve(*, groups: list[str], group_map: dict[str, GroupGrant]) -> SSOAccess | None:
    """The role and teams for these groups, or None when no group is mapped. The first map
    entry the person is in gives the role; every matching entry adds its team."""
    held = set(groups)
    matched = [group for group in group_map if group in held]
    if not matched:
        return None
    teams = dict.fromkeys(group_map[g].team for g in matched if group_map[g].team)
    return SSOAccess(role=group_map[matched[0]].role, teams=tuple(teams), groups=tuple(matched))


def _username_from(claims: dict) -> str:
    claim = getattr(settings, "REVIEWAPP_OIDC_USERNAME_CLAIM", "") or "preferred_username"
    username = claims.get(claim)
    if not isinstance(username, str) or not username:
        raise SSORefusedError(f"no '{claim}' claim")
    try:
        User.username_validator(username)
    except ValidationError:
        raise SSORefusedError(f"'{claim}' is not a valid username") from None
    if len(username) > User._meta.get_field("username").max_length:
        raise SSORefusedError(f"'{claim}' is too long")
    return username


def _profile_from(claims: dict) -> dict[str, str]:
    fields = {"email": "email", "first_name": "given_name", "last_name": "family_name"}
    profile = {}
    for field, claim in fields.items():
        value = claims.get(claim)
        if isinstance(value, str):
            profile[field] = value[: User._meta.get_field(field).max_length]
    return profile


@transaction.atomic
def sso_user_sync(*, issuer: str, subject: str, claims: dict) -> User:
    """Create or update the person the IdP vouched for, from their claims; audit the login.
    Raises SSORefusedError (nothing written) when they may not sign in."""
    groups = groups_claim_values(claims)
    username = _username_from(claims)
    try:
        group_map = group_map_parse(getattr(settings, "REVIEWAPP_OIDC_GROUP_MAP", {}))
    except GroupMapError as exc:
        logger.error("SSO refused: %s", exc)
        raise SSORefusedError("group map is invalid", username=username, groups=groups) from exc
    access = sso_access_resolve(groups=groups, group_map=group_map)
    if access is None:
        raise SSORefusedError("no mapped group", username=username, groups=groups)
    user = User.objects.select_for_update().filter(username=username).first()
    if user is not None:
        if user.is_service_account:
            raise SSORefusedError("username belongs to a service account", username=username)
        if user.has_usable_password():
            raise SSORefusedError("username belongs to a local account", username=username)
        if not user.is_active:
            raise SSORefusedError("account is deactivated", username=username, groups=groups)
    teams = [team_get_or_create(slug=slug) for slug in access.teams]
    if user is None:
        user = user_create(username=username, role=access.role, teams=teams, password=None)
    else:
        if user.role != access.role:
            user_set_role(user=user, role=access.role, actor=None)
        user_set_teams(user=user, teams=teams, actor=None, via="sso")
    profile = _profile_from(claims)
    changed = [field for field, value in profile.items() if getattr(user, field) != value]
    for field in changed:
        setattr(user, field, profile[field])
    if changed:
        user.save(update_fields=changed)
    audit_record(
        actor=user,
        action="auth.sso_login",
        target=user,
        changes={
            "issuer": issuer,
            "subject": subject,
            "groups": list(access.groups),
            "role": access.role,
            "teams": list(access.teams),
        },
    )
    return user


def _audit_sso(action: str, *, target_id: str, changes: dict) -> None:
    with transaction.atomic():
        audit_record(
            actor=None, action=action, target_type="user", target_id=target_id[:64], changes=changes
        )


class SSOBackend(OIDCAuthenticationBackend):
    """Signs in people the IdP vouches for. Only the SSO callback calls it (with
    ``sso_callback=True``): local password logins pass it by."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.enabled = sso_enabled()
        if self.enabled:
            super().__init__(*args, **kwargs)
        else:
            self.UserModel = User

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if not kwargs.pop("sso_callback", False) or not self.enabled or request is None:
            return None
        self.issuer = self.subject = ""
        try:
            return super().authenticate(request, **kwargs)
        except SSORefusedError as exc:
            logger.info("SSO refused %s (%s): %s", exc.username, self.subject, exc.reason)
            _audit_sso(
                "auth.sso_refused",
                target_id=exc.username,
                changes={
                    "issuer": self.issuer,
                    "subject": self.subject,
                    "reason": exc.reason,
                    "groups": exc.groups[:_MAX_AUDITED_GROUPS],
                },
            )
        except (
            requests.RequestException,
            SSOExchangeError,
            SuspiciousOperation,
            jwt.PyJWTError,
            IntegrityError,
            ValueError,
            KeyError,
            TypeError,
        ) as exc:
            logger.warning("SSO exchange failed: %s: %s", type(exc).__name__, exc)
            _audit_sso(
                "auth.sso_failed",
                target_id=self.subject,
                changes={"issuer": self.issuer, "reason": type(exc).__name__},
            )
        return None

    def verify_token(self, token: str, **kwargs: Any) -> dict:
        """The library checks signature, expiry and nonce; add audience and issuer."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token is not for this client.")
        expected_issuer = getattr(settings, "OIDC_OP_ISSUER", "")
        if expected_issuer and payload.get("iss") != expected_issuer:
            raise SuspiciousOperation("ID token comes from another issuer.")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict) -> User:
        self.issuer = str(payload.get("iss", ""))
        self.subject = str(payload.get("sub", ""))
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not self.subject or str(userinfo.get("sub", "")) != self.subject:
            # Not SuspiciousOperation: the library would swallow it unaudited.
            raise SSOExchangeError("User info is not about the ID token's subject.")
        claims = {**payload, **userinfo}
        return sso_user_sync(issuer=self.issuer, subject=self.subject, claims=claims)

    def get_user(self, user_id: int) -> User | None:
        """As ModelBackend: a deactivated person's session ends."""
        return ModelBackend.get_user(self, user_id)


class LocalPasswordBackend(ModelBackend):
    """Username and password. With SSO on, only ``REVIEWAPP_LOCAL_LOGIN_ROLES`` (break-glass
    admins by default) may sign in this way; everyone else uses the IdP."""

    def user_can_authenticate(self, user: Any) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return user_may_sign_in_with_password(user, sso_on=sso_enabled())


class SSOAuthenticateView(OIDCAuthenticationRequestView):
    """``/oidc/authenticate/``: off (404) unless SSO is configured."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("Single sign-on is not enabled.")
        return super().get(request)


class SSOCallbackView(OIDCAuthenticationCallbackView):
    """``/oidc/callback/``: the IdP sends the browser back here with a code.

    Unlike the library's view this calls SSOBackend directly, so password lockout (axes)
    neither counts nor blocks SSO logins, and every failure is one audited event and a
    redirect to the login page with a message, never a 500."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("Single sign-on is not enabled.")
        state = request.GET.get("state", "")
        states = request.session.get("oidc_states") or {}
        flow = states.pop(state, None) if state else None
        if flow is not None:
            # One use per state, saved before the slow exchange (replays find nothing).
            request.session["oidc_states"] = states
            request.session.save()
        code = request.GET.get("code", "")
        if request.GET.get("error") or flow is None or not code:
            reason = request.GET.get("error", "")[:64] or ("unknown state" if flow is None else "")
            _audit_sso("auth.sso_failed", target_id="", changes={"reason": reason or "no code"})
            return self.login_failure()
        # Reload the session so that changes made meanwhile in other tabs are kept.
        request.session = request.session.__class__(request.session.session_key)
        user = SSOBackend().authenticate(
            request,
            sso_callback=True,
            nonce=flow.get("nonce"),
            code_verifier=flow.get("code_verifier"),
        )
        if user is None:
            return self.login_failure()
        user.backend = SSO_BACKEND
        self.user = user
        return self.login_success()

    def login_failure(self) -> HttpResponse:
        messages.error(
            self.request,
            "Single sign-on did not sign you in. If you should have access, ask an admin to "
            "check your groups at the identity provider.",
        )
        return HttpResponseRedirect(reverse("login"))
