"""The decision feed: a model's decisions in a stable order, cursor-paginated, with no gaps or
repeats even while decisions are being written.

PostgreSQL: a BEFORE INSERT trigger (migration 0003) stamps each decision with the id of the
transaction that wrote it (``feed_txid``). The feed reads only decisions whose transaction is
older than the oldest transaction still running when the statement's snapshot was taken
(``pg_snapshot_xmin``): every such transaction has finished, so no decision can later commit
with a smaller (feed_txid, id) than one already served. Rows are ordered by (feed_txid, id).

SQLite serialises writers (one write transaction at a time, ids allocated under that lock),
so the id order alone has the same property; ``feed_txid`` stays null there.
"""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from reviewapp.errors import InvalidInput
from reviewapp.models import Decision, MLModel

FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 1000
SNAPSHOT_XMIN_SQL = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


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


def feed_cursor_encode(*, feed_txid: int | None, decision_id: int) -> str:
    """An opaque cursor: URL-safe base64 of "feed_txid:id" (feed_txid 0 on SQLite)."""
    raw = f"{feed_txid or 0}:{decision_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def feed_cursor_decode(cursor: str) -> tuple[int, int]:
    """(feed_txid, id) from a cursor; InvalidInput for anything this feed did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        txid_text, id_text = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        txid, decision_id = int(txid_text), int(id_text)
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidInput(
            "The cursor is not valid: pass back the 'cursor' of a result or the 'next' URL "
            "exactly as the feed returned it.",
            details={"after": ["Not a cursor issued by this feed."]},
            code="invalid_cursor",
        ) from None
    if txid < 0 or decision_id < 0:
        raise InvalidInput(
            "The cursor is not valid.",
            details={"after": ["Not a cursor issued by this feed."]},
            code="invalid_cursor",
        )
    return txid, decision_id


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


@dataclass(frozen=True)
class FeedPage:
    results: list[dict[str, Any]]
    has_more: bool

    @property
    def last_cursor(self) -> str | None:
        return self.results[-1]["cursor"] if self.results else None


def _feed_queryset(*, ml_model: MLModel, after: tuple[int, int] | None) -> QuerySet[Decision]:
    qs = Decision.objects.filter(ml_model=ml_model).select_related(
        "ml_model", "case", "case__model_version"
    )
    if connection.vendor == "postgresql":
        # Only decisions written by transactions that have all finished (see module doc).
        qs = qs.filter(feed_txid__lt=RawSQL(SNAPSHOT_XMIN_SQL, []))  # noqa: S611 - constant
        if after is not None:
            txid, decision_id = after
            qs = qs.filter(Q(feed_txid__gt=txid) | Q(feed_txid=txid, pk__gt=decision_id))
        return qs.order_by("feed_txid", "pk")
    if after is not None:
        qs = qs.filter(pk__gt=after[1])
    return qs.order_by("pk")


def decision_feed_page(
    *, ml_model: MLModel, after: str | None = None, limit: int = FEED_DEFAULT_LIMIT
) -> FeedPage:
    """Up to ``limit`` decisions after the cursor, each with its own cursor; one query."""
    position = feed_cursor_decode(after) if after else None
    rows = list(_feed_queryset(ml_model=ml_model, after=position)[: limit + 1])
    results = []
    for decision in rows[:limit]:
        body = decision_event(decision)
        body["cursor"] = feed_cursor_encode(feed_txid=decision.feed_txid, decision_id=decision.pk)
        results.append(body)
    return FeedPage(results=results, has_more=len(rows) > limit)
