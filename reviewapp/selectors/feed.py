"""The model's event feed: its decisions (``case.decided``) and other events such as expiries
(``case.expired``, FeedEvent rows) in one stable order, cursor-paginated, with no gaps or
repeats even while events are being written.

PostgreSQL: a BEFORE INSERT trigger (migrations 0003 and 0006) stamps each decision and each
feed event with the id of the transaction that wrote it (``feed_txid``). The feed reads only
rows whose transaction is older than the oldest transaction still running when the
statement's snapshot was taken (``pg_snapshot_xmin``): every such transaction has finished, so
no row can later commit with a smaller position than one already served. Rows are ordered by
(feed_txid, kind, id), kind 0 for decisions and 1 for feed events (all rows of one
transaction become visible together, so any fixed order inside one transaction will do).

SQLite serialises writers (one write transaction at a time, ids allocated under that lock), so
a decision's id is its position; a feed event records the model's greatest decision id when
it was written (``feed_after_decision``) and sorts after that decision: (position, kind, id).

Both tables are read by ONE statement (UNION ALL of their keys), so both halves see the same
snapshot; the page's rows are then loaded by id.
"""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.db.models import BigIntegerField, BooleanField, F, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from reviewapp.case_rules import decision_publish_at
from reviewapp.errors import InvalidInput
from reviewapp.models import Case, Decision, FallbackAction, FeedEvent, MLModel

FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 1000
SNAPSHOT_XMIN_SQL = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
DECISION_KIND, EVENT_KIND = 0, 1
FEED_FAR = 2**62  # beyond every position: no decision is waiting out its undo window


# The fields ``decision_event`` reads (and the feed cursor's feed_txid), for ``.only()``.
FEED_DECISION_FIELDS = (
    "id",
    "feed_txid",
    "action",
    "final_label",
    "reason_code",
    "feedback",
    "decided_at",
    "ml_model__slug",
    "case__external_id",
    "case__model_version__version",
)


def decision_event(decision: Decision) -> dict[str, Any]:
    """The decision object shared by the feed and the webhook body (DESIGN.md)."""
    case = decision.case
    return {
        "event": "case.decided",
        "decision_id": decision.pk,
        "case_id": decision.case_id,
        "external_id": case.external_id,
        "model": decision.ml_model.slug,
        "model_version": case.model_version.version,
        "action": decision.action,
        "final_label": decision.final_label,
        "reason_code": decision.reason_code,
        "feedback": decision.feedback,
        "decided_at": decision.decided_at.isoformat(),
    }


def case_expired_event(case: Case) -> dict[str, Any]:
    """The ``case.expired`` body (feed row and webhook) of a case the availability job has
    just expired: the fallback the policy applied and, for ``apply_model``, the label that
    stands (the model's); ``final_label`` is null for ``reject`` and ``hold``."""
    applied = case.fallback_applied
    return {
        "event": "case.expired",
        "case_id": case.pk,
        "external_id": case.external_id,
        "model": case.ml_model.slug,
        "model_version": case.model_version.version,
        "fallback_applied": applied,
        "final_label": case.predicted_label if applied == FallbackAction.APPLY_MODEL else None,
        "expired_at": case.expired_at.isoformat() if case.expired_at else None,
    }


CASE_EVENTS = frozenset({"case.expired"})


def feed_event_body(event: FeedEvent) -> dict[str, Any]:
    """A feed event's body as its webhook carries it (its payload and its id)."""
    return {**event.payload, "event_id": event.pk}


def feed_event_row(event: FeedEvent) -> dict[str, Any]:
    """A feed event as a feed row: case events (``case.expired``) carry their fields at the
    top level like decisions; model and alert events (``model.*``, ``alert.raised``) carry
    theirs under ``data``, beside ``event``, ``event_id`` and ``model``."""
    if event.event in CASE_EVENTS:
        return feed_event_body(event)
    data = {k: v for k, v in event.payload.items() if k not in ("event", "model")}
    return {
        "event": event.event,
        "event_id": event.pk,
        "model": event.payload.get("model", ""),
        "data": data,
    }


# --- cursors --------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class FeedPosition:
    """Where a row sits in the feed: (position, kind, id); see the module docstring."""

    position: int
    kind: int
    row_id: int


