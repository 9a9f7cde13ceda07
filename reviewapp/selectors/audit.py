"""Reading the audit log: filters, keyset pages (by id, newest first) and export chunks.

Nothing here counts or offsets: every page and every export chunk is one indexed range
query on the primary key, so browsing stays fast on a log of millions of events.
"""

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from reviewapp.models import AuditEvent, User

AUDIT_PAGE_SIZE = 50
EXPORT_CHUNK = 2000
SYSTEM_ACTOR = "system"
# A date range also bounds the ids, found through the occurred_at index, so that the newest-
# first scan of the primary key starts and stops near the range instead of walking the whole
# log. Events are numbered as they are written, moments after they are stamped (in the same
# short transaction); the margin covers clock and transaction jitter many times over, and
# the exact occurred_at condition still decides which rows match. It is also what the scan
# may read beyond the range: an hour of events (about 50,000 at 10^8 events in 90 days).
ID_HINT_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class AuditFilters:
    """What an auditor narrowed the log to. ``action`` ending in ``*`` or ``.`` is a prefix
    (``case.*``); ``actor`` is a username, or ``system`` for events without a person."""

    action: str = ""
    actor: str = ""
    target_type: str = ""
    target_id: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def as_params(self) -> dict[str, str]:
        """The non-empty filters as query-string values (dates in ISO form)."""
        return {
            key: value.isoformat() if isinstance(value, date) else value
            for key, value in asdict(self).items()
            if value
        }


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def audit_events_filtered(filters: AuditFilters) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.all()
    action = filters.action.strip()
    if action.endswith(("*", ".")):
        qs = qs.filter(action__startswith=action.rstrip("*"))
    elif action:
        qs = qs.filter(action=action)
    actor = filters.actor.strip()
    if actor == SYSTEM_ACTOR:
        qs = qs.filter(actor__isnull=True)
    elif actor:
        user_id = User.objects.filter(username=actor).values_list("pk", flat=True).first()
        # A known person by id (indexed); anything else by the label recorded at the time.
        qs = qs.filter(actor_id=user_id) if user_id else qs.filter(actor_label=actor)
    if filters.target_type:
        qs = qs.filter(target_type=filters.target_type.strip())
    if filters.target_id:
        qs = qs.filter(target_id=filters.target_id.strip())
    if filters.date_from:
        start = _day_start(filters.date_from)
        qs = qs.filter(occurred_at__gte=start)
        below = (
            AuditEvent.objects.filter(occurred_at__lt=start - ID_HINT_MARGIN)
            .order_by("-occurred_at")
            .values_list("pk", flat=True)
            .first()
        )
        if below is not None:
            qs = qs.filter(pk__gt=below)
    if filters.date_to:
        end = _day_start(filters.date_to + timedelta(days=1))
        qs = qs.filter(occurred_at__lt=end)
        above = (
            AuditEvent.objects.filter(occurred_at__gte=end + ID_HINT_MARGIN)
            .order_by("occurred_at")
            .values_list("pk", flat=True)
            .first()
        )
        if above is not None:
            qs = qs.filter(pk__lt=above)
    return qs


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    older: int | None  # pass as ``before=`` for the next (older) page
    newer: int | None  # pass as ``after=`` for the previous (newer) page


def audit_page(
    filters: AuditFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = AUDIT_PAGE_SIZE,
) -> AuditPage:
    """One page of events, newest first, starting just below ``before`` or just above
    ``after`` (at most one of them); the first page when neither is given."""
    qs = audit_events_filtered(filters)
    if after is not None:
        rows = list(qs.filter(pk__gt=after).order_by("pk")[: size + 1])
        has_newer = len(rows) > size
        events = list(reversed(rows[:size]))
        has_older = bool(events) and qs.filter(pk__lt=events[-1].pk).exists()
    else:
        qs_page = qs.filter(pk__lt=before) if before is not None else qs
        rows = list(qs_page.order_by("-pk")[: size + 1])
        has_older = len(rows) > size
        events = rows[:size]
        has_newer = before is not None and qs.filter(pk__gte=before).exists()
        if not events and has_newer:
            return AuditPage(events=[], older=None, newer=before - 1)
    return AuditPage(
        events=events,
        older=events[-1].pk if has_older and events else None,
        newer=events[0].pk if has_newer and events else None,
    )


def audit_export_chunks(filters: AuditFilters, *, chunk: int = EXPORT_CHUNK) -> Iterator[list]:
    """Every matching event, oldest first, in chunks read by keyset (no server-side cursor,
    no OFFSET), so an export of millions of rows streams in constant memory."""
    qs = audit_events_filtered(filters).order_by("pk")
    last = 0
    while True:
        rows = list(qs.filter(pk__gt=last)[:chunk])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


# The distinct actions by a skip scan of the (action, id) index: one index probe per name,
# however many events each has (a SELECT DISTINCT reads the whole log).
_ACTION_NAMES_SQL = """
WITH RECURSIVE names(action) AS (
    SELECT MIN(action) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(e.action) FROM {table} e WHERE e.action > names.action)
    FROM names WHERE names.action IS NOT NULL
)
SELECT action FROM names WHERE action IS NOT NULL
"""


def _action_names_read() -> list[str]:
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_ACTION_NAMES_SQL.format(table=table))
        return [action for (action,) in cursor.fetchall()]


def audit_action_names() -> list[str]:
    """The actions recorded so far, in order, for the filter's suggestions (cached for a
    minute; reading them costs one index probe per name)."""
    return cache.get_or_set("reviewapp:audit-actions", _action_names_read, 60)
