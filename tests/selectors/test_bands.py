"""Per-band figures over a period: band rollups for the days refreshed, the rest counted live,
and the same answer as counting everything from cases and decisions."""

from datetime import date, datetime, timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from reviewapp.models import BandDailyRollup, CaseDailyRollup, Decision
from reviewapp.selectors.bands import band_rows, band_rows_between, day_bounds, live_ranges
from reviewapp.selectors.calibration import bands_of_rows, calibration_report, fine_bands
from reviewapp.selectors.health import accuracy_of_bands
from reviewapp.selectors.versions import version_figures
from reviewapp.services.rollups import rollups_dirty_days, rollups_refresh
from tests.selectors.health_data import cases_at, decide

TODAY = date(2026, 3, 10)


def _at(day: date, hour: int) -> datetime:
    return day_bounds(day)[0] + timedelta(hours=hour)


def test_live_ranges_leave_the_rolled_up_days_out():
    """Days without a rollup are counted whole (consecutive ones merged); a day refreshed
    before it ended from its refresh on; a day refreshed after it ended not at all."""
    d = [TODAY - timedelta(days=i) for i in range(5, -1, -1)]  # d[0] .. d[5] == TODAY
    refreshed = {
        d[2]: day_bounds(d[2])[1] + timedelta(minutes=3),  # refreshed after its end
        d[4]: _at(d[4], 23),  # refreshed an hour before its end
        d[5]: _at(d[5], 9),  # today, refreshed at 9:00
    }
    assert live_ranges(refreshed, d[0], d[5]) == [
        (day_bounds(d[0])[0], day_bounds(d[1])[1]),  # d0 and d1 merged
        day_bounds(d[3]),
        (_at(d[4], 23), day_bounds(d[4])[1]),
        (_at(d[5], 9), day_bounds(d[5])[1]),
    ]
    assert live_ranges({}, d[5], d[4]) == []


def _direct(ml_model, date_from: date) -> dict:
    """Per (version, label, band) from cases and decisions, with the ORM (the oracle)."""
    start, end = day_bounds(date_from)[0], day_bounds(timezone.localdate())[1]
    out: dict = {}
    for case in ml_model.cases.filter(created_at__gte=start, created_at__lt=end):
        key = (case.model_version_id, case.predicted_label, min(int(case.confidence * 20), 19))
        row = out.setdefault(key, [0, 0, 0, 0])
        row[0] += 1
        row[1] += case.status == "auto_approved"
    current = Decision.objects.filter(
        ml_model=ml_model, superseded_at__isnull=True, decided_at__gte=start, decided_at__lt=end
    ).select_related("case")
    for decision in current:
        case = decision.case
        key = (case.model_version_id, case.predicted_label, min(int(case.confidence * 20), 19))
        row = out.setdefault(key, [0, 0, 0, 0])
        row[2] += 1
        row[3] += decision.action == "accept"
    return out


def _as_dict(rows) -> dict:
    return {
        (r.version_id, r.label, r.band): [r.received, r.auto_approved, r.decided, r.accepted]
        for r in rows
    }


@pytest.fixture
def history(ml_model, reviewer):
    """Cases and decisions over four days (today included), two versions, two labels."""
    today = timezone.localdate()
    now = timezone.now()
    for back, confidence, label, version in (
        (3, 0.42, "fraud", "1.0.0"),
        (3, 0.97, "legit", "1.0.0"),
        (2, 0.66, "fraud", "2.0.0"),
        (1, 0.81, "legit", "2.0.0"),
    ):
        when = _at(today - timedelta(days=back), 10)
        ids = cases_at(
            ml_model, 6, confidence=confidence, label=label, model_version=version, created_at=when
        )
        decide(ids[:4], reviewer=reviewer, overrides=1, decided_at=when + timedelta(hours=2))
    ids = cases_at(ml_model, 5, confidence=0.55, created_at=now - timedelta(minutes=30))
    decide(ids[:3], reviewer=reviewer, overrides=2, decided_at=now - timedelta(minutes=20))
    return ml_model


def test_band_rows_equal_the_direct_count_with_or_without_rollups(history, reviewer):
    """No rollup, every day rolled up, and rolled up then more cases and decisions today:
    the period's figures are the direct count each time, nothing counted twice."""
    date_from = timezone.localdate() - timedelta(days=3)
    today = timezone.localdate()

    def figures():
        return _as_dict(band_rows(history, date_from=date_from, date_to=today))

    assert figures() == _direct(history, date_from)
    assert not BandDailyRollup.objects.exists()
    # Stamped after the refresh starts (a transaction committing late): the rollup stops at
    # its refresh time and the live count takes it from there, so it counts once.
    cases_at(history, 1, confidence=0.3, created_at=timezone.now() + timedelta(minutes=2))
    rollups_refresh(days=[date_from + timedelta(days=i) for i in range(4)])
    assert BandDailyRollup.objects.filter(day=today).exists()
    assert figures() == _direct(history, date_from)
    # After the refresh: new cases and decisions today are counted live, once.
    later = cases_at(history, 4, confidence=0.91, label="legit")
    decide(later[:2], reviewer=reviewer, overrides=1)
    assert figures() == _direct(history, date_from)
    # A day whose rollup is gone (before the band rollups existed) is counted live.
    BandDailyRollup.objects.filter(day=today - timedelta(days=2)).delete()
    assert figures() == _direct(history, date_from)
    rollups_refresh(days=[today])
    assert figures() == _direct(history, date_from)


