"""``manage.py refresh_rollups``: the last days' rollups, for every model or one."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from reviewapp.models import BandDailyRollup, CaseDailyRollup
from tests.factories import make_model
from tests.selectors.health_data import cases_at


def test_refreshes_the_days_asked_for_every_model_or_one(ml_model, team):
    other = make_model(team=team, slug="second")
    three_days_ago = timezone.now() - timedelta(days=3)
    cases_at(ml_model, 3, confidence=0.4, created_at=three_days_ago)
    cases_at(other, 2, confidence=0.9, created_at=three_days_ago)
    day = timezone.localdate(three_days_ago)

    out = StringIO()
    call_command("refresh_rollups", "--days", "2", stdout=out)
    assert "refreshed 2 days" in out.getvalue()
    assert not BandDailyRollup.objects.filter(day=day).exists()  # not that far back

    call_command("refresh_rollups", "--days", "4", "--model", "second", stdout=StringIO())
    rows = BandDailyRollup.objects.filter(day=day).values_list("ml_model__slug", "received")
    assert set(rows) == {("second", 2)}
    call_command("refresh_rollups", "--days", "4", stdout=StringIO())
    assert (
        sum(
            CaseDailyRollup.objects.filter(day=day, ml_model=ml_model).values_list(
                "received", flat=True
            )
        )
        == 3
    )


def test_refuses_an_unknown_model_or_no_days(db):
    with pytest.raises(CommandError, match="No model"):
        call_command("refresh_rollups", "--model", "nope")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("refresh_rollups", "--days", "0")