def feed_cursor_encode(*, feed_txid: int | None, decision_id: int) -> str:
    """A decision's opaque cursor: URL-safe base64 of "feed_txid:id" (feed_txid 0 on SQLite)."""
    raw = f"{feed_txid or 0}:{decision_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def feed_event_cursor_encode(*, position: int | None, event_id: int) -> str:
    """A feed event's opaque cursor: URL-safe base64 of "position:id:1"."""
    raw = f"{position or 0}:{event_id}:{EVENT_KIND}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "The cursor is not valid: pass back the 'cursor' of a result or the 'next' URL "
        "exactly as the feed returned it.",
        details={"after": ["Not a cursor issued by this feed."]},
        code="invalid_cursor",
    )


def feed_cursor_decode(cursor: str) -> FeedPosition:
    """The position a cursor names; InvalidInput (code ``invalid_cursor``) for anything this
    feed did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        if len(parts) == 2:
            kind = DECISION_KIND
        elif len(parts) == 3 and parts[2] == str(EVENT_KIND):
            kind = EVENT_KIND
        else:
            raise ValueError(cursor)
        position, row_id = int(parts[0]), int(parts[1])
    except (ValueError, binascii.Error, UnicodeError):
        raise _invalid_cursor() from None
    if position < 0 or row_id < 0:
        raise _invalid_cursor()
    if kind == DECISION_KIND and connection.vendor != "postgresql":
        position = row_id  # SQLite: a decision's id is its position ("0:id" cursors)
    return FeedPosition(position, kind, row_id)


def feed_limit_parse(raw: str | None) -> int:
    if raw in (None, ""):
        return FEED_DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= FEED_MAX_LIMIT:
        raise InvalidInput(
            f"limit must be a whole number from 1 to {FEED_MAX_LIMIT}.",
            details={"limit": [f"1 to {FEED_MAX_LIMIT}."]},
        )
    return limit


# --- the page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedPage:
    results: list[dict[str, Any]]
    has_more: bool

    @property
    def last_cursor(self) -> str | None:
        return self.results[-1]["cursor"] if self.results else None


def _after(field: str, kind: int, after: FeedPosition | None, model: type[models.Model]) -> Q:
    """Rows of KIND (positioned by FIELD of MODEL) strictly after AFTER in (position, kind,
    id). On PostgreSQL the same-kind bound is a row comparison, (position, id) > (p, i): the
    index range starts exactly at the cursor (an OR of the two parts is only a filter, and
    reads every row of the cursor's transaction up to it)."""
    if after is None:
        return Q()
    if kind > after.kind:
        return Q(**{f"{field}__gte": after.position})
    if kind < after.kind:
        return Q(**{f"{field}__gt": after.position})
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        column = quote(model._meta.get_field(field).column)
        pk = quote(model._meta.pk.column)
        row = RawSQL(  # noqa: S611 - names from the model's meta; values are parameters
            f"({table}.{column}, {table}.{pk}) > (%s, %s)",
            [after.position, after.row_id],
            output_field=BooleanField(),
        )
        return Q(row)
    return Q(**{f"{field}__gt": after.position}) | Q(
        **{field: after.position, "pk__gt": after.row_id}
    )


def _before_undoable(ml_model: MLModel, decision_field: str, event_field: str) -> tuple[Q, Q]:
    """Filters for decisions and events that keep the feed before the model's first decision
    that may still be undone (``case_rules.decision_publish_at``): that decision, and every
    row after it, waits until its undo window has closed, so the feed never shows a decision
    that could be withdrawn and never serves a row past one it will show later (no gaps).
    Subqueries of the feed's one statement (one snapshot). Undone decisions are left out."""
    now = timezone.now()
    delay = decision_publish_at(now) - now
    if not delay:
        return Q(), Q()
    # Found by decided_at (the model's time index: the few decisions of the last undo
    # window), then ordered: "+ 0" keeps the planner from walking the feed index in order
    # instead, which reads every decision of the model when none is undoable.
    undoable = (
        Decision.objects.filter(
            ml_model=ml_model, undone_at__isnull=True, decided_at__gt=now - delay
        )
        .annotate(feed_order=F(decision_field) + 0)
        .order_by("feed_order", "pk")
    )
    big = BigIntegerField()
    position = Coalesce(
        Subquery(undoable.values(decision_field)[:1]), Value(FEED_FAR), output_field=big
    )
    row_id = Coalesce(Subquery(undoable.values("pk")[:1]), Value(FEED_FAR), output_field=big)
    before = Q(**{f"{decision_field}__lt": position}) | Q(
        **{decision_field: position, "pk__lt": row_id}
    )
    return before, Q(**{f"{event_field}__lt": position})


def _keys(ml_model: MLModel, after: FeedPosition | None, limit: int) -> list[FeedPosition]:
    """The positions of the next LIMIT rows of both tables, by one statement."""
    postgres = connection.vendor == "postgresql"
    decision_field = "feed_txid" if postgres else "pk"
    event_field = "feed_txid" if postgres else "feed_after_decision"
    decisions = Decision.objects.filter(
        _after(decision_field, DECISION_KIND, after, Decision), ml_model=ml_model
    )
    events = FeedEvent.objects.filter(
        _after(event_field, EVENT_KIND, after, FeedEvent), ml_model=ml_model
    )
    if postgres:
        # Only rows written by transactions that have all finished (see module doc).
        finished = RawSQL(SNAPSHOT_XMIN_SQL, [])  # noqa: S611 - constant
        decisions = decisions.filter(feed_txid__lt=finished)
        events = events.filter(feed_txid__lt=finished)
    decisions = decisions.filter(undone_at__isnull=True)
    held_decisions, held_events = _before_undoable(ml_model, decision_field, event_field)
    decisions, events = decisions.filter(held_decisions), events.filter(held_events)
    decisions = decisions.annotate(position=F(decision_field), kind=Value(DECISION_KIND))
    events = events.annotate(position=F(event_field), kind=Value(EVENT_KIND))
    if connection.features.supports_slicing_ordering_in_compound:
        # The first LIMIT of each table, each read in order from its (model, position, id)
        # index, then merged: a page costs LIMIT index entries per table however long the
        # feed (one sort over both tables would read every row after the cursor).
        decisions = decisions.order_by(decision_field, "id")[:limit]
        events = events.order_by(event_field, "id")[:limit]
    rows = (
        decisions.values_list("position", "kind", "id")
        .union(events.values_list("position", "kind", "id"), all=True)
        .order_by("position", "kind", "id")[:limit]
    )
    return [FeedPosition(*row) for row in rows]


def _decisions(ids: list[int]) -> dict[int, Decision]:
    if not ids:
        return {}
    # Only what ``decision_event`` and the cursor read: a page of 1,000 rows would otherwise
    # load and decode every case's input, metadata and explanation.
    qs: QuerySet[Decision] = (
        Decision.objects.filter(pk__in=ids)
        .select_related("ml_model", "case", "case__model_version")
        .only(*FEED_DECISION_FIELDS)
    )
    return {d.pk: d for d in qs}


def decision_feed_page(
    *, ml_model: MLModel, after: str | None = None, limit: int = FEED_DEFAULT_LIMIT
) -> FeedPage:
    """Up to ``limit`` feed rows after the cursor, each with its own cursor: decisions
    (``case.decided``) and feed events (``case.expired``, ``model.*``, ``alert.raised``) in
    one order. One statement picks
    the rows; one more loads each kind present on the page."""
    position = feed_cursor_decode(after) if after else None
    keys = _keys(ml_model, position, limit + 1)
    page = keys[:limit]
    decisions = _decisions([k.row_id for k in page if k.kind == DECISION_KIND])
    event_ids = [k.row_id for k in page if k.kind == EVENT_KIND]
    events = {e.pk: e for e in FeedEvent.objects.filter(pk__in=event_ids)} if event_ids else {}
    results = []
    for key in page:
        if key.kind == DECISION_KIND and key.row_id in decisions:
            decision = decisions[key.row_id]
            body = decision_event(decision)
            body["cursor"] = feed_cursor_encode(
                feed_txid=decision.feed_txid, decision_id=decision.pk
            )
        elif key.kind == EVENT_KIND and key.row_id in events:
            event = events[key.row_id]
            body = feed_event_row(event)
            body["cursor"] = feed_event_cursor_encode(position=key.position, event_id=event.pk)
        else:
            continue  # removed since the keys were read (a model deleted meanwhile)
        results.append(body)
    return FeedPage(results=results, has_more=len(keys) > limit)
