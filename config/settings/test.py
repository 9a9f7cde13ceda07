"""Fast settings for the test suite. DATABASE_URL picks SQLite (default) or PostgreSQL."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-key"  # noqa: S105
DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///test.sqlite3")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["TEST"] = {"NAME": None}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl"},
}
# Limits the suite never reaches; tests of the limits set tiny ones with override_settings.
REVIEWAPP_RATE_API = "1000000/minute"
REVIEWAPP_RATE_SUBMIT_REQUESTS = "1000000/minute"
REVIEWAPP_RATE_SUBMIT_BURST = "1000000/second"
REVIEWAPP_RATE_SUBMIT_CASES = "100000000/minute"
REVIEWAPP_RATE_REVIEW = "1000000/minute"
REVIEWAPP_RATE_LOGIN_IP = "1000000/minute"
REVIEWAPP_TRUSTED_PROXIES = ""
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
REVIEWAPP_AUDIT_SEAL_LAG_S = 0
# Keep seal heads of throwaway test databases out of var/ (tests that read it override it).
REVIEWAPP_AUDIT_ANCHOR_FILE = str(Path(tempfile.gettempdir()) / "reviewapp-test-audit-anchor.jsonl")
REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
# Decisions publish at once (no undo window) unless a test of the window sets one.
REVIEWAPP_UNDO_WINDOW_S = 0
AXES_ENABLED = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
