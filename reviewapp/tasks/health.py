"""Celery tasks (model health): check the tripwires, send alert notifications."""

from celery import shared_task

from reviewapp.services.health import alert_notify, tripwires_check

__all__ = ["alert_notify_task", "tripwires_check_task"]


@shared_task(name="reviewapp.tasks.tripwires_check_task")
def tripwires_check_task() -> dict[str, int]:
    """Evaluate every enabled tripwire (beat runs this every 10 minutes)."""
    return tripwires_check()


@shared_task(name="reviewapp.tasks.alert_notify_task")
def alert_notify_task(*, alert_id: int) -> dict[str, str]:
    """Send one alert's webhook and/or email (queued after the alert's transaction commits)."""
    return alert_notify(alert_id=alert_id)
