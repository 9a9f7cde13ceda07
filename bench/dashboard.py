"""Benchmark of the adoption dashboard and the metrics API over HTTP (not a test).

It creates its own PostgreSQL database (bench_dashboard, dropped and re-created), migrates
it, fills 1,000,000 decided cases with their decisions (plus 250,000 auto-approved cases)
spread over the last 90 days with INSERT ... SELECT generate_series (25 reviewers, one of
them fast, one overriding often; 3 model versions over time; 3 labels; confidence bands 3..9;
5% blind), times the rollup refresh of the 90 days and the cache warm-up the beat task does,
starts gunicorn with the production settings on 127.0.0.1, logs a manager in (a session made
server-side, sent as the cookie) and measures, sequentially, the dashboard page and the
metrics API for 30 and 90 days: p50/p95 per round, and the medians over rounds. The first,
cold request (cache emptied) is reported apart. gunicorn is stopped at the end.

Segments and ground truth: the model declares the segment fields ``site`` (8 values) and
``region`` (4 values, independent of site) through ``model_configure``; each case carries
them in ``segments`` as intake would store them; reviewers override ``site-08`` 15 points more
often (a planted gap the dashboard flags), and 100,000 cases get an outcome (``--outcomes``;
the model wrong on 10% of them, 25% at ``site-08``), observed a day after receipt. So the
dashboard page (one model selected) draws the "By segment" tables and the "Did review help?"
card, and the quality API (``/api/v1/metrics/quality``) is timed as well.

    .venv/bin/python bench/dashboard.py                      # fill + 3 rounds
    .venv/bin/python bench/dashboard.py --reuse --rounds 3   # rounds on the filled database
    .venv/bin/python bench/dashboard.py --reuse --refresh    # the same, rollups recomputed
"""

import argparse
import http.client
import statistics
import time
from datetime import timedelta

from harness import (
    HOST,
    database_recreate,
    django_setup,
    gunicorn_start,
    gunicorn_stop,
    log,
    manage,
    percentile,
    server_env,
)

DB_NAME = "bench_dashboard"
PORT = 8766
MODEL_SLUG = "bench-fraud"
SERVER_ENV = server_env(db_name=DB_NAME, redis_db=12)

# g = 1..n; h1..h6 are independent pseudo-random numbers of g (PostgreSQL's hashint8), so
# that reviewers, labels, bands, days and versions mix as in real traffic.
CASES_SQL = """
INSERT INTO reviewapp_case (
    ml_model_id, model_version_id, policy_id, external_id, body_digest, intake_key, input,
    predicted_label, confidence, scores, explanation, metadata, priority, status,
    routing_reasons, routing_detail, is_blind, submitted_by_id, created_at, sla_due_at,
    expires_at, escalated_at, escalation_source, escalation_note, decided_at, expired_at,
    fallback_applied, reviews_required, segments, redacted_at, redaction)
SELECT %(model)s,
    CASE WHEN x.age > 60 THEN %(v1)s WHEN x.age > 20 THEN %(v2)s
         WHEN x.age > 15 AND h.h1 %% 2 = 0 THEN %(v2)s ELSE %(v3)s END,
    %(policy)s, %(prefix)s || g, md5(g::text), NULL,
    jsonb_build_object('amount', (g %% 5000) + 0.5, 'country', 'DE', 'account_age_days', g %% 90),
    x.label, x.conf, NULL, NULL, '{}'::jsonb, 20,
    %(status)s, %(reasons)s::jsonb, '', %(decided)s AND h.h6 %% 20 = 0, NULL,
    x.created, NULL, NULL,
    CASE WHEN %(decided)s AND h.h6 %% 97 = 1 THEN x.created + interval '61 minutes' END,
    CASE WHEN %(decided)s AND h.h6 %% 97 = 1 THEN 'sla' ELSE '' END, '',
    CASE WHEN %(decided)s THEN LEAST(x.created + x.ttd * interval '1 second', now()) END,
    NULL, '', 1,
    jsonb_build_object('site', 'site-0' || (1 + abs(hashint8(g * 59 + %(salt)s)) %% 8),
                       'region', 'region-' || (1 + abs(hashint8(g * 61 + %(salt)s)) %% 4)),
    NULL, ''
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g,
LATERAL (SELECT
    abs(hashint8(g * 11 + %(salt)s)) AS h1, abs(hashint8(g * 13 + %(salt)s)) AS h2,
    abs(hashint8(g * 17 + %(salt)s)) AS h3, abs(hashint8(g * 19 + %(salt)s)) AS h4,
    abs(hashint8(g * 23 + %(salt)s)) AS h5, abs(hashint8(g * 29 + %(salt)s)) AS h6
) AS h,
LATERAL (SELECT
    h.h1 %% 90 AS age,
    CASE WHEN h.h2 %% 5 < 3 THEN 'fraud' WHEN h.h2 %% 5 = 3 THEN 'legit' ELSE 'review' END
        AS label,
    CASE WHEN %(decided)s THEN 0.30 + (h.h3 %% 50) / 100.0
         ELSE 0.80 + (h.h3 %% 20) / 100.0 END AS conf,
    now() - (h.h1 %% 90) * interval '1 day' - (h.h4 %% 86000) * interval '1 second'
        AS created,
    exp(2 + (h.h5 %% 1000) / 1000.0 * 7) AS ttd
) AS x
"""

