"""Celery tasks (metrics): the periodic and on-demand refresh of the daily rollups."""

from datetime import date

from celery import shared_task

from reviewapp.models import MLModel
from reviewapp.services.rollups import rollups_dirty_days, rollups_refresh

__all__ = ["rollups_refresh_task"]


@shared_task(name="reviewapp.tasks.rollups_refresh_task")
def rollups_refresh_task(days: list[str] | None = None, ml_model_id: int | None = None) -> dict:
    """Recompute rollups. Without arguments (beat, every five minutes): today, yesterday and
    any older day whose cases changed since the last refresh. With ``days`` (ISO dates) and
    optionally ``ml_model_id``: exactly those (the dashboard's refresh button). The adoption
    dashboard's per-day cache is warmed for the refreshed days afterwards."""
    from reviewapp.selectors.metrics import adoption_cache_warm

    if days is None and ml_model_id is None:
        dirty = rollups_dirty_days()
        result = rollups_refresh(days=dirty)
        adoption_cache_warm(days=dirty)
        return result
    ml_model = MLModel.objects.filter(pk=ml_model_id).first() if ml_model_id else None
    if ml_model_id and ml_model is None:
        return {"days": 0, "case_rows": 0, "decision_rows": 0}
    parsed = [date.fromisoformat(d) for d in days] if days else None
    result = rollups_refresh(days=parsed, ml_model=ml_model)
    adoption_cache_warm(days=parsed, ml_models=[ml_model] if ml_model else None)
    return result
