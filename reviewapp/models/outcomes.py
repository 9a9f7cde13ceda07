"""Ground truth: the outcome a model's own system observed for a case later (the chargeback
came, the claim was paid), reported by the model's service account. At most one per case."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Outcome(models.Model):
    """The observed true label of one case. Reporting it again with the same label is a
    no-op (``duplicate``); a different label is refused (``conflict``): ground truth is
    recorded once, and a correction is an operator's job, not the integration's."""

    case = models.ForeignKey(
        "reviewapp.Case", on_delete=models.CASCADE, related_name="outcomes", db_index=False
    )
    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="outcomes"
    )
    label = models.CharField(max_length=200)
    observed_at = models.DateTimeField(help_text="When the caller's system observed it.")
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    request_key = models.UUIDField(
        help_text="The request that stored it (tells its own inserts from concurrent ones)."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case"], name="outcome_one_per_case")]
        indexes = [
            models.Index(fields=["ml_model", "observed_at"], name="outcome_model_observed_idx")
        ]

    def __str__(self) -> str:
        return f"outcome {self.label} of case {self.case_id}"
