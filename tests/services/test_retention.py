"""Retention and erasure (services/retention.py): what goes, what stays, batches, the audit
chain, who may erase. The central test plants unique marker strings in every place a case's
content can reach, runs the retention job and then searches every column of every table."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from reviewapp.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from reviewapp.models import (
    RETENTION_CLOCKS,
    AuditEvent,
    Case,
    CaseStatus,
    Comment,
    Decision,
    Redaction,
    Role,
    WebhookDelivery,
)
from reviewapp.selectors.exports import label_records
from reviewapp.services.audit import audit_seal, audit_verify
from reviewapp.services.comments import comment_add
from reviewapp.services.decisions import case_decide, decision_reopen
from reviewapp.services.model_settings import model_configure
from reviewapp.services.queue import case_claim_next
from reviewapp.services.retention import case_erase, retention_apply, retention_due_batch
from reviewapp.services.webhooks import webhook_set
from reviewapp.tasks.retention import retention_apply_task
from tests.factories import case_payload, make_cases, make_model, make_user

pytestmark = pytest.mark.django_db

MARK = "ZQXRETAINMARK"
LATER = timedelta(days=31)


def _columns_holding(needle: str) -> list[tuple[str, str]]:
    """(table, column) of every column of every table (Django's introspection) where some
    row's value, cast to text, contains NEEDLE. Casting every column covers every text and
    JSON column (JSON, JSONB, TEXT, VARCHAR) on SQLite and PostgreSQL alike."""
    hits = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                cursor.execute(
                    f"SELECT COUNT(*) FROM {quote(table)} "  # noqa: S608 - catalogue names
                    f"WHERE CAST({quote(column.name)} AS TEXT) LIKE %s",
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append((table, column.name))
    return hits


def _body(tag: str, **overrides) -> dict:
    """Submit overrides whose every content field holds a marker naming where it sits."""
    return dict(
        input={"full_name": f"{MARK}-{tag}-name", "note": f"{MARK}-{tag}-note", "amount": 12},
        metadata={"email": f"{MARK}-{tag}-email", "source": "checkout"},
        explanation={
            "method": "shap",
            "contributions": [
                {"feature": "note", "value": f"{MARK}-{tag}-contrib", "weight": 0.3},
                {"feature": "full_name", "weight": 0.1},
            ],
            "summary": f"{MARK}-{tag}-summary",
        },
        **overrides,
    )


def _decided(ml_model, reviewer, body: dict, *, feedback: str = "") -> Case:
    make_cases(ml_model, 1, **body)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_decide(case=case, reviewer=reviewer, action="accept", feedback=feedback)
    return Case.objects.get(pk=case.pk)


@pytest.fixture
def retained(ml_model, model_owner):
    """The fixture model keeps content 30 days; its name and email fields are personal."""
    model_configure(
        ml_model=ml_model, actor=model_owner, retention_days=30, pii_fields=["full_name", "email"]
    )
    return ml_model


def test_no_input_value_remains_anywhere_after_retention(retained, reviewer, team, settings):
    """Markers planted in input, metadata, explanation, feedback, a comment and a webhook
    payload are found in the database before the job and in no column of any table after it;
    the sealed audit chain still verifies, and a model without retention keeps its content."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    webhook_set(ml_model=retained, url="http://127.0.0.1:9/hook", actor=None)
    retained.refresh_from_db()
    decided = _decided(retained, reviewer, _body("decided"), feedback=f"{MARK}-feedback")
    comment_add(case=decided, author=reviewer, text=f"Looks odd: {MARK}-comment")
    make_cases(retained, 1, **_body("auto", confidence=0.97))  # auto-approved
    kept_model = make_model(team=team, slug="kept-model")
    make_cases(kept_model, 1, **case_payload(input={"x": "KEEPMARK-x"}, confidence=0.97))
    before = {table for table, _ in _columns_holding(MARK)}
    # The search can fail: every planted copy is found before the job runs.
    case_table, decision_table = Case._meta.db_table, Decision._meta.db_table
    assert {case_table, decision_table, Comment._meta.db_table} <= before
    assert WebhookDelivery._meta.db_table in before
    audit_seal(lag_seconds=0)

    run = retention_apply(now=timezone.now() + LATER)

    assert run.cases == 2
    assert _columns_holding(MARK) == []
    assert _columns_holding("KEEPMARK-x") == [(case_table, "input")]
    audit_seal(lag_seconds=0)
    result = audit_verify()
    assert result.ok, result.problem


def test_labels_timestamps_routing_and_digests_are_kept(retained, reviewer):
    """After retention a case keeps its labels, confidence, times, routing and digest, its
    decision keeps the final label, and the label export still lists it (input empty)."""
    case = _decided(retained, reviewer, _body("k", confidence=0.5), feedback="why")
    kept = {
        f: getattr(case, f)
        for f in (
            "predicted_label",
            "confidence",
            "scores",
            "status",
            "routing_reasons",
            "routing_detail",
            "body_digest",
            "created_at",
            "decided_at",
            "external_id",
        )
    }
    now = timezone.now() + LATER
    retention_apply(now=now)
    case.refresh_from_db()
    assert {f: getattr(case, f) for f in kept} == kept
    assert (case.input, case.metadata, case.explanation) == ({}, {}, None)
    assert (case.redaction, case.redacted_at) == (Redaction.RETENTION, now)
    decision = Decision.objects.get(case=case)
    assert (decision.final_label, decision.action, decision.feedback) == ("fraud", "accept", "")
    (row,) = list(label_records(ml_model=retained))
    assert (row["case_id"], row["final_label"], row["input"]) == (case.pk, "fraud", {})


def test_only_finished_cases_past_the_period_lose_content(retained, reviewer, lead):
    """Waiting cases, cases decided within the period and a reopened decision keep their
    content; decided ones past the period lose it."""
    recent = _decided(retained, reviewer, _body("recent"))
    reopened = _decided(retained, reviewer, _body("reopened"))
    decision_reopen(case=reopened, lead=lead, note="Label looks wrong.")
    make_cases(retained, 1, **_body("waiting"))
    Decision.objects.filter(case=recent).update(decided_at=timezone.now())
    Case.objects.filter(pk=recent.pk).update(decided_at=timezone.now() - timedelta(days=29))

    retention_apply(now=timezone.now())  # only "recent"-1 day would be due: nothing is

    assert not Case.objects.filter(redacted_at__isnull=False).exists()
    retention_apply(now=timezone.now() + timedelta(days=2))
    assert set(Case.objects.filter(redacted_at__isnull=False).values_list("pk", flat=True)) == {
        recent.pk
    }
    waiting = Case.objects.exclude(pk=recent.pk)
    assert all(c.input.get("note", "").startswith(MARK) for c in waiting)
    assert Case.objects.get(pk=reopened.pk).status == CaseStatus.QUEUED


def test_batches_are_audited_without_values_and_a_rerun_does_nothing(retained):
    """Five due cases in batches of two: three transactions, three ``case.redacted`` events
    naming the cases (no values); running again removes and records nothing."""
    ids = make_cases(retained, 5, **_body("b", confidence=0.97))
    run = retention_apply(now=timezone.now() + LATER, batch=2)
    assert (run.cases, run.batches, run.by_model) == (5, 3, {retained.slug: 5})
    events = list(AuditEvent.objects.filter(action="case.redacted").order_by("pk"))
    assert [e.changes["cases"] for e in events] == [2, 2, 1]
    assert sorted(i for e in events for i in e.changes["case_ids"]) == sorted(ids)
    assert all(e.actor_label == "system" and MARK not in str(e.changes) for e in events)
    again = retention_apply(now=timezone.now() + LATER, batch=2)
    assert (again.cases, again.batches) == (0, 0)
    assert AuditEvent.objects.filter(action="case.redacted").count() == 3


def test_retention_zero_days_and_no_retention(ml_model, model_owner, team):
    """retention_days 0 removes at once; a model without retention_days keeps everything."""
    other = make_model(team=team, slug="keeps-all")
    make_cases(other, 2, **_body("o", confidence=0.97))
    make_cases(ml_model, 2, **_body("z", confidence=0.97))
    model_configure(ml_model=ml_model, actor=model_owner, retention_days=0)
    run = retention_apply()
    assert run.by_model == {ml_model.slug: 2}
    assert Case.objects.filter(ml_model=other, redacted_at__isnull=True).count() == 2


def test_the_daily_task_is_scheduled_and_runs_the_job(retained):
    """Beat runs the retention task once a day; the task removes what is due."""
    entries = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "reviewapp.tasks.retention_apply_task"
    ]
    assert len(entries) == 1
    schedule = entries[0]["schedule"]
    assert len(schedule.hour) == 1
    assert len(schedule.minute) == 1
    make_cases(retained, 1, **_body("t", confidence=0.97))
    Case.objects.update(created_at=timezone.now() - LATER)
    assert retention_apply_task() == {
        "cases": 1,
        "batches": 1,
        "by_model": {retained.slug: 1},
        "finished": True,
    }


