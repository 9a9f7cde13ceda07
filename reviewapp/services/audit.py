"""The audit log: recording events in the caller's transaction, sealing them into a hash
chain, and verifying the chain.

Intake must not serialise on one lock, so events are written without any hash; a periodic
sealer later covers runs of committed events (older than REVIEWAPP_AUDIT_SEAL_LAG_S, so
transactions still in flight cannot land inside a sealed range) with one seal each. A seal
stores every covered event's digest and the previous seal's hash, so verification can name
the first event that was changed, removed or inserted after sealing.
"""

import hashlib
import itertools
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from reviewapp.models import AuditEvent, AuditSeal, Case, User
from reviewapp.request_context import request_context_current
from reviewapp.selectors.rows import row_insert
from reviewapp.services.audit_anchor import anchor_append, seal_head

GENESIS_HASH = "0" * 64


def _target(target: models.Model | None) -> tuple[str, str]:
    if target is None:
        return "", ""
    return target._meta.model_name or "", str(target.pk)


def audit_event_build(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    changes: dict | None = None,
) -> AuditEvent:
    """An unsaved event carrying the bound request context (for bulk writes)."""
    ctx = request_context_current()
    if target is not None:
        target_type, target_id = _target(target)
    is_person = actor is not None and getattr(actor, "is_authenticated", False)
    if ctx.client_request_id:  # the caller's own X-Request-ID; request_id is the server's
        changes = {**(changes or {}), "client_request_id": ctx.client_request_id}
    return AuditEvent(
        occurred_at=timezone.now(),
        actor=actor if is_person else None,
        actor_label=actor.get_username() if is_person else "system",
        actor_role=getattr(actor, "role", "") if is_person else "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        changes=changes or {},
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
    )


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    changes: dict | None = None,
) -> AuditEvent:
    """Write one audit event in the caller's transaction. Call it inside the same
    ``transaction.atomic`` block as the change it records. The INSERT is compiled once
    (``selectors.rows.row_insert``: the same columns and values as ``save()``, so the event
    and its digest are unchanged); every claim and decision writes one."""
    event = audit_event_build(
        actor=actor,
        action=action,
        target=target,
        target_type=target_type,
        target_id=target_id,
        changes=changes,
    )
    return row_insert(event)


_EVENT_FIELDS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
_EVENT_JSON = [isinstance(f, models.JSONField) for f in _EVENT_FIELDS]
COPY_THRESHOLD = 50


