"""Celery tasks (metrics)."""
