# syntax=docker/dockerfile:1
# reviewapp's one image: web (gunicorn), worker and beat (scripts/worker.sh) run it with the
# commands of scripts/cluster.sh; compose.yaml describes the whole topology.
# Multi-stage: the build stage compiles wheels with the toolchain; the runtime stage has the
# wheels installed in a virtualenv, the source, the collected static files, and runs as an
# unprivileged user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reviewapp ./reviewapp
COPY config ./config
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    CELERY=/opt/venv/bin/celery \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 reviewapp \
 && useradd --system --uid 10001 --gid reviewapp --home-dir /app --shell /usr/sbin/nologin reviewapp
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=reviewapp:reviewapp manage.py ./
COPY --chown=reviewapp:reviewapp config ./config
COPY --chown=reviewapp:reviewapp reviewapp ./reviewapp
COPY --chown=reviewapp:reviewapp templates ./templates
COPY --chown=reviewapp:reviewapp static ./static
COPY --chown=reviewapp:reviewapp scripts ./scripts
COPY --chown=reviewapp:reviewapp ops ./ops
# Static files are collected at build time (whitenoise serves them); collectstatic needs the
# settings' variables, not their real values.
RUN mkdir -p /app/var /tmp/prometheus \
 && DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.db \
    REDIS_URL=redis://build:6379/0 python manage.py collectstatic --noinput -v 0 \
 && rm -rf /tmp/build.db /tmp/prometheus/* \
 && chown -R reviewapp:reviewapp /app/var /app/staticfiles /tmp/prometheus
USER reviewapp:reviewapp
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# The web node, as scripts/cluster.sh starts it; compose.yaml overrides the command for the
# migration job, the workers and beat.
CMD ["gunicorn", "config.wsgi:application", "-c", "ops/gunicorn.conf.py", \
     "--bind", "0.0.0.0:8000", "--workers", "2", \
     "--worker-class", "gthread", "--threads", "4", "--timeout", "60", \
     "--graceful-timeout", "20", "--log-level", "warning"]