def audit_record_many(events: Iterable[AuditEvent]) -> None:
    """Write many events in the caller's transaction (built with ``audit_event_build``). On
    PostgreSQL a large set goes in with COPY; the events do not get their ids back."""
    events = list(events)
    if connection.vendor != "postgresql" or len(events) < COPY_THRESHOLD:
        AuditEvent.objects.bulk_create(events, batch_size=1000)
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _EVENT_FIELDS)
    table = quote(AuditEvent._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for event in events:
            copy.write_row(
                [
                    (json.dumps(value) if value is not None else None) if is_json else value
                    for value, is_json in zip(
                        (getattr(event, f.attname) for f in _EVENT_FIELDS), _EVENT_JSON, strict=True
                    )
                ]
            )


# The recorded fields of an event, in the order rows are read for digests (``values_list``).
EVENT_COLUMNS = AuditEvent.RECORDED_FIELDS
# Canonical JSON: sorted keys, no spaces, ASCII escapes (one encoder, built once).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def event_row_fields(row: Sequence[Any]) -> dict:
    """Every recorded field of an event given as a row of ``EVENT_COLUMNS`` values (as the
    ORM returns them: an aware datetime, decoded ``changes``), as plain JSON-ready values."""
    fields = dict(zip(EVENT_COLUMNS, row, strict=True))
    fields["occurred_at"] = fields["occurred_at"].isoformat()
    return fields


def event_row_digest(row: Sequence[Any]) -> str:
    """SHA-256 over every recorded field of an event row, in the canonical JSON form. The one
    definition of an event's digest: ``event_digest`` (sealing, exports) and the verifier
    (rows of ``event_rows``, no model instances) both come here."""
    return hashlib.sha256(_CANONICAL.encode(event_row_fields(row)).encode()).hexdigest()


def _event_row(event: AuditEvent) -> tuple:
    return tuple(getattr(event, column) for column in EVENT_COLUMNS)


def event_fields(event: AuditEvent) -> dict:
    """Every recorded field of an event, as plain JSON-ready values (for digests and exports)."""
    return event_row_fields(_event_row(event))


def event_digest(event: AuditEvent) -> str:
    """SHA-256 over every recorded field of an event, in a canonical JSON form."""
    return event_row_digest(_event_row(event))


def _rows_sql() -> str:
    """The event rows of an id range on PostgreSQL: EVENT_COLUMNS, the timestamp as UTC text
    with microseconds (to_char does not depend on the session's DateStyle or TimeZone)."""
    quote = connection.ops.quote_name
    fields = {f.attname: f.column for f in AuditEvent._meta.concrete_fields}
    columns = [
        f"to_char({quote(fields[name])} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        if name == "occurred_at"
        else quote(fields[name])
        for name in EVENT_COLUMNS
    ]
    pk = quote(AuditEvent._meta.pk.column)
    return (
        f"SELECT {', '.join(columns)} FROM {quote(AuditEvent._meta.db_table)} "  # noqa: S608
        f"WHERE {pk} BETWEEN %s AND %s ORDER BY {pk}"
    )


_CHANGES = EVENT_COLUMNS.index("changes")


def event_rows(*, first_id: int, last_id: int) -> list[tuple]:
    """The events with ids FIRST_ID..LAST_ID in id order, as rows of ``EVENT_COLUMNS`` values
    equal to the ORM's (``values_list``), for ``event_row_digest``. On PostgreSQL they are read
    with a plain cursor: Django's timestamptz loader is pure Python and was most of the cost
    of a row, so the timestamp comes as UTC text for ``datetime.fromisoformat`` (C), and
    ``changes`` is decoded here, as JSONField does (json.loads of the text)."""
    tz = connection.timezone if connection.vendor == "postgresql" else None
    if tz is None:
        return list(
            AuditEvent.objects.filter(pk__gte=first_id, pk__lte=last_id)
            .order_by("pk")
            .values_list(*EVENT_COLUMNS)
        )
    with connection.cursor() as cursor:
        cursor.execute(_rows_sql(), [first_id, last_id])
        raw = cursor.fetchall()
    rows = []
    for row in raw:
        occurred_at = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
        if tz is not UTC:
            occurred_at = occurred_at.astimezone(tz)
        changes = row[_CHANGES]
        if isinstance(changes, str):
            changes = json.loads(changes)
        rows.append((row[0], occurred_at, *row[2:_CHANGES], changes, *row[_CHANGES + 1 :]))
    return rows


def seal_hash(*, previous_hash: str, event_digests: list[list]) -> str:
    h = hashlib.sha256(previous_hash.encode())
    for event_id, digest in event_digests:
        h.update(f"|{event_id}:{digest}".encode())
    return h.hexdigest()


def _id_high_water() -> int | None:
    """The highest audit event id the database has handed out (PostgreSQL's identity
    sequence, SQLite's AUTOINCREMENT counter), or None when it cannot be read. Ids up to it
    that are missing belong to rolled-back transactions and can never be issued again."""
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            if sequence is None:
                return None
            # The name comes from the catalogue, already quoted.
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608
            last_value, is_called = cursor.fetchone()
            return last_value if is_called else last_value - 1
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
            )
            if cursor.fetchone() is None:
                return None
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            return row[0] if row else None
    return None


