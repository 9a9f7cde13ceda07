"""Growth benchmark: does the cost of the hot paths stay flat as data grows? (not a test).

For one size it creates its own PostgreSQL database (bench_growth, dropped and re-created),
migrates it, fills --cases cases (the newest --waiting of them queued, the rest decided) and
--events audit events spread over 90 days, each with one INSERT ... SELECT generate_series,
VACUUM ANALYZEs, then measures:

- claim and decide p50/p95 over HTTP (bench/review.py's clients, gunicorn with the production
  settings, reviewers pausing --think-ms per case);
- submit throughput: batch intake cases/s and single POST p95 (bench/intake.py's clients);
- the audit log page (GET /audit/) p50/p95 with no filter and with each filter it supports, at
  the newest page and in the middle of the log, in this process with Django's test client;
- the CSV export rate (rows/s, first --export-rows rows);
- sealing throughput (``audit_seal`` over the oldest --seal-sample events, events/s) and
  ``audit_verify`` over the sealed chain (events/s, and the time a full verify would take);
- EXPLAIN (ANALYZE, BUFFERS) of every audit page statement slower than --explain-ms.

Each size appends one JSON line to --results; ``--table`` prints the growth table (each figure
and its ratio to the smallest size) from that file. The database is dropped at the end unless
--keep.

    .venv/bin/python bench/growth.py --cases 100000 --events 1000000
    .venv/bin/python bench/growth.py --cases 1000000 --events 10000000
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
    percentile,
    server_env,
)

DB_NAME = "bench_growth"
PORT = int(os.environ.get("BENCH_GROWTH_PORT", "0")) or free_port()
REDIS_DB = 15
# The seal heads go to a scratch file, not the repository's var/audit-anchor.jsonl.
SERVER_ENV = {
    **server_env(db_name=DB_NAME, redis_db=REDIS_DB),
    "REVIEWAPP_AUDIT_ANCHOR_FILE": "/tmp/bench-growth-anchor.jsonl",  # noqa: S108
}
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


def fill(n_cases: int, n_waiting: int, n_events: int, n_reviewers: int, n_due: int) -> dict:
    """Fixtures, cases and events; returns the fill times."""
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
    times = {}
    started = time.perf_counter()
    with connection.cursor() as cursor:
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
        started = time.perf_counter()
        chunk = 2_000_000
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
            log(f"  {stop:,} events")
        times["events_fill_s"] = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE reviewapp_case")
        cursor.execute("VACUUM ANALYZE reviewapp_auditevent")
        times["vacuum_s"] = time.perf_counter() - started
    log(f"filled: {times}")
    return times


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


def audit_pages(runs: int, explain_ms: float) -> dict:
    """p50/p95 of GET /audit/ per filter; EXPLAIN of the slow statements."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from reviewapp.models import AuditEvent, Role
    from reviewapp.services.accounts import user_create

    auditor = user_create(username="bench-auditor", role=Role.AUDITOR, teams=[], password=None)
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


