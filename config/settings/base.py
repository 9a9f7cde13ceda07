"""Settings shared by every mode. Values come from the environment (django-environ)."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab

from config.logconfig import logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "reviewapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "reviewapp.middleware.RequestContextMiddleware",
    # Latency histogram and one access log line per request (inside the request context).
    "reviewapp.observability.ObservabilityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    # Failed sign-ins per client address, review actions per person (README, "Limits").
    "reviewapp.middleware.RateLimitMiddleware",
    # A 400 for query strings no API operation can use (NUL characters), before any view.
    "reviewapp.api.querystring.ApiQueryStringMiddleware",
    # Innermost, so that the pages and JSON bodies it makes still get the headers above.
    "reviewapp.error_pages.ErrorPageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviewapp.context_processors.navigation",
            ],
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions: readers never block the writer and writers queue
    # instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "reviewapp.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Security defaults that hold in every mode; production.py tightens transport security.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)

# Content Security Policy (django-csp 4): nothing from other origins, no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Login lockout (django-axes): 5 failures per user+client address lock for 15 minutes. The
# address is the proxy-aware one of reviewapp.middleware.client_ip (REVIEWAPP_TRUSTED_PROXIES),
# the same the rate limits and the audit log use. Failures per address alone, whatever the
# username (password spraying), are REVIEWAPP_RATE_LOGIN_IP below.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "reviewapp.middleware.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Proxies whose X-Forwarded-For is believed: empty (none, the default), a number of proxy
# hops, or comma-separated addresses/CIDR networks ("10.0.0.0/8,192.168.1.10").
REVIEWAPP_TRUSTED_PROXIES = env("REVIEWAPP_TRUSTED_PROXIES", default="")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "reviewapp.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSONParser, plus a 400 for NaN/Infinity and for bodies nested too deeply to parse.
    "DEFAULT_PARSER_CLASSES": ["reviewapp.api.parsers.ReviewAppJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "reviewapp.api.exceptions.api_exception_handler",
    # Fail-open limits on the shared cache (reviewapp/api/throttling.py, README "Limits"):
    # one class that takes every limit of a request in one round trip.
    "DEFAULT_THROTTLE_CLASSES": ["reviewapp.api.throttling.ApiThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "reviewapp API",
    "DESCRIPTION": "Submit ML predictions for human review and read the decisions back.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reviewapp.api.schema.close_request_bodies",
    ],
    # One named enum per choice set shared by several components (reviewapp/api/serializers.py).
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "reviewapp.models.cases.CaseStatus",
        "DecisionActionEnum": "reviewapp.models.cases.DecisionAction",
        "FallbackActionEnum": "reviewapp.models.registry.FallbackAction",
    },
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl"},
}
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        # Recomputable figures only: a Redis outage makes reads misses, never errors.
        "default": {
            "BACKEND": "reviewapp.cache_backends.FailSafeRedisCache",
            "LOCATION": REDIS_URL,
        },
        # Rate-limit counters: short timeouts, so that a Redis that hangs fails open quickly.
        "ratelimit": {
            # Django's RedisCache with one client per pool and one round trip per request.
            "BACKEND": "reviewapp.cache_backends.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        },
    }

# Rate limits (reviewapp/services/ratelimit.py; README, "Limits"): "N/period" such as
# "600/minute" or "30/10minute"; "off" disables one. Counted in the "ratelimit" cache; when
# it is down every limit allows (fail open), retrying the cache after RETRY_S seconds.
REVIEWAPP_RATE_LIMIT_CACHE = "ratelimit"
REVIEWAPP_RATE_LIMIT_RETRY_S = env.float("REVIEWAPP_RATE_LIMIT_RETRY_S", default=5.0)
REVIEWAPP_RATE_API = env(
    "REVIEWAPP_RATE_API", default=env("API_THROTTLE_RATE", default="3000/minute")
)
REVIEWAPP_RATE_SUBMIT_REQUESTS = env("REVIEWAPP_RATE_SUBMIT_REQUESTS", default="600/minute")
REVIEWAPP_RATE_SUBMIT_BURST = env("REVIEWAPP_RATE_SUBMIT_BURST", default="100/second")
REVIEWAPP_RATE_SUBMIT_CASES = env("REVIEWAPP_RATE_SUBMIT_CASES", default="60000/minute")
REVIEWAPP_RATE_REVIEW = env("REVIEWAPP_RATE_REVIEW", default="600/minute")
REVIEWAPP_RATE_LOGIN_IP = env("REVIEWAPP_RATE_LOGIN_IP", default="30/10minute")

# Email (alert notifications): EMAIL_URL such as smtp+tls://user:password@smtp.example.com:587
# (django-environ's email_url; the default prints mails on the console). Alert emails are
# outbox deliveries ("alert.email", reviewapp/services/webhooks.py), retried like webhooks;
# EMAIL_TIMEOUT bounds one attempt. REVIEWAPP_ALERT_SIGNING_SECRET signs alert webhooks of
# models that have no webhook secret of their own (unsigned when empty).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="reviewapp@localhost")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
REVIEWAPP_ALERT_FROM_EMAIL = env("REVIEWAPP_ALERT_FROM_EMAIL", default=DEFAULT_FROM_EMAIL)
REVIEWAPP_ALERT_SIGNING_SECRET = env("REVIEWAPP_ALERT_SIGNING_SECRET", default="")

# Celery
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE = {
    "seal-audit": {"task": "reviewapp.tasks.audit_seal_task", "schedule": 60.0},
    "expire-leases": {"task": "reviewapp.tasks.leases_expire_task", "schedule": 30.0},
    "sla-escalate": {"task": "reviewapp.tasks.sla_escalate_task", "schedule": 60.0},
    "availability-expire": {"task": "reviewapp.tasks.cases_expire_task", "schedule": 300.0},
    "webhooks-due": {
        "task": "reviewapp.tasks.webhooks_send_due_task",
        "schedule": env.float("REVIEWAPP_WEBHOOK_SWEEP_S", default=30.0),
    },
    "rollups-refresh": {
        "task": "reviewapp.tasks.rollups_refresh_task",
        "schedule": crontab(minute="*/5"),
    },
    "tripwires-check": {
        "task": "reviewapp.tasks.tripwires_check_task",
        "schedule": crontab(minute="*/10"),
    },
    # Retention (reviewapp/services/retention.py): finished cases past their model's
    # retention_days lose their content, once a day at REVIEWAPP_RETENTION_HOUR (UTC).
    "retention-apply": {
        "task": "reviewapp.tasks.retention_apply_task",
        "schedule": crontab(minute=17, hour=env.int("REVIEWAPP_RETENTION_HOUR", default=3)),
    },
    # Its recorded last run is the worker heartbeat (/metrics, the system page).
    "worker-heartbeat": {"task": "reviewapp.tasks.worker_heartbeat_task", "schedule": 30.0},
    # The audit chain from the last verification on (reviewapp.services.audit,
    # audit_verify_incremental); a broken chain fails the run (job failure metric and alert).
    "verify-audit": {"task": "reviewapp.tasks.audit_verify_task", "schedule": crontab(minute=23)},
}

# reviewapp
REVIEWAPP_MAX_CASE_BYTES = 256 * 1024
REVIEWAPP_MAX_BATCH_ITEMS = 1000
REVIEWAPP_MAX_BATCH_BYTES = env.int("REVIEWAPP_MAX_BATCH_BYTES", default=4 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REVIEWAPP_MAX_BATCH_BYTES
# Input limits (reviewapp/validation.py), checked on every string, key and number of a
# submitted case: deeper nesting, longer keys or strings, NUL characters, lone surrogates and
# non-finite numbers are the item's own 400 error. Depth counts the case object as level 1.
REVIEWAPP_MAX_JSON_DEPTH = env.int("REVIEWAPP_MAX_JSON_DEPTH", default=32)
REVIEWAPP_MAX_JSON_KEY_CHARS = env.int("REVIEWAPP_MAX_JSON_KEY_CHARS", default=200)
REVIEWAPP_MAX_JSON_STRING_CHARS = env.int("REVIEWAPP_MAX_JSON_STRING_CHARS", default=100_000)
REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = env.bool("REVIEWAPP_WEBHOOK_ALLOW_PRIVATE", default=False)
REVIEWAPP_WEBHOOK_TIMEOUT_S = env.float("REVIEWAPP_WEBHOOK_TIMEOUT_S", default=5.0)
# Degraded operation (README, "Failure modes"): /readyz calls the outbox stale when its oldest
# undelivered delivery is older than this; a broker failure keeps web processes off the
# broker for REVIEWAPP_BROKER_RETRY_S (reviewapp.jobs).
REVIEWAPP_OUTBOX_STALE_S = env.int("REVIEWAPP_OUTBOX_STALE_S", default=600)
REVIEWAPP_BROKER_RETRY_S = env.float("REVIEWAPP_BROKER_RETRY_S", default=5.0)
# Periodic jobs claim their period in this cache before a run that beat sent (reviewapp.jobs,
# JobTask): two beats never run a job twice in one period. It must be shared by every worker
# (Redis when REDIS_URL is set) and raise its errors (a failure fails open).
REVIEWAPP_JOB_LOCK_CACHE = "ratelimit"
REVIEWAPP_WEBHOOK_MAX_ATTEMPTS = 8
# Personal data (reviewapp/pii.py): fields named in a model's pii_fields are masked as
# "pii:" + 16 hex digits of HMAC-SHA256(REVIEWAPP_PII_SALT, value). Empty: a key derived from
# SECRET_KEY (set it in production, so that rotating SECRET_KEY keeps masked values stable).
REVIEWAPP_PII_SALT = env("REVIEWAPP_PII_SALT", default="")
# The review workflow (README, "Skip and undo"): a skipped case is offered to the same reviewer
# again only after REVIEWAPP_SKIP_COOLDOWN_S unless nothing else waits; a reviewer may undo
# their decision for REVIEWAPP_UNDO_WINDOW_S, and nothing is published before that (0: no undo).
REVIEWAPP_SKIP_COOLDOWN_S = env.int("REVIEWAPP_SKIP_COOLDOWN_S", default=600)
REVIEWAPP_UNDO_WINDOW_S = env.float("REVIEWAPP_UNDO_WINDOW_S", default=10.0)
# A segment's accuracy is flagged as worse than the rest only with this many cases a side.
REVIEWAPP_SEGMENT_MIN_SAMPLE = env.int("REVIEWAPP_SEGMENT_MIN_SAMPLE", default=30)
REVIEWAPP_AUDIT_SEAL_LAG_S = env.int("REVIEWAPP_AUDIT_SEAL_LAG_S", default=10)
REVIEWAPP_AUDIT_SEAL_CHUNK = 1000
# Each incremental verification (the hourly job, the auditors' button, verify_audit
# --since-last) also re-hashes this many older seals, on from where the previous run stopped
# and wrapping to the first seal: every sealed event is re-checked within
# (seals / REVIEWAPP_AUDIT_SCRUB_SEALS) runs. 0 turns the scrub off.
REVIEWAPP_AUDIT_SCRUB_SEALS = env.int("REVIEWAPP_AUDIT_SCRUB_SEALS", default=100)
# The auditors' "Verify chain" button walks the seals since the last verification for at
# most this long (a person waits); what is left is said, and the hourly job carries on.
REVIEWAPP_AUDIT_VERIFY_BUTTON_S = env.float("REVIEWAPP_AUDIT_VERIFY_BUTTON_S", default=2.0)
REVIEWAPP_SHOW_DEMO_PASSWORDS = False

# Logs (config/logconfig.py; docs/operations.md, "Logs"): REVIEWAPP_LOG_FORMAT=json writes one
# JSON object per line with timestamp, level, event, request_id, route, status, duration_ms and
# the user's pseudonym (production's default); "text" one readable line (make run's default).
# A settings module that changes REVIEWAPP_LOG_FORMAT rebuilds LOGGING with logging_settings.
REVIEWAPP_LOG_FORMAT = env("REVIEWAPP_LOG_FORMAT", default="text")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = logging_settings(REVIEWAPP_LOG_FORMAT, level=LOG_LEVEL)
# Celery workers keep this logging configuration (and format) instead of installing their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Prometheus (/metrics; docs/operations.md, "Metrics"): with REVIEWAPP_METRICS_TOKEN set a
# scrape must send "Authorization: Bearer <token>"; without it only loopback clients that came
# through no proxy are answered. Under gunicorn and Celery set PROMETHEUS_MULTIPROC_DIR (an
# environment variable, read by prometheus-client) to a directory emptied at start.
REVIEWAPP_METRICS_TOKEN = env("REVIEWAPP_METRICS_TOKEN", default="")
# A Celery worker on a host without a web process serves its task metrics on this port (0: off)
# and address; its host's firewall decides who may scrape it.
REVIEWAPP_WORKER_METRICS_PORT = env.int("REVIEWAPP_WORKER_METRICS_PORT", default=0)
REVIEWAPP_WORKER_METRICS_ADDR = env("REVIEWAPP_WORKER_METRICS_ADDR", default="127.0.0.1")

# Seal heads of the audit chain, appended outside the database (see README, "Audit anchor").
REVIEWAPP_AUDIT_ANCHOR_FILE = env(
    "REVIEWAPP_AUDIT_ANCHOR_FILE", default=str(BASE_DIR / "var" / "audit-anchor.jsonl")
)
REVIEWAPP_AUDIT_ANCHOR_URL = env("REVIEWAPP_AUDIT_ANCHOR_URL", default="")

# Single sign-on: OpenID Connect through mozilla-django-oidc (reviewapp/sso.py; README "SSO
# set-up"). Off unless OIDC_RP_CLIENT_ID is set; then /oidc/authenticate/ starts the code flow
# and local password login stays for REVIEWAPP_LOCAL_LOGIN_ROLES only (break-glass admins).
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER", default="")  # when set, the ID token's "iss" must match
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile")
OIDC_USE_PKCE = env.bool("OIDC_USE_PKCE", default=True)
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
OIDC_AUTHENTICATE_CLASS = "reviewapp.sso.SSOAuthenticateView"
OIDC_CALLBACK_CLASS = "reviewapp.sso.SSOCallbackView"
REVIEWAPP_OIDC_PROVIDER_NAME = env("REVIEWAPP_OIDC_PROVIDER_NAME", default="single sign-on")
REVIEWAPP_OIDC_USERNAME_CLAIM = env("REVIEWAPP_OIDC_USERNAME_CLAIM", default="preferred_username")
REVIEWAPP_OIDC_GROUPS_CLAIM = env("REVIEWAPP_OIDC_GROUPS_CLAIM", default="groups")
# {"<IdP group>": {"role": "<role>", "team": "<team slug>"}, ...}; the first matching entry
# gives the role, every matching entry its team; a person with no mapped group is refused.
REVIEWAPP_OIDC_GROUP_MAP = env.json("REVIEWAPP_OIDC_GROUP_MAP", default={})
REVIEWAPP_LOCAL_LOGIN_ROLES = env.list("REVIEWAPP_LOCAL_LOGIN_ROLES", default=["admin"])
AUTHENTICATION_BACKENDS = [
    "reviewapp.sso.LocalPasswordBackend"
    if path == "django.contrib.auth.backends.ModelBackend"
    else path
    for path in AUTHENTICATION_BACKENDS
] + ["reviewapp.sso.SSOBackend"]
