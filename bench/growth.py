"""Growth benchmark: does the cost of the hot paths stay flat as data grows? (not a test).

For one size it creates its own PostgreSQL database (--db, default bench_growth, dropped and
re-created), migrates it, fills --cases cases (the newest --waiting of them queued, the rest
decided, each decided case with its decision) and --events audit events spread over 90 days,
each with one INSERT ... SELECT generate_series, as an operator bulk-loads: the secondary
indexes of the tables in --rebuild-indexes (default: events, cases, decisions) are dropped and
re-created afterwards from their own definitions (pg_indexes; maintenance_work_mem 1GB), timed
apart. Then it VACUUM ANALYZEs, computes the daily rollups of every day since the first case
(as the beat task keeps them) and measures:

- claim and decide p50/p95 over HTTP (bench/review.py's clients, gunicorn with the production
  settings, reviewers pausing --think-ms per case);
- submit throughput: batch intake cases/s and single POST p95 (bench/intake.py's clients);
- every list and read page and API GET a person or an integration uses day to day, each as
  the role that uses it, p50/p95 per URL (``page_urls``: the reviewer's queue, review and
  history pages, case pages, the lead's queues, the dashboards, the model pages, /system/,
  /metrics, /healthz, /readyz, the case, look-up, feed, metrics and documentation APIs), in
  this process with Django's test client; every URL must answer 200 (else the bench fails);
- the audit log page (GET /audit/) p50/p95 with no filter and with each filter it supports, at
  the newest page and in the middle of the log, the same way;
- the CSV export rate (rows/s, first --export-rows rows);
- the retention job (cases/s);
- sealing throughput (``audit_seal`` over the oldest --seal-sample events, events/s) and
  ``audit_verify`` over the sealed chain (events/s, and the time a full verify would take),
  then ``audit_verify_incremental`` from that verification after sealing more (if it exists);
- EXPLAIN (ANALYZE, BUFFERS) of slow statements (over --explain-ms).

Each size appends one JSON line to --results; ``--table`` prints the growth table (each figure
and its ratio to the smallest size) from that file. The database is dropped at the end unless
--keep. Redis: database --redis-db (default 11).

    .venv/bin/python bench/growth.py --cases 100000 --events 1000000
    .venv/bin/python bench/growth.py --cases 1000000 --events 10000000 --db bench_growth_1m
    .venv/bin/python bench/growth.py --table
"""

import argparse
import json
import os
import time
from pathlib import Path

import intake
import psycopg
import review
from harness import (
    HOST,
    database_recreate,
    database_url,
    django_setup,
    free_port,
    gunicorn_start,
    gunicorn_stop,
    log,
    manage,
    percentile,
    server_env,
)

# --db and --redis-db (configure()) let two sizes coexist; the anchor file and the results
# path stay the same.
DB_NAME = "bench_growth"
PORT = int(os.environ.get("BENCH_GROWTH_PORT", "0")) or free_port()
REDIS_DB = 11  # clear of the shared test database (15), bench/review.py's (13) and 0
ANCHOR_FILE = "/tmp/bench-growth-anchor.jsonl"  # noqa: S108


def _server_env(db_name: str, redis_db: int) -> dict[str, str]:
    # The seal heads go to a scratch file, not the repository's var/audit-anchor.jsonl.
    return {
        **server_env(db_name=db_name, redis_db=redis_db),
        "REVIEWAPP_AUDIT_ANCHOR_FILE": ANCHOR_FILE,
    }


SERVER_ENV = _server_env(DB_NAME, REDIS_DB)


def configure(db_name: str, redis_db: int) -> None:
    """Point the bench at DB_NAME and Redis database REDIS_DB (before Django is set up)."""
    global DB_NAME, REDIS_DB, SERVER_ENV
    DB_NAME, REDIS_DB = db_name, redis_db
    SERVER_ENV = _server_env(db_name, redis_db)


RESULTS = Path("/tmp/bench-growth-results.jsonl")  # noqa: S108
ACTIONS = [
    "case.submitted",
    "case.claimed",
    "case.decided",
    "case.viewed",
    "case.released",
    "case.escalated",
    "auth.login",
    "auth.logout",
    "auth.login_failed",
    "policy.proposed",
    "token.created",
    "permission.denied",
]
# bench/review.py's case rows, with the status as a parameter (decided, then queued).
# Decided cases are decided 5 minutes after receipt, but the oldest --retention-due of them
# 400 days ago: the retention job (model retention 365 days) has that many to redact.
CASES_SQL = (
    review.FILL_SQL.replace("'queued', '[\"low_confidence\"]'", "%(status)s, '[]'")
    .replace("reviews_required, segments)", "reviews_required, segments, decided_at)")
    .replace(
        "1, '{}'::jsonb\nFROM",
        "1, '{}'::jsonb, CASE WHEN %(status)s = 'queued' THEN NULL "
        "WHEN g <= %(due)s THEN now() - interval '400 days' "
        "ELSE now() - make_interval(secs => %(n)s - g) + interval '5 minutes' END\nFROM",
    )
)
assert CASES_SQL.count("%(status)s") == 2
assert "%(due)s" in CASES_SQL

# Events from 90 days ago up to an hour ago, oldest first (ids in time order, as written).
EVENTS_SQL = """
INSERT INTO reviewapp_auditevent
  (occurred_at, actor_id, actor_label, actor_role, action, target_type, target_id,
   changes, ip, user_agent, request_id)
SELECT now() - interval '1 hour' - make_interval(secs => (%(n)s - g) * 90 * 86400.0 / %(n)s),
       (%(ids)s::bigint[])[1 + g %% %(n_ids)s], 'bench-r' || lpad((g %% %(n_ids)s)::text, 2, '0'),
       'reviewer', (%(actions)s::text[])[1 + (g / 7) %% 12],
       'case', (g %% %(n_cases)s + 1)::text,
       '{"status": ["queued", "assigned"]}'::jsonb, '10.0.0.1', 'bench', ''
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g
"""


