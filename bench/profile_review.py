"""Where the server's CPU goes in a claim + decide (not a test).

Runs N claim -> decide pairs in this process through the WSGI application that gunicorn
serves (``config.wsgi``, production settings, every middleware, DRF, the audit writes) against
the PostgreSQL database that ``bench/review.py`` filled, with one reviewer's personal access
token, and prints the process CPU per pair (PostgreSQL's own CPU is not in it, as in
``bench/review.py``'s gunicorn figure), then the cProfile entries by cumulative and by own time.

    .venv/bin/python bench/review.py --db bench_review_cpu --runs 0 --cases 300000  # once
    .venv/bin/python bench/profile_review.py --db bench_review_cpu --pairs 300
    .venv/bin/python bench/profile_review.py --db bench_review_cpu --pairs 300 --no-profile

Traffic never leaves the process; the database must have waiting cases left.
"""

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time

from harness import django_setup, server_env

MODEL_SLUG = "bench-fraud"


def environ(path: str, token: str, body: bytes = b"") -> dict:
    """A WSGI environ such as gunicorn builds for POST PATH with a bearer token."""
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_CONNECTION": "keep-alive",
        "HTTP_USER_AGENT": "profile_review",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(app, path: str, token: str, body: bytes = b"") -> tuple[str, bytes]:
    captured: list[str] = []

    def start_response(status: str, headers: list, exc_info=None) -> None:
        captured.append(status)

    result = app(environ(path, token, body), start_response)
    try:
        data = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return captured[0], data


def pairs_run(app, token: str, n: int) -> list[float]:
    """N claim -> accept pairs; the process CPU seconds of each pair."""
    decide = json.dumps({"action": "accept"}).encode()
    cpu: list[float] = []
    for _ in range(n):
        started = time.process_time()
        status, data = call(app, f"/api/v1/queues/{MODEL_SLUG}/claim", token)
        if not status.startswith("200"):
            raise SystemExit(f"claim: {status} {data[:300]!r}")
        case_id = json.loads(data)["id"]
        status, data = call(app, f"/api/v1/cases/{case_id}/decision", token, decide)
        if not status.startswith("200"):
            raise SystemExit(f"decide: {status} {data[:300]!r}")
        cpu.append(time.process_time() - started)
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="bench_review")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--no-profile", action="store_true", help="only the CPU per pair")
    parser.add_argument("--sort", default="cumulative,tottime")
    parser.add_argument("--sql", action="store_true", help="print the SQL of one pair")
    parser.add_argument("--callees", default="", help="also print the callees of these functions")
    args = parser.parse_args()

    django_setup(server_env(db_name=args.db, redis_db=args.redis_db))
    from config.wsgi import application
    from reviewapp.models import User
    from reviewapp.services.accounts import token_create

    user = User.objects.filter(username__startswith="bench-r").order_by("username").first()
    if user is None:
        raise SystemExit(f"no reviewers in {args.db}: run bench/review.py --runs 0 first")
    token = token_create(user=user, name="profile")[1]

    pairs_run(application, token, args.warm)
    if args.sql:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            pairs_run(application, token, 1)
        for i, query in enumerate(queries.captured_queries, 1):
            print(f"{i:2d}. {query['sql'][:400]}")
        return
    if args.no_profile:
        cpu = pairs_run(application, token, args.pairs)
        ms = sorted(1000 * c for c in cpu)
        print(
            f"{args.pairs} claim+decide pairs in-process: CPU ms per pair median "
            f"{statistics.median(ms):.2f}, mean {statistics.fmean(ms):.2f}, "
            f"p10 {ms[int(0.1 * (len(ms) - 1))]:.2f}, p90 {ms[int(0.9 * (len(ms) - 1))]:.2f}"
        )
        return
    profiler = cProfile.Profile(time.process_time)  # CPU, not waits on PostgreSQL
    profiler.enable()
    cpu = pairs_run(application, token, args.pairs)
    profiler.disable()
    print(f"profiled: CPU ms per pair (with profiler overhead) {1000 * statistics.fmean(cpu):.2f}")
    stats = pstats.Stats(profiler)
    for key in args.sort.split(","):
        print(f"\n=== by {key} ===")
        stats.sort_stats(key).print_stats(args.top)
    for name in filter(None, args.callees.split(",")):
        stats.sort_stats("cumulative").print_callees(name)


if __name__ == "__main__":
    main()
