"""Cases (one prediction each) and the human decisions taken on them."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class CaseStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    AUTO_APPROVED = "auto_approved", "Auto-approved"
    QUEUED = "queued", "Queued"
    ASSIGNED = "assigned", "Assigned"
    ESCALATED = "escalated", "Escalated"
    DECIDED = "decided", "Decided"
    EXPIRED = "expired", "Expired"


class Priority(models.IntegerChoices):
    LOW = 10, "low"
    NORMAL = 20, "normal"
    HIGH = 30, "high"
    URGENT = 40, "urgent"


PRIORITY_BY_NAME = {label: value for value, label in Priority.choices}


class RoutingReason(models.TextChoices):
    LOW_CONFIDENCE = "low_confidence", "Confidence is below the review threshold"
    ALWAYS_REVIEW_LABEL = "always_review_label", "The predicted label is always reviewed"
    QA_SAMPLE = "qa_sample", "Picked by the random quality sample"
    ADVISORY_MODE = "advisory_mode", "The model is in advisory mode: every case is reviewed"
    INPUT_SCHEMA = "input_schema", "The input does not match the model's input schema"
    CANDIDATE_VERSION = (
        "candidate_version",
        "The model version is a candidate: every case is reviewed until its activation is approved",
    )
    AUTOMATION_SUSPENDED = (
        "automation_suspended",
        "Automation is suspended for the model: every case is reviewed",
    )
    SHADOW_MODE = (
        "shadow_mode",
        "The model runs in shadow mode: every case is reviewed blind before go-live",
    )
    SECOND_OPINION = (
        "second_opinion",
        "The policy asks for more than one independent reviewer",
    )


class EscalationSource(models.TextChoices):
    REVIEWER = "reviewer", "Escalated by a reviewer"
    SLA = "sla", "SLA breached"
    DISAGREEMENT = "disagreement", "Independent reviewers disagreed"


class Redaction(models.TextChoices):
    RETENTION = "retention", "Removed after the model's retention period"
    ERASURE = "erasure", "Erased on request"


# A finished case's retention clock: the field that says when it finished, per status (and a
# short name for its index). The retention job and its indexes both read this.
RETENTION_CLOCKS: tuple[tuple[str, str, str], ...] = (
    (CaseStatus.DECIDED, "decided_at", "decided"),
    (CaseStatus.AUTO_APPROVED, "created_at", "auto"),
    (CaseStatus.EXPIRED, "expired_at", "expired"),
)


class Case(models.Model):
    """One prediction submitted by a model for one input, and where it is in its lifecycle."""

    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.PROTECT, related_name="cases"
    )
    model_version = models.ForeignKey(
        "reviewapp.ModelVersion", on_delete=models.PROTECT, related_name="cases"
    )
    policy = models.ForeignKey(
        "reviewapp.RoutingPolicy", on_delete=models.PROTECT, related_name="cases"
    )
    external_id = models.CharField(max_length=200)
    body_digest = models.CharField(
        max_length=64, help_text="SHA-256 of the canonical submitted body."
    )
    intake_key = models.UUIDField(
        null=True, blank=True, help_text="The submission that created it."
    )
    input = models.JSONField()
    predicted_label = models.CharField(max_length=200)
    confidence = models.FloatField()
    scores = models.JSONField(null=True, blank=True)
    explanation = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(
        max_length=16, choices=CaseStatus.choices, default=CaseStatus.RECEIVED
    )
    routing_reasons = models.JSONField(default=list, blank=True, help_text="RoutingReason codes.")
    routing_detail = models.CharField(max_length=500, blank=True)
    is_blind = models.BooleanField(default=False)
    reviews_required = models.PositiveSmallIntegerField(
        default=1, help_text="Independent reviewers the case needs (second opinions: 2-3)."
    )
    segments = models.JSONField(
        default=dict,
        blank=True,
        help_text="Segment field -> value, read from input or metadata at intake (kept after "
        "retention removes the input).",
    )
    redacted_at = models.DateTimeField(
        null=True, blank=True, help_text="When input, metadata, explanation were removed."
    )
    redaction = models.CharField(max_length=10, choices=Redaction.choices, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_cases",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_source = models.CharField(
        max_length=16, choices=EscalationSource.choices, blank=True
    )
    escalation_note = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    fallback_applied = models.CharField(max_length=12, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ml_model", "external_id"], name="case_external_id_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1),
                name="case_confidence_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="assigned")
                | models.Q(assigned_to__isnull=False, lease_expires_at__isnull=False),
                name="case_assigned_has_claim",
            ),
        ]
        indexes = [
            # The queue: waiting cases of one model by priority then age (partial, stays small).
            models.Index(
                "ml_model",
                models.F("priority").desc(),
                "created_at",
                "id",
                condition=models.Q(status="queued"),
                name="case_queue_idx",
            ),
            models.Index(
                "ml_model",
                models.F("priority").desc(),
                "escalated_at",
                "id",
                condition=models.Q(status="escalated"),
                name="case_escalated_idx",
            ),
            models.Index(
                fields=["assigned_to", "ml_model"],
                condition=models.Q(status="assigned"),
                name="case_claims_idx",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="assigned"),
                name="case_lease_idx",
            ),
            models.Index(fields=["ml_model", "created_at"], name="case_model_created_idx"),
            # The SLA and availability jobs and the overview's expired count (partial, small).
            models.Index(
                fields=["sla_due_at"],
                condition=models.Q(status__in=["queued", "assigned"]),
                name="case_sla_idx",
            ),
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status__in=["queued", "escalated"]),
                name="case_expiry_idx",
            ),
            models.Index(
                fields=["ml_model", "expired_at"],
                condition=models.Q(status="expired"),
                name="case_expired_idx",
            ),
            # The retention job: finished cases not yet redacted, by their retention clock
            # (RETENTION_CLOCKS). A case leaves the index once redacted,
            # so finding the next batch (or that none is due) reads only due entries.
            *(
                models.Index(
                    fields=["ml_model", clock, "id"],
                    condition=models.Q(status=str(status), redacted_at__isnull=True),
                    name=f"case_retention_{name}_idx",
                )
                for status, clock, name in RETENTION_CLOCKS
            ),
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.ml_model_id}:{self.external_id})"

    @property
    def priority_name(self) -> str:
        return Priority(self.priority).label

    @property
    def routing_reason_text(self) -> str:
        return "; ".join(RoutingReason(code).label for code in self.routing_reasons)


class DecisionAction(models.TextChoices):
    ACCEPT = "accept", "Accept"
    OVERRIDE = "override", "Override"


class Decision(models.Model):
    """A person's outcome for a case. A case has at most one current decision; a lead's
    reopen marks it superseded and the next decision becomes current. A decision its reviewer
    undid within the undo window is kept for the record, superseded and ``undone_at`` set; it
    was never published (webhook, feed)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="decisions")
    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.PROTECT, related_name="decisions"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    action = models.CharField(max_length=10, choices=DecisionAction.choices)
    final_label = models.CharField(max_length=200)
    reason_code = models.CharField(max_length=64, blank=True)
    feedback = models.TextField(blank=True)
    explanation_helpful = models.BooleanField(null=True, blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    was_blind = models.BooleanField(default=False)
    decided_at = models.DateTimeField(default=timezone.now)
    feed_txid = models.BigIntegerField(
        null=True, blank=True, help_text="PostgreSQL transaction id, for a gap-free decision feed."
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(
        null=True, blank=True, help_text="Withdrawn by its reviewer within the undo window."
    )
    guidelines_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The model's guidelines version in force when decided."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(undone_at__isnull=True) | models.Q(superseded_at__isnull=False),
                name="decision_undone_is_superseded",
            ),
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(superseded_at__isnull=True),
                name="decision_one_current",
            ),
            models.CheckConstraint(
                condition=models.Q(action="accept") | ~models.Q(reason_code=""),
                name="decision_override_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["ml_model", "feed_txid", "id"], name="decision_feed_idx"),
            models.Index(fields=["ml_model", "decided_at"], name="decision_model_time_idx"),
            models.Index(fields=["reviewer", "decided_at"], name="decision_reviewer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} on case {self.case_id}"


class CaseSkip(models.Model):
    """A reviewer passed on a case they held (skip): the case went back to its queue, and
    that reviewer's claims serve other waiting cases first for REVIEWAPP_SKIP_COOLDOWN_S.
    One row per skip, so skips count per case and per reviewer."""

    # No single-column indexes: the two below lead with these columns.
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="skips", db_index=False)
    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="case_skips", db_index=False
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="case_skips",
        db_index=False,
    )
    skipped_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The claim's "not skipped by me lately" probe, per candidate case.
            models.Index(fields=["case", "reviewer", "skipped_at"], name="caseskip_pick_idx"),
            # The queue overview's counts per reviewer over a recent period.
            models.Index(fields=["ml_model", "skipped_at"], name="caseskip_model_time_idx"),
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} skipped by {self.reviewer_id}"


