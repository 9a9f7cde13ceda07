#!/usr/bin/env bash
# Serves the embedded default: a Celery worker with beat over the file transport in the
# background (no broker server), and Django's server in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=config.settings.local
mkdir -p var
.venv/bin/celery -A config worker --beat --pool=solo --loglevel=WARNING \
  --schedule=var/celerybeat-schedule >var/celery.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
echo "Celery worker + beat running (pid $worker, log var/celery.log)."
echo "Serving on http://127.0.0.1:8000  (Ctrl-C stops both)"
.venv/bin/python manage.py runserver 127.0.0.1:8000
