"""Celery tasks (webhooks): one attempt of one delivery, and the periodic sweep of due ones."""

from celery import shared_task

from reviewapp.services.webhooks import deliveries_due_claim, delivery_send

__all__ = ["webhook_deliver_task", "webhooks_send_due_task"]


@shared_task(name="reviewapp.tasks.webhook_deliver_task")
def webhook_deliver_task(*, delivery_id: int) -> str | None:
    """Attempt one delivery if it is still due (another worker may have taken it)."""
    delivery = delivery_send(delivery_id=delivery_id)
    return delivery.status if delivery else None


@shared_task(name="reviewapp.tasks.webhooks_send_due_task")
def webhooks_send_due_task(limit: int = 200) -> int:
    """Fan out every due delivery (first sends whose enqueue was lost, and retries) to
    webhook_deliver_task; each task claims its row, so duplicates are harmless."""
    ids = deliveries_due_claim(limit=limit)
    for delivery_id in ids:
        webhook_deliver_task.delay(delivery_id=delivery_id)
    return len(ids)