def _event_horizon() -> int:
    """The highest audit event id below which no transaction can still add an event.

    On PostgreSQL an id handed out by the sequence to a transaction that commits later could
    otherwise land inside a sealed range and read as "inserted after sealing". Taking SHARE
    ROW EXCLUSIVE (it conflicts with the inserts' ROW EXCLUSIVE lock) waits until every
    transaction that inserted events has ended; the lock is released at once, and any later
    insert draws an id above the horizon. So writers pause only while in-flight transactions
    finish, never while events are hashed. On SQLite the one write lock serialises writers."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(AuditEvent._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '5s'")
                cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        top = AuditEvent.objects.aggregate(top=Max("pk"))["top"] or 0
        return max(top, _id_high_water() or 0)


def audit_seal(*, lag_seconds: int | None = None, chunk: int | None = None) -> int:
    """Seal every event not yet sealed (older than the lag), in chunks of contiguous ids.
    Returns the number sealed. A run stops at the first event newer than the lag, so a
    sealed range never has an unsealed event inside it. A seal's range reaches up to the
    next event it leaves out, or to the horizon when it takes the last one, so ids left
    unused by rolled-back transactions are covered too and a row forged into one reads as
    inserted. Each committed seal's head is published with ``anchor_append``."""
    lag = settings.REVIEWAPP_AUDIT_SEAL_LAG_S if lag_seconds is None else lag_seconds
    chunk = chunk or settings.REVIEWAPP_AUDIT_SEAL_CHUNK
    cutoff = timezone.now() - timedelta(seconds=lag)
    sealed = 0
    try:
        horizon = _event_horizon()
    except OperationalError:
        # Writers held the table too long; the next periodic run carries on.
        return sealed
    while True:
        try:
            with transaction.atomic():
                # The head: seals are contiguous and increasing, and the range start is indexed.
                last = AuditSeal.objects.order_by("-first_event_id").first()
                start_after = last.last_event_id if last else 0
                events = []
                pending = AuditEvent.objects.filter(pk__gt=start_after, pk__lte=horizon)
                rows = list(pending.order_by("pk")[: chunk + 1])
                left_out = rows[chunk] if len(rows) > chunk else None
                for event in rows[:chunk]:
                    if event.occurred_at > cutoff:
                        left_out = event
                        break
                    events.append(event)
                if not events:
                    return sealed
                digests = [[e.pk, event_digest(e)] for e in events]
                previous_hash = last.hash if last else GENESIS_HASH
                seal = AuditSeal.objects.create(
                    previous=last,
                    first_event_id=start_after + 1,
                    last_event_id=left_out.pk - 1 if left_out else horizon,
                    event_digests=digests,
                    previous_hash=previous_hash,
                    hash=seal_hash(previous_hash=previous_hash, event_digests=digests),
                )
        except IntegrityError:
            # Another sealer won the race for this range; carry on from its seal.
            continue
        head = seal_head(seal)
        transaction.on_commit(lambda head=head: anchor_append(head))
        sealed += len(events)


VERIFIED_ACTION = "audit.verified"
FULL, INCREMENTAL = "full", "incremental"


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a verification. ``seals`` and ``events``: what the walk checked (an
    incremental one: the seals newer than its checkpoint); ``rechecked`` and
    ``rechecked_events``: the older seals its scrub re-hashed. When ok, ``through_*`` name the
    newest seal checked and ``scrubbed_through`` the scrub's cursor (an event id): recorded in
    the ``audit.verified`` event, they are the next incremental run's checkpoint."""

    ok: bool
    seals: int
    events: int
    problem: str = ""
    event_id: int | None = None
    mode: str = FULL
    through_seal: int | None = None
    through_hash: str = ""
    through_event: int | None = None
    scrubbed_through: int | None = None
    rechecked: int = 0
    rechecked_events: int = 0
    # False: the walk stopped at its time budget, ``remaining`` newer seals still unchecked
    # (the next run carries on from ``through_seal``).
    complete: bool = True
    remaining: int = 0


