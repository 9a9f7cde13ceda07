"""Reads of a model's labelling guidelines (reviewapp.models.guidelines)."""

from django.db.models import Max

from reviewapp.models import GuidelineVersion, MLModel


def guidelines_current(ml_model: MLModel) -> GuidelineVersion | None:
    """The guidelines in force for ML_MODEL (its highest version), or None when none were
    written."""
    return (
        GuidelineVersion.objects.filter(ml_model=ml_model)
        .select_related("created_by")
        .order_by("-version")
        .first()
    )


def guidelines_history(ml_model: MLModel, *, limit: int = 10) -> list[GuidelineVersion]:
    """The latest LIMIT versions of ML_MODEL's guidelines, newest first."""
    return list(
        GuidelineVersion.objects.filter(ml_model=ml_model)
        .select_related("created_by")
        .order_by("-version")[:limit]
    )


def guidelines_version_number(ml_model_id: int) -> int | None:
    """The number of the version in force for the model, or None."""
    return GuidelineVersion.objects.filter(ml_model_id=ml_model_id).aggregate(v=Max("version"))["v"]
