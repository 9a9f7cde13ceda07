"""Seal heads kept outside the database, so that cutting the newest seals off the chain (and
rewriting the events they covered) cannot go unnoticed.

Every committed seal's head (seal id, event range, hash, event count, time) is appended as one
JSON line to ``REVIEWAPP_AUDIT_ANCHOR_FILE`` (opened append-only and fsynced), written to the
``reviewapp.audit`` logger, and, when ``REVIEWAPP_AUDIT_ANCHOR_URL`` is set, POSTed there
best-effort. ``verify_audit --anchor FILE`` then checks that every anchored seal is still in
the database with the same hash and range. The anchor is worth what its custody is worth: the
README ("Audit anchor") says how to keep it out of a database administrator's reach.
"""

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import requests
from django.conf import settings

from reviewapp.models import AuditSeal

logger = logging.getLogger("reviewapp.audit")

ANCHOR_FIELDS = ("seal_id", "first_event_id", "last_event_id", "hash", "events", "sealed_at")
_ID_BATCH = 1000


class AnchorError(Exception):
    """The anchor file cannot be read as seal heads."""


@dataclass(frozen=True)
class SealHead:
    """What the anchor keeps of one seal."""

    seal_id: int
    first_event_id: int
    last_event_id: int
    hash: str
    events: int
    sealed_at: str

    def describe(self) -> str:
        return f"seal {self.seal_id} (events {self.first_event_id}-{self.last_event_id})"


def seal_head(seal: AuditSeal) -> SealHead:
    """The head of a saved seal."""
    return SealHead(
        seal_id=seal.pk,
        first_event_id=seal.first_event_id,
        last_event_id=seal.last_event_id,
        hash=seal.hash,
        events=len(seal.event_digests),
        sealed_at=seal.sealed_at.isoformat(),
    )


def anchor_append(head: SealHead) -> None:
    """Publish one committed seal's head: anchor file, log stream, optional URL. A failure to
    reach one of them is logged and does not undo the seal (the others still carry it)."""
    body = asdict(head)
    line = json.dumps(body, sort_keys=True, separators=(",", ":"))
    path = Path(settings.REVIEWAPP_AUDIT_ANCHOR_FILE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        logger.exception("audit anchor file %s could not be appended to", path)
    logger.info("audit.seal_anchored %s", line, extra={"audit_seal": body})
    url = settings.REVIEWAPP_AUDIT_ANCHOR_URL
    if url:
        try:
            response = requests.post(url, json=body, timeout=settings.REVIEWAPP_WEBHOOK_TIMEOUT_S)
            response.raise_for_status()
        except requests.RequestException as exc:
            logger.warning("audit anchor URL refused seal %s: %s", head.seal_id, exc)


def anchor_read(path: Path) -> Iterator[SealHead]:
    """The seal heads of an anchor file, in file order. Blank lines are skipped; anything
    else that is not a seal head raises ``AnchorError`` naming the line."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise AnchorError(f"cannot read the anchor file {path}: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                head = SealHead(**{name: data[name] for name in ANCHOR_FIELDS})
                ints = (head.seal_id, head.first_event_id, head.last_event_id, head.events)
                if not all(isinstance(v, int) for v in ints) or not isinstance(head.hash, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise AnchorError(f"anchor line {number} is not a seal head") from None
            yield head


def anchor_check(path: Path) -> tuple[str, int]:
    """Compare the anchor with the database: ``("", n)`` when all ``n`` anchored seals are
    present with the same range and hash, else the first problem found and the count checked
    before it."""
    checked = 0
    batch: list[SealHead] = []

    def check(heads: list[SealHead]) -> str:
        stored = {
            pk: (first, last, digest)
            for pk, first, last, digest in AuditSeal.objects.filter(
                pk__in=[h.seal_id for h in heads]
            ).values_list("pk", "first_event_id", "last_event_id", "hash")
        }
        for head in heads:
            row = stored.get(head.seal_id)
            if row is None:
                return f"{head.describe()} is in the anchor but not in the database"
            if row != (head.first_event_id, head.last_event_id, head.hash):
                return f"{head.describe()} differs from the anchor (range or hash changed)"
        return ""

    for head in anchor_read(path):
        batch.append(head)
        if len(batch) == _ID_BATCH:
            if problem := check(batch):
                return problem, checked
            checked += len(batch)
            batch = []
    if batch:
        if problem := check(batch):
            return problem, checked
        checked += len(batch)
    return "", checked
