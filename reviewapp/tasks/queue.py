"""Celery tasks (queue)."""