def test_a_run_stops_at_its_time_budget_and_the_next_carries_on(retained):
    """With a budget already spent a run stops after one batch (finished False); the next
    run removes the rest."""
    make_cases(retained, 3, **_body("budget", confidence=0.97))
    later = timezone.now() + LATER
    first = retention_apply(now=later, batch=1, max_seconds=0)
    assert (first.cases, first.finished) == (1, False)
    rest = retention_apply(now=later, batch=1)
    assert (rest.cases, rest.finished) == (2, True)
    assert not Case.objects.filter(redacted_at__isnull=True).exists()


def test_every_kind_of_finished_case_is_found_by_its_clock_whatever_its_id(retained, lead):
    """Decided, auto-approved and expired cases are each due by their own clock, found
    oldest clock first (not by id): cases whose clocks run against their ids, in batches of
    two, are all removed, and the ones inside the period are not."""
    ids = make_cases(retained, 7, **_body("clock", confidence=0.2))
    now = timezone.now()
    # Decided: the higher the id, the older the decision; the two newest ids are recent.
    for age, pk in enumerate(ids[:5]):
        Case.objects.filter(pk=pk).update(
            status=CaseStatus.DECIDED, decided_at=now - timedelta(days=40 + age)
        )
    Case.objects.filter(pk=ids[0]).update(decided_at=now - timedelta(days=3))
    Case.objects.filter(pk=ids[5]).update(
        status=CaseStatus.EXPIRED, expired_at=now - timedelta(days=31)
    )
    Case.objects.filter(pk=ids[6]).update(
        status=CaseStatus.AUTO_APPROVED, created_at=now - timedelta(days=90)
    )
    recent_auto = make_cases(retained, 1, **_body("auto", confidence=0.97))[0]

    run = retention_apply(now=now, batch=2)

    removed = set(Case.objects.filter(redacted_at__isnull=False).values_list("pk", flat=True))
    assert removed == {*ids[1:5], ids[5], ids[6]}
    assert run.cases == 6
    assert run.batches == 4  # decided 2 + 2, expired 1, auto-approved 1
    events = AuditEvent.objects.filter(action="case.redacted").order_by("pk")
    # The first batch holds the two oldest decisions: the two highest ids.
    assert events[0].changes["case_ids"] == sorted(ids[3:5])
    assert Case.objects.get(pk=recent_auto).redacted_at is None
    assert Case.objects.get(pk=ids[0]).redacted_at is None


