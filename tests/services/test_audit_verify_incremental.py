"""Verifying the audit chain at a flat cost: one digest definition for instances and rows,
incremental checks from the last verification with a rolling scrub of older seals, the
``verify_audit --since-last`` command and the hourly job."""

import hashlib
import json
import logging
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from reviewapp.jobs import job_period_s
from reviewapp.models import AuditEvent, AuditSeal, JobRun
from reviewapp.services import audit
from reviewapp.services.audit import (
    EVENT_COLUMNS,
    audit_record,
    audit_seal,
    audit_verify,
    audit_verify_incremental,
    event_digest,
    event_row_digest,
    event_rows,
    seal_hash,
)
from reviewapp.services.audit_ops import audit_verified_record, verify_message
from reviewapp.tasks import audit_verify_task
from tests.commands.tampering import (
    audit_rows_update,
    audit_seal_cut,
    audit_seal_update,
)
from tests.test_metrics_endpoint import scrape, value

pytestmark = pytest.mark.django_db

VERIFY_TASK = "reviewapp.tasks.audit_verify_task"


def _events(n: int, action: str = "test.event") -> list[int]:
    with transaction.atomic():
        return [
            audit_record(actor=None, action=action, target_type="thing", target_id=str(i)).pk
            for i in range(n)
        ]


def _seals(n_seals: int, per_seal: int = 2) -> list[AuditSeal]:
    """N_SEALS new seals of PER_SEAL events each: the events not sealed yet (such as a
    recorded verification) and new ones written now."""
    before = AuditSeal.objects.count()
    head = AuditSeal.objects.order_by("-first_event_id").first()
    pending = AuditEvent.objects.filter(pk__gt=head.last_event_id if head else 0).count()
    _events(n_seals * per_seal - pending)
    audit_seal(lag_seconds=0, chunk=per_seal)
    seals = list(AuditSeal.objects.order_by("first_event_id"))
    assert len(seals) == before + n_seals
    return seals[before:]


def _checkpoint() -> None:
    """A full verification that passed, recorded: the next incremental run starts there."""
    result = audit_verify()
    assert result.ok, result
    audit_verified_record(actor=None, result=result)


def _sealed_ids(seal: AuditSeal) -> list[int]:
    return [event_id for event_id, _ in seal.event_digests]


# --- one digest definition ----------------------------------------------------------------

