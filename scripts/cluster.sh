#!/usr/bin/env bash
# A multi-node reviewapp on loopback (README, "Cluster"; compose.yaml is the same topology in
# containers, with the same commands):
#
#   nginx (Debian's) ── web1: gunicorn ─┐
#                    └─ web2: gunicorn ─┼── PostgreSQL, Redis
#   worker1, worker2: Celery (scripts/worker.sh) ─┤
#   beat: Celery beat, one (scripts/worker.sh) ───┘
#
#   scripts/cluster.sh up       migrate, collect static files, start everything, wait for
#                               /readyz through nginx
#   scripts/cluster.sh status   each process (pid, alive or dead) and /readyz through nginx
#   scripts/cluster.sh down     stop what `up` started (by the pids it recorded), nothing else
#
# Environment (defaults in brackets):
#   CLUSTER_DIR [var/cluster]    pids, logs, the rendered nginx config, own PostgreSQL/Redis data
#   CLUSTER_PORT [18100]         nginx on 127.0.0.1: the one address clients use
#   CLUSTER_WEB1_PORT [18101], CLUSTER_WEB2_PORT [18102]   the gunicorn nodes
#   DATABASE_URL                 PostgreSQL to use (its database is created when missing); unset:
#                                an own server in $CLUSTER_DIR/pg on CLUSTER_PG_PORT [18104]
#   REDIS_URL                    Redis to use; unset: an own redis-server on CLUSTER_REDIS_PORT
#                                [18103] (no persistence)
#   DJANGO_SECRET_KEY            unset: one generated into $CLUSTER_DIR/secret-key (kept)
#   WEB_WORKERS [2], WEB_THREADS [4]   gunicorn processes and gthread threads per node
#   CELERY_CONCURRENCY [2]       per worker; any REVIEWAPP_* / DJANGO_* variable passes through
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CLUSTER_DIR=${CLUSTER_DIR:-var/cluster}
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR=$(cd "$CLUSTER_DIR" && pwd)
RUN=$CLUSTER_DIR/run
LOGS=$CLUSTER_DIR/logs
HOST=127.0.0.1
PORT=${CLUSTER_PORT:-18100}
WEB1_PORT=${CLUSTER_WEB1_PORT:-18101}
WEB2_PORT=${CLUSTER_WEB2_PORT:-18102}
REDIS_PORT=${CLUSTER_REDIS_PORT:-18103}
PG_PORT=${CLUSTER_PG_PORT:-18104}
NGINX=${NGINX:-/usr/sbin/nginx}
PY=$ROOT/.venv/bin/python
[[ -x $PY ]] || PY=python3
GUNICORN=$ROOT/.venv/bin/gunicorn
[[ -x $GUNICORN ]] || GUNICORN=gunicorn
# Start order; `down` stops in the reverse order. Each name has a pid file in $RUN.
PROCESSES=(postgres redis web1 web2 nginx worker1 worker2 beat)

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

pid_of() { [[ -f $RUN/$1.pid ]] && cat "$RUN/$1.pid" || true; }

# What the command line of each process must contain: a pid file whose pid was reused by an
# unrelated process is never signalled.
signature() {
  case $1 in
    postgres) echo postgres ;;
    redis) echo redis-server ;;
    web1 | web2) echo gunicorn ;;
    nginx) echo nginx ;;
    worker1 | worker2 | beat) echo worker.sh ;;
  esac
}

alive() {
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$(signature "$1")"
}

# start NAME COMMAND...: in a session of its own (so that `down` can find and, if need be,
# SIGKILL the whole group: gunicorn's master and workers, worker.sh and its celery), output
# to $LOGS/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$what did not come up within ${seconds} s (logs: $LOGS)"
}

http_ok() { curl -fsS --max-time 3 -o /dev/null "$1"; }

settings_env() {
  export DJANGO_SETTINGS_MODULE=config.settings.production
  export DATABASE_URL REDIS_URL DJANGO_SECRET_KEY
  export DJANGO_ALLOWED_HOSTS=${DJANGO_ALLOWED_HOSTS:-127.0.0.1,localhost}
  # Plain HTTP on loopback: no redirect to https (a TLS proxy in front would set it back).
  export DJANGO_SECURE_SSL_REDIRECT=${DJANGO_SECURE_SSL_REDIRECT:-false}
  # nginx is the one proxy, on this address; it replaces X-Forwarded-For with its peer.
  export REVIEWAPP_TRUSTED_PROXIES=${REVIEWAPP_TRUSTED_PROXIES:-$HOST}
  export REVIEWAPP_AUDIT_ANCHOR_FILE=${REVIEWAPP_AUDIT_ANCHOR_FILE:-$CLUSTER_DIR/audit-anchor.jsonl}
  export CELERY_BEAT_SCHEDULE_FILE=$CLUSTER_DIR/celerybeat-schedule
}

