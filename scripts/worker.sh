#!/usr/bin/env bash
# Run one Celery process of the deployment (README, "Failure modes") and restart it whenever it
# exits, with exponential backoff:
#
#   scripts/worker.sh worker [extra celery worker options]   # the task worker
#   scripts/worker.sh beat   [extra celery beat options]     # the scheduler (exactly one)
#
# The worker already retries a lost broker forever (config/celery_app.py); this loop covers the
# rest: an "Unrecoverable error" exit (celery 5.x/kombu 5.x on some Redis restarts), an OOM kill,
# a SIGKILL. Tasks are acknowledged late and safe to run twice, and the webhook outbox is swept
# by beat, so a restarted worker picks up where the dead one stopped. Under systemd use
# Restart=always on top (README has the units); SIGTERM/SIGINT stop the child and the loop.
#
# Environment: the production settings' variables (DJANGO_SETTINGS_MODULE, DATABASE_URL,
# REDIS_URL, ...); CELERY_CONCURRENCY (default 2); CELERY_LOG_LEVEL (default info);
# CELERY_BEAT_SCHEDULE_FILE (default var/celerybeat-schedule);
# REVIEWAPP_WORKER_BACKOFF_S (first wait, default 1) and REVIEWAPP_WORKER_BACKOFF_MAX_S
# (default 60); a child that ran for 60 s or more restarts after the first wait again.
set -uo pipefail
cd "$(dirname "$0")/.."

role=${1:-worker}
shift || true
CELERY=${CELERY:-.venv/bin/celery}
[[ -x $CELERY ]] || CELERY=celery
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.production}
backoff_first=${REVIEWAPP_WORKER_BACKOFF_S:-1}
backoff_max=${REVIEWAPP_WORKER_BACKOFF_MAX_S:-60}
level=${CELERY_LOG_LEVEL:-info}

case "$role" in
  worker)
    # No gossip/mingle/heartbeat: this deployment does not use them, and their bootsteps are
    # where broker drops crash or wedge celery 5.x workers ("Error on restarting Gossip").
    cmd=("$CELERY" -A config.celery_app worker -l "$level"
         --concurrency "${CELERY_CONCURRENCY:-2}"
         --without-gossip --without-mingle --without-heartbeat "$@") ;;
  beat)
    schedule=${CELERY_BEAT_SCHEDULE_FILE:-var/celerybeat-schedule}
    mkdir -p "$(dirname "$schedule")"
    cmd=("$CELERY" -A config.celery_app beat -l "$level" -s "$schedule" "$@") ;;
  *)
    echo "usage: $0 worker|beat [celery options]" >&2
    exit 2 ;;
esac

child=0
stopping=0
stop() {
  stopping=1
  if (( child )); then kill -TERM "$child" 2>/dev/null; wait "$child"; fi
  exit 0
}
trap stop TERM INT

wait_s=$backoff_first
while true; do
  started=$SECONDS
  "${cmd[@]}" &
  child=$!
  wait "$child"
  status=$?
  child=0
  (( stopping )) && exit 0
  if (( SECONDS - started >= 60 )); then wait_s=$backoff_first; fi
  echo "$(date -u +%FT%TZ) scripts/worker.sh: celery $role exited with status $status;" \
       "restarting in ${wait_s} s" >&2
  sleep "$wait_s" &
  child=$!
  wait "$child"
  child=0
  wait_s=$(( wait_s * 2 > backoff_max ? backoff_max : wait_s * 2 ))
done
