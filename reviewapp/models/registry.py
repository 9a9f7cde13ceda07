"""Registered ML models, their versions and their routing policies."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

DEFAULT_REASON_CODES = ["wrong_label", "missing_context", "data_error", "policy", "other"]


def default_reason_codes() -> list[str]:
    return list(DEFAULT_REASON_CODES)


class MLModel(models.Model):
    """A registered ML model (``fraud-screening``) owned by a team, with its label set."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey("reviewapp.Team", on_delete=models.PROTECT, related_name="ml_models")
    labels = models.JSONField(help_text="The label set: a list of strings.")
    input_schema = models.JSONField(
        null=True,
        blank=True,
        help_text='Feature name -> type ("number", "integer", "string", "boolean").',
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]
        verbose_name = "ML model"

    def __str__(self) -> str:
        return self.slug


class ModelVersion(models.Model):
    """One deployed version of a model (``2.3.0``), created on first sight."""

    ml_model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ml_model", "version"], name="model_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.ml_model.slug}@{self.version}"


class FallbackAction(models.TextChoices):
    APPLY_MODEL = "apply_model", "Apply the model's label"
    REJECT = "reject", "Reject"
    HOLD = "hold", "Hold"


class PolicyStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACTIVE = "active", "Active"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected"


class RoutingPolicy(models.Model):
    """One version of a model's routing rules. Exactly one version per model is active;
    a proposed version becomes active only when a manager approves it (four eyes)."""

    ml_model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="policies")
    version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=PolicyStatus.choices, default=PolicyStatus.PROPOSED
    )
    review_threshold = models.FloatField(
        default=0.80, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    always_review_labels = models.JSONField(default=list, blank=True)
    qa_sample_rate = models.FloatField(
        default=0.02, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    blind_sample_rate = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    advisory_mode = models.BooleanField(default=False)
    sla_minutes = models.PositiveIntegerField(default=60)
    availability_minutes = models.PositiveIntegerField(default=7 * 24 * 60)
    lease_minutes = models.PositiveIntegerField(default=10)
    fallback_action = models.CharField(
        max_length=12, choices=FallbackAction.choices, default=FallbackAction.HOLD
    )
    reason_codes = models.JSONField(default=default_reason_codes)
    note = models.TextField(blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "routing policies"
        constraints = [
            models.UniqueConstraint(fields=["ml_model", "version"], name="policy_version_unique"),
            models.UniqueConstraint(
                fields=["ml_model"], condition=models.Q(status="active"), name="policy_one_active"
            ),
            models.CheckConstraint(
                condition=models.Q(review_threshold__gte=0, review_threshold__lte=1)
                & models.Q(qa_sample_rate__gte=0, qa_sample_rate__lte=1)
                & models.Q(blind_sample_rate__gte=0, blind_sample_rate__lte=1),
                name="policy_rates_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ml_model.slug} policy v{self.version} ({self.status})"

    # Fields that make up a policy's rules: used to copy, compare and audit versions.
    RULE_FIELDS = (
        "review_threshold",
        "always_review_labels",
        "qa_sample_rate",
        "blind_sample_rate",
        "advisory_mode",
        "sla_minutes",
        "availability_minutes",
        "lease_minutes",
        "fallback_action",
        "reason_codes",
    )

    def rules(self) -> dict:
        return {name: getattr(self, name) for name in self.RULE_FIELDS}