@pytest.mark.postgres
def test_the_batch_search_reads_the_partial_index_of_its_clock(retained):
    """On PostgreSQL the search for the next batch is a range scan of its clock's partial
    index (unredacted finished cases only), not a walk of the model's cases."""
    make_cases(retained, 3, **_body("plan", confidence=0.97))
    for status, clock, name in RETENTION_CLOCKS:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            due = retention_due_batch(retained, timezone.now(), status, clock)
            plan = due.values_list("pk", flat=True)[:2000].explain()
        assert f"case_retention_{name}_idx" in plan, plan


# --- erasure ----------------------------------------------------------------------------------


def test_owner_erases_one_case_with_a_reason(retained, reviewer, model_owner):
    """The owner erases a decided case by external id: its content goes at once (no matter
    the retention period), audited as ``case.erased`` with the reason and no values."""
    case = _decided(retained, reviewer, _body("e", external_id="ext-erase"), feedback=MARK)
    other = _decided(retained, reviewer, _body("other", external_id="ext-keep"))
    erasure = case_erase(
        ml_model=retained, external_id="ext-erase", actor=model_owner, reason="Request #42"
    )
    assert erasure.erased
    case.refresh_from_db()
    assert (case.input, case.metadata, case.explanation, case.redaction) == (
        {},
        {},
        None,
        Redaction.ERASURE,
    )
    assert Decision.objects.get(case=case).feedback == ""
    assert Case.objects.get(pk=other.pk).input["note"].startswith(MARK)
    (event,) = AuditEvent.objects.filter(action="case.erased")
    assert (event.target_id, event.actor_id) == (str(case.pk), model_owner.pk)
    assert event.changes["reason"] == "Request #42"
    assert MARK not in str(event.changes)
    again = case_erase(
        ml_model=retained, external_id="ext-erase", actor=model_owner, reason="Request #42"
    )
    assert not again.erased
    assert AuditEvent.objects.filter(action="case.erased").count() == 1