postgres_up() {
  if [[ -n ${DATABASE_URL:-} ]]; then
    # An existing server: create the database when it is missing.
    "$PY" - "$DATABASE_URL" <<'PYEOF'
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg

url = urlsplit(sys.argv[1])
name = url.path.lstrip("/")
admin = urlunsplit(url._replace(path="/postgres"))
with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        conn.execute(f'CREATE DATABASE "{name}"')
        print(f"cluster: database {name} created", file=sys.stderr)
PYEOF
    return
  fi
  local bin data=$CLUSTER_DIR/pg as=()
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [[ -n $bin ]] || bin=$(dirname "$(command -v pg_ctl)")
  # PostgreSQL refuses to run as root: as root, its files belong to the postgres user.
  if [[ $(id -u) == 0 ]]; then as=(runuser -u postgres --); fi
  if [[ ! -s $data/PG_VERSION ]]; then
    mkdir -p "$data"
    [[ $(id -u) == 0 ]] && chown postgres "$data"
    "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >>"$LOGS/postgres.log"
  fi
  [[ $(id -u) == 0 ]] && chown postgres "$LOGS/postgres.log"
  start postgres "${as[@]}" "$bin/postgres" -D "$data" -p "$PG_PORT" -c listen_addresses=$HOST \
    -k "$data" -c fsync=off
  DATABASE_URL="postgres://postgres@$HOST:$PG_PORT/reviewapp"
  wait_for 30 PostgreSQL "$bin/pg_isready" -h $HOST -p "$PG_PORT" -q
  "$bin/psql" -h $HOST -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'reviewapp'" | grep -q 1 \
    || "$bin/createdb" -h $HOST -p "$PG_PORT" -U postgres reviewapp
}

redis_up() {
  if [[ -n ${REDIS_URL:-} ]]; then return; fi
  start redis redis-server --port "$REDIS_PORT" --bind $HOST --save "" --appendonly no \
    --protected-mode yes --dir "$CLUSTER_DIR"
  REDIS_URL="redis://$HOST:$REDIS_PORT/0"
  wait_for 10 Redis redis-cli -h $HOST -p "$REDIS_PORT" ping
}

web_up() {  # web_up NAME PORT
  local dir=$CLUSTER_DIR/prometheus/$1
  rm -rf "$dir" && mkdir -p "$dir"
  PROMETHEUS_MULTIPROC_DIR=$dir start "$1" "$GUNICORN" config.wsgi:application \
    -c ops/gunicorn.conf.py \
    --bind "$HOST:$2" --workers "${WEB_WORKERS:-2}" --worker-class gthread \
    --threads "${WEB_THREADS:-4}" --timeout 60 --graceful-timeout 20 \
    --log-level warning
}

nginx_up() {
  local conf=$CLUSTER_DIR/nginx
  mkdir -p "$conf/tmp"
  REVIEWAPP_LISTEN="$HOST:$PORT" REVIEWAPP_WEB1="$HOST:$WEB1_PORT" \
    REVIEWAPP_WEB2="$HOST:$WEB2_PORT" \
    envsubst '${REVIEWAPP_LISTEN} ${REVIEWAPP_WEB1} ${REVIEWAPP_WEB2}' \
    <deploy/nginx.conf.template >"$conf/reviewapp.conf"
  cat >"$conf/nginx.conf" <<EOF
# Rendered by scripts/cluster.sh; the site itself is deploy/nginx.conf.template.
worker_processes 1;
pid $conf/nginx.pid;
error_log $LOGS/nginx-error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $conf/tmp/body;
    proxy_temp_path $conf/tmp/proxy;
    fastcgi_temp_path $conf/tmp/fastcgi;
    uwsgi_temp_path $conf/tmp/uwsgi;
    scgi_temp_path $conf/tmp/scgi;
    include $conf/reviewapp.conf;
}
EOF
  "$NGINX" -t -q -p "$conf" -c "$conf/nginx.conf" 2>>"$LOGS/nginx-error.log" \
    || die "nginx rejected $conf/nginx.conf (see $LOGS/nginx-error.log)"
  start nginx "$NGINX" -p "$conf" -c "$conf/nginx.conf" -g "daemon off;"
}

celery_up() {  # celery_up NAME ROLE [celery options]
  local name=$1 role=$2 dir=$CLUSTER_DIR/prometheus/$1
  shift 2
  rm -rf "$dir" && mkdir -p "$dir"
  PROMETHEUS_MULTIPROC_DIR=$dir start "$name" bash scripts/worker.sh "$role" "$@"
}

