"""Pre-aggregated daily rollups for the dashboards, and model-health records (drift
baselines, tripwires and the alerts they raise)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class CaseDailyRollup(models.Model):
    """Cases received on one day for one model version, predicted label and confidence band
    (band = floor(confidence * 10), 0..9, with 1.0 in band 9)."""

    day = models.DateField()
    ml_model = models.ForeignKey("reviewapp.MLModel", on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(
        "reviewapp.ModelVersion", on_delete=models.CASCADE, related_name="+"
    )
    predicted_label = models.CharField(max_length=200)
    confidence_band = models.PositiveSmallIntegerField()
    received = models.PositiveIntegerField(default=0)
    auto_approved = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    sla_breached = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "ml_model", "model_version", "predicted_label", "confidence_band"],
                name="case_rollup_unique",
            )
        ]
        indexes = [models.Index(fields=["ml_model", "day"], name="case_rollup_model_day")]


class DecisionDailyRollup(models.Model):
    """Current decisions taken on one day by one reviewer, per model version, predicted label,
    confidence band and blindness. Histograms are {bucket upper bound in ms: count}."""

    day = models.DateField()
    ml_model = models.ForeignKey("reviewapp.MLModel", on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(
        "reviewapp.ModelVersion", on_delete=models.CASCADE, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    predicted_label = models.CharField(max_length=200)
    confidence_band = models.PositiveSmallIntegerField()
    was_blind = models.BooleanField(default=False)
    decided = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    overridden = models.PositiveIntegerField(default=0)
    override_reasons = models.JSONField(default=dict)
    helpful_yes = models.PositiveIntegerField(default=0)
    helpful_no = models.PositiveIntegerField(default=0)
    time_to_decision_ms_sum = models.BigIntegerField(default=0)
    time_spent_ms_sum = models.BigIntegerField(default=0)
    time_to_decision_hist = models.JSONField(default=dict)
    time_spent_hist = models.JSONField(default=dict)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "ml_model",
                    "model_version",
                    "reviewer",
                    "predicted_label",
                    "confidence_band",
                    "was_blind",
                ],
                name="decision_rollup_unique",
            )
        ]
        indexes = [models.Index(fields=["ml_model", "day"], name="decision_rollup_model_day")]


class BandDailyRollup(models.Model):
    """Per day, model version, predicted label and 0.05 confidence band (``band`` =
    floor(confidence * 20), 0..19): the cases received that day (and how many were
    auto-approved), and the current decisions taken that day (how many accepted, and the sum
    of their cases' confidence). Small (versions x labels x 20 rows a day), so the health
    page's accuracy, reliability curve and threshold what-if and the model page's version
    figures read any period, all time included, without scanning cases. An accept keeps the
    model's label and an override changes it (``services.decisions``), so ``accepted`` is
    also the count of decisions whose final label is the model's."""

    day = models.DateField()
    ml_model = models.ForeignKey("reviewapp.MLModel", on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(
        "reviewapp.ModelVersion", on_delete=models.CASCADE, related_name="+"
    )
    predicted_label = models.CharField(max_length=200)
    band = models.PositiveSmallIntegerField()
    received = models.PositiveIntegerField(default=0)
    auto_approved = models.PositiveIntegerField(default=0)
    decided = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    confidence_sum = models.FloatField(default=0.0)
    refreshed_at = models.DateTimeField(default=timezone.now)

    # The counted columns: summed by the refresh's readers (``selectors.rollup_reads``).
    COUNTS = ("received", "auto_approved", "decided", "accepted", "confidence_sum")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "ml_model", "model_version", "predicted_label", "band"],
                name="band_rollup_unique",
            )
        ]
        indexes = [models.Index(fields=["ml_model", "day"], name="band_rollup_model_day")]


