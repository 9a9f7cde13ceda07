"""Benchmark of the retention job (``services.retention.retention_apply``) on PostgreSQL (not a
test).

It creates its own database (bench_retention, dropped and re-created), migrates it, registers
a model whose owner sets ``retention_days=30`` and two personal-data fields through
``model_configure``, and fills with INSERT ... SELECT generate_series (like bench/dashboard.py)
1,000,000 finished cases received 31 to 120 days ago, so every one is due: 800,000 decided
(each with its decision, a third with feedback text) and 200,000 auto-approved; every case has
an input of five fields (two personal), metadata and an explanation. A webhook delivery whose
payload copies the feedback exists for every tenth decision, a comment on every hundredth case.

Each round restores the content (UPDATE, then VACUUM ANALYZE, not timed) and times one
``retention_apply`` over the whole table, printing cases/s; the last line gives the medians over
the rounds. After the last round it checks that no case kept its content and no delivery
payload its feedback. ``--drop`` removes the database at the end.

    .venv/bin/python bench/retention.py                       # fill + 3 rounds
    .venv/bin/python bench/retention.py --reuse --rounds 1    # rounds on the filled database
"""

import argparse
import statistics
import time

import psycopg
from harness import database_recreate, database_url, django_setup, log, server_env

DB_NAME = "bench_retention"
MODEL_SLUG = "bench-retention"
SERVER_ENV = server_env(db_name=DB_NAME, redis_db=13)

# The content of case c (its id), the same at the fill and at every restore.
INPUT_SQL = (
    "jsonb_build_object('amount', (c.id %% 5000) + 0.5, 'country', 'DE', "
    "'account_age_days', c.id %% 90, 'full_name', 'person-' || c.id, "
    "'email', 'p' || c.id || '@example.org')"
)
METADATA_SQL = "jsonb_build_object('source', 'checkout', 'session', 's-' || c.id)"
EXPLANATION_SQL = (
    "jsonb_build_object('method', 'shap', 'base_value', 0.1, 'summary', 'case ' || c.id, "
    "'contributions', jsonb_build_array("
    "jsonb_build_object('feature', 'amount', 'value', (c.id %% 5000) + 0.5, 'weight', 0.2), "
    "jsonb_build_object('feature', 'full_name', 'value', 'person-' || c.id, 'weight', 0.1)))"
)

CASES_SQL = f"""
INSERT INTO reviewapp_case (
    ml_model_id, model_version_id, policy_id, external_id, body_digest, intake_key, input,
    predicted_label, confidence, scores, explanation, metadata, priority, status,
    routing_reasons, routing_detail, is_blind, submitted_by_id, created_at, sla_due_at,
    expires_at, escalated_at, escalation_source, escalation_note, decided_at, expired_at,
    fallback_applied, reviews_required, segments, redacted_at, redaction)
SELECT %(model)s, %(version)s, %(policy)s, %(prefix)s || c.id, md5(c.id::text), NULL,
    {INPUT_SQL},
    CASE WHEN c.id %% 3 = 0 THEN 'legit' ELSE 'fraud' END,
    CASE WHEN %(decided)s THEN 0.55 ELSE 0.95 END, NULL, {EXPLANATION_SQL}, {METADATA_SQL},
    20, %(status)s, %(reasons)s::jsonb, '', false, NULL,
    now() - interval '31 days' - (c.id %% 90) * interval '1 day' - (c.id %% 80000) * interval
        '1 second',
    NULL, NULL, NULL, '', '',
    CASE WHEN %(decided)s THEN now() - interval '31 days' - (c.id %% 90) * interval '1 day'
        - (c.id %% 80000) * interval '1 second' + interval '20 minutes' END,
    NULL, '', 1, '{{}}'::jsonb, NULL, ''
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS c(id)
"""  # noqa: S608 - built from the constant fragments above