def test_admin_may_erase_and_a_reviewer_may_not(retained, reviewer):
    """Admins erase (any model); a reviewer is refused (403, audited)."""
    _decided(retained, reviewer, _body("a", external_id="ext-a"))
    with pytest.raises(PermissionDenied):
        case_erase(ml_model=retained, external_id="ext-a", actor=reviewer, reason="x")
    assert AuditEvent.objects.filter(
        action="permission.denied", changes__attempted="case.erase"
    ).exists()
    admin = make_user(Role.ADMIN, username="root-admin")
    assert case_erase(ml_model=retained, external_id="ext-a", actor=admin, reason="x").erased


def test_erase_refuses_unknown_waiting_and_unexplained(retained, model_owner):
    """404 for an unknown external id, 409 for a case still waiting, 400 without a reason."""
    make_cases(retained, 1, **_body("w", external_id="ext-waiting"))
    with pytest.raises(NotFound):
        case_erase(ml_model=retained, external_id="nope", actor=model_owner, reason="x")
    with pytest.raises(Conflict):
        case_erase(ml_model=retained, external_id="ext-waiting", actor=model_owner, reason="x")
    with pytest.raises(InvalidInput):
        case_erase(ml_model=retained, external_id="ext-waiting", actor=model_owner, reason=" ")
    assert Case.objects.get(external_id="ext-waiting").redacted_at is None


@pytest.mark.postgres
def test_erasure_on_postgresql_leaves_no_value_and_the_chain_verifies(retained, reviewer):
    """The same search on PostgreSQL (jsonb columns included) after one erasure."""
    _decided(retained, reviewer, _body("pg", external_id="ext-pg"), feedback=f"{MARK}-fb")
    audit_seal(lag_seconds=0)
    owner = make_user(Role.MODEL_OWNER, team=retained.team, username="pg-owner")
    case_erase(ml_model=retained, external_id="ext-pg", actor=owner, reason="request")
    assert _columns_holding(MARK) == []
    audit_seal(lag_seconds=0)
    assert audit_verify().ok
