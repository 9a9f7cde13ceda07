"""Decisions back to the calling systems: the transactional outbox of webhook deliveries."""

from reviewapp.models import Decision


def decision_publish(*, decision: Decision) -> None:
    """Called by case_decide inside its transaction: queue the decision for the model's
    webhook (when one is registered). The pull feed needs nothing here: it reads decisions."""
