"""Celery tasks (retention): the daily removal of finished cases' content past their model's
retention period."""

from celery import shared_task

from reviewapp.services.retention import retention_apply

__all__ = ["retention_apply_task"]


# A backlog (retention switched on for a model with years of cases) takes more than the
# default task time limit; the run stops cleanly between batches at its budget and the next
# daily run (or ``manage.py apply_retention``, which has no budget) carries on.
TIME_BUDGET_S = 50 * 60


@shared_task(
    name="reviewapp.tasks.retention_apply_task",
    soft_time_limit=TIME_BUDGET_S + 240,
    time_limit=TIME_BUDGET_S + 300,
)
def retention_apply_task() -> dict:
    """Remove the content of every finished case past its model's retention period (beat:
    daily). Batched and restartable: each batch commits on its own, a run stops between
    batches after TIME_BUDGET_S and the next run carries on; its JobRun row (the system
    page) records each run."""
    run = retention_apply(max_seconds=TIME_BUDGET_S)
    return {
        "cases": run.cases,
        "batches": run.batches,
        "by_model": run.by_model,
        "finished": run.finished,
    }