class CaseOpinion(models.Model):
    """One independent reviewer's answer on a case that needs more than one (second
    opinions). Not a decision: nothing is published until the required opinions agree (the
    case's Decision is then created) or a lead resolves a disagreement. A reviewer gives at
    most one live opinion per case; one they undid is kept with ``undone_at`` set."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="opinions")
    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.PROTECT, related_name="case_opinions"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="case_opinions"
    )
    action = models.CharField(max_length=10, choices=DecisionAction.choices)
    final_label = models.CharField(max_length=200)
    reason_code = models.CharField(max_length=64, blank=True)
    feedback = models.TextField(blank=True)
    explanation_helpful = models.BooleanField(null=True, blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    was_blind = models.BooleanField(default=False)
    given_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "reviewer"],
                condition=models.Q(undone_at__isnull=True),
                name="opinion_one_per_reviewer",
            ),
            models.CheckConstraint(
                condition=models.Q(action="accept") | ~models.Q(reason_code=""),
                name="opinion_override_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["ml_model", "given_at"], name="opinion_model_time_idx"),
            models.Index(fields=["reviewer", "given_at"], name="opinion_reviewer_idx"),
        ]

    def __str__(self) -> str:
        return f"opinion {self.action} on case {self.case_id} by {self.reviewer_id}"