# One current decision per decided case (bench/dashboard.py's shape, simpler): reviewers in
# turn, a fifth overridden, decided when the case was. The BEFORE INSERT trigger stamps
# feed_txid, so the decision feed and "My decisions" read them like real ones.
DECISIONS_SQL = """
INSERT INTO reviewapp_decision (
    case_id, ml_model_id, reviewer_id, action, final_label, reason_code, feedback,
    explanation_helpful, time_spent_ms, was_blind, decided_at, superseded_at)
SELECT c.id, c.ml_model_id, (%(ids)s::bigint[])[1 + c.id %% %(n_ids)s],
    CASE WHEN c.id %% 5 = 0 THEN 'override' ELSE 'accept' END,
    CASE WHEN c.id %% 5 <> 0 THEN c.predicted_label
         WHEN c.predicted_label = 'fraud' THEN 'legit' ELSE 'fraud' END,
    CASE WHEN c.id %% 5 = 0 THEN 'wrong_label' ELSE '' END,
    '', NULL, 8000 + c.id %% 90000, c.is_blind, c.decided_at, NULL
FROM reviewapp_case c
WHERE c.status = 'decided' AND c.id BETWEEN %(lo)s AND %(hi)s
"""

# A secondary index of a table: pg_indexes' definition, and the constraint it backs, if any
# (unique and exclusion constraints are dropped and re-added as constraints).
INDEXES_SQL = """
SELECT i.indexname, i.indexdef, con.conname, pg_get_constraintdef(con.oid)
FROM pg_indexes i
JOIN pg_namespace n ON n.nspname = i.schemaname
JOIN pg_class ic ON ic.relname = i.indexname AND ic.relnamespace = n.oid
LEFT JOIN pg_constraint con
  ON con.conindid = ic.oid AND con.conrelid = format('%%I.%%I', i.schemaname, i.tablename)::regclass
WHERE i.schemaname = current_schema() AND i.tablename = %s
  AND coalesce(con.contype, '') <> 'p'
  AND NOT EXISTS (SELECT 1 FROM pg_index x WHERE x.indexrelid = ic.oid AND x.indisprimary)
ORDER BY i.indexname
"""


def indexes_drop(cursor, table: str) -> list[tuple[str, str]]:
    """Drop TABLE's secondary indexes (never the primary key), as an operator does before a
    bulk load; returns (name, statement) pairs that re-create each exactly as it was: its
    pg_indexes definition, or ALTER TABLE ... ADD CONSTRAINT for a constraint's index. So
    whatever indexes the migrations define are the ones rebuilt."""
    cursor.execute(INDEXES_SQL, [table])
    rebuild = []
    for name, indexdef, conname, condef in cursor.fetchall():
        if conname:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{conname}"')
            rebuild.append((name, f'ALTER TABLE {table} ADD CONSTRAINT "{conname}" {condef}'))
        else:
            cursor.execute(f'DROP INDEX "{name}"')
            rebuild.append((name, indexdef))
    log(f"  dropped {len(rebuild)} secondary indexes of {table}: {[n for n, _ in rebuild]}")
    return rebuild


def indexes_rebuild(cursor, table: str, rebuild: list[tuple[str, str]]) -> dict[str, float]:
    """Re-create the indexes indexes_drop dropped (maintenance_work_mem 1GB); seconds each."""
    cursor.execute("SET maintenance_work_mem = '1GB'")
    seconds = {}
    try:
        for name, statement in rebuild:
            started = time.perf_counter()
            cursor.execute(statement)
            seconds[name] = time.perf_counter() - started
            log(f"  built {name} in {seconds[name]:.1f} s")
    finally:
        cursor.execute("RESET maintenance_work_mem")
    cursor.execute(INDEXES_SQL, [table])
    names = sorted(row[0] for row in cursor.fetchall())
    assert names == sorted(n for n, _ in rebuild), (table, names, rebuild)
    return seconds


def _eta(done: int, total: int, elapsed: float) -> str:
    if not done:
        return "?"
    left = elapsed / done * (total - done)
    return f"{int(left // 60)} min {int(left % 60)} s"