def test_health_figures_from_rollups_equal_the_live_ones(history, reviewer):
    """Accuracy and calibration bands read from the band rows match the ones counted from
    cases and decisions (``fine_bands``, the go-live page's path, and the ORM)."""
    today = timezone.localdate()
    date_from = today - timedelta(days=3)
    start = day_bounds(date_from)[0]
    rollups_refresh(days=[date_from + timedelta(days=i) for i in range(4)])
    decide(cases_at(history, 3, confidence=0.73), reviewer=reviewer, overrides=1)
    rows = band_rows(history, date_from=date_from, date_to=today)

    rolled = accuracy_of_bands(history, rows)
    assert (rolled.overall.decided, rolled.overall.correct) == (22, 15)
    current = Decision.objects.filter(ml_model=history, superseded_at__isnull=True)
    by_version = {}
    for d in current.select_related("case__model_version"):
        n, right = by_version.get(d.case.model_version.version, (0, 0))
        by_version[d.case.model_version.version] = (n + 1, right + (d.action == "accept"))
    assert {r.key: (r.decided, r.correct) for r in rolled.by_version} == by_version
    assert sum(r.decided for r in rolled.by_label) == 22

    end = timezone.now() + timedelta(minutes=1)
    direct = fine_bands(history, start=start, end=end, always_review_labels=["legit"])
    from_rows = bands_of_rows(rows, always_review_labels=["legit"])
    fields = ("received", "always_review", "decided", "correct")
    assert [[getattr(b, f) for f in fields] for b in from_rows] == [
        [getattr(b, f) for f in fields] for b in direct
    ]
    assert sum(b.always_review for b in from_rows) == 12  # the legit cases: 6 + 6
    assert [b.confidence_sum for b in from_rows] == pytest.approx(
        [b.confidence_sum for b in direct]
    )
    report = calibration_report(
        history, start=start, end=end, target_error_rate=0.3, band_figures=rows
    )
    assert report.decided == 22


def test_rolling_windows_count_to_the_second(history, reviewer):
    """A window that starts and ends inside days (the tripwires'): whole days from the
    rollups, the part days at the edges live, the total the direct count."""
    rollups_refresh(days=[timezone.localdate() - timedelta(days=i) for i in range(4)])
    decide(cases_at(history, 3, confidence=0.6), reviewer=reviewer)  # after the refresh
    cases_at(history, 2, confidence=0.6, created_at=timezone.now() + timedelta(minutes=3))
    today = timezone.localdate()
    now = timezone.now()
    for start, end in (
        (_at(today - timedelta(days=3), 11), now),  # after the day-3 cases; not the later ones
        (_at(today - timedelta(days=3), 9), _at(today - timedelta(days=1), 11)),
        (day_bounds(today - timedelta(days=3))[0], day_bounds(today)[0]),  # midnight to midnight
        (day_bounds(today)[0], now),  # today from its start: its rollup and the minutes since
        (_at(today - timedelta(days=2), 9), _at(today - timedelta(days=2), 11)),  # < a day
    ):
        rows = band_rows_between(history, start=start, end=end)
        received = history.cases.filter(created_at__gte=start, created_at__lt=end).count()
        decided = Decision.objects.filter(
            ml_model=history, decided_at__gte=start, decided_at__lt=end
        ).count()
        assert (sum(r.received for r in rows), sum(r.decided for r in rows)) == (
            received,
            decided,
        )
    assert sum(r.received for r in rows) == 6  # the day-2 cases, received at 10:00


def test_a_window_ending_now_reads_todays_rollup(history):
    """Today's rollup, refreshed before the window's end, is read (a figure planted in it
    shows); a window that ended before the refresh counts the day live instead."""
    today = timezone.localdate()
    before_refresh = timezone.now()
    rollups_refresh(days=[today])
    start = day_bounds(today)[0]
    counted = sum(r.received for r in band_rows_between(history, start=start, end=timezone.now()))
    BandDailyRollup.objects.filter(day=today).update(received=F("received") + 100)
    planted = band_rows_between(history, start=start, end=timezone.now())
    assert sum(r.received for r in planted) == counted + 100 * len(planted)
    earlier = band_rows_between(history, start=start, end=before_refresh)
    assert (
        sum(r.received for r in earlier)
        == history.cases.filter(created_at__gte=start, created_at__lt=before_refresh).count()
    )


def test_version_figures_cover_all_time(history, reviewer):
    """The model page's versions count every case and current decision, rolled up or not."""
    rollups_refresh(days=[timezone.localdate() - timedelta(days=3)])
    decide(cases_at(history, 2, confidence=0.9, model_version="1.0.0"), reviewer=reviewer)
    figures = {row.version.version: row for row in version_figures(history)}
    assert (figures["1.0.0"].received, figures["1.0.0"].decided) == (14, 10)
    assert (figures["1.0.0"].accepted, figures["1.0.0"].correct) == (8, 8)
    total = sum(row.received for row in figures.values())
    assert total == history.cases.count()
    assert (
        sum(row.decided for row in figures.values())
        == Decision.objects.filter(ml_model=history).count()
    )


def test_beat_backfills_days_rolled_up_before_band_rollups(history):
    """Days with case rollups but no band rollups are handed to the beat's refresh, newest
    first, a bounded number per run."""
    today = timezone.localdate()
    days = [today - timedelta(days=i) for i in range(4)]
    rollups_refresh(days=days)
    assert CaseDailyRollup.objects.filter(day=days[3]).exists()
    BandDailyRollup.objects.filter(day__in=days[2:]).delete()
    since = timezone.now()
    assert {days[2], days[3]} <= set(rollups_dirty_days(since=since))
    rollups_refresh(days=rollups_dirty_days(since=since))
    assert BandDailyRollup.objects.filter(day=days[3]).exists()
    assert not {days[2], days[3]} & set(rollups_dirty_days(since=timezone.now()))
