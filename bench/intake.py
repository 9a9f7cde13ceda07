"""Intake benchmark (not a test): batch and single-case intake over HTTP against gunicorn and
PostgreSQL, with PostgreSQL COPY of the same rows as the reference ceiling.

    .venv/bin/python bench/intake.py [--cases 20000] [--batch 1000] [--clients 4]
                                     [--single 2000] [--single-clients 8] [--workers 4]

It creates the database ``bench_intake`` afresh (dropping it first), migrates it, starts
gunicorn on a free 127.0.0.1 port, registers a model and its service account, measures, then
stops gunicorn. Traffic goes to 127.0.0.1 only; counts and time are bounded.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import requests
from harness import (
    HOST,
    ROOT,
    database_recreate,
    database_url,
    free_port,
    gunicorn_start,
    gunicorn_stop,
    percentile,
    server_env,
)

DB_NAME = os.environ.get("BENCH_INTAKE_DB", "bench_intake")  # own name per person
DB_URL = database_url(DB_NAME)
MODEL = "bench-fraud"
REDIS_DB = int(os.environ.get("BENCH_INTAKE_REDIS_DB", "14"))
ENV = {**server_env(db_name=DB_NAME, redis_db=REDIS_DB), "PYTHONWARNINGS": "ignore::UserWarning"}

SETUP = f"""
from reviewapp.models import RoutingPolicy
from reviewapp.services.accounts import service_account_create, team_get_or_create
from reviewapp.services.policies import model_register
team = team_get_or_create(slug="bench")
m = model_register(slug="{MODEL}", labels=["fraud", "legit"], team=team,
                   input_schema={{"amount": "number", "country": "string",
                                 "account_age_days": "integer"}})
