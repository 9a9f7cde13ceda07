"""Celery tasks (webhooks)."""