def _seal_problem(
    seal: AuditSeal, *, previous_hash: str, previous_last: int
) -> tuple[str, int | None] | None:
    """The first problem of one seal given the hash and last event id of the seal before it
    (GENESIS_HASH and 0 for the first one): its link, its hash, its digests against its range,
    then the events of its range (one query, rows as tuples) against its digests. None when
    the seal holds."""
    if seal.previous_hash != previous_hash or seal.first_event_id != previous_last + 1:
        return f"seal {seal.pk} does not follow the chain", None
    stored = seal.event_digests
    if seal_hash(previous_hash=seal.previous_hash, event_digests=stored) != seal.hash:
        return f"seal {seal.pk} was altered", None
    try:
        expected = [(int(event_id), digest) for event_id, digest in stored]
    except (TypeError, ValueError):
        return f"seal {seal.pk} was altered", None
    ids = [event_id for event_id, _ in expected]
    if (
        not ids
        or ids[0] < seal.first_event_id
        or ids[-1] > seal.last_event_id
        or any(later <= earlier for earlier, later in itertools.pairwise(ids))
    ):
        # The range is not covered by the hash; it must still agree with the digests.
        return f"seal {seal.pk} was altered", None
    rows = event_rows(first_id=seal.first_event_id, last_id=seal.last_event_id)
    actual = [(row[0], event_row_digest(row)) for row in rows]
    if actual == expected:
        return None
    stored_by_id, actual_by_id = dict(expected), dict(actual)
    for event_id in sorted(stored_by_id.keys() | actual_by_id.keys()):
        if event_id not in actual_by_id:
            return "removed after sealing", event_id
        if event_id not in stored_by_id:
            return "inserted after sealing", event_id
        if stored_by_id[event_id] != actual_by_id[event_id]:
            return "changed after sealing", event_id
    return None  # both lists are in id order without repeats: equal dicts, equal lists


@dataclass
class _Walk:
    """Consecutive seals verified from a known link of the chain (by default its start)."""

    previous_hash: str = GENESIS_HASH
    previous_last: int = 0
    last: AuditSeal | None = None
    seals: int = 0
    events: int = 0
    problem: str = ""
    event_id: int | None = None
    stopped: bool = False  # at its deadline, with seals left

    @classmethod
    def after(cls, seal: AuditSeal | None) -> "_Walk":
        if seal is None:
            return cls()
        return cls(previous_hash=seal.hash, previous_last=seal.last_event_id, last=seal)

    def run(self, seals: Iterable[AuditSeal], *, deadline: float | None = None) -> bool:
        """Verify SEALS in order; False at the first problem (kept in the walk). Past DEADLINE
        (``time.monotonic()``) it stops after the seal in hand (``stopped``) and holds so far."""
        for seal in seals:
            if deadline is not None and self.seals and time.monotonic() > deadline:
                self.stopped = True
                return True
            found = _seal_problem(
                seal, previous_hash=self.previous_hash, previous_last=self.previous_last
            )
            if found is not None:
                self.problem, self.event_id = found
                return False
            self.previous_hash, self.previous_last, self.last = seal.hash, seal.last_event_id, seal
            self.seals += 1
            self.events += len(seal.event_digests)
        return True


def _seals_in_order() -> models.QuerySet:
    return AuditSeal.objects.order_by("first_event_id")


def _predecessor(seal: AuditSeal) -> AuditSeal | None:
    """The seal before SEAL in the chain (by the indexed range start), or None for the first."""
    return (
        AuditSeal.objects.filter(first_event_id__lt=seal.first_event_id)
        .order_by("-first_event_id")
        .first()
    )


def _stray_below() -> int | None:
    """An event below the first sealed id (id 0 or less), once anything is sealed."""
    if not AuditSeal.objects.exists():
        return None
    below = AuditEvent.objects.filter(pk__lt=1).order_by("pk").values_list("pk", flat=True)
    return below.first()