user, raw = service_account_create(ml_model=m)
p = RoutingPolicy.objects.get(ml_model=m, status="active")
print(m.pk, p.pk, user.pk)
print(raw)
"""


def case_body(external_id: str, rng: random.Random) -> dict:
    confidence = round(rng.uniform(0.5, 1.0), 4)
    label = rng.choice(["fraud", "legit"])
    other = "legit" if label == "fraud" else "fraud"
    amount = round(rng.uniform(1, 5000), 2)
    age = rng.randint(0, 3000)
    return {
        "external_id": external_id,
        "model_version": "2.3.0",
        "input": {
            "amount": amount,
            "country": rng.choice(["DE", "FR", "NL"]),
            "account_age_days": age,
        },
        "prediction": {
            "label": label,
            "confidence": confidence,
            "scores": {label: confidence, other: round(1 - confidence, 4)},
        },
        "explanation": {
            "method": "shap",
            "base_value": 0.1,
            "contributions": [
                {
                    "feature": "account_age_days",
                    "value": age,
                    "weight": round(rng.uniform(-1, 1), 4),
                },
                {"feature": "amount", "value": amount, "weight": round(rng.uniform(-1, 1), 4)},
                {"feature": "country", "value": "DE", "weight": round(rng.uniform(-1, 1), 4)},
            ],
            "summary": "bench",
        },
        "priority": "normal",
        "metadata": {"source": "bench"},
    }


def setup_model() -> tuple[int, int, int, str]:
    out = (
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SETUP],
            cwd=ROOT,
            env={**os.environ, **ENV},
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()
    )
    model_id, policy_id, user_id = (int(x) for x in out[-2].split())
    return model_id, policy_id, user_id, out[-1]


def thread_session(local: threading.local, token: str) -> requests.Session:
    """This thread's HTTP session with the service account's token (made on first use)."""
    session = getattr(local, "session", None)
    if session is None:
        session = local.session = requests.Session()
        session.headers.update(
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        )
    return session


def bench_batches(base: str, token: str, bodies: list[bytes], clients: int) -> tuple[float, int]:
    """POST every batch body; returns the wall time in seconds and the cases created."""
    local = threading.local()

    def post(body: bytes) -> dict:
        session = thread_session(local, token)
        response = session.post(f"{base}/api/v1/cases/batch", data=body, timeout=120)
        assert response.status_code == 200, response.text[:500]
        return response.json()["counts"]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        counts = list(pool.map(post, bodies))
    elapsed = time.perf_counter() - start
    created = sum(c["created"] for c in counts)
    errors = sum(c["error"] for c in counts)
    assert errors == 0, counts
    return elapsed, created


def bench_copy(rows: list[tuple], columns: list[str]) -> float:
    with psycopg.connect(DB_URL) as conn:
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY reviewapp_case ({', '.join(columns)}) FROM STDIN") as copy_,
        ):
            for row in rows:
                copy_.write_row(row)
        conn.commit()
        return time.perf_counter() - start


def copy_rows(items: list[dict], ids: tuple[int, int, int], version_id: int) -> tuple:
    """The rows intake stores, as COPY input (JSON pre-serialised, like the ORM does)."""
    model_id, policy_id, user_id = ids
    now = datetime.now(UTC)
    columns = [
        "ml_model_id", "model_version_id", "policy_id", "external_id", "body_digest",
        "intake_key", "input", "predicted_label", "confidence", "scores", "explanation",
        "metadata", "priority", "status", "routing_reasons", "routing_detail", "is_blind",
        "submitted_by_id", "created_at", "escalation_source", "escalation_note",
        "fallback_applied", "redaction", "reviews_required", "segments",
    ]  # fmt: skip
    key = uuid.uuid4()
    rows = [
        (
            model_id,
            version_id,
            policy_id,
            "copy-" + item["external_id"],
            "0" * 64,
            key,
            json.dumps(item["input"]),
            item["prediction"]["label"],
            item["prediction"]["confidence"],
            json.dumps(item["prediction"]["scores"]),
            json.dumps(item["explanation"]),
            json.dumps(item["metadata"]),
            20,
            "auto_approved",
            "[]",
            "",
            False,
            user_id,
            now,
            "",
            "",
            "",
            "",
            1,
            "{}",
        )
        for item in items
    ]
    return rows, columns


def bench_single(base: str, token: str, bodies: list[bytes], clients: int) -> list[float]:
    """Closed-loop single-case POSTs. The client is http.client with keep-alive (a fraction of
    the CPU of requests), so that the clients, which share the two cores with the server,
    disturb the measurement as little as they can."""
    local = threading.local()
    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(body: bytes) -> float:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        start = time.perf_counter()
        conn.request("POST", "/api/v1/cases", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        assert response.status == 201, data[:500]
        return elapsed

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(post, bodies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--single-clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not 0 < args.cases <= 100_000 or not 0 < args.single <= 20_000:
        raise SystemExit("keep --cases <= 100000 and --single <= 20000")

    rng = random.Random(7)
    print(f"preparing database {DB_NAME} ...", flush=True)
    database_recreate(db_name=DB_NAME, env=ENV)
    model_id, policy_id, user_id, token = setup_model()
    items = [case_body(f"b-{i:06d}", rng) for i in range(args.cases)]
    bodies = [
        json.dumps({"cases": items[i : i + args.batch]}).encode()
        for i in range(0, len(items), args.batch)
    ]
    singles = [json.dumps(case_body(f"s-{i:06d}", rng)).encode() for i in range(args.single)]

    port = free_port()
    proc = gunicorn_start(
        env=ENV, port=port, workers=args.workers, threads=args.threads, timeout=120
    )
    base = f"http://{HOST}:{port}"
    try:
        # Warm every worker (imports, connections, first model version) outside the timing.
        warm = [json.dumps(case_body(f"w-{i}", rng)).encode() for i in range(40)]
        bench_single(base, token, warm, args.workers * args.threads)

        elapsed, created = bench_batches(base, token, bodies, args.clients)
        batch_rate = created / elapsed
        print(
            f"batch intake: {created} cases in {len(bodies)} batches of {args.batch} with "
            f"{args.clients} clients: {elapsed:.2f} s = {batch_rate:,.0f} cases/s",
            flush=True,
        )
        latencies = bench_single(base, token, singles, args.single_clients)
    finally:
        gunicorn_stop(proc)

    with psycopg.connect(DB_URL) as conn:
        version_id = conn.execute(
            "SELECT id FROM reviewapp_modelversion WHERE ml_model_id = %s AND version = '2.3.0'",
            [model_id],
        ).fetchone()[0]
        stored = conn.execute(
            "SELECT count(*) FROM reviewapp_case WHERE external_id LIKE 'b-%%'"
        ).fetchone()[0]
    assert stored == args.cases, (stored, args.cases)
    rows, columns = copy_rows(items, (model_id, policy_id, user_id), version_id)
    copy_s = bench_copy(rows, columns)
    copy_rate = len(rows) / copy_s
    print(
        f"COPY reference: {len(rows)} rows in {copy_s:.2f} s = {copy_rate:,.0f} rows/s; "
        f"HTTP batch intake is {batch_rate / copy_rate:.1%} of COPY",
        flush=True,
    )
    ms = [x * 1000 for x in latencies]
    print(
        f"single POST, {args.single} requests, {args.single_clients} clients: "
        f"p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms, "
        f"p99 {percentile(ms, 99):.1f} ms, mean {statistics.fmean(ms):.1f} ms, "
        f"throughput {len(ms) / (sum(ms) / 1000 / args.single_clients):,.0f} req/s",
        flush=True,
    )
    print(
        json.dumps(
            {
                "batch_cases_per_s": round(batch_rate),
                "copy_rows_per_s": round(copy_rate),
                "ratio": round(batch_rate / copy_rate, 3),
                "single_p50_ms": round(percentile(ms, 50), 1),
                "single_p95_ms": round(percentile(ms, 95), 1),
                "single_p99_ms": round(percentile(ms, 99), 1),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
