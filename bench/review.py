"""Benchmark of the review workflow over HTTP (not a test).

It creates its own PostgreSQL database (bench_review, dropped and re-created), migrates it,
fills it with 1,000,000 waiting cases with one INSERT ... SELECT generate_series, starts
gunicorn with the production settings on 127.0.0.1, creates 50 reviewers with personal
access tokens, and runs 50 concurrent clients doing claim -> decide for --seconds. It prints
decisions/s, p50/p95/p99 of claim and of decide, and checks that no case was claimed by two
clients or decided twice. gunicorn is stopped at the end.

    .venv/bin/python bench/review.py                      # fill + 1 run of 60 s
    .venv/bin/python bench/review.py --runs 3 --reuse     # 3 runs on the filled database
    .venv/bin/python bench/review.py --runs 0             # only (re)create and fill

--think-ms adds a pause per case between claim and decide (a reviewer reading the case;
uniformly 50-150 % of the value, with staggered starts so that clients do not move in
lockstep), so that the offered load can be set below saturation; 0 (the default) means
closed-loop at full speed, where latency is mostly queueing behind the 2 shared cores.
gunicorn runs --workers 2 --threads 4 (gthread) by default.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import threading
import time
from pathlib import Path

from harness import (
    HOST,
    database_recreate,
    django_setup,
    gunicorn_start,
    gunicorn_stop,
    log,
    percentile,
    server_env,
)

# --db / --port / --redis-db (or BENCH_REVIEW_DB, BENCH_REVIEW_PORT) let several people run the
# bench on one machine without sharing a database or a port.
DB_NAME = os.environ.get("BENCH_REVIEW_DB", "bench_review")
PORT = int(os.environ.get("BENCH_REVIEW_PORT", "8765"))
MODEL_SLUG = "bench-fraud"
SERVER_ENV = server_env(db_name=DB_NAME, redis_db=13)

FILL_SQL = """
INSERT INTO reviewapp_case (
    ml_model_id, model_version_id, policy_id, external_id, body_digest, intake_key, input,
    predicted_label, confidence, scores, explanation, metadata, priority, status,
    routing_reasons, routing_detail, is_blind, submitted_by_id, created_at, sla_due_at,
    expires_at, escalation_source, escalation_note, fallback_applied, redaction,
    reviews_required, segments)
SELECT %(model)s, %(version)s, %(policy)s, 'bench-' || g, md5(g::text) || md5((g + 1)::text),
    NULL,
    jsonb_build_object('amount', (g %% 5000) + 0.5, 'country', 'DE', 'account_age_days', g %% 90),
    CASE WHEN g %% 3 = 0 THEN 'legit' ELSE 'fraud' END,
    0.5 + (g %% 30) / 100.0,
    jsonb_build_object('fraud', 0.6, 'legit', 0.4),
    jsonb_build_object('method', 'shap', 'base_value', 0.1, 'contributions',
        jsonb_build_array(jsonb_build_object('feature', 'account_age_days', 'value', g %% 90,
                                             'weight', 0.31),
                          jsonb_build_object('feature', 'amount', 'value', g %% 5000,
                                             'weight', 0.12))),
    '{}'::jsonb,
    CASE WHEN g %% 50 = 0 THEN 40 WHEN g %% 10 = 0 THEN 30 ELSE 20 END,
    'queued', '["low_confidence"]'::jsonb, 'confidence below the review threshold 0.80',
    g %% 20 = 0, NULL,
    now() - make_interval(secs => %(n)s - g), now() + interval '30 days',
    now() + interval '60 days', '', '', '', '', 1, '{}'::jsonb