DECISIONS_SQL = """
INSERT INTO reviewapp_decision (
    case_id, ml_model_id, reviewer_id, action, final_label, reason_code, feedback,
    explanation_helpful, time_spent_ms, was_blind, decided_at, superseded_at)
SELECT c.id, c.ml_model_id, r.ids[1 + k.ri],
    CASE WHEN o.over THEN 'override' ELSE 'accept' END,
    CASE WHEN o.over THEN (CASE WHEN c.predicted_label = 'fraud' THEN 'legit' ELSE 'fraud' END)
         ELSE c.predicted_label END,
    CASE WHEN o.over THEN (ARRAY['wrong_label','wrong_label','missing_context','data_error',
                                 'policy','other'])[1 + k.h3 %% 6] ELSE '' END,
    '',
    CASE WHEN k.h3 %% 3 = 0 THEN NULL WHEN k.h3 %% 3 = 1 THEN true ELSE (k.h3 %% 7 > 1) END,
    CASE WHEN k.ri = 0 THEN 2000 + k.h4 %% 3000 ELSE 8000 + k.h4 %% 90000 END,
    c.is_blind, c.decided_at, NULL
FROM reviewapp_case c,
     (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM reviewapp_user
       WHERE username LIKE 'bench-r%%') AS r,
     LATERAL (SELECT abs(hashint8(c.id * 31 + 7)) %% r.n AS ri,
                     abs(hashint8(c.id * 37 + 3)) %% 100 AS h2,
                     abs(hashint8(c.id * 41 + 5)) AS h3,
                     abs(hashint8(c.id * 43 + 9)) AS h4) AS k,
     LATERAL (SELECT CASE
        WHEN k.ri = 1 THEN k.h2 < 55
        ELSE k.h2 < 12 + (8 - floor(c.confidence * 10)) * 4
                    + CASE WHEN c.segments ->> 'site' = 'site-08' THEN 15 ELSE 0 END
        END AS over) AS o
WHERE c.ml_model_id = %(model)s AND c.status = 'decided' AND c.id BETWEEN %(lo)s AND %(hi)s
"""


# Ground truth for every STEP-th case (decided and auto-approved alike) up to N outcomes: the
# model wrong on 10% (25% at site-08), observed a day after receipt (never in the future).
OUTCOMES_SQL = """
INSERT INTO reviewapp_outcome (case_id, ml_model_id, label, observed_at, recorded_at,
                               recorded_by_id, request_key)
SELECT c.id, c.ml_model_id,
    CASE WHEN abs(hashint8(c.id * 53 + 1)) %% 100
              < CASE WHEN c.segments ->> 'site' = 'site-08' THEN 25 ELSE 10 END
         THEN (CASE WHEN c.predicted_label = 'fraud' THEN 'legit' ELSE 'fraud' END)
         ELSE c.predicted_label END,
    LEAST(c.created_at + interval '1 day', now() - interval '1 minute'), now(), NULL,
    md5(c.id::text)::uuid
FROM reviewapp_case c
WHERE c.ml_model_id = %(model)s AND c.id %% %(step)s = 0
ORDER BY c.id
LIMIT %(n)s
"""


def fixtures_create(n_reviewers: int) -> None:
    from reviewapp.models import ModelVersion, Role
    from reviewapp.services.accounts import team_get_or_create, user_create
    from reviewapp.services.policies import model_register

    team = team_get_or_create(slug="bench-team")
    ml_model = model_register(slug=MODEL_SLUG, labels=["fraud", "legit", "review"], team=team)
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        ModelVersion.objects.create(ml_model=ml_model, version=version)
    for i in range(n_reviewers):
        user_create(username=f"bench-r{i:02d}", role=Role.REVIEWER, teams=[team], password=None)
    user_create(username="bench-manager", role=Role.MANAGER, teams=[team], password=None)
    from reviewapp.services.model_settings import model_configure

    owner = user_create(username="bench-owner", role=Role.MODEL_OWNER, teams=[team], password=None)
    model_configure(ml_model=ml_model, actor=owner, segment_fields=["site", "region"])


