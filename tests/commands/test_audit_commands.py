"""seal_audit and verify_audit: exit statuses and messages that scripts rely on."""

import json
import logging
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from reviewapp.models import AuditEvent, AuditSeal
from reviewapp.services.audit import audit_record
from tests.commands.tampering import (
    audit_row_forge,
    audit_rows_delete,
    audit_rows_update,
    audit_seal_cut,
    audit_seal_update,
)
from tests.factories import make_team, make_user

pytestmark = pytest.mark.django_db


def _seed_events() -> list[int]:
    team = make_team("payments-risk")
    for i in range(3):
        make_user(team=team, username=f"user{i}")
    return list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))


def test_seal_audit_prints_count_and_seals_everything():
    """seal_audit seals every event and says how many; a second run seals none."""
    ids = _seed_events()
    out = StringIO()
    call_command("seal_audit", stdout=out)
    assert out.getvalue().strip() == f"sealed {len(ids)} events"
    assert AuditSeal.objects.get().last_event_id == ids[-1]
    again = StringIO()
    call_command("seal_audit", stdout=again)
    assert again.getvalue().strip() == "sealed 0 events"


def test_verify_audit_intact_chain_exits_zero():
    """An untouched chain verifies (no SystemExit) and the output says intact."""
    ids = _seed_events()
    call_command("seal_audit", stdout=StringIO())
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith(f"audit chain intact: 1 seal covering {len(ids)} events")


def test_verify_audit_names_changed_event_and_exits_one():
    """A sealed event changed afterwards makes verify_audit exit 1 naming that event."""
    ids = _seed_events()
    call_command("seal_audit", stdout=StringIO())
    audit_rows_update([ids[1]], actor_label="mallory")
    err = StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("verify_audit", stdout=StringIO(), stderr=err)
    assert exc.value.code == 1
    assert err.getvalue().strip() == f"audit chain BROKEN at event {ids[1]}: changed after sealing"


def test_verify_audit_names_removed_event():
    """A sealed event deleted afterwards is reported as removed."""
    ids = _seed_events()
    call_command("seal_audit", stdout=StringIO())
    audit_rows_delete([ids[2]])
    err = StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("verify_audit", stdout=StringIO(), stderr=err)
    assert exc.value.code == 1
    assert f"event {ids[2]}: removed after sealing" in err.getvalue()


@pytest.mark.postgres
def test_postgres_trigger_refuses_update_without_tampering():
    """On PostgreSQL an ordinary UPDATE of an audit row is refused by the trigger."""
    from django.db import DatabaseError, transaction

    ids = _seed_events()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=ids[0]).update(action="nothing")


# --- insertions anywhere ---------------------------------------------------------------------


def _events(n: int) -> list[int]:
    with transaction.atomic():
        return [
            audit_record(actor=None, action="test.event", target_id=str(i)).pk for i in range(n)
        ]


def _verify_fails(*args: str) -> str:
    """Run verify_audit, expect exit status 1, return its stderr."""
    err = StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("verify_audit", *args, stdout=StringIO(), stderr=err)
    assert exc.value.code == 1
    return err.getvalue().strip()


def test_verify_audit_detects_forged_event_with_id_zero():
    """An event forged below the first sealed id (id 0) is reported as inserted."""
    ids = _events(3)
    call_command("seal_audit", stdout=StringIO())
    audit_row_forge(0, AuditEvent.objects.get(pk=ids[0]).occurred_at)
    assert _verify_fails() == "audit chain BROKEN at event 0: inserted after sealing"


def test_verify_audit_detects_event_inserted_inside_sealed_range():
    """A row forged into an id left free inside a sealed range is reported as inserted."""
    ids = _events(5)
    audit_rows_delete([ids[2]])  # the gap a rolled-back transaction leaves
    call_command("seal_audit", stdout=StringIO())
    audit_row_forge(ids[2], AuditEvent.objects.get(pk=ids[1]).occurred_at)
    assert _verify_fails() == f"audit chain BROKEN at event {ids[2]}: inserted after sealing"


def test_verify_audit_detects_event_inserted_above_the_last_sealed_event():
    """An id the database issued but never committed, above the last sealed event, is covered
    by the seal; a row forged there is reported as inserted."""
    ids = _events(4)
    audit_rows_delete([ids[-1]])  # the newest transaction rolled back
    call_command("seal_audit", stdout=StringIO())
    assert AuditSeal.objects.get().last_event_id == ids[-1]
    audit_row_forge(ids[-1], AuditEvent.objects.get(pk=ids[0]).occurred_at)
    assert _verify_fails() == f"audit chain BROKEN at event {ids[-1]}: inserted after sealing"


@pytest.mark.postgres
def test_verify_audit_detects_unsealed_event_with_an_id_never_issued():
    """On PostgreSQL an unsealed event above the sequence's high-water mark is forged."""
    ids = _events(3)
    call_command("seal_audit", stdout=StringIO())
    audit_row_forge(ids[-1] + 1000, AuditEvent.objects.get(pk=ids[0]).occurred_at)
    assert _verify_fails() == (
        f"audit chain BROKEN at event {ids[-1] + 1000}: inserted with an id never issued"
    )