class SegmentDailyRollup(models.Model):
    """Per day, model and segment (a declared segment field and one of its values): cases
    received, sent to people, decisions and their outcome, and ground-truth outcomes, so the
    adoption and quality figures break down by segment without scanning cases."""

    day = models.DateField()
    ml_model = models.ForeignKey("reviewapp.MLModel", on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=64)
    value = models.CharField(max_length=200)
    received = models.PositiveIntegerField(default=0)
    auto_approved = models.PositiveIntegerField(default=0)
    to_people = models.PositiveIntegerField(default=0)
    decided = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    overridden = models.PositiveIntegerField(default=0)
    outcomes = models.PositiveIntegerField(default=0)
    outcomes_auto_approved = models.PositiveIntegerField(default=0)
    outcomes_model_correct = models.PositiveIntegerField(default=0)
    outcomes_final_correct = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField(default=timezone.now)

    # The counted columns, in this order: summed by the refresh and by the readers.
    COUNTS = (
        "received",
        "auto_approved",
        "to_people",
        "decided",
        "accepted",
        "overridden",
        "outcomes",
        "outcomes_auto_approved",
        "outcomes_model_correct",
        "outcomes_final_correct",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "ml_model", "field", "value"], name="segment_rollup_key"
            )
        ]
        indexes = [models.Index(fields=["ml_model", "day"], name="segment_rollup_model_day")]


class DriftBaseline(models.Model):
    """The reference window a model owner picked for drift: per-feature and confidence
    distributions (bin edges or categories with their shares)."""

    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="baselines"
    )
    model_version = models.ForeignKey(
        "reviewapp.ModelVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    n_cases = models.PositiveIntegerField(default=0)
    confidence_distribution = models.JSONField(default=dict)
    feature_distributions = models.JSONField(default=dict)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ml_model"], condition=models.Q(is_active=True), name="baseline_one_active"
            )
        ]


class TripwireKind(models.TextChoices):
    OVERRIDE_RATE_RISE = (
        "override_rate_rise",
        "Override rate up by at least N points against the window before",
    )
    FEATURE_PSI = "feature_psi", "PSI above N on any input feature"
    CONFIDENCE_PSI = "confidence_psi", "PSI above N on the confidence distribution"
    QUEUE_AGE = "queue_age", "Oldest waiting case older than the SLA"
    ACCURACY_DROP = "accuracy_drop", "Live accuracy below N"
    ACCURACY_DROP_FROM_BASELINE = (
        "accuracy_drop_from_baseline",
        "Live accuracy down by at least N against the window before",
    )
    VOLUME_DROP = "volume_drop", "Hourly volume below N x the trailing hourly rate, or silent"
    LABEL_MIX_PSI = "label_mix_psi", "PSI above N on the predicted-label mix"


class TripwireAction(models.TextChoices):
    ALERT = "alert", "Raise an alert"
    SUSPEND = "suspend", "Raise an alert and suspend automation"


class Tripwire(models.Model):
    """A rule on a model's health that raises an alert when it trips (and, for the
    ``suspend`` action, suspends the model's automation: the circuit breaker)."""

    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="tripwires"
    )
    kind = models.CharField(max_length=32, choices=TripwireKind.choices)
    threshold = models.FloatField()
    window_days = models.PositiveIntegerField(default=7)
    action = models.CharField(
        max_length=8, choices=TripwireAction.choices, default=TripwireAction.ALERT
    )
    enabled = models.BooleanField(default=True)
    notify_url = models.URLField(max_length=500, blank=True)
    notify_email = models.EmailField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)


class Alert(models.Model):
    """A tripwire that tripped: shown as a banner to managers and model owners until resolved."""

    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="alerts"
    )
    tripwire = models.ForeignKey(
        Tripwire, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    kind = models.CharField(max_length=32, choices=TripwireKind.choices)
    message = models.CharField(max_length=500)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tripwire"],
                condition=models.Q(resolved_at__isnull=True),
                name="alert_one_open",
            )
        ]