def data_fill(n_decided: int, n_auto: int, n_outcomes: int, chunk: int = 250_000) -> None:
    from django.db import connection

    from reviewapp.models import MLModel, ModelVersion, RoutingPolicy

    ml_model = MLModel.objects.get(slug=MODEL_SLUG)
    v1, v2, v3 = ModelVersion.objects.filter(ml_model=ml_model).order_by("version")
    policy = RoutingPolicy.objects.get(ml_model=ml_model, status="active")
    base = {"model": ml_model.pk, "v1": v1.pk, "v2": v2.pk, "v3": v3.pk, "policy": policy.pk}
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for kind, n, status, reasons in (
            ("d", n_decided, "decided", '["low_confidence"]'),
            ("a", n_auto, "auto_approved", "[]"),
        ):
            for start in range(1, n + 1, chunk):
                stop = min(n, start + chunk - 1)
                cursor.execute(
                    CASES_SQL,
                    {
                        **base,
                        "prefix": f"bench-{kind}-",
                        "salt": 1 if kind == "d" else 2,
                        "status": status,
                        "reasons": reasons,
                        "decided": status == "decided",
                        "start": start,
                        "stop": stop,
                    },
                )
                log(f"  {kind}: {stop:,} cases")
        cursor.execute("SELECT min(id), max(id) FROM reviewapp_case WHERE status = 'decided'")
        lo, hi = cursor.fetchone()
        for start in range(lo, hi + 1, chunk):
            cursor.execute(
                DECISIONS_SQL, {"model": ml_model.pk, "lo": start, "hi": start + chunk - 1}
            )
            log(f"  decisions up to case {min(hi, start + chunk - 1):,}")
        step = max(1, (n_decided + n_auto) // max(1, n_outcomes))
        cursor.execute(OUTCOMES_SQL, {"model": ml_model.pk, "step": step, "n": n_outcomes})
        cursor.execute("VACUUM ANALYZE reviewapp_case")
        cursor.execute("VACUUM ANALYZE reviewapp_decision")
        cursor.execute("VACUUM ANALYZE reviewapp_outcome")
        cursor.execute("SELECT count(*) FROM reviewapp_decision")
        n_decisions = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM reviewapp_outcome")
        n_outcome_rows = cursor.fetchone()[0]
    log(
        f"filled {n_decided + n_auto:,} cases, {n_decisions:,} decisions and "
        f"{n_outcome_rows:,} outcomes in {time.perf_counter() - started:.1f} s"
    )


def rollups_build() -> None:
    from django.core.cache import cache
    from django.utils import timezone

    from reviewapp.models import DecisionDailyRollup, SegmentDailyRollup
    from reviewapp.selectors.metrics import adoption_cache_warm
    from reviewapp.services.rollups import rollups_refresh

    today = timezone.localdate()
    days = [today - timedelta(days=d) for d in range(91)]
    started = time.perf_counter()
    result = rollups_refresh(days=days)
    refresh_s = time.perf_counter() - started
    log(
        f"rollups_refresh of {len(days)} days: {refresh_s:.1f} s "
        f"({result['case_rows']:,} case rows, {result['decision_rows']:,} decision rows; "
        f"{DecisionDailyRollup.objects.count():,} in table; "
        f"{SegmentDailyRollup.objects.count():,} segment rows)"
    )
    started = time.perf_counter()
    rollups_refresh(days=days[:2])
    log(f"beat-style refresh of today+yesterday: {time.perf_counter() - started:.2f} s")
    from reviewapp.tasks.metrics import rollups_refresh_task

    started = time.perf_counter()
    rollups_refresh_task()
    log(f"beat task (dirty days + refresh + warm): {time.perf_counter() - started:.2f} s")
    cache.clear()
    started = time.perf_counter()
    adoption_cache_warm(days=days)
    log(f"cache warm-up of {len(days)} days: {time.perf_counter() - started:.1f} s")


def session_cookie() -> str:
    """A logged-in session for the manager, made server-side (as the login form would)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils.module_loading import import_string

    from reviewapp.models import User

    manager = User.objects.get(username="bench-manager")
    session = SessionStore()
    session[SESSION_KEY] = str(manager.pk)
    # The first configured backend that restores this user from a session (as after login).
    session[BACKEND_SESSION_KEY] = next(
        path
        for path in settings.AUTHENTICATION_BACKENDS
        if hasattr(import_string(path)(), "get_user")
        and import_string(path)().get_user(manager.pk) is not None
    )
    session[HASH_SESSION_KEY] = manager.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def fetch(conn: http.client.HTTPConnection, path: str, cookie: str) -> float:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie, "Connection": "keep-alive"})
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        where = response.getheader("Location", "")
        raise SystemExit(f"GET {path} -> {response.status} {where}: {body[:300]!r}")
    return elapsed


def segments_check(conn: http.client.HTTPConnection, path: str, cookie: str) -> None:
    """The page draws the segment tables and flags the planted gap (site-08) alone."""
    conn.request("GET", path, headers={"Cookie": cookie, "Connection": "keep-alive"})
    response = conn.getresponse()
    html = response.read().decode()
    flagged = html.count('class="flagged"')
    ok = 'data-testid="segments-card"' in html and "<td>site-08 " in html
    log(f"segment tables on the page: {ok}; rows flagged: {flagged} (planted: site-08)")
    marker = html.find("Worse than the rest")
    if marker >= 0:
        log(f"  {html[marker : html.find('</strong>', marker)]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decided", type=int, default=1_000_000)
    parser.add_argument("--auto", type=int, default=250_000)
    parser.add_argument("--outcomes", type=int, default=100_000)
    parser.add_argument("--reviewers", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="per URL per round")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the filled database")
    parser.add_argument(
        "--refresh", action="store_true", help="with --reuse: recompute the rollups first"
    )
    args = parser.parse_args()

    if not args.reuse:
        log(f"creating {DB_NAME}")
        database_recreate(db_name=DB_NAME, env=SERVER_ENV)
    django_setup(SERVER_ENV)
    if not args.reuse:
        fixtures_create(args.reviewers)
        data_fill(args.decided, args.auto, args.outcomes)
        rollups_build()
    elif args.refresh:
        rollups_build()
    else:
        from django.core.cache import cache
        from django.utils import timezone

        from reviewapp.selectors.metrics import adoption_cache_warm

        cache.clear()
        today = timezone.localdate()
        started = time.perf_counter()
        adoption_cache_warm(days=[today - timedelta(days=d) for d in range(91)])
        log(f"cache warm-up of 91 days: {time.perf_counter() - started:.1f} s")
    manage("collectstatic", "--noinput", "-v", "0", env=SERVER_ENV)
    cookie = session_cookie()
    proc = gunicorn_start(env=SERVER_ENV, port=PORT, workers=args.workers)
    urls = {
        "page 30d": f"/dashboards/?model={MODEL_SLUG}&days=30",
        "page 90d": f"/dashboards/?model={MODEL_SLUG}&days=90",
        "api 30d": f"/api/v1/metrics/adoption?model={MODEL_SLUG}&days=30",
        "api 90d": f"/api/v1/metrics/adoption?model={MODEL_SLUG}&days=90",
        "page 90d version=2.0.0": f"/dashboards/?model={MODEL_SLUG}&days=90&version=2.0.0",
        "quality api 30d": f"/api/v1/metrics/quality?model={MODEL_SLUG}&days=30",
        "quality api 90d": f"/api/v1/metrics/quality?model={MODEL_SLUG}&days=90",
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
    try:
        conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
        for url in urls.values():  # warm every worker's connections and imports
            for _ in range(args.workers * 2):
                fetch(conn, url, cookie)
        segments_check(conn, urls["page 90d"], cookie)
        for r in range(args.rounds):
            for name, url in urls.items():
                times = [fetch(conn, url, cookie) for _ in range(args.requests)]
                p50, p95 = percentile(times, 50), percentile(times, 95)
                results[name].append((p50, p95))
                log(f"round {r + 1} {name:<22} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        # A cold request: every cached digest gone (as after a Redis restart).
        from django.core.cache import cache

        cache.clear()
        cold = fetch(conn, urls["page 90d"], cookie)
        warm_again = fetch(conn, urls["page 90d"], cookie)
        log(f"cold 90-day page (empty cache): {cold:.0f} ms; next request {warm_again:.0f} ms")
    finally:
        gunicorn_stop(proc)
    print()
    print(f"medians over {args.rounds} rounds of {args.requests} sequential requests each:")
    for name, rows in results.items():
        p50 = statistics.median(p for p, _ in rows)
        p95 = statistics.median(q for _, q in rows)
        verdict = "OK" if p95 < 300 else "OVER 300 ms"
        print(f"  {name:<22} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {verdict}")


if __name__ == "__main__":
    main()
