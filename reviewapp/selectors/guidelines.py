"""Reads of a model's labelling guidelines (reviewapp.models.guidelines)."""

from django.db.models import QuerySet

from reviewapp.models import GuidelineVersion, MLModel
from reviewapp.selectors.rows import row_values


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
    rows = row_values(_latest_version_number, ml_model_id)
    return rows[0][0] if rows else None


def _latest_version_number(ml_model_id: int) -> QuerySet:
    """The highest version number (the SQL is compiled once: this runs with every decision)."""
    return (
        GuidelineVersion.objects.filter(ml_model_id=ml_model_id)
        .order_by("-version")
        .values_list("version")[:1]
    )
