"""Reads of model documentation (``models.ModelDocumentation``): the card in force for a
version (its highest revision), the revision history, and which versions of a model are
documented at all (for the model page's versions table and the activation check)."""

from __future__ import annotations

from django.db.models import Max

from reviewapp.models import MLModel, ModelDocumentation, ModelVersion
from reviewapp.validation import text_problem

HISTORY_LIMIT = 20
MAX_VERSION_CHARS = 64  # ModelVersion.version's length


def documentation_current(version: ModelVersion) -> ModelDocumentation | None:
    """The documentation in force for VERSION (its highest revision), or None."""
    return (
        ModelDocumentation.objects.filter(model_version=version)
        .select_related("created_by")
        .order_by("-revision")
        .first()
    )


def documentation_history(
    version: ModelVersion, *, limit: int = HISTORY_LIMIT
) -> list[ModelDocumentation]:
    """The latest LIMIT revisions of VERSION's documentation, newest (in force) first."""
    return list(
        ModelDocumentation.objects.filter(model_version=version)
        .select_related("created_by")
        .order_by("-revision")[:limit]
    )


def documentation_revision(version_id: int) -> int | None:
    """The revision in force for the version with id VERSION_ID, or None when undocumented."""
    return ModelDocumentation.objects.filter(model_version_id=version_id).aggregate(
        r=Max("revision")
    )["r"]


def documentation_revisions(ml_model: MLModel) -> dict[int, int]:
    """Version id -> revision in force, for every documented version of ML_MODEL (one
    query); a version missing from the result has no documentation."""
    rows = (
        ModelDocumentation.objects.filter(model_version__ml_model=ml_model)
        .values("model_version_id")
        .annotate(r=Max("revision"))
        .order_by()
    )
    return {row["model_version_id"]: row["r"] for row in rows}


def model_version_named(ml_model: MLModel, name: str) -> ModelVersion | None:
    """The version of ML_MODEL called NAME (``2.3.0``), or None (also for a name no
    version can have: too long, or with a NUL that PostgreSQL text cannot hold)."""
    if len(name) > MAX_VERSION_CHARS or text_problem(name):
        return None
    return (
        ModelVersion.objects.filter(ml_model=ml_model, version=name)
        .select_related("ml_model")
        .first()
    )