DECISIONS_SQL = """
INSERT INTO reviewapp_decision (
    case_id, ml_model_id, reviewer_id, action, final_label, reason_code, feedback,
    explanation_helpful, time_spent_ms, was_blind, decided_at, superseded_at)
SELECT c.id, c.ml_model_id, %(reviewer)s, 'accept', c.predicted_label, '',
    CASE WHEN c.id %% 3 = 0 THEN 'reviewer note on ' || c.id ELSE '' END,
    NULL, 5000, false, c.decided_at, NULL
FROM reviewapp_case c
WHERE c.ml_model_id = %(model)s AND c.status = 'decided' AND c.id BETWEEN %(lo)s AND %(hi)s
"""

DELIVERIES_SQL = """
INSERT INTO reviewapp_webhookdelivery (
    ml_model_id, decision_id, alert_id, event, url, payload, status, attempts,
    next_attempt_at, last_error, created_at, delivered_at)
SELECT d.ml_model_id, d.id, NULL, 'case.decided', 'https://example.org/hook',
    jsonb_build_object('event', 'case.decided', 'decision_id', d.id, 'case_id', d.case_id,
                       'final_label', d.final_label, 'feedback', d.feedback),
    'delivered', 1, d.decided_at, '', d.decided_at, d.decided_at
FROM reviewapp_decision d WHERE d.id %% 10 = 0
"""

COMMENTS_SQL = """
INSERT INTO reviewapp_comment (case_id, author_id, text, created_at)
SELECT c.id, %(reviewer)s, 'about ' || c.id, c.created_at FROM reviewapp_case c
WHERE c.id %% 100 = 0
"""

RESTORE_SQL = [
    f"""UPDATE reviewapp_case c SET input = {INPUT_SQL}, metadata = {METADATA_SQL},
        explanation = {EXPLANATION_SQL}, redacted_at = NULL, redaction = ''""",  # noqa: S608
    """UPDATE reviewapp_decision SET feedback = 'reviewer note on ' || case_id
        WHERE case_id %% 3 = 0""",
    """UPDATE reviewapp_webhookdelivery w SET payload = jsonb_build_object(
        'event', 'case.decided', 'decision_id', d.id, 'case_id', d.case_id,
        'final_label', d.final_label, 'feedback', d.feedback)
        FROM reviewapp_decision d WHERE w.decision_id = d.id""",
    "UPDATE reviewapp_comment SET text = 'about ' || case_id",
]
VACUUM = ["reviewapp_case", "reviewapp_decision", "reviewapp_webhookdelivery", "reviewapp_comment"]


def fixtures_create() -> None:
    from reviewapp.models import Role
    from reviewapp.services.accounts import team_get_or_create, user_create
    from reviewapp.services.model_settings import model_configure
    from reviewapp.services.policies import model_register

    team = team_get_or_create(slug="bench-team")
    ml_model = model_register(slug=MODEL_SLUG, labels=["fraud", "legit"], team=team)
    user_create(username="bench-reviewer", role=Role.REVIEWER, teams=[team], password=None)
    owner = user_create(username="bench-owner", role=Role.MODEL_OWNER, teams=[team], password=None)
    model_configure(
        ml_model=ml_model, actor=owner, retention_days=30, pii_fields=["full_name", "email"]
    )


def _vacuum(cursor) -> None:
    for table in VACUUM:
        cursor.execute(f"VACUUM ANALYZE {table}")


