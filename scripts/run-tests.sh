#!/usr/bin/env bash
# The import contracts, then the whole suite on SQLite, then again on PostgreSQL (with Redis)
# when they answer.
# With CI=true, PostgreSQL, Redis and Chromium are required: a missing one fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
CI=${CI:-}
in_ci() { [[ "${CI,,}" == "true" || "$CI" == "1" ]]; }

PG_ADMIN_URL=${TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}

pg_answers() {
  $PY - "$PG_ADMIN_URL" <<'PYEOF'
import sys
import psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL does not answer: {exc}", file=sys.stderr)
    sys.exit(1)
PYEOF
}

have_pg=0
if pg_answers; then have_pg=1; fi
if in_ci; then
  [[ $have_pg == 1 ]] || { echo "CI=true: PostgreSQL is required and does not answer" >&2; exit 1; }
  [[ -x /usr/bin/chromium ]] || { echo "CI=true: /usr/bin/chromium is required" >&2; exit 1; }
fi

# The import contracts of pyproject.toml ([tool.importlinter]) first: a broken one fails the run.
echo "== import contracts (lint-imports)"
.venv/bin/lint-imports --no-cache

status=0
if [[ $have_pg == 1 ]]; then
  echo "== pass 1/2: SQLite (browser and fault-injection tests run in the PostgreSQL pass)"
  DATABASE_URL=sqlite:///test.sqlite3 $PY -m pytest -q -m "not browser and not faults" \
    -p no:cacheprovider || status=$?
  # A fresh database per run: pytest-django creates test_<name> and drops it afterwards.
  db="reviewapp_$$"
  base=${PG_ADMIN_URL%/*}
  echo "== pass 2/2: PostgreSQL ($base/test_$db) and Redis ($REDIS_URL)"
  DATABASE_URL="$base/$db" $PY -m pytest -q --create-db -p no:cacheprovider || status=$?
else
  echo "== PostgreSQL does not answer: one SQLite pass; PostgreSQL-only tests skip with a reason"
  DATABASE_URL=sqlite:///test.sqlite3 $PY -m pytest -q -p no:cacheprovider || status=$?
fi
exit $status