def _verified(
    walk: _Walk,
    *,
    top: int | None,
    high_water: int | None,
    mode: str,
    scrub: _Walk | None = None,
    scrubbed_through: int | None = None,
) -> VerifyResult:
    """The end of a walk that held: the tail check, then the result naming its last seal."""
    rechecked = {"rechecked": scrub.seals, "rechecked_events": scrub.events} if scrub else {}
    horizon = walk.previous_last
    if top is not None and high_water is not None and top > max(high_water, horizon):
        # Above the sealed horizon, with an id the database has not handed out yet.
        forged = AuditEvent.objects.filter(pk__gt=max(high_water, horizon)).order_by("pk")
        return VerifyResult(
            False,
            walk.seals,
            walk.events,
            "inserted with an id never issued",
            forged.values_list("pk", flat=True).first(),
            mode=mode,
            **rechecked,
        )
    last = walk.last
    remaining = 0
    if walk.stopped and last is not None:
        remaining = _seals_in_order().filter(first_event_id__gt=last.first_event_id).count()
    return VerifyResult(
        True,
        walk.seals,
        walk.events,
        complete=not remaining,
        remaining=remaining,
        mode=mode,
        through_seal=last.pk if last else None,
        through_hash=last.hash if last else "",
        through_event=last.last_event_id if last else None,
        scrubbed_through=scrubbed_through,
        **rechecked,
    )


def audit_verify(*, max_seconds: float | None = None) -> VerifyResult:
    """Walk the whole chain; report the first event changed, removed or inserted after sealing.
    With MAX_SECONDS the walk stops after the seal that crosses it (``complete`` False): what
    it checked is a checkpoint, and an incremental run carries on from there.

    The seals cover ids 1..horizon without a gap (each starts right after the previous one),
    so an event is inserted wherever it sits: below the first sealed id (id 0 or less), inside
    a sealed range, or above the sealed horizon with an id the database never issued. Every
    event is re-hashed, so the result can serve as the checkpoint of incremental runs (its
    scrub cursor starts over: everything was just re-hashed)."""
    top = AuditEvent.objects.aggregate(top=Max("pk"))["top"]
    high_water = _id_high_water()
    if (stray := _stray_below()) is not None:
        return VerifyResult(False, 0, 0, "inserted after sealing", stray)
    walk = _Walk()
    if not walk.run(_seals_in_order().iterator(chunk_size=50), deadline=_deadline(max_seconds)):
        return VerifyResult(False, walk.seals, walk.events, walk.problem, walk.event_id)
    return _verified(
        walk,
        top=top,
        high_water=high_water,
        mode=FULL,
        scrubbed_through=walk.last.last_event_id if walk.last else None,
    )


def _deadline(max_seconds: float | None) -> float | None:
    return None if max_seconds is None else time.monotonic() + max_seconds


def _checkpoint() -> dict | None:
    """The ``changes`` of the newest verification that passed, when it names the seal it
    checked through (verifications recorded before incremental ones existed do not)."""
    changes = (
        AuditEvent.objects.filter(action=VERIFIED_ACTION, changes__ok=True)
        .order_by("-id")
        .values_list("changes", flat=True)
        .first()
    )
    if not isinstance(changes, dict) or not isinstance(changes.get("through_seal"), int):
        return None
    return changes


def _segment_walk(seals: Iterator[AuditSeal]) -> _Walk:
    """Verify a run of consecutive seals, the first one against the seal before it."""
    first = next(seals, None)
    if first is None:
        return _Walk()
    walk = _Walk.after(_predecessor(first))
    walk.run(itertools.chain([first], seals))
    return walk


def _scrub(*, after: int, through: AuditSeal, limit: int) -> tuple[_Walk, int]:
    """Re-verify up to LIMIT seals up to THROUGH (the checkpoint seal), from the first one
    starting after event id AFTER (the previous run's cursor), wrapping to the first seal.
    Returns the totals (and the first problem) and the new cursor."""
    total, cursor = _Walk(), after
    old = _seals_in_order().filter(first_event_id__lte=through.first_event_id)
    for segment in (old.filter(first_event_id__gt=after), old.filter(first_event_id__lte=after)):
        left = limit - total.seals
        if left <= 0:
            break
        walk = _segment_walk(segment[:left].iterator(chunk_size=20))
        total.seals += walk.seals
        total.events += walk.events
        if walk.problem:
            total.problem, total.event_id = walk.problem, walk.event_id
            break
        if walk.last is not None:
            cursor = walk.last.last_event_id
    return total, cursor


