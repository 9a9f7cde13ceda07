"""Labelling guidelines: per model a Markdown text plus a short definition per label and per
reason code, versioned (each save is a new row; earlier versions are kept)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

MAX_GUIDELINE_CHARS = 50_000  # the Markdown text
MAX_DEFINITION_CHARS = 500  # one label's or reason code's definition


class GuidelineVersion(models.Model):
    """One saved version of a model's guidelines. The highest ``version`` of a model is the
    one in force; decisions record the version their reviewer saw (Decision.guidelines_version).
    """

    ml_model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.PROTECT, related_name="guideline_versions"
    )
    version = models.PositiveIntegerField()
    text = models.TextField(blank=True, help_text="Markdown; rendered sanitised.")
    label_definitions = models.JSONField(
        default=dict, blank=True, help_text="Label -> short definition."
    )
    reason_definitions = models.JSONField(
        default=dict, blank=True, help_text="Reason code -> short definition."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["ml_model", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["ml_model", "version"], name="guideline_version_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="guideline_version_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ml_model_id} guidelines v{self.version}"