cmd_up() {
  for name in "${PROCESSES[@]}"; do
    alive "$name" && die "$name is already running (pid $(pid_of "$name")); run down first"
  done
  local port ports=("$PORT" "$WEB1_PORT" "$WEB2_PORT")
  [[ -z ${REDIS_URL:-} ]] && ports+=("$REDIS_PORT")
  [[ -z ${DATABASE_URL:-} ]] && ports+=("$PG_PORT")
  for port in "${ports[@]}"; do
    if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
      die "port $port on $HOST is taken by another process; choose other CLUSTER_*_PORT values"
    fi
  done
  mkdir -p "$RUN" "$LOGS"
  rm -f "$RUN"/*.pid
  local started=$SECONDS
  postgres_up
  redis_up
  if [[ -z ${DJANGO_SECRET_KEY:-} ]]; then
    [[ -s $CLUSTER_DIR/secret-key ]] \
      || (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' \
        >"$CLUSTER_DIR/secret-key")
    DJANGO_SECRET_KEY=$(cat "$CLUSTER_DIR/secret-key")
  fi
  settings_env
  # Both files describe the cluster to `status` and `down` (and to tests), secrets excluded.
  {
    echo "DATABASE_URL=$DATABASE_URL"
    echo "REDIS_URL=$REDIS_URL"
    echo "URL=http://$HOST:$PORT"
    echo "WEB1=http://$HOST:$WEB1_PORT"
    echo "WEB2=http://$HOST:$WEB2_PORT"
  } >"$CLUSTER_DIR/cluster.env"
  say "migrating $DATABASE_URL"
  "$PY" manage.py migrate --noinput -v 0
  "$PY" manage.py collectstatic --noinput -v 0
  web_up web1 "$WEB1_PORT"
  web_up web2 "$WEB2_PORT"
  wait_for 60 web1 http_ok "http://$HOST:$WEB1_PORT/healthz"
  wait_for 60 web2 http_ok "http://$HOST:$WEB2_PORT/healthz"
  nginx_up
  celery_up worker1 worker -n "worker1@%h"
  celery_up worker2 worker -n "worker2@%h"
  celery_up beat beat
  wait_for 30 "nginx (/readyz)" http_ok "http://$HOST:$PORT/readyz"
  say "up in $((SECONDS - started)) s: http://$HOST:$PORT (logs: $LOGS)"
}

cmd_status() {
  local status=0 pid
  for name in "${PROCESSES[@]}"; do
    pid=$(pid_of "$name")
    [[ -z $pid ]] && continue
    if alive "$name"; then
      printf '%-8s pid %-7s running\n' "$name" "$pid"
    else
      printf '%-8s pid %-7s DEAD\n' "$name" "$pid"
      status=1
    fi
  done
  [[ -d $RUN ]] && [[ -n $(ls "$RUN"/*.pid 2>/dev/null) ]] || { echo "cluster: not up"; return 3; }
  local body
  if body=$(curl -sS --max-time 5 -w ' (HTTP %{http_code})' "http://$HOST:$PORT/readyz" 2>&1); then
    echo "readyz via nginx http://$HOST:$PORT: $body"
  else
    echo "readyz via nginx http://$HOST:$PORT: no answer ($body)"
    status=1
  fi
  return $status
}

# Processes of the session NAME's recorded pid started (setsid made it a session leader) that
# still carry NAME's signature: a gunicorn master killed with -9 leaves its workers behind.
leftovers() {
  local name=$1 pid
  pid=$(pid_of "$name")
  [[ -z $pid ]] && return 0
  ps -e -o pid=,sid=,args= | awk -v sid="$pid" -v sig="$(signature "$name")" \
    '$2 == sid && index($0, sig) { print $1 }'
}

stop_one() {  # stop_one NAME: SIGTERM, then SIGKILL its process group after 20 s
  local name=$1 pid rest
  pid=$(pid_of "$name")
  [[ -z $pid ]] && return 0
  if alive "$name"; then
    if [[ $name == postgres ]]; then
      local as=()
      [[ $(id -u) == 0 ]] && as=(runuser -u postgres --)
      "${as[@]}" "$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)/pg_ctl" \
        stop -D "$CLUSTER_DIR/pg" -m fast -s || true
    else
      # The leader only: gunicorn's master stops its workers gracefully, worker.sh forwards
      # the signal to celery (warm shutdown), nginx and redis-server stop.
      kill -TERM "$pid" 2>/dev/null || true
    fi
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) still running after 20 s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rest=$(leftovers "$name")
  if [[ -n $rest ]]; then
    say "stopping what $name left behind: $(echo $rest)"
    # shellcheck disable=SC2086
    kill -KILL $rest 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

cmd_down() {
  local i
  for ((i = ${#PROCESSES[@]} - 1; i >= 0; i--)); do
    stop_one "${PROCESSES[i]}"
  done
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