def test_verify_audit_reports_seal_whose_range_disagrees_with_its_digests():
    """A seal's range is not hashed, so one shrunk below its own digests reads as altered."""
    _events(3)
    call_command("seal_audit", stdout=StringIO())
    seal = AuditSeal.objects.get()
    audit_seal_update(seal, last_event_id=seal.last_event_id - 1)
    assert _verify_fails() == f"audit chain BROKEN: seal {seal.pk} was altered"


# --- the anchor outside the database -----------------------------------------------------------


def _seal() -> str:
    out = StringIO()
    call_command("seal_audit", stdout=out)
    return out.getvalue()


@pytest.fixture
def anchor(tmp_path, settings, django_capture_on_commit_callbacks) -> Path:
    """Anchor file in a fresh directory; seal heads are written as the seals commit."""
    path = tmp_path / "anchor-dir" / "audit-anchor.jsonl"
    settings.REVIEWAPP_AUDIT_ANCHOR_FILE = str(path)
    return path


def _seal_committed(capture) -> None:
    with capture(execute=True):
        _seal()


def test_seal_audit_appends_one_head_per_seal_to_anchor_and_log(
    anchor, django_capture_on_commit_callbacks, caplog
):
    """Each seal's head goes to the anchor file (directory created) and the audit logger."""
    _events(3)
    with caplog.at_level(logging.INFO, logger="reviewapp.audit"):
        _seal_committed(django_capture_on_commit_callbacks)
        _events(2)
        _seal_committed(django_capture_on_commit_callbacks)
    seals = list(AuditSeal.objects.order_by("pk"))
    heads = [json.loads(line) for line in anchor.read_text().splitlines()]
    assert [h["seal_id"] for h in heads] == [s.pk for s in seals]
    assert heads[1] == {
        "seal_id": seals[1].pk,
        "first_event_id": seals[1].first_event_id,
        "last_event_id": seals[1].last_event_id,
        "hash": seals[1].hash,
        "events": 2,
        "sealed_at": seals[1].sealed_at.isoformat(),
    }
    logged = [r.audit_seal for r in caplog.records if hasattr(r, "audit_seal")]
    assert logged == heads


def test_verify_audit_with_anchor_passes_on_intact_log(anchor, django_capture_on_commit_callbacks):
    """An untouched log verifies against its anchor, and says how many heads matched."""
    ids = _events(3)
    _seal_committed(django_capture_on_commit_callbacks)
    _events(2)
    _seal_committed(django_capture_on_commit_callbacks)
    out = StringIO()
    call_command("verify_audit", "--anchor", str(anchor), stdout=out)
    assert out.getvalue().startswith(
        f"audit chain intact: 2 seals covering {len(ids) + 2} events (0 not yet sealed); "
        "anchor: 2 seal heads match"
    )


def test_cut_newest_seal_passes_alone_but_not_against_the_anchor(
    anchor, django_capture_on_commit_callbacks
):
    """Deleting the newest seal and its events leaves a chain that verifies on its own, but
    verify_audit --anchor exits 1 naming the missing seal and its range."""
    _events(3)
    _seal_committed(django_capture_on_commit_callbacks)
    _events(2)
    _seal_committed(django_capture_on_commit_callbacks)
    newest = AuditSeal.objects.order_by("-pk").first()
    audit_seal_cut(newest)
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("audit chain intact: 1 seal covering 3 events")
    assert _verify_fails("--anchor", str(anchor)) == (
        f"audit chain BROKEN: seal {newest.pk} (events {newest.first_event_id}-"
        f"{newest.last_event_id}) is in the anchor but not in the database"
    )


def test_verify_audit_anchor_names_a_seal_whose_hash_differs(
    anchor, django_capture_on_commit_callbacks
):
    """A seal in the database whose hash is not the anchored one is named."""
    _events(2)
    _seal_committed(django_capture_on_commit_callbacks)
    head = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**head, "hash": "f" * 64}) + "\n")
    assert _verify_fails("--anchor", str(anchor)) == (
        f"audit chain BROKEN: seal {head['seal_id']} (events {head['first_event_id']}-"
        f"{head['last_event_id']}) differs from the anchor (range or hash changed)"
    )


def test_verify_audit_anchor_that_is_missing_or_garbled_is_an_error(tmp_path):
    """A missing anchor file or a line that is not a seal head is a CommandError."""
    _events(1)
    _seal()
    with pytest.raises(CommandError, match="cannot read the anchor file"):
        call_command("verify_audit", "--anchor", str(tmp_path / "nope.jsonl"), stdout=StringIO())
    garbled = tmp_path / "garbled.jsonl"
    garbled.write_text('{"seal_id": 1}\n')
    with pytest.raises(CommandError, match="anchor line 1 is not a seal head"):
        call_command("verify_audit", "--anchor", str(garbled), stdout=StringIO())
