"""The embedded default: SQLite, Celery through a file transport (no broker server), demo data."""

from config.logconfig import logging_settings

from .base import *  # noqa: F403
from .base import BASE_DIR, LOG_LEVEL, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key-not-for-production")
REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = env.bool("REVIEWAPP_WEBHOOK_ALLOW_PRIVATE", default=True)
REVIEWAPP_SHOW_DEMO_PASSWORDS = True

_celery_dir = BASE_DIR / "var" / "celery"
for _sub in ("out", "processed", "control"):
    (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_URL = env("REDIS_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "out"),
        "data_folder_out": str(_celery_dir / "out"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")

# Readable log lines for `make run` (REVIEWAPP_LOG_FORMAT=json to see what production writes).
REVIEWAPP_LOG_FORMAT = env("REVIEWAPP_LOG_FORMAT", default="text")
LOGGING = logging_settings(REVIEWAPP_LOG_FORMAT, level=LOG_LEVEL)
