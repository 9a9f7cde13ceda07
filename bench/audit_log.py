"""Benchmark of the auditor's audit log pages on a large log (not a test).

It creates its own PostgreSQL database (bench_audit, dropped and re-created), migrates it,
fills it with --events audit events (default 2,000,000) by one INSERT ... SELECT
generate_series (50 actors, 12 actions, 100,000 targets, spread over 90 days), then, in this
process with Django's test client (no network), times the audit log page for several filters
at the newest page and deep in the log (keyset cursors), and the streamed CSV export.

    .venv/bin/python bench/audit_log.py                  # fill + measure
    .venv/bin/python bench/audit_log.py --reuse          # measure on the filled database
"""

import argparse
import statistics
import time

import psycopg
from harness import database_recreate, database_url, django_setup

DB_NAME = "bench_audit"
DB_URL = database_url(DB_NAME)
# In this process with the test client: the test settings, no gunicorn.
ENV = {"DATABASE_URL": DB_URL, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
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


def _fill(n_events: int) -> None:
    from reviewapp.models import Role
    from reviewapp.services.accounts import user_create

    ids = [
        user_create(username=f"bench-{i:02d}", role=Role.REVIEWER, teams=[], password=None).pk
        for i in range(50)
    ]
    started = time.monotonic()
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO reviewapp_auditevent
              (occurred_at, actor_id, actor_label, actor_role, action, target_type, target_id,
               changes, ip, user_agent, request_id)
            SELECT now() - make_interval(secs => (%(n)s - g) * 90 * 86400.0 / %(n)s),
                   (%(ids)s::bigint[])[1 + g %% 50], 'bench-' || lpad((g %% 50)::text, 2, '0'),
                   'reviewer', (%(actions)s::text[])[1 + (g / 7) %% 12],
                   'case', (g %% 100000)::text,
                   '{"status": ["queued", "assigned"]}'::jsonb, '10.0.0.1', 'bench', ''
            FROM generate_series(1, %(n)s) AS g
            """,
            {"n": n_events, "ids": ids, "actions": ACTIONS},
        )
        conn.execute("ANALYZE reviewapp_auditevent")
    print(f"filled {n_events:,} events in {time.monotonic() - started:.1f} s")


def _median_ms(fn, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _measure(runs: int, export_rows: int) -> None:
    from django.test import Client

    from reviewapp.models import AuditEvent, Role, User
    from reviewapp.services.accounts import user_create

    auditor = User.objects.filter(username="bench-auditor").first() or user_create(
        username="bench-auditor", role=Role.AUDITOR, teams=[], password=None
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(auditor)
    top = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    deep = top // 2
    cases = [
        ("no filter, newest page", {}),
        ("no filter, page at the middle of the log", {"before": deep}),
        ("action=case.decided", {"action": "case.decided"}),
        ("action=case.decided, middle", {"action": "case.decided", "before": deep}),
        ("action prefix auth.*", {"action": "auth.*"}),
        ("actor=bench-07", {"actor": "bench-07"}),
        ("actor=bench-07, middle", {"actor": "bench-07", "before": deep}),
        ("target case 4242", {"target_type": "case", "target_id": "4242"}),
        ("one day 45 days ago", {"date_from": _days_ago(45), "date_to": _days_ago(45)}),
        ("rare: auth.login_failed + actor", {"action": "auth.login_failed", "actor": "bench-03"}),
    ]
    print(f"audit log page (GET /audit/), median of {runs} runs, {top:,} events:")
    for label, params in cases:
        response = client.get("/audit/", params)
        assert response.status_code == 200, response.status_code
        ms = _median_ms(lambda p=params: client.get("/audit/", p), runs)
        rows = response.content.decode().count("<tr>") - 1
        print(f"  {label:<42} {ms:8.1f} ms  ({max(rows, 0)} rows)")
    started = time.perf_counter()
    response = client.get("/audit/export/", {"format": "csv", "action": "case.decided"})
    n_bytes = n_lines = 0
    for piece in response.streaming_content:
        n_bytes += len(piece)
        n_lines += piece.count(b"\n")
        if n_lines >= export_rows:
            break
    seconds = time.perf_counter() - started
    print(
        f"CSV export (action=case.decided): first {n_lines:,} rows, {n_bytes / 1e6:.1f} MB in "
        f"{seconds:.2f} s = {n_lines / seconds:,.0f} rows/s"
    )


def _days_ago(days: int) -> str:
    from datetime import timedelta

    from django.utils import timezone

    return (timezone.now() - timedelta(days=days)).date().isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    if not args.reuse:
        database_recreate(db_name=DB_NAME, env=ENV)
    django_setup(ENV)
    if not args.reuse:
        _fill(args.events)
    _measure(args.runs, args.export_rows)


if __name__ == "__main__":
    main()