FROM generate_series(%(start)s, %(stop)s) AS g
"""


def fixtures_create(n_reviewers: int) -> None:
    """The team, model, version and policy rows, and the reviewers (no tokens yet)."""
    from reviewapp.models import ModelVersion, Role, RoutingPolicy
    from reviewapp.services.accounts import team_get_or_create, user_create
    from reviewapp.services.policies import model_register

    team = team_get_or_create(slug="bench-team")
    ml_model = model_register(slug=MODEL_SLUG, labels=["fraud", "legit"], team=team)
    RoutingPolicy.objects.filter(ml_model=ml_model, status="active").update(lease_minutes=10)
    ModelVersion.objects.create(ml_model=ml_model, version="1.0.0")
    for i in range(n_reviewers):
        user_create(username=f"bench-r{i:02d}", role=Role.REVIEWER, teams=[team], password=None)


def cases_fill(n: int, chunk: int = 250_000) -> None:
    from django.db import connection

    from reviewapp.models import MLModel, ModelVersion, RoutingPolicy

    ml_model = MLModel.objects.get(slug=MODEL_SLUG)
    version = ModelVersion.objects.get(ml_model=ml_model)
    policy = RoutingPolicy.objects.get(ml_model=ml_model, status="active")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(1, n + 1, chunk):
            stop = min(n, start + chunk - 1)
            cursor.execute(
                FILL_SQL,
                {
                    "model": ml_model.pk,
                    "version": version.pk,
                    "policy": policy.pk,
                    "n": n,
                    "start": start,
                    "stop": stop,
                },
            )
            log(f"  {stop:,} cases")
        cursor.execute("VACUUM ANALYZE reviewapp_case")
    log(f"filled {n:,} waiting cases in {time.perf_counter() - started:.1f} s")


def tokens_create() -> list[str]:
    """Fresh tokens for the reviewers (tokens are shown once, so each run makes new ones)."""
    from reviewapp.models import User
    from reviewapp.services.accounts import token_create

    users = User.objects.filter(username__startswith="bench-r").order_by("username")
    return [token_create(user=u, name="bench")[1] for u in users]


def explain_claim() -> str:
    """EXPLAIN of the claim's pick query: it must walk case_queue_idx."""
    from django.db import connection, transaction

    from reviewapp.models import Case, CaseStatus, MLModel

    ml_model = MLModel.objects.get(slug=MODEL_SLUG)
    qs = (
        Case.objects.filter(ml_model=ml_model, status=CaseStatus.QUEUED)
        .order_by("-priority", "created_at", "id")
        .select_related("policy", "model_version")
        .select_for_update(skip_locked=True, of=("self",))[:1]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = qs.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


class Client(threading.Thread):
    """One reviewer: claim -> (think) -> decide, until the deadline."""

    def __init__(self, token: str, deadline: float, think_s: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Connection": "keep-alive",
        }
        self.deadline, self.think_s = deadline, think_s
        self.rng = random.Random(seed)
        self.claim_ms: list[float] = []
        self.decide_ms: list[float] = []
        self.decided: list[int] = []
        self.errors: list[str] = []
        self.conn = http.client.HTTPConnection(HOST, PORT, timeout=30)

    def _post(self, path: str, body: bytes = b"") -> tuple[int, bytes, float]:
        started = time.perf_counter()
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, data, (time.perf_counter() - started) * 1000
            except (http.client.HTTPException, OSError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def run(self) -> None:
        decide_accept = json.dumps({"action": "accept"}).encode()
        if self.think_s:  # reviewers do not move in lockstep: stagger the starts
            time.sleep(self.rng.uniform(0, self.think_s))
        while time.perf_counter() < self.deadline:
            status, data, ms = self._post(f"/api/v1/queues/{MODEL_SLUG}/claim")
            if status == 204:
                return
            if status != 200:
                self.errors.append(f"claim {status} {data[:200]!r}")
                return
            self.claim_ms.append(ms)
            case = json.loads(data)
            if self.think_s:  # reading the case: think time +-50 %
                time.sleep(self.think_s * self.rng.uniform(0.5, 1.5))
            if self.rng.random() < 0.2 and case["prediction"]:
                other = "legit" if case["prediction"]["label"] == "fraud" else "fraud"
                body = json.dumps(
                    {"action": "override", "final_label": other, "reason_code": "wrong_label"}
                ).encode()
            elif self.rng.random() < 0.1 and not case["prediction"]:
                body = json.dumps(
                    {"action": "override", "final_label": "legit", "reason_code": "other"}
                ).encode()
            else:
                body = decide_accept
            status, data, ms = self._post(f"/api/v1/cases/{case['id']}/decision", body)
            if status != 200:
                # a blind case whose hidden label equals the chosen one: accept instead
                status, data, ms = self._post(f"/api/v1/cases/{case['id']}/decision", decide_accept)
            if status != 200:
                self.errors.append(f"decide {status} {data[:200]!r}")
                return
            self.decide_ms.append(ms)
            self.decided.append(case["id"])


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (Linux /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _gunicorn_pids(proc: subprocess.Popen) -> list[int]:
    """The gunicorn master and its workers."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return [proc.pid, *map(int, children)]


def run_once(tokens: list[str], seconds: float, think_ms: float, proc: subprocess.Popen) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM reviewapp_decision")
        (last_decision,) = cursor.fetchone()
    gunicorn_pids = _gunicorn_pids(proc)
    cpu_client, cpu_gunicorn = time.process_time(), _cpu_seconds(gunicorn_pids)
    started = time.perf_counter()
    deadline = started + seconds
    clients = [Client(t, deadline, think_ms / 1000, i) for i, t in enumerate(tokens)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(seconds + 60)
    elapsed = time.perf_counter() - started
    cpu_client = time.process_time() - cpu_client
    cpu_gunicorn = _cpu_seconds(gunicorn_pids) - cpu_gunicorn
    decided = [cid for c in clients for cid in c.decided]
    claim_ms = [ms for c in clients for ms in c.claim_ms]
    decide_ms = [ms for c in clients for ms in c.decide_ms]
    errors = [e for c in clients for e in c.errors]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT case_id) FROM reviewapp_decision WHERE id > %s",
            [last_decision],
        )
        db_decisions, db_distinct = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM (SELECT case_id FROM reviewapp_decision "
            "WHERE superseded_at IS NULL GROUP BY case_id HAVING count(*) > 1) d"
        )
        (twice,) = cursor.fetchone()
    return {
        "decisions": len(decided),
        "decisions_per_s": len(decided) / elapsed,
        "claim_p50": percentile(claim_ms, 50),
        "claim_p95": percentile(claim_ms, 95),
        "claim_p99": percentile(claim_ms, 99),
        "decide_p50": percentile(decide_ms, 50),
        "decide_p95": percentile(decide_ms, 95),
        "decide_p99": percentile(decide_ms, 99),
        "duplicate_claims": len(decided) - len(set(decided)),
        "db_decisions": db_decisions,
        "db_distinct_cases": db_distinct,
        "cases_decided_twice": twice,
        "cpu_ms_per_decision": {
            "gunicorn": 1000 * cpu_gunicorn / max(1, len(decided)),
            "bench clients": 1000 * cpu_client / max(1, len(decided)),
        },
        "load_avg_1m": os.getloadavg()[0],
        "errors": errors[:5],
        "n_errors": len(errors),
    }


def main() -> None:
    global DB_NAME, PORT, SERVER_ENV
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--think-ms", type=float, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--reuse", action="store_true", help="keep the filled database")
    parser.add_argument("--db", default=DB_NAME, help="PostgreSQL database (dropped and re-made)")
    parser.add_argument("--port", type=int, default=PORT, help="gunicorn's 127.0.0.1 port")
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database number")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 300)
    DB_NAME, PORT = args.db, args.port
    SERVER_ENV = server_env(db_name=DB_NAME, redis_db=args.redis_db)

    if not args.reuse:
        log(f"creating database {DB_NAME} and migrating")
        database_recreate(db_name=DB_NAME, env=SERVER_ENV)
    django_setup(SERVER_ENV)
    from reviewapp.models import Case

    if not args.reuse:
        fixtures_create(args.clients)
        cases_fill(args.cases)
    log(f"{Case.objects.filter(status='queued').count():,} cases waiting")
    print(explain_claim())
    if args.runs == 0:
        return
    tokens = tokens_create()[: args.clients]
    if len(tokens) < args.clients:
        raise SystemExit(f"only {len(tokens)} reviewers in {DB_NAME}; run without --reuse")
    proc = gunicorn_start(env=SERVER_ENV, port=PORT, workers=args.workers, threads=args.threads)
    results = []
    try:
        for n in range(1, args.runs + 1):
            log(
                f"run {n}: {args.clients} clients, {args.seconds:.0f} s, think {args.think_ms} ms,"
                f" gunicorn {args.workers} workers x {args.threads} threads"
            )
            r = run_once(tokens, args.seconds, args.think_ms, proc)
            results.append(r)
            print(
                f"  decisions/s {r['decisions_per_s']:.1f} ({r['decisions']} decisions)  "
                f"claim p50/p95/p99 {r['claim_p50']:.1f}/{r['claim_p95']:.1f}/"
                f"{r['claim_p99']:.1f} ms  decide p50/p95/p99 {r['decide_p50']:.1f}/"
                f"{r['decide_p95']:.1f}/{r['decide_p99']:.1f} ms",
                flush=True,
            )
            print(
                f"  duplicate claims across clients: {r['duplicate_claims']}; decisions in DB: "
                f"{r['db_decisions']} for {r['db_distinct_cases']} distinct cases; cases with "
                f"two current decisions: {r['cases_decided_twice']}; errors: {r['n_errors']} "
                f"{r['errors']}",
                flush=True,
            )
            cpu = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms_per_decision"].items())
            print(
                f"  CPU ms per decision (claim + decide): {cpu}; 1-min load average "
                f"{r['load_avg_1m']:.1f} on {os.cpu_count()} CPUs",
                flush=True,
            )
            ok = (
                r["duplicate_claims"] == 0
                and r["cases_decided_twice"] == 0
                and r["db_decisions"] == r["db_distinct_cases"] == r["decisions"]
            )
            print(f"  no duplicates: {'OK' if ok else 'FAILED'}", flush=True)
    finally:
        gunicorn_stop(proc)
    if len(results) > 1:
        keys = ["decisions_per_s", "claim_p50", "claim_p95", "claim_p99"]
        keys += ["decide_p50", "decide_p95", "decide_p99"]
        medians = {k: statistics.median(r[k] for r in results) for k in keys}
        print(
            "median of {} runs: decisions/s {decisions_per_s:.1f}  claim p50/p95/p99 "
            "{claim_p50:.1f}/{claim_p95:.1f}/{claim_p99:.1f} ms  decide p50/p95/p99 "
            "{decide_p50:.1f}/{decide_p95:.1f}/{decide_p99:.1f} ms".format(len(results), **medians)
        )


if __name__ == "__main__":
    main()
