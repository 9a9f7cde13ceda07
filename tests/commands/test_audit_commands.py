"""seal_audit and verify_audit: exit statuses and messages that scripts rely on."""

from io import StringIO

import pytest
from django.core.management import call_command

from reviewapp.models import AuditEvent, AuditSeal
from tests.commands.tampering import audit_rows_delete, audit_rows_update
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
