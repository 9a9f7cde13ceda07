"""People, teams, roles and API tokens."""

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer"
    LEAD = "lead", "Lead"
    MANAGER = "manager", "Manager"
    MODEL_OWNER = "model_owner", "Model owner"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Admin"
    SERVICE_ACCOUNT = "service_account", "Service account"


def _new_pseudonym() -> str:
    return "rv-" + secrets.token_hex(6)


class Team(models.Model):
    """A group of people who share queues and models (for example "payments-risk")."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class User(AbstractUser):
    """A person with exactly one role, or the API identity of one model (a service account)."""

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.REVIEWER)
    teams = models.ManyToManyField(Team, through="Membership", related_name="members", blank=True)
    service_model = models.ForeignKey(
        "reviewapp.MLModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="service_accounts",
        help_text="For service accounts: the one model whose cases this identity may touch.",
    )
    pseudonym = models.CharField(max_length=20, unique=True, default=_new_pseudonym)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="service_account") | models.Q(service_model__isnull=False),
                name="service_account_has_model",
            )
        ]

    @property
    def is_service_account(self) -> bool:
        return self.role == Role.SERVICE_ACCOUNT


class Membership(models.Model):
    """One person's membership of one team."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique")]


TOKEN_PREFIX = "rva_"  # noqa: S105 - a prefix, not a secret


def token_digest(raw: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so a fast hash is safe at rest."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token: stored only as its SHA-256 digest, shown once, revocable."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
