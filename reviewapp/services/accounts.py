"""People, teams, tokens and service accounts."""

import secrets

from django.db import transaction
from django.utils import timezone

from reviewapp.models import (
    TOKEN_PREFIX,
    ApiToken,
    Membership,
    MLModel,
    Role,
    Team,
    User,
    token_digest,
)
from reviewapp.services.audit import audit_record


def team_get_or_create(*, slug: str, actor: User | None = None) -> Team:
    with transaction.atomic():
        team, created = Team.objects.get_or_create(
            slug=slug, defaults={"name": slug.replace("-", " ").title()}
        )
        if created:
            audit_record(actor=actor, action="team.created", target=team, changes={"slug": slug})
    return team


@transaction.atomic
def user_create(
    *, username: str, role: str, teams: list[Team], password: str | None, actor: User | None = None
) -> User:
    """A person with one role and team memberships. Admins get Django admin access."""
    if role not in Role.values or role == Role.SERVICE_ACCOUNT:
        raise ValueError(f"Unknown role '{role}'. Choose one of: {', '.join(Role.values[:-1])}.")
    user = User(
        username=username, role=role, is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    Membership.objects.bulk_create([Membership(user=user, team=team) for team in teams])
    audit_record(
        actor=actor,
        action="user.created",
        target=user,
        changes={"role": [None, role], "teams": [None, [t.slug for t in teams]]},
    )
    return user


@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User | None) -> User:
    before = user.role
    user.role = role
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    audit_record(
        actor=actor, action="user.role_changed", target=user, changes={"role": [before, role]}
    )
    return user


@transaction.atomic
def user_set_teams(*, user: User, teams: list[Team], actor: User | None, via: str = "") -> User:
    """Make the user's memberships exactly ``teams``; each added or removed team is audited
    (``membership.added`` / ``membership.removed``, as the admin records them)."""
    current = {m.team_id: m for m in user.memberships.select_related("team")}
    wanted = {team.pk: team for team in teams}
    extra = {"via": via} if via else {}
    for team_id, membership in current.items():
        if team_id not in wanted:
            membership.delete()
            audit_record(
                actor=actor,
                action="membership.removed",
                target=user,
                changes={"team": membership.team.slug, **extra},
            )
    for team_id, team in wanted.items():
        if team_id not in current:
            Membership.objects.create(user=user, team=team)
            audit_record(
                actor=actor,
                action="membership.added",
                target=user,
                changes={"team": team.slug, **extra},
            )
    return user


@transaction.atomic
def token_create(*, user: User, name: str = "", actor: User | None = None) -> tuple[ApiToken, str]:
    """A new token. Returns the row and the raw token, which is never stored or shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:12], digest=token_digest(raw))
    audit_record(actor=actor, action="token.created", target=token, changes={"user": user.username})
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: User | None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor, action="token.revoked", target=token, changes={"user": token.user.username}
        )
    return token


@transaction.atomic
def service_account_create(*, ml_model: MLModel, actor: User | None = None) -> tuple[User, str]:
    """A new service account for a model and its first token."""
    n = User.objects.filter(service_model=ml_model).count() + 1
    user = User(
        username=f"svc-{ml_model.slug}-{n}", role=Role.SERVICE_ACCOUNT, service_model=ml_model
    )
    user.set_unusable_password()
    user.save()
    audit_record(
        actor=actor, action="service_account.created", target=user, changes={"model": ml_model.slug}
    )
    _token, raw = token_create(user=user, name="service account", actor=actor)
    return user, raw