def seal_and_verify(sample: int, n_events: int) -> dict:
    """Seal the oldest SAMPLE events after the set-up's, the lag set so that
    the sealer stops there), then verify
    the chain; a full verify's time is projected from the rate."""
    from django.db import connection

    from reviewapp.models import AuditEvent
    from reviewapp.services.audit import audit_seal, audit_verify

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM now() - occurred_at) FROM reviewapp_auditevent "
            "ORDER BY id OFFSET %s LIMIT 1",
            [sample],
        )
        (age,) = cursor.fetchone()
    started = time.perf_counter()
    sealed = audit_seal(lag_seconds=int(age))
    seal_s = time.perf_counter() - started
    started = time.perf_counter()
    result = audit_verify()
    verify_s = time.perf_counter() - started
    total = AuditEvent.objects.count()
    # A log of N events sealed in full has N / chunk seals; the sample made only a few. Pad the
    # seals table to its full-size row count with rows out of the chain (negative ids; verify
    # is over by now) and seal a second sample on top of it.
    from django.conf import settings

    n_pad = max(0, n_events // settings.REVIEWAPP_AUDIT_SEAL_CHUNK - sealed // 1000)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reviewapp_auditseal (sealed_at, previous_id, first_event_id, "
            "last_event_id, event_digests, previous_hash, hash) "
            "SELECT now(), NULL, -g, -g, '[]'::jsonb, '', '' FROM generate_series(1, %s) g",
            [n_pad],
        )
        cursor.execute("ANALYZE reviewapp_auditseal")
        cursor.execute(
            "SELECT extract(epoch FROM now() - occurred_at) FROM reviewapp_auditevent "
            "ORDER BY id OFFSET %s LIMIT 1",
            [2 * sample],
        )
        (age,) = cursor.fetchone()
    started = time.perf_counter()
    sealed_padded = audit_seal(lag_seconds=int(age))
    seal_padded_s = time.perf_counter() - started
    plan = _explain("SELECT * FROM reviewapp_auditseal ORDER BY last_event_id DESC LIMIT 1")
    print(f"--- seal head lookup with {n_pad:,} padded seals:\n{plan}", flush=True)
    out = {
        "sealed": sealed,
        "seal_events_per_s": sealed / seal_s,
        "verify_ok": result.ok,
        "verify_s": verify_s,
        "verify_events_per_s": result.events / verify_s,
        "verify_full_projected_s": total / (result.events / verify_s),
        "padded_seals": n_pad,
        "seal_padded_events_per_s": sealed_padded / seal_padded_s,
    }
    log(f"  seal/verify: {out}")
    return out


def table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"no results in {path}")

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
        for label, v in r.get("audit", {}).items():
            f[f"/audit/ {label} p95 ms"] = v["p95"]
        if "retention" in r:
            f["retention cases/s"] = r["retention"]["cases_per_s"]
            f["retention run s"] = r["retention"]["seconds"]
        for label, v in r.get("export", {}).items():
            f[f"export {label} rows/s"] = v["rows_per_s"]
        if "seal" in r:
            f["seal events/s"] = r["seal"]["seal_events_per_s"]
            f["seal events/s, full seals table"] = r["seal"].get("seal_padded_events_per_s")
            f["verify events/s"] = r["seal"]["verify_events_per_s"]
            f["verify full (proj.) s"] = r["seal"]["verify_full_projected_s"]
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
    parser.add_argument("--runs", type=int, default=20, help="requests per audit filter")
    parser.add_argument("--export-rows", type=int, default=50_000)
    parser.add_argument("--retention-due", type=int, default=20_000)
    parser.add_argument("--seal-sample", type=int, default=100_000)
    parser.add_argument("--explain-ms", type=float, default=20)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--reuse", action="store_true", help="measure the filled database")
    parser.add_argument("--table", action="store_true", help="only print the growth table")
    args = parser.parse_args()
    if args.table:
        table(args.results)
        return
    waiting = args.waiting if args.waiting is not None else args.cases // 10
    result: dict = {"cases": args.cases, "waiting": waiting, "events": args.events}
    if not args.reuse:
        log(f"creating {DB_NAME}: {args.cases:,} cases ({waiting:,} waiting), {args.events:,} ev")
        database_recreate(db_name=DB_NAME, env=SERVER_ENV)
    django_setup(SERVER_ENV)
    try:
        if not args.reuse:
            result["fill"] = fill(
                args.cases, waiting, args.events, args.reviewers, args.retention_due
            )
        result["load_avg_start"] = os.getloadavg()[0]
        result["claim"] = claim_decide(args.reviewers, args.seconds, args.think_ms, args.submit)
        log("audit log page")
        result["audit"] = audit_pages(args.runs, args.explain_ms)
        log("export")
        result["export"] = export_rate(args.export_rows)
        log("retention")
        result["retention"] = retention(args.explain_ms)
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