def fill(
    n_cases: int,
    n_waiting: int,
    n_events: int,
    n_reviewers: int,
    n_due: int,
    rebuild_tables: tuple[str, ...] = ("auditevent", "case", "decision"),
) -> dict:
    """Fixtures, cases, their decisions, events and the rollups; returns the fill times.

    The tables named in REBUILD_TABLES (reviewapp_<name>) are loaded without their secondary
    indexes, which are rebuilt afterwards and timed apart (``<name>_index_s``)."""
    from django.db import connection

    from reviewapp.models import MLModel, ModelVersion, RoutingPolicy, User
    from reviewapp.services.audit import audit_seal

    review.fixtures_create(n_reviewers)
    # The set-up's own events are sealed now, so that the sealer measured later (which stops
    # at the first event newer than its lag) does not stop at them.
    audit_seal(lag_seconds=0)
    ml_model = MLModel.objects.get(slug=review.MODEL_SLUG)
    version = ModelVersion.objects.get(ml_model=ml_model)
    policy = RoutingPolicy.objects.get(ml_model=ml_model, status="active")
    reviewer_ids = list(
        User.objects.filter(username__startswith="bench-r")
        .order_by("username")
        .values_list("pk", flat=True)
    )
    times: dict = {}
    with connection.cursor() as cursor:
        dropped = {}
        for name in ("case", "decision"):
            if name in rebuild_tables:
                dropped[name] = indexes_drop(cursor, f"reviewapp_{name}")
        started = time.perf_counter()
        chunk = 500_000
        for start in range(1, n_cases + 1, chunk):
            stop = min(n_cases, start + chunk - 1)
            for lo, hi, status in (
                (start, min(stop, n_cases - n_waiting), "decided"),
                (max(start, n_cases - n_waiting + 1), stop, "queued"),
            ):
                if lo <= hi:
                    cursor.execute(
                        CASES_SQL,
                        {
                            "model": ml_model.pk,
                            "version": version.pk,
                            "policy": policy.pk,
                            "n": n_cases,
                            "start": lo,
                            "stop": hi,
                            "status": status,
                            "due": n_due,
                        },
                    )
            log(f"  {stop:,} cases")
        times["cases_fill_s"] = time.perf_counter() - started
        cursor.execute("SELECT min(id), max(id) FROM reviewapp_case")
        lo_id, hi_id = cursor.fetchone()
        started = time.perf_counter()
        for lo in range(lo_id, hi_id + 1, chunk):
            cursor.execute(
                DECISIONS_SQL,
                {"ids": reviewer_ids, "n_ids": len(reviewer_ids), "lo": lo, "hi": lo + chunk - 1},
            )
            log(f"  decisions of cases up to id {min(hi_id, lo + chunk - 1):,}")
        times["decisions_fill_s"] = time.perf_counter() - started
        for name, rebuild in dropped.items():
            started = time.perf_counter()
            times[f"{name}_indexes"] = indexes_rebuild(cursor, f"reviewapp_{name}", rebuild)
            times[f"{name}_index_s"] = time.perf_counter() - started

        dropped_events = (
            indexes_drop(cursor, "reviewapp_auditevent") if "auditevent" in rebuild_tables else []
        )
        started = time.perf_counter()
        chunk = min(2_000_000, max(50_000, n_events // 20))
        for start in range(1, n_events + 1, chunk):
            stop = min(n_events, start + chunk - 1)
            cursor.execute(
                EVENTS_SQL,
                {
                    "n": n_events,
                    "ids": reviewer_ids,
                    "n_ids": len(reviewer_ids),
                    "actions": ACTIONS,
                    "n_cases": n_cases,
                    "start": start,
                    "stop": stop,
                },
            )
            elapsed = time.perf_counter() - started
            log(
                f"  {stop:,} / {n_events:,} events, {stop / elapsed:,.0f} events/s, "
                f"ETA {_eta(stop, n_events, elapsed)}"
            )
        times["events_fill_s"] = time.perf_counter() - started
        times["events_per_s"] = n_events / times["events_fill_s"] if n_events else 0.0
        if dropped_events:
            started = time.perf_counter()
            times["auditevent_indexes"] = indexes_rebuild(
                cursor, "reviewapp_auditevent", dropped_events
            )
            times["auditevent_index_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for table in ("case", "decision", "auditevent"):
            cursor.execute(f"VACUUM ANALYZE reviewapp_{table}")
        times["vacuum_s"] = time.perf_counter() - started
    times["rollups_s"] = rollups_build()
    log(f"filled: {times}")
    return times


def rollups_build() -> float:
    """The daily rollups of every day since the first case or decision and the beat task's
    refresh and cache warm-up, as a running deployment has them (the dashboards, the health
    page and the model page read the rollups); seconds."""
    from datetime import timedelta

    from django.db.models import Min
    from django.utils import timezone

    from reviewapp.models import Case, Decision
    from reviewapp.services.rollups import rollups_refresh
    from reviewapp.tasks.metrics import rollups_refresh_task

    started = time.perf_counter()
    today = timezone.localdate()
    firsts = [
        Case.objects.aggregate(first=Min("created_at"))["first"],
        Decision.objects.aggregate(first=Min("decided_at"))["first"],  # the retention-due
    ]
    first = min((f for f in firsts if f is not None), default=None)
    n_days = (today - timezone.localdate(first)).days + 1 if first else 1
    result = rollups_refresh(days=[today - timedelta(days=d) for d in range(n_days)])
    rollups_refresh_task()
    seconds = time.perf_counter() - started
    log(f"  rollups of {n_days} days and the beat task: {seconds:.1f} s ({result})")
    return seconds


def submit(base: str, n_batch: int, n_single: int) -> dict:
    """Batch intake (batches of 500, 4 clients) and single POSTs (8 clients, closed loop),
    with bench/intake.py's bodies and clients, as the model's service account."""
    import random

    from reviewapp.models import MLModel
    from reviewapp.services.accounts import service_account_create

    _, token = service_account_create(ml_model=MLModel.objects.get(slug=review.MODEL_SLUG))
    rng = random.Random(7)
    stamp = int(time.time())
    items = [intake.case_body(f"g{stamp}-b{i}", rng) for i in range(n_batch)]
    bodies = [json.dumps({"cases": items[i : i + 500]}).encode() for i in range(0, n_batch, 500)]
    singles = [
        json.dumps(intake.case_body(f"g{stamp}-s{i}", rng)).encode() for i in range(n_single)
    ]
    warm = [json.dumps(intake.case_body(f"g{stamp}-w{i}", rng)).encode() for i in range(40)]
    intake.bench_single(base, token, warm, 8)
    elapsed, created = intake.bench_batches(base, token, bodies, 4)
    ms = [x * 1000 for x in intake.bench_single(base, token, singles, 8)]
    out = {
        "batch_cases_per_s": created / elapsed,
        "single_p50": percentile(ms, 50),
        "single_p95": percentile(ms, 95),
        "single_per_s": len(ms) / (sum(ms) / 1000 / 8),
    }
    log(f"  submit: {out}")
    return out


def claim_decide(clients: int, seconds: float, think_ms: float, n_submit: int) -> dict:
    review.DB_NAME, review.PORT, review.SERVER_ENV = DB_NAME, PORT, SERVER_ENV
    print(review.explain_claim(), flush=True)
    tokens = review.tokens_create()[:clients]
    proc = gunicorn_start(env=SERVER_ENV, port=PORT, workers=2, threads=4)
    try:
        log(f"claim/decide: {clients} reviewers, think {think_ms} ms, {seconds} s")
        r = review.run_once(tokens, seconds, think_ms, proc)
        submitted = submit(f"http://{HOST}:{PORT}", n_submit, n_submit // 5) if n_submit else {}
    finally:
        gunicorn_stop(proc)
    keys = ["decisions", "claim_p50", "claim_p95", "decide_p50", "decide_p95"]
    keys += ["duplicate_claims", "cases_decided_twice", "n_errors", "load_avg_1m"]
    out = {k: r[k] for k in keys}
    out["cpu_ms_per_decision"] = r["cpu_ms_per_decision"]["gunicorn"]
    out["submit"] = submitted
    log(f"  {out}")
    return out


def _days_ago(days: int) -> str:
    from datetime import timedelta

    from django.utils import timezone

    return (timezone.now() - timedelta(days=days)).date().isoformat()


def _explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


TARGET_MS = 300  # issue #11: every page and API p95 under 300 ms at 10^7 cases
# The home page only sends each role on to its own page: timed with the redirect followed.
FOLLOW = frozenset({"/"})


def _person(username: str, role: str, teams: list) -> object:
    """The bench's user USERNAME, made through the service the first time."""
    from reviewapp.models import User
    from reviewapp.services.accounts import user_create

    user = User.objects.filter(username=username).first()
    return user or user_create(username=username, role=role, teams=teams, password=None)


def _middle(qs) -> object:
    """The row of QS (ordered by pk) in the middle of its id range: not the newest."""
    from django.db.models import Max, Min

    bounds = qs.aggregate(lo=Min("pk"), hi=Max("pk"))
    assert bounds["lo"] is not None, f"nothing to pick from {qs.model.__name__}"
    return qs.filter(pk__gte=(bounds["lo"] + bounds["hi"]) // 2).order_by("pk").first()


def page_urls() -> list[tuple[str, str, str, object]]:
    """(label, who, URL, check) of every list and read page and API GET a person or an
    integration uses day to day, each as the role that uses it (tests/test_endpoint_access.py
    has who may), with objects picked from the filled data. CHECK, when not None, is called
    with the response (beyond the 200 every URL must answer)."""
    from reviewapp.models import Case, Decision, MLModel, ModelVersion, Role
    from reviewapp.presentation.history import history_cursor_encode
    from reviewapp.selectors.feed import feed_cursor_encode
    from reviewapp.selectors.queue import waiting_cursor_encode
    from reviewapp.services.accounts import team_get_or_create
    from reviewapp.services.queue import case_claim_next

    team = team_get_or_create(slug="bench-team")
    ml_model = MLModel.objects.get(slug=review.MODEL_SLUG)
    slug = ml_model.slug
    version = ModelVersion.objects.filter(ml_model=ml_model).order_by("pk").first().version
    reviewer = _person("bench-r05", Role.REVIEWER, [team])
    for username, role, teams in (
        ("bench-lead", Role.LEAD, [team]),
        ("bench-manager", Role.MANAGER, [team]),
        ("bench-auditor", Role.AUDITOR, []),
        ("bench-admin", Role.ADMIN, []),
    ):
        _person(username, role, teams)
    cases = Case.objects.filter(ml_model=ml_model)
    decided = _middle(cases.filter(status="decided"))
    waiting = _middle(cases.filter(status="queued"))
    own = _middle(Decision.objects.filter(reviewer=reviewer, superseded_at__isnull=True))
    feed_mid = _middle(Decision.objects.filter(ml_model=ml_model, superseded_at__isnull=True))
    feed_tail = (
        Decision.objects.filter(ml_model=ml_model, superseded_at__isnull=True)
        .order_by("-feed_txid", "-pk")
        .first()
    )
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    assert claimed is not None, "no waiting case left to claim for the review page"

    def found_one(response) -> None:
        assert len(response.json()["results"]) == 1, response.json()

    def full_page(response) -> None:
        assert len(response.json()["results"]) > 0, response.json()

    mid_cursor = feed_cursor_encode(feed_txid=feed_mid.feed_txid, decision_id=feed_mid.pk)
    tail_cursor = feed_cursor_encode(feed_txid=feed_tail.feed_txid, decision_id=feed_tail.pk)
    doc = f"/models/{slug}/versions/{version}/documentation"
    return [
        # anyone / machines
        ("login page", "anon", "/accounts/login/", None),
        ("healthz", "anon", "/healthz", None),
        ("readyz", "anon", "/readyz", None),
        ("metrics (loopback, no token)", "anon", "/metrics", None),
        ("api schema", "anon", "/api/schema/", None),
        ("api docs", "anon", "/api/docs/", None),
        # the reviewer's day
        ("home (reviewer, redirect followed)", "reviewer", "/", None),
        ("review home", "reviewer", "/review/", None),
        ("review case (claimed)", "reviewer", f"/review/case/{claimed.pk}/", None),
        ("my decisions", "reviewer", "/review/history/", None),
        (
            "my decisions, middle",
            "reviewer",
            f"/review/history/?after={history_cursor_encode(own)}",
            None,
        ),
        ("my decisions, 90 days", "reviewer", "/review/history/?period=90d", None),
        ("my stats", "reviewer", "/review/stats/", None),
        ("my stats, 90 days", "reviewer", "/review/stats/?days=90", None),
        ("case page (own decided)", "reviewer", f"/cases/{own.case_id}/", None),
        # the lead's day
        ("queues", "lead", "/queues/", None),
        ("queues, model", "lead", f"/queues/?model={slug}", None),
        (
            "queues, waiting middle",
            "lead",
            f"/queues/?model={slug}&after={waiting_cursor_encode(waiting)}",
            None,
        ),
        ("case page (decided)", "lead", f"/cases/{decided.pk}/", None),
        ("case page (waiting)", "lead", f"/cases/{waiting.pk}/", None),
        # the manager's day
        ("home (manager, redirect followed)", "manager", "/", None),
        ("dashboard 30 days", "manager", f"/dashboards/?model={slug}&days=30", None),
        ("dashboard 90 days", "manager", f"/dashboards/?model={slug}&days=90", None),
        ("dashboard csv 30 days", "manager", f"/dashboards/adoption.csv?model={slug}", None),
        ("health dashboard", "manager", f"/dashboards/health/?model={slug}", None),
        ("models", "manager", "/models/", None),
        ("model page (versions)", "manager", f"/models/{slug}/", None),
        ("model deliveries", "manager", f"/models/{slug}/deliveries", None),
        ("model go-live", "manager", f"/models/{slug}/go-live", None),
        ("version documentation", "manager", doc, None),
        ("case page (manager)", "manager", f"/cases/{decided.pk}/", None),
        # auditor and admin (the audit log page itself: audit_pages)
        ("system (auditor)", "auditor", "/system/", None),
        ("system (admin)", "admin", "/system/", None),
        ("case page (auditor)", "auditor", f"/cases/{decided.pk}/", None),
        # the API: the model's integration (service account)
        ("api case (decided)", "sa", f"/api/v1/cases/{decided.pk}", None),
        ("api case (waiting)", "sa", f"/api/v1/cases/{waiting.pk}", None),
        (
            "api case by external id",
            "sa",
            f"/api/v1/cases?external_id={decided.external_id}&model={slug}",
            found_one,
        ),
        ("api feed", "sa", "/api/v1/decisions", full_page),
        ("api feed, middle", "sa", f"/api/v1/decisions?after={mid_cursor}", full_page),
        ("api feed, tail", "sa", f"/api/v1/decisions?after={tail_cursor}", None),
        ("api feed 1000", "sa", "/api/v1/decisions?limit=1000", full_page),
        ("api documentation", "sa", f"/api/v1{doc}", None),
        # the API: people
        ("api case (reviewer)", "reviewer-api", f"/api/v1/cases/{own.case_id}", None),
        ("api feed (manager)", "manager-api", f"/api/v1/decisions?model={slug}", full_page),
        ("api adoption 30 days", "manager-api", f"/api/v1/metrics/adoption?model={slug}", None),
        (
            "api adoption 90 days",
            "manager-api",
            f"/api/v1/metrics/adoption?model={slug}&days=90",
            None,
        ),
        ("api quality 30 days", "manager-api", f"/api/v1/metrics/quality?model={slug}", None),
        (
            "api quality 90 days",
            "manager-api",
            f"/api/v1/metrics/quality?model={slug}&days=90",
            None,
        ),
        (
            "api label export (first chunk)",
            "manager-api",
            f"/api/v1/export/labels?model={slug}&format=jsonl",
            None,
        ),
    ]


def _clients() -> dict:
    """A logged-in test client per role ("<role>-api": a bearer token of that person)."""
    from django.test import Client

    from reviewapp.models import MLModel, User
    from reviewapp.services.accounts import service_account_create, token_create

    clients = {"anon": Client(HTTP_HOST="127.0.0.1")}
    for role, username in (
        ("reviewer", "bench-r05"),
        ("lead", "bench-lead"),
        ("manager", "bench-manager"),
        ("auditor", "bench-auditor"),
        ("admin", "bench-admin"),
    ):
        user = User.objects.get(username=username)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        clients[role] = client
        token = token_create(user=user, name="bench-pages")[1]
        clients[f"{role}-api"] = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    _, token = service_account_create(ml_model=MLModel.objects.get(slug=review.MODEL_SLUG))
    clients["sa"] = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    return clients


def _get(client, url: str) -> tuple[int, object, float]:
    """GET URL; a streamed response is read up to its first chunk. (status, response, ms)."""
    started = time.perf_counter()
    response = client.get(url, follow=url in FOLLOW)
    if response.streaming:
        next(iter(response.streaming_content), b"")
        response.close()
    return response.status_code, response, (time.perf_counter() - started) * 1000


def pages(runs: int, explain_ms: float, only: list[str] | None = None) -> dict:
    """p50/p95 of every list and read page and API GET (page_urls), in this process with
    Django's test client and the production settings; the slowest statement of a URL whose
    p95 is over the target is EXPLAINed. Every URL must answer 200."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    urls = [u for u in page_urls() if not only or u[0] in only]
    clients = _clients()
    results = {}
    failures = []
    for label, who, url, check in urls:
        status, response, _ = _get(clients[who], url)  # warm
        if status != 200:
            body = b"" if response.streaming else response.content[:300]
            failures.append(f"{label}: GET {url} as {who} -> {status} {body!r}")
            log(f"  FAILED {failures[-1]}")
            continue
        if check is not None:
            check(response)
        timings = []
        for _ in range(runs):
            status, response, ms = _get(clients[who], url)
            assert status == 200, (label, url, status)
            timings.append(ms)
        p50, p95 = percentile(timings, 50), percentile(timings, 95)
        results[label] = {"url": url, "who": who, "p50": p50, "p95": p95}
        flag = "  OVER TARGET" if p95 >= TARGET_MS else ""
        print(f"  {label:<32} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {who:<12} {url}{flag}")
        if p95 >= max(explain_ms, TARGET_MS / 3):
            with CaptureQueriesContext(connection) as ctx:
                _get(clients[who], url)
            slow = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:1]
            for q in slow:
                ms = float(q["time"]) * 1000
                if ms >= explain_ms and q["sql"].lstrip().startswith("SELECT"):
                    print(f"--- slowest statement of {label} ({ms:.0f} ms, {len(ctx)} queries):")
                    print(f"{q['sql'][:2000]}\n{_explain(q['sql'])[:4000]}", flush=True)
    assert not failures, "URLs not answering 200:\n" + "\n".join(failures)
    over = [label for label, v in results.items() if v["p95"] >= TARGET_MS]
    log(f"  {len(results)} URLs, {len(over)} with p95 >= {TARGET_MS} ms: {over}")
    return results


def audit_pages(runs: int, explain_ms: float) -> dict:
    """p50/p95 of GET /audit/ per filter; EXPLAIN of the slow statements."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from reviewapp.models import AuditEvent, Role

    auditor = _person("bench-auditor", Role.AUDITOR, [])
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(auditor)
    top = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    deep = top // 2
    cases = [
        ("none", {}),
        ("none, middle", {"before": deep}),
        ("action", {"action": "case.decided"}),
        ("action, middle", {"action": "case.decided", "before": deep}),
        ("action prefix", {"action": "auth.*"}),
        ("actor", {"actor": "bench-r07"}),
        ("actor, middle", {"actor": "bench-r07", "before": deep}),
        ("actor=system", {"actor": "system"}),
        ("target", {"target_type": "case", "target_id": "4242"}),
        ("target_type only", {"target_type": "case"}),
        ("one day", {"date_from": _days_ago(45), "date_to": _days_ago(45)}),
        ("date_from only", {"date_from": _days_ago(45)}),
        ("rare action+actor", {"action": "auth.login_failed", "actor": "bench-r03"}),
        ("no match", {"action": "no.such.action"}),
    ]
    results = {}
    explains = []
    for label, params in cases:
        response = client.get("/audit/", params)  # warm
        assert response.status_code == 200, (label, response.status_code)
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get("/audit/", params)
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            client.get("/audit/", params)
        p50, p95 = percentile(timings, 50), percentile(timings, 95)
        results[label] = {"p50": p50, "p95": p95}
        print(f"  audit {label:<20} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms", flush=True)
        for q in ctx.captured_queries:
            if float(q["time"]) * 1000 >= explain_ms and q["sql"].lstrip().startswith("SELECT"):
                explains.append((label, float(q["time"]) * 1000, q["sql"], _explain(q["sql"])))
    # The action names for the filter's suggestions are cached for ten minutes: every ten
    # minutes one request pays for the SELECT DISTINCT over the whole log.
    from django.core.cache import cache

    timings = []
    for _ in range(3):
        cache.delete("reviewapp:audit-actions")
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            client.get("/audit/")
            timings.append((time.perf_counter() - started) * 1000)
    results["none, action names not cached"] = {"p50": percentile(timings, 50), "p95": max(timings)}
    print(f"  audit none, names not cached: max {max(timings):.1f} ms", flush=True)
    explains += [
        ("names not cached", float(q["time"]) * 1000, q["sql"], _explain(q["sql"]))
        for q in ctx.captured_queries
        if float(q["time"]) * 1000 >= explain_ms and "DISTINCT" in q["sql"]
    ]
    for label, ms, sql, plan in explains:
        print(f"--- slow statement ({label}, {ms:.0f} ms):\n{sql}\n{plan}", flush=True)
    return results


def export_rate(n_rows: int) -> dict:
    from django.test import Client

    from reviewapp.models import User

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="bench-auditor"))
    out = {}
    for label, params in (("none", {}), ("action", {"action": "case.decided"})):
        started = time.perf_counter()
        response = client.get("/audit/export/", {"format": "csv", **params})
        first_ms = None
        n_lines = 0
        for piece in response.streaming_content:
            if first_ms is None:
                first_ms = (time.perf_counter() - started) * 1000
            n_lines += piece.count(b"\n")
            if n_lines >= n_rows:
                break
        seconds = time.perf_counter() - started
        out[label] = {"rows_per_s": n_lines / seconds, "first_chunk_ms": first_ms}
        print(f"  export {label}: {n_lines / seconds:,.0f} rows/s", flush=True)
    return out


def tripwires_time(runs: int) -> dict:
    """The beat's tripwire measurements (each enabled tripwire every 10 minutes) of the kinds
    that count cases or decisions over a window and the window before, at 7 and 30 days:
    ms per measurement, median of RUNS."""
    import statistics

    from django.utils import timezone

    from reviewapp.models import MLModel, Tripwire, TripwireKind
    from reviewapp.services.health import tripwire_measure

    ml_model = MLModel.objects.get(slug=review.MODEL_SLUG)
    kinds = (
        TripwireKind.ACCURACY_DROP,
        TripwireKind.ACCURACY_DROP_FROM_BASELINE,
        TripwireKind.OVERRIDE_RATE_RISE,
        TripwireKind.LABEL_MIX_PSI,
        TripwireKind.VOLUME_DROP,
        TripwireKind.QUEUE_AGE,
    )
    out = {}
    for kind in kinds:
        for days in (7, 30):
            tripwire = Tripwire(ml_model=ml_model, kind=kind, threshold=0.5, window_days=days)
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                tripwire_measure(tripwire, now=timezone.now())
                times.append((time.perf_counter() - started) * 1000)
            out[f"{kind.value} {days} d"] = statistics.median(times)
            log(f"  tripwire {kind.value}, {days} days: {out[f'{kind.value} {days} d']:.1f} ms")
    return out


def retention(explain_ms: float) -> dict:
    """The retention job (the model keeps 365 days) over the cases due: cases/s, and the
    time of the run including its last, empty batch search."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reviewapp.models import MLModel
    from reviewapp.services.retention import retention_apply

    MLModel.objects.filter(slug=review.MODEL_SLUG).update(retention_days=365)
    with CaptureQueriesContext(connection) as ctx:
        run = retention_apply(max_seconds=300)
    out = {
        "cases": run.cases,
        "seconds": run.seconds,
        "cases_per_s": run.cases / run.seconds if run.seconds else 0.0,
        "finished": run.finished,
    }
    slow = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:2]
    for q in slow:
        if float(q["time"]) * 1000 >= explain_ms and q["sql"].lstrip().startswith("SELECT"):
            print(f"--- slow retention statement ({float(q['time']) * 1000:.0f} ms):\n{q['sql']}")
            print(_explain(q["sql"]), flush=True)
    log(f"  retention: {out}")
    return out


def _seal_through(offset: int) -> int:
    """Seal the events up to the one OFFSET rows into the log (the lag set so that the
    sealer stops there); returns how many it sealed."""
    from django.db import connection

    from reviewapp.services.audit import audit_seal

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM now() - occurred_at) FROM reviewapp_auditevent "
            "ORDER BY id OFFSET %s LIMIT 1",
            [offset],
        )
        (age,) = cursor.fetchone()
    return audit_seal(lag_seconds=int(age))


def _incremental_verify() -> tuple[object, object] | None:
    """(audit_verify_incremental, audit_verified_record) when services/ has them: the
    incremental verify and the recording of a verification, which is its checkpoint."""
    try:
        from reviewapp.services.audit import audit_verify_incremental
        from reviewapp.services.audit_ops import audit_verified_record
    except ImportError:
        return None
    return audit_verify_incremental, audit_verified_record


def seal_and_verify(sample: int, n_events: int) -> dict:
    """Seal the oldest SAMPLE events after the set-up's and verify the whole chain (events/s;
    a full verify's time projected from the rate); record that verification as the product
    does (the incremental verify's checkpoint), seal the next SAMPLE events and verify
    incrementally (the new seals plus the scrub of older ones); then pad the seals table to its
    full-size row count and time sealing a third SAMPLE on top of it."""
    from django.conf import settings
    from django.db import connection

    from reviewapp.models import AuditEvent
    from reviewapp.services.audit import audit_verify

    sample = max(1, min(sample, n_events // 4))  # three samples, inside the filled events
    started = time.perf_counter()
    sealed = _seal_through(sample)
    seal_s = time.perf_counter() - started
    started = time.perf_counter()
    result = audit_verify()
    verify_s = time.perf_counter() - started
    if not result.ok:  # recorded (verify_ok), not raised: the run's other figures are kept
        log(f"  AUDIT_VERIFY FAILED on the bench's chain: {result}")
    total = AuditEvent.objects.count()
    verified = result.events or sealed
    out = {
        "sealed": sealed,
        "seal_events_per_s": sealed / seal_s,
        "verify_ok": result.ok,
        "verify_s": verify_s,
        "verify_events_per_s": verified / verify_s,
        "verify_full_projected_s": total / (verified / verify_s),
    }
    incremental = _incremental_verify()
    if incremental is None:
        # TODO(lead): services/audit.py has no audit_verify_incremental (or audit_ops no
        # audit_verified_record to record its checkpoint): the incremental verify is not timed.
        log("  no audit_verify_incremental / audit_verified_record: incremental verify not timed")
    else:
        verify_incremental, verified_record = incremental
        verified_record(actor=None, result=result)  # the checkpoint, as the periodic job's
        started = time.perf_counter()
        sealed_2 = _seal_through(2 * sample)
        seal_2_s = time.perf_counter() - started
        started = time.perf_counter()
        inc = verify_incremental()
        inc_s = time.perf_counter() - started
        if not inc.ok:
            log(f"  AUDIT_VERIFY_INCREMENTAL FAILED on the bench's chain: {inc}")
        checked = inc.events + getattr(inc, "rechecked_events", 0)
        out.update(
            {
                "sealed_2": sealed_2,
                "seal_2_events_per_s": sealed_2 / seal_2_s,
                "verify_incremental_ok": inc.ok,
                "verify_incremental_mode": getattr(inc, "mode", ""),
                "verify_incremental_s": inc_s,
                "verify_incremental_events": inc.events,
                "verify_incremental_rechecked_events": getattr(inc, "rechecked_events", 0),
                "verify_incremental_events_per_s": checked / inc_s if inc_s else 0.0,
            }
        )
    # A log of N events sealed in full has N / chunk seals; the samples made only a few. Pad
    # the seals table to its full-size row count with rows out of the chain (negative ids;
    # the verifies are over by now) and seal another sample on top of it.
    n_pad = max(0, n_events // settings.REVIEWAPP_AUDIT_SEAL_CHUNK - sealed // 1000)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reviewapp_auditseal (sealed_at, previous_id, first_event_id, "
            "last_event_id, event_digests, previous_hash, hash) "
            "SELECT now(), NULL, -g, -g, '[]'::jsonb, '', '' FROM generate_series(1, %s) g",
            [n_pad],
        )
        cursor.execute("ANALYZE reviewapp_auditseal")
    started = time.perf_counter()
    sealed_padded = _seal_through(3 * sample)
    seal_padded_s = time.perf_counter() - started
    plan = _explain("SELECT * FROM reviewapp_auditseal ORDER BY last_event_id DESC LIMIT 1")
    print(f"--- seal head lookup with {n_pad:,} padded seals:\n{plan}", flush=True)
    out["padded_seals"] = n_pad
    out["seal_padded_events_per_s"] = sealed_padded / seal_padded_s
    log(f"  seal/verify: {out}")
    return out


def table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"no results in {path}")
    # Smallest size first (the ratios are to it), whatever order the runs were made in.
    rows.sort(key=lambda r: (r.get("events", 0), r.get("cases", 0)))

    def figures(r: dict) -> dict[str, float]:
        f = {}
        if "claim" in r:
            for k in ("claim_p50", "claim_p95", "decide_p50", "decide_p95"):
                f[f"{k} ms"] = r["claim"][k]
            f["cpu ms/decision"] = r["claim"]["cpu_ms_per_decision"]
            sub = r["claim"].get("submit") or {}
            if sub:
                f["submit batch cases/s"] = sub["batch_cases_per_s"]
                f["submit single p95 ms"] = sub["single_p95"]
                f["submit single req/s"] = sub["single_per_s"]
        for label, v in r.get("pages", {}).items():
            f[f"GET {label} p95 ms"] = v["p95"]
        for label, v in r.get("audit", {}).items():
            f[f"/audit/ {label} p95 ms"] = v["p95"]
        if "retention" in r:
            f["retention cases/s"] = r["retention"]["cases_per_s"]
            f["retention run s"] = r["retention"]["seconds"]
        for label, v in r.get("export", {}).items():
            f[f"export {label} rows/s"] = v["rows_per_s"]
        for label, v in r.get("tripwires", {}).items():
            f[f"tripwire {label} ms"] = v
        if "seal" in r:
            f["seal events/s"] = r["seal"]["seal_events_per_s"]
            f["seal events/s, full seals table"] = r["seal"].get("seal_padded_events_per_s")
            f["verify events/s"] = r["seal"]["verify_events_per_s"]
            f["verify full (proj.) s"] = r["seal"]["verify_full_projected_s"]
            f["verify incremental s"] = r["seal"].get("verify_incremental_s")
            f["verify incremental events/s"] = r["seal"].get("verify_incremental_events_per_s")
        fill_times = r.get("fill") or {}
        for k in ("cases_fill_s", "case_index_s", "decisions_fill_s", "decision_index_s"):
            f[f"fill {k}"] = fill_times.get(k)
        f["fill events/s"] = fill_times.get("events_per_s")
        for k in ("events_fill_s", "auditevent_index_s", "vacuum_s", "rollups_s"):
            f[f"fill {k}"] = fill_times.get(k)
        return f

    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(k for k, v in figures(r).items() if v is not None))
    base = figures(rows[0])
    heads = [f"{r['cases']:.0e} c / {r['events']:.0e} ev" for r in rows]
    print(f"| figure | {' | '.join(heads)} |")
    print("|---|" + "---|" * len(rows))
    for key in keys:
        cells = []
        for r in rows:
            v = figures(r).get(key)
            if v is None:
                cells.append("-")
            else:
                ratio = v / base[key] if base.get(key) else float("nan")
                cells.append(f"{v:,.1f}" + ("" if r is rows[0] else f" ({ratio:.2f}x)"))
        print(f"| {key} | {' | '.join(cells)} |")
    print(
        "load average (1 min) at claim/decide: "
        + ", ".join(f"{r.get('claim', {}).get('load_avg_1m', float('nan')):.1f}" for r in rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--waiting", type=int, help="queued cases (default: a tenth)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--think-ms", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--submit", type=int, default=10_000, help="cases sent in batches")
    parser.add_argument("--runs", type=int, default=20, help="requests per URL and audit filter")
    parser.add_argument("--export-rows", type=int, default=50_000)
    parser.add_argument("--retention-due", type=int, default=20_000)
    parser.add_argument("--seal-sample", type=int, default=100_000)
    parser.add_argument("--explain-ms", type=float, default=20)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--reuse", action="store_true", help="measure the filled database")
    parser.add_argument(
        "--only-pages", default="", help="with --reuse: only these page labels (;-separated)"
    )
    parser.add_argument(
        "--only-tripwires", action="store_true", help="with --reuse: only time the tripwires"
    )
    parser.add_argument(
        "--refresh-rollups",
        action="store_true",
        help="with --reuse: recompute every day's rollups first (after a schema change)",
    )
    parser.add_argument(
        "--fill-only", action="store_true", help="fill, keep the database and stop (then --reuse)"
    )
    parser.add_argument("--table", action="store_true", help="only print the growth table")
    parser.add_argument("--db", default=DB_NAME, help="PostgreSQL database (dropped, re-made)")
    parser.add_argument("--redis-db", type=int, default=REDIS_DB, help="Redis database number")
    parser.add_argument(
        "--rebuild-indexes",
        default="auditevent,case,decision",
        help="tables (reviewapp_<name>) loaded without their secondary indexes, rebuilt after "
        "the fill; '' for none (5*10^5 cases: cases + decisions fill 39 s vs 74 s with them)",
    )
    args = parser.parse_args()
    rebuild = tuple(t for t in args.rebuild_indexes.split(",") if t)
    assert set(rebuild) <= {"auditevent", "case", "decision"}, rebuild
    configure(args.db, args.redis_db)
    if args.table:
        table(args.results)
        return
    waiting = args.waiting if args.waiting is not None else args.cases // 10
    result: dict = {
        "cases": args.cases,
        "waiting": waiting,
        "events": args.events,
        "db": args.db,
        "rebuild_indexes": list(rebuild),
    }
    if not args.reuse:
        log(f"creating {DB_NAME}: {args.cases:,} cases ({waiting:,} waiting), {args.events:,} ev")
        database_recreate(db_name=DB_NAME, env=SERVER_ENV)
    django_setup(SERVER_ENV)
    try:
        fill_times = Path(f"/tmp/bench-growth-fill-{DB_NAME}.json")  # noqa: S108
        if not args.reuse:
            result["fill"] = fill(
                args.cases, waiting, args.events, args.reviewers, args.retention_due, rebuild
            )
            fill_times.write_text(json.dumps(result["fill"]))
            if args.fill_only:
                args.keep = True
                log(f"filled {DB_NAME}; measure it with --reuse")
                return
        elif fill_times.exists():
            result["fill"] = json.loads(fill_times.read_text())
        if args.reuse:
            # A database filled by an earlier version of the code: its schema follows this
            # one, and --refresh-rollups recomputes the rollups as this code writes them.
            manage("migrate", "--noinput", "-v", "0", env=SERVER_ENV)
            if args.refresh_rollups:
                rollups_build()
        # Production settings serve static files by their manifest names: pages need it.
        manage("collectstatic", "--noinput", "-v", "0", env=SERVER_ENV)
        result["load_avg_start"] = os.getloadavg()[0]
        if args.only_tripwires:
            print(json.dumps(tripwires_time(3)), flush=True)
            return
        if args.only_pages:
            # Re-measure some URLs of a filled database (after a fix), nothing else.
            only = [label.strip() for label in args.only_pages.split(";")]
            print(json.dumps(pages(args.runs, args.explain_ms, only)), flush=True)
            return
        result["claim"] = claim_decide(args.reviewers, args.seconds, args.think_ms, args.submit)
        log("pages and API GETs")
        result["pages"] = pages(args.runs, args.explain_ms)
        log("audit log page")
        result["audit"] = audit_pages(args.runs, args.explain_ms)
        log("export")
        result["export"] = export_rate(args.export_rows)
        log("retention")
        result["retention"] = retention(args.explain_ms)
        log("tripwires")
        result["tripwires"] = tripwires_time(3)
        log("seal and verify")
        result["seal"] = seal_and_verify(args.seal_sample, args.events)
        result["load_avg_end"] = os.getloadavg()[0]
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("a") as f:
            f.write(json.dumps(result) + "\n")
        log(f"appended to {args.results}")
        print(json.dumps(result), flush=True)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            log(f"dropped {DB_NAME}")


if __name__ == "__main__":
    main()
