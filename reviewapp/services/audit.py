"""The audit log: recording events in the caller's transaction, sealing them into a hash
chain, and verifying the chain.

Intake must not serialise on one lock, so events are written without any hash; a periodic
sealer later covers runs of committed events (older than REVIEWAPP_AUDIT_SEAL_LAG_S, so
transactions still in flight cannot land inside a sealed range) with one seal each. A seal
stores every covered event's digest and the previous seal's hash, so verification can name
the first event that was changed, removed or inserted after sealing.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

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


def event_fields(event: AuditEvent) -> dict:
    """Every recorded field of an event, as plain JSON-ready values (for digests and exports)."""
    return {
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


def event_digest(event: AuditEvent) -> str:
    """SHA-256 over every recorded field of an event, in a canonical JSON form."""
    body = event_fields(event)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
                last = AuditSeal.objects.order_by("-last_event_id").first()
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


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    seals: int
    events: int
    problem: str = ""
    event_id: int | None = None


def audit_verify() -> VerifyResult:
    """Walk the chain; report the first event changed, removed or inserted after sealing.

    The seals cover ids 1..horizon without a gap (each starts right after the previous one),
    so an event is inserted wherever it sits: below the first sealed id (id 0 or less), inside
    a sealed range, or above the sealed horizon with an id the database never issued."""
    previous_hash = GENESIS_HASH
    previous_last = 0
    n_seals = n_events = 0
    top = AuditEvent.objects.aggregate(top=Max("pk"))["top"]
    high_water = _id_high_water()
    below = AuditEvent.objects.filter(pk__lt=1).order_by("pk").values_list("pk", flat=True)
    if AuditSeal.objects.exists() and (stray := below.first()) is not None:
        return VerifyResult(False, 0, 0, "inserted after sealing", stray)
    for seal in AuditSeal.objects.order_by("first_event_id").iterator(chunk_size=50):
        if seal.previous_hash != previous_hash or seal.first_event_id != previous_last + 1:
            return VerifyResult(
                False, n_seals, n_events, f"seal {seal.pk} does not follow the chain"
            )
        if (
            seal_hash(previous_hash=seal.previous_hash, event_digests=seal.event_digests)
            != seal.hash
        ):
            return VerifyResult(False, n_seals, n_events, f"seal {seal.pk} was altered")
        stored = {int(eid): digest for eid, digest in seal.event_digests}
        ids = [int(eid) for eid, _ in seal.event_digests]
        if (
            not ids
            or ids != sorted(stored)
            or ids[0] < seal.first_event_id
            or ids[-1] > seal.last_event_id
        ):
            # The range is not covered by the hash; it must still agree with the digests.
            return VerifyResult(False, n_seals, n_events, f"seal {seal.pk} was altered")
        actual = {
            e.pk: event_digest(e)
            for e in AuditEvent.objects.filter(
                pk__gte=seal.first_event_id, pk__lte=seal.last_event_id
            ).order_by("pk")
        }
        for event_id in sorted(stored.keys() | actual.keys()):
            if event_id not in actual:
                return VerifyResult(False, n_seals, n_events, "removed after sealing", event_id)
            if event_id not in stored:
                return VerifyResult(False, n_seals, n_events, "inserted after sealing", event_id)
            if stored[event_id] != actual[event_id]:
                return VerifyResult(False, n_seals, n_events, "changed after sealing", event_id)
        previous_hash, previous_last = seal.hash, seal.last_event_id
        n_seals += 1
        n_events += len(stored)
    if top is not None and high_water is not None and top > max(high_water, previous_last):
        # Above the sealed horizon, with an id the database has not handed out yet.
        forged = AuditEvent.objects.filter(pk__gt=max(high_water, previous_last)).order_by("pk")
        return VerifyResult(
            False, n_seals, n_events, "inserted with an id never issued", forged.first().pk
        )
    return VerifyResult(True, n_seals, n_events)


def case_views_record(*, actor: User | None, cases: Iterable[Case]) -> None:
    """One ``case.viewed`` event per case read (pages and API), written together."""
    with transaction.atomic():
        audit_record_many(
            audit_event_build(actor=actor, action="case.viewed", target=case) for case in cases
        )
