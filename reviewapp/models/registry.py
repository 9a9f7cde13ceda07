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
    automation_suspended_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while the circuit breaker holds (its AutomationSuspension is open): "
        "every new case goes to people.",
    )
    segment_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Keys of a case's metadata or input whose values define population segments "
        "(site, region, age band): figures break down by each value.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days after which a decided or auto-approved case's input, metadata, "
        "explanation and feedback are removed (null: kept).",
    )
    pii_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Keys of input or metadata that hold personal data: masked in exports, the "
        "feed, webhooks, dashboards and for auditors until revealed.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]
        verbose_name = "ML model"

    def __str__(self) -> str:
        return self.slug


class VersionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CANDIDATE = "candidate", "Candidate"
    SUSPENDED = "suspended", "Suspended"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    """One deployed version of a model (``2.3.0``), created on first sight, and where it is
    in its lifecycle: the model's first version is ``active``; later ones are ``candidate``
    (every case goes to people) until the owner proposes activation and another person, a
    manager, approves it; ``suspended`` is an approved version while the model's circuit
    breaker holds; ``retired`` refuses new cases (409 ``version_retired``)."""

    ml_model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    status = models.CharField(
        max_length=10, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was last approved (or first seen as active)."
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activation_proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activation_proposed_at = models.DateTimeField(null=True, blank=True)
    activation_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ml_model", "version"], name="model_version_unique"),
            models.CheckConstraint(
                condition=models.Q(status__in=VersionStatus.values), name="model_version_status"
            ),
            # A proposal waits only on a candidate.
            models.CheckConstraint(
                condition=models.Q(activation_proposed_at__isnull=True)
                | models.Q(status=VersionStatus.CANDIDATE),
                name="model_version_proposal_candidate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ml_model.slug}@{self.version}"


class AutomationSuspension(models.Model):
    """One period during which a model's automation was suspended (the circuit breaker):
    suspended at once by one owner or manager (``suspended_by``) or by a tripwire; lifted only
    when one person proposes it and another, a manager of the team, approves (four eyes).
    Open while ``lifted_at`` is null; at most one open per model."""

    ml_model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="suspensions")
    suspended_at = models.DateTimeField(default=timezone.now)
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tripwire = models.ForeignKey(
        "reviewapp.Tripwire", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500)
    lift_proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_proposed_at = models.DateTimeField(null=True, blank=True)
    lift_note = models.TextField(blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ml_model"],
                condition=models.Q(lifted_at__isnull=True),
                name="suspension_one_open",
            ),
            # Four eyes: lifted by someone other than the person who proposed lifting it.
            models.CheckConstraint(
                condition=models.Q(lifted_at__isnull=True)
                | (
                    models.Q(lifted_by__isnull=False, lift_proposed_by__isnull=False)
                    & ~models.Q(lifted_by=models.F("lift_proposed_by"))
                ),
                name="suspension_lift_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        state = "open" if self.lifted_at is None else "lifted"
        return f"{self.ml_model_id} automation suspended ({state})"


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
    shadow_mode = models.BooleanField(
        default=False,
        help_text="Shadow mode: every case is reviewed blind and nothing is auto-approved, to "
        "compare the model with the people before go-live.",
    )
    reviewers_required = models.PositiveSmallIntegerField(
        default=1,
        help_text="Independent reviewers (1-3) a case needs when second_opinion_labels or "
        "second_opinion_below select it.",
    )
    second_opinion_labels = models.JSONField(default=list, blank=True)
    second_opinion_below = models.FloatField(
        null=True,
        blank=True,
        help_text="Cases with a confidence below this need reviewers_required reviewers.",
    )
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
            models.CheckConstraint(
                condition=models.Q(reviewers_required__gte=1, reviewers_required__lte=3),
                name="policy_reviewers_required_range",
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
        "shadow_mode",
        "reviewers_required",
        "second_opinion_labels",
        "second_opinion_below",
        "sla_minutes",
        "availability_minutes",
        "lease_minutes",
        "fallback_action",
        "reason_codes",
    )

    def rules(self) -> dict:
        return {name: getattr(self, name) for name in self.RULE_FIELDS}


class ModelDocumentation(models.Model):
    """The model card of one model version: intended use, limitations, training data
    provenance and who to call. Versioned: each save is a new ``revision`` of that version's
    card (the highest is in force). A version cannot be activated without one."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="documentation"
    )
    revision = models.PositiveIntegerField()
    intended_use = models.TextField()
    limitations = models.TextField()
    training_data = models.TextField(help_text="Training data provenance.")
    owner_contact = models.CharField(max_length=200)
    oncall_contact = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model_version", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "revision"], name="model_documentation_revision_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"documentation r{self.revision} of version {self.model_version_id}"
