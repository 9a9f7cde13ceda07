"""The audit log page's rows: each event's changed fields as a short list and as indented
JSON (for the expandable detail)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from reviewapp.models import AuditEvent

KEYS_SHOWN = 4


def changes_keys(changes: dict) -> str:
    """The first KEYS_SHOWN changed field names, with an ellipsis when there are more."""
    keys = list(changes)
    return ", ".join(keys[:KEYS_SHOWN]) + (" …" if len(keys) > KEYS_SHOWN else "")


def audit_event_rows(events: Iterable[AuditEvent]) -> None:
    """Give each event ``changes_keys`` and ``changes_json`` for the table (in place)."""
    for event in events:
        event.changes_keys = changes_keys(event.changes)
        event.changes_json = json.dumps(event.changes, indent=2, sort_keys=True, default=str)