def audit_verify_incremental(
    *, scrub_seals: int | None = None, max_seconds: float | None = None
) -> VerifyResult:
    """Verify the chain from the last verification that passed (its ``audit.verified``
    event), at a cost that does not grow with the log: the checkpoint seal must still be there
    with the recorded hash and range and still link to the seal before it; every newer seal
    is verified as the full walk does, and so are the tail checks (ids below 1, ids above the
    sealed horizon never issued). A rolling scrub re-verifies SCRUB_SEALS older seals
    (REVIEWAPP_AUDIT_SCRUB_SEALS by default) after the previous run's cursor, wrapping to the
    first seal, so every old event is re-hashed within a bounded number of runs. Without a
    checkpoint this is the full walk (``audit_verify``). With MAX_SECONDS the walk of newer
    seals stops after the seal that crosses it (``complete`` False, ``remaining`` seals left):
    the next run carries on from the last seal checked, so a first verification of a large
    log spreads over several runs instead of one that never ends."""
    checkpoint = _checkpoint()
    if checkpoint is None:
        return audit_verify(max_seconds=max_seconds)
    deadline = _deadline(max_seconds)
    limit = settings.REVIEWAPP_AUDIT_SCRUB_SEALS if scrub_seals is None else scrub_seals
    top = AuditEvent.objects.aggregate(top=Max("pk"))["top"]
    high_water = _id_high_water()
    if (stray := _stray_below()) is not None:
        return VerifyResult(False, 0, 0, "inserted after sealing", stray, mode=INCREMENTAL)
    seal_id = checkpoint["through_seal"]
    seal = AuditSeal.objects.filter(pk=seal_id).first()
    if seal is None:
        problem = f"seal {seal_id} was removed since the last verification"
        return VerifyResult(False, 0, 0, problem, mode=INCREMENTAL)
    before = _Walk.after(_predecessor(seal))
    if (
        seal.hash != checkpoint.get("through_hash")
        or seal.last_event_id != checkpoint.get("through_event")
        or seal.previous_hash != before.previous_hash
        or seal.first_event_id != before.previous_last + 1
        or seal_hash(previous_hash=seal.previous_hash, event_digests=seal.event_digests)
        != seal.hash
    ):
        problem = f"seal {seal.pk} was altered since the last verification"
        return VerifyResult(False, 0, 0, problem, mode=INCREMENTAL)
    scrub, cursor = _scrub(
        after=checkpoint.get("scrubbed_through") or 0, through=seal, limit=max(0, limit)
    )
    rechecked = {"rechecked": scrub.seals, "rechecked_events": scrub.events}
    if scrub.problem:
        return VerifyResult(
            False, 0, 0, scrub.problem, scrub.event_id, mode=INCREMENTAL, **rechecked
        )
    walk = _Walk.after(seal)
    newer = _seals_in_order().filter(first_event_id__gt=seal.first_event_id)
    if not walk.run(newer.iterator(chunk_size=50), deadline=deadline):
        return VerifyResult(
            False,
            walk.seals,
            walk.events,
            walk.problem,
            walk.event_id,
            mode=INCREMENTAL,
            **rechecked,
        )
    return _verified(
        walk,
        top=top,
        high_water=high_water,
        mode=INCREMENTAL,
        scrub=scrub,
        scrubbed_through=cursor,
    )


def case_views_record(*, actor: User | None, cases: Iterable[Case]) -> None:
    """One ``case.viewed`` event per case read (pages and API), written together."""
    with transaction.atomic():
        audit_record_many(
            audit_event_build(actor=actor, action="case.viewed", target=case) for case in cases
        )