TRICKY = [
    {  # unicode everywhere, nested changes, IPv6, microseconds
        "occurred_at": datetime(2025, 3, 9, 1, 59, 59, 999999, tzinfo=UTC),
        "actor_label": "Zoë 山田 🚀",
        "actor_role": "auditor",
        "action": "case.decided",
        "target_type": "case",
        "target_id": "ünï-42",
        "changes": {
            "b": [1, 2.5, None, True, {"z": "naïve ✓", "a": []}],
            "a": {"nested": {"deeper": {"é": "\u2028 line separator", "n": -0.0}}},
            "empty": {},
            "quote": 'say "hi"\\',
        },
        "ip": "2001:db8::7",
        "user_agent": "Mozilla/5.0 (ünicode)",
        "request_id": "req-ß",
    },
    {  # empty strings, null ip, no changes, a whole second
        "occurred_at": datetime(2024, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
        "actor_label": "",
        "actor_role": "",
        "action": "",
        "target_type": "",
        "target_id": "",
        "changes": {},
        "ip": None,
        "user_agent": "",
        "request_id": "",
    },
    {  # IPv4, one microsecond, a list of changes
        "occurred_at": datetime(2023, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        "actor_label": "system",
        "actor_role": "system",
        "action": "x.y",
        "target_type": "user",
        "target_id": "7",
        "changes": {"list": ["queued", "assigned"], "big": 2**53 + 1, "f": 1e-7},
        "ip": "192.0.2.7",
        "user_agent": "curl/8",
        "request_id": "r",
    },
]


def _legacy_digest(event: AuditEvent) -> str:
    """The digest as it was defined before the row-based verifier (kept verbatim)."""
    body = {
        "id": event.pk,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "actor_role": event.actor_role,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "changes": event.changes,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _tricky_events() -> list[int]:
    with transaction.atomic():
        return [AuditEvent.objects.create(**fields).pk for fields in TRICKY]


def test_tricky_events_digest_alike_from_instances_and_rows():
    """Unicode, nested JSON, null ip, IPv6, microseconds and empty strings: the digest of the
    model instance, of the verifier's rows and of ``values_list`` rows is one and the same,
    and the same as before the change."""
    ids = _tricky_events()
    instances = list(AuditEvent.objects.filter(pk__in=ids).order_by("pk"))
    rows = event_rows(first_id=ids[0], last_id=ids[-1])
    orm_rows = list(
        AuditEvent.objects.filter(pk__in=ids).order_by("pk").values_list(*EVENT_COLUMNS)
    )
    assert rows == orm_rows
    by_instance = [event_digest(e) for e in instances]
    assert by_instance == [event_row_digest(row) for row in rows]
    assert by_instance == [_legacy_digest(e) for e in instances]
    assert len(set(by_instance)) == len(ids)


def test_canonical_form_is_pinned():
    """The canonical JSON of an event is exactly this text (sorted keys, no spaces, ASCII
    escapes, ISO timestamp with offset): changing it would break every sealed chain."""
    row = (
        5,
        datetime(2025, 3, 9, 1, 2, 3, 4, tzinfo=UTC),
        None,
        "Zoë",
        "",
        "a.b",
        "case",
        "1",
        {"b": [1, None], "a": {"é": True}},
        "2001:db8::7",
        "",
        "",
    )
    canonical = (
        '{"action":"a.b","actor_id":null,"actor_label":"Zo\\u00eb","actor_role":"",'
        '"changes":{"a":{"\\u00e9":true},"b":[1,null]},"id":5,"ip":"2001:db8::7",'
        '"occurred_at":"2025-03-09T01:02:03.000004+00:00","request_id":"","target_id":"1",'
        '"target_type":"case","user_agent":""}'
    )
    assert event_row_digest(row) == hashlib.sha256(canonical.encode()).hexdigest()


def test_chain_sealed_before_the_change_still_verifies(monkeypatch):
    """Seals written with the old digest code verify, in full and incrementally."""
    _tricky_events()
    _events(3)
    monkeypatch.setattr(audit, "event_digest", _legacy_digest)
    assert audit_seal(lag_seconds=0, chunk=2) == AuditEvent.objects.count()
    monkeypatch.undo()
    result = audit_verify()
    assert result.ok, result
    assert result.events == AuditEvent.objects.count()
    audit_verified_record(actor=None, result=result)
    _events(2)
    audit_seal(lag_seconds=0)
    assert audit_verify_incremental().ok


def test_changed_tricky_event_is_named():
    """A one-character change to a nested unicode value is found by the row verifier."""
    ids = _tricky_events()
    audit_seal(lag_seconds=0)
    changes = dict(TRICKY[0]["changes"], quote='say "hi"/')
    audit_rows_update([ids[0]], changes=changes)
    result = audit_verify()
    assert (result.ok, result.event_id, result.problem) == (
        False,
        ids[0],
        "changed after sealing",
    )


# --- incremental verification -------------------------------------------------------------


def test_without_a_checkpoint_it_is_the_full_walk():
    """No verification recorded yet: the incremental check walks the whole chain."""
    _seals(3)
    result = audit_verify_incremental()
    assert result.ok, result
    assert (result.mode, result.seals, result.events) == ("full", 3, 6)
    assert verify_message(result) == "audit chain intact: 3 seals covering 6 events"
    newest = AuditSeal.objects.order_by("-first_event_id").first()
    assert (result.through_seal, result.through_hash, result.through_event) == (
        newest.pk,
        newest.hash,
        newest.last_event_id,
    )


def test_a_failed_or_old_style_verification_is_no_checkpoint():
    """Only a verification that passed and names its seal is a checkpoint."""
    _seals(2)
    with transaction.atomic():
        audit_record(actor=None, action="audit.verified", changes={"ok": True, "seals": 2})
    audit_verified_record(actor=None, result=audit.VerifyResult(False, 0, 0, "x", through_seal=1))
    assert audit_verify_incremental().mode == "full"


def test_incremental_checks_only_newer_seals_and_says_so():
    """After a checkpoint only the newer seals are walked (plus the scrub slice)."""
    _seals(3)
    _checkpoint()
    new = _seals(2, per_seal=3)
    result = audit_verify_incremental(scrub_seals=0)
    assert result.ok, result
    assert (result.mode, result.seals, result.events, result.rechecked) == (
        "incremental",
        2,
        6,
        0,
    )
    assert result.through_seal == new[-1].pk
    assert verify_message(result) == (
        "audit chain intact: 2 seals covering 6 events since the last verification, "
        "0 older seals re-checked"
    )


def test_incremental_cost_does_not_grow_with_the_chain():
    """With no new seal and no scrub, a run makes the same queries over 2 or 12 old seals."""

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert audit_verify_incremental(scrub_seals=0).ok
        return len(ctx.captured_queries)

    _seals(2)
    _checkpoint()
    small = queries()
    _seals(10)
    _checkpoint()
    assert queries() == small


def test_incremental_catches_a_change_in_a_newer_seal():
    """An event changed in a seal sealed after the checkpoint is named."""
    _seals(2)
    _checkpoint()
    [newer] = _seals(1, per_seal=3)
    changed = _sealed_ids(newer)[1]
    audit_rows_update([changed], action="forged")
    result = audit_verify_incremental(scrub_seals=0)
    assert (result.ok, result.mode, result.event_id, result.problem) == (
        False,
        "incremental",
        changed,
        "changed after sealing",
    )


def test_incremental_catches_a_forged_seal_after_the_checkpoint():
    """A seal slipped in after the checkpoint that does not chain from it is reported."""
    _seals(2)
    _checkpoint()
    [newer] = _seals(1)
    audit_seal_update(newer, previous_hash="f" * 64)
    result = audit_verify_incremental(scrub_seals=0)
    assert (result.ok, result.problem) == (False, f"seal {newer.pk} does not follow the chain")


def test_incremental_catches_a_removed_seal_after_the_checkpoint():
    """A seal removed (with its events) between the checkpoint and a newer seal breaks the
    link of the newer one."""
    _seals(2)
    _checkpoint()
    first, second = _seals(2)
    audit_seal_update(second, previous=None)
    audit_seal_cut(first)
    result = audit_verify_incremental(scrub_seals=0)
    assert (result.ok, result.problem) == (False, f"seal {second.pk} does not follow the chain")


@pytest.mark.parametrize(
    "tamper",
    [
        {"hash": "f" * 64},
        {"event_digests": [[1, "0" * 64]]},
        {"last_event_id": 10**9},
        {"first_event_id": 10**8},
        "rehashed",
    ],
    ids=["hash", "digests", "range-end", "range-start", "rehashed"],
)
def test_altered_checkpoint_seal_breaks_the_chain(tamper):
    """The checkpoint seal must still be there with its hash, range and link."""
    _seals(3)
    _checkpoint()
    checkpoint = AuditSeal.objects.order_by("-first_event_id").first()
    if tamper == "rehashed":  # digests rewritten and the seal's hash recomputed to match
        digests = [[event_id, "0" * 64] for event_id, _ in checkpoint.event_digests]
        tamper = {
            "event_digests": digests,
            "hash": seal_hash(previous_hash=checkpoint.previous_hash, event_digests=digests),
        }
    audit_seal_update(checkpoint, **tamper)
    result = audit_verify_incremental(scrub_seals=0)
    assert (result.ok, result.problem) == (
        False,
        f"seal {checkpoint.pk} was altered since the last verification",
    )


def test_newest_seal_cut_off_is_caught_incrementally():
    """Cutting the newest seal and its events leaves a chain the full walk accepts; the
    incremental check misses its checkpoint seal."""
    _seals(3)
    _checkpoint()
    newest = AuditSeal.objects.order_by("-first_event_id").first()
    audit_seal_cut(newest)
    assert audit_verify().ok
    result = audit_verify_incremental()
    assert (result.ok, result.problem) == (
        False,
        f"seal {newest.pk} was removed since the last verification",
    )


@pytest.mark.postgres
def test_incremental_keeps_the_tail_checks():
    """An event forged with an id never issued, above the sealed horizon, is still named."""
    ids = _events(3)
    audit_seal(lag_seconds=0)
    _checkpoint()
    forged = AuditEvent.objects.create(
        pk=ids[-1] + 1000, occurred_at=datetime.now(tz=UTC), action="forged"
    )
    result = audit_verify_incremental()
    assert (result.ok, result.event_id, result.problem) == (
        False,
        forged.pk,
        "inserted with an id never issued",
    )


def test_incremental_finds_an_event_forged_below_the_first_seal():
    """An event with id 0 is inserted after sealing, whatever the checkpoint."""
    _seals(2)
    _checkpoint()
    AuditEvent.objects.create(pk=0, occurred_at=datetime.now(tz=UTC), action="forged")
    result = audit_verify_incremental()
    assert (result.ok, result.event_id, result.problem) == (False, 0, "inserted after sealing")


# --- the scrub of older seals -------------------------------------------------------------


def _run(scrub: int) -> audit.VerifyResult:
    """One incremental run, recorded as the periodic job does."""
    result = audit_verify_incremental(scrub_seals=scrub)
    audit_verified_record(actor=None, result=result)
    return result


def test_scrub_finds_a_changed_old_event_after_enough_runs():
    """Two older seals per run: a change in the fifth seal is found on the third run, once
    the cursor reaches it; the runs before re-check the seals in order."""
    seals = _seals(6)
    _checkpoint()
    changed = _sealed_ids(seals[4])[0]
    audit_rows_update([changed], target_id="forged")
    first = _run(2)
    assert (first.ok, first.rechecked, first.scrubbed_through) == (
        True,
        2,
        seals[1].last_event_id,
    )
    second = _run(2)
    assert (second.ok, second.rechecked, second.scrubbed_through) == (
        True,
        2,
        seals[3].last_event_id,
    )
    third = _run(2)
    assert (third.ok, third.event_id, third.problem) == (False, changed, "changed after sealing")
    # A failed run is no checkpoint: the next one starts from the same place and fails again.
    assert _run(2).event_id == changed


def test_scrub_cursor_wraps_to_the_first_seal():
    """Past the checkpoint seal the scrub carries on from the first seal in the same run."""
    seals = _seals(6)
    _checkpoint()
    first = _run(4)
    assert (first.rechecked, first.rechecked_events, first.scrubbed_through) == (
        4,
        8,
        seals[3].last_event_id,
    )
    second = _run(4)  # seals 5 and 6, then 1 and 2
    assert (second.ok, second.rechecked, second.scrubbed_through) == (
        True,
        4,
        seals[1].last_event_id,
    )
    assert verify_message(second).endswith("4 older seals re-checked")
    everything = _run(100)  # more than there are: each old seal once
    assert (everything.rechecked, everything.scrubbed_through) == (6, seals[1].last_event_id)


def test_scrub_checks_the_link_of_its_first_seal():
    """The first seal of a scrub slice is checked against the seal before it."""
    seals = _seals(4)
    _checkpoint()
    _run(2)  # seals 1 and 2; the next slice starts at seal 3
    audit_seal_update(seals[2], first_event_id=seals[2].first_event_id + 1)
    result = _run(2)
    assert (result.ok, result.problem) == (False, f"seal {seals[2].pk} does not follow the chain")


def test_scrub_setting_is_the_default(settings):
    """REVIEWAPP_AUDIT_SCRUB_SEALS sets the slice when the caller does not."""
    _seals(3)
    _checkpoint()
    settings.REVIEWAPP_AUDIT_SCRUB_SEALS = 2
    assert audit_verify_incremental().rechecked == 2


# --- the verified event, the command and the job ------------------------------------------


def test_recorded_verification_names_its_checkpoint():
    """audit.verified carries the mode, the seal checked through and the scrub cursor."""
    _seals(2)
    _checkpoint()
    newest = AuditSeal.objects.order_by("-first_event_id").first()
    changes = AuditEvent.objects.filter(action="audit.verified").latest("pk").changes
    assert changes == {
        "ok": True,
        "seals": 2,
        "events": 4,
        "problem": "",
        "event_id": None,
        "mode": "full",
        "through_seal": newest.pk,
        "through_hash": newest.hash,
        "through_event": newest.last_event_id,
        "scrubbed_through": newest.last_event_id,
        "rechecked": 0,
        "complete": True,
        "remaining": 0,
    }


def _command(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue().strip(), err.getvalue().strip()
    return 0, out.getvalue().strip(), err.getvalue().strip()


def test_command_since_last_exit_codes():
    """--since-last: the full walk the first time, then incremental; exit 1 naming the event
    once a newer sealed event is changed. Each run is recorded as the system's."""
    _seals(2)
    status, out, _ = _command("--since-last")
    assert (status, out) == (0, "audit chain intact: 2 seals covering 4 events (0 not yet sealed)")
    [newer] = _seals(1)
    status, out, _ = _command("--since-last")
    assert status == 0
    assert out == (
        "audit chain intact: 1 seal covering 2 events since the last verification, "
        "2 older seals re-checked (0 not yet sealed)"
    )
    changed = _sealed_ids(newer)[-1]  # [0] is the first run's own audit.verified event
    audit_rows_update([changed], action="forged")
    status, out, err = _command("--since-last")
    assert (status, out) == (1, "")
    assert err == f"audit chain BROKEN at event {changed}: changed after sealing"
    recorded = AuditEvent.objects.filter(action="audit.verified").order_by("pk")
    assert [(e.actor_id, e.actor_label, e.changes["ok"], e.changes["mode"]) for e in recorded] == [
        (None, "system", True, "full"),
        (None, "system", True, "incremental"),
        (None, "system", False, "incremental"),
    ]


def test_command_full_by_default_even_with_a_checkpoint():
    """Without --since-last verify_audit re-hashes everything (its contract)."""
    _seals(3)
    _checkpoint()
    status, out, _ = _command()
    assert (status, out) == (0, "audit chain intact: 3 seals covering 6 events (1 not yet sealed)")


def test_seal_head_is_found_by_the_indexed_range_start():
    """Sealing and verify_audit find the newest seal by first_event_id (indexed), never by
    last_event_id."""
    _seals(2)
    _events(1)
    with CaptureQueriesContext(connection) as ctx:
        audit_seal(lag_seconds=0)
        _command()
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert '"first_event_id" DESC' in sql
    assert '"last_event_id" DESC' not in sql


def test_verify_job_is_scheduled_hourly():
    """Beat runs the incremental verification once an hour (one run per period)."""
    assert job_period_s(VERIFY_TASK) == 3600


def test_verify_job_passes_on_an_intact_chain():
    """An intact chain: the job succeeds, its run is recorded ok, and so is the check."""
    _seals(2)
    result = audit_verify_task.apply()
    assert result.successful()
    assert result.result["mode"] == "full"
    assert audit_verify_task.apply().result["mode"] == "incremental"
    run = JobRun.objects.get(name=VERIFY_TASK)
    assert (run.runs, run.failures, run.last_ok) == (2, 0, True)


def test_verify_job_fails_its_run_on_a_broken_chain(caplog):
    """A broken chain fails the run (counted as a job failure), logs an error and is
    recorded as a failed check."""
    [seal] = _seals(1, per_seal=3)
    changed = _sealed_ids(seal)[2]
    audit_rows_update([changed], actor_label="mallory")
    before = scrape()
    with caplog.at_level(logging.ERROR, logger="reviewapp.audit"):
        # As in a worker: the failure is caught by Celery's tracer, not raised to the caller.
        result = audit_verify_task.apply(throw=False)
    assert result.failed()
    run = JobRun.objects.get(name=VERIFY_TASK)
    assert (run.runs, run.failures, run.last_ok) == (1, 1, False)
    # What the ReviewappPeriodicJobFailing and ReviewappTaskFailures alerts read.
    after = scrape()
    assert value(after, "reviewapp_job_last_run_ok", job="audit_verify_task") == 0
    failures = ("reviewapp_task_failures_total", frozenset({"task": "audit_verify_task"}.items()))
    assert after[failures] - before.get(failures, 0) == 1
    assert f"audit chain BROKEN at event {changed}: changed after sealing" in run.last_error
    assert any(
        r.levelno == logging.ERROR and "verify_failed" in r.getMessage() for r in caplog.records
    )
    verified = AuditEvent.objects.get(action="audit.verified")
    assert (verified.actor_id, verified.changes["ok"], verified.changes["event_id"]) == (
        None,
        False,
        changed,
    )


# --- a time budget: a first verification of a large log spreads over runs --------------------


def test_a_walk_past_its_budget_stops_and_the_next_run_carries_on():
    """With a budget already spent, a run checks one seal and says how many are left; each
    recorded run is the next one's checkpoint, until the chain is checked to its head."""
    seals = _seals(3)
    first = audit_verify_incremental(max_seconds=0)
    assert first.ok, first
    assert (first.complete, first.remaining, first.seals, first.through_seal) == (
        False,
        2,
        1,
        seals[0].pk,
    )
    assert verify_message(first) == (
        "audit chain intact as far as checked: 1 seal covering 2 events; "
        "2 newer seals left for the next check, which carries on from there"
    )
    audit_verified_record(actor=None, result=first)
    second = audit_verify_incremental(scrub_seals=0, max_seconds=0)
    assert (second.mode, second.through_seal, second.remaining) == (
        "incremental",
        seals[1].pk,
        1,
    )
    assert "since the last verification; 1 newer seal left" in verify_message(second)
    audit_verified_record(actor=None, result=second)
    # The recorded verifications were sealed in between: the rest is walked within budget.
    last = audit_verify_incremental(scrub_seals=0, max_seconds=60)
    assert (last.ok, last.complete, last.remaining) == (True, True, 0)
    assert last.through_seal == AuditSeal.objects.order_by("-first_event_id").first().pk


def test_a_stopped_walk_still_reports_a_change_in_what_it_checked():
    """The budget shortens the walk, not the checks: a change in the first seal is found."""
    seals = _seals(3)
    audit_rows_update([_sealed_ids(seals[0])[1]], actor_label="mallory")
    result = audit_verify_incremental(max_seconds=0)
    assert (result.ok, result.problem, result.event_id) == (
        False,
        "changed after sealing",
        _sealed_ids(seals[0])[1],
    )


def test_the_button_walks_within_its_budget_and_skips_the_scrub(client, auditor, settings):
    """The auditors' button re-hashes no older seal and stops at its budget, saying so."""
    _seals(3)
    _checkpoint()
    _seals(3)
    settings.REVIEWAPP_AUDIT_VERIFY_BUTTON_S = 0
    client.force_login(auditor)
    response = client.post("/audit/verify/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    recorded = AuditEvent.objects.filter(action="audit.verified").order_by("-pk").first()
    assert (recorded.changes["rechecked"], recorded.changes["complete"]) == (0, False)
    assert recorded.changes["remaining"] >= 2
    assert "left for the next check" in response.content.decode()