def data_fill(n_decided: int, n_auto: int, chunk: int = 250_000) -> None:
    from django.db import connection

    from reviewapp.models import MLModel, ModelVersion, RoutingPolicy, User

    ml_model = MLModel.objects.get(slug=MODEL_SLUG)
    version = ModelVersion.objects.create(ml_model=ml_model, version="1.0.0", status="active")
    policy = RoutingPolicy.objects.get(ml_model=ml_model, status="active")
    reviewer = User.objects.get(username="bench-reviewer").pk
    base = {"model": ml_model.pk, "version": version.pk, "policy": policy.pk}
    started = time.perf_counter()
    with connection.cursor() as cursor:
        offset = 0
        for kind, n, status, reasons in (
            ("d", n_decided, "decided", '["low_confidence"]'),
            ("a", n_auto, "auto_approved", "[]"),
        ):
            for start in range(offset + 1, offset + n + 1, chunk):
                stop = min(offset + n, start + chunk - 1)
                params = {
                    **base,
                    "prefix": f"bench-{kind}-",
                    "status": status,
                    "reasons": reasons,
                    "decided": status == "decided",
                    "start": start,
                    "stop": stop,
                }
                cursor.execute(CASES_SQL, params)
                log(f"  {kind}: cases up to {stop:,}")
            offset += n
        cursor.execute("SELECT min(id), max(id) FROM reviewapp_case WHERE status = 'decided'")
        lo, hi = cursor.fetchone()
        for start in range(lo, hi + 1, chunk):
            cursor.execute(
                DECISIONS_SQL,
                {"model": ml_model.pk, "reviewer": reviewer, "lo": start, "hi": start + chunk - 1},
            )
        cursor.execute(DELIVERIES_SQL, {})
        cursor.execute(COMMENTS_SQL, {"reviewer": reviewer})
        _vacuum(cursor)
        counts = {}
        for table in VACUUM:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant names
            counts[table.removeprefix("reviewapp_")] = cursor.fetchone()[0]
    log(f"filled in {time.perf_counter() - started:.1f} s: {counts}")


def restore() -> None:
    """Every case's content back (and nothing redacted), as before the first round."""
    started = time.perf_counter()
    with psycopg.connect(database_url(DB_NAME), autocommit=True) as conn:
        for sql in RESTORE_SQL:
            conn.execute(sql.replace("%%", "%"))
        for table in VACUUM:
            conn.execute(f"VACUUM ANALYZE {table}")
    log(f"content restored in {time.perf_counter() - started:.1f} s (not timed)")


def check() -> None:
    """Nothing due kept its content; no delivery payload kept its feedback."""
    with psycopg.connect(database_url(DB_NAME)) as conn:
        kept = conn.execute(
            "SELECT count(*) FROM reviewapp_case WHERE redacted_at IS NULL OR input <> '{}'"
            " OR metadata <> '{}' OR explanation IS NOT NULL"
        ).fetchone()[0]
        feedback = conn.execute(
            "SELECT count(*) FROM reviewapp_decision WHERE feedback <> ''"
        ).fetchone()[0]
        payloads = conn.execute(
            "SELECT count(*) FROM reviewapp_webhookdelivery WHERE payload ->> 'feedback' <> ''"
        ).fetchone()[0]
        comments = conn.execute(
            "SELECT count(*) FROM reviewapp_comment WHERE text LIKE 'about %'"
        ).fetchone()[0]
        events = conn.execute(
            "SELECT count(*) FROM reviewapp_auditevent WHERE action = 'case.redacted'"
        ).fetchone()[0]
    log(
        f"check: cases with content {kept}, feedback left {feedback}, payloads with feedback "
        f"{payloads}, comments left {comments}; case.redacted events so far {events:,}"
    )
    if kept or feedback or payloads or comments:
        raise SystemExit("retention left content behind")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decided", type=int, default=800_000)
    parser.add_argument("--auto", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--reuse", action="store_true", help="keep the filled database")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()

    if not args.reuse:
        log(f"creating {DB_NAME}")
        database_recreate(db_name=DB_NAME, env=SERVER_ENV)
    django_setup(SERVER_ENV)
    if not args.reuse:
        fixtures_create()
        data_fill(args.decided, args.auto)
    from reviewapp.services.retention import retention_apply

    rates, seconds = [], []
    n = 0
    for r in range(args.rounds):
        if r or args.reuse:
            restore()
        run = retention_apply(batch=args.batch)
        n = run.cases
        rates.append(run.rate)
        seconds.append(run.seconds)
        log(
            f"round {r + 1}: {run.cases:,} cases in {run.batches:,} batches of {args.batch}: "
            f"{run.seconds:.1f} s, {run.rate:,.0f} cases/s"
        )
    check()
    if args.drop:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        log(f"dropped {DB_NAME}")
    print()
    print(
        f"retention_apply over {n:,} due cases, batch {args.batch}, medians over "
        f"{args.rounds} rounds: {statistics.median(seconds):.1f} s, "
        f"{statistics.median(rates):,.0f} cases/s"
    )


if __name__ == "__main__":
    main()
