"""The issue-10 tripwires: accuracy drop against the window before, override-rate rise (with
the minimum-sample and Wilson rule), volume drop / silence and the predicted-label mix PSI.
Each trips once per episode and clears itself, audited. Time travel: rows are back-dated."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from reviewapp.errors import InvalidInput
from reviewapp.models import Alert, AuditEvent, Case, MLModel, TripwireAction, TripwireKind
from reviewapp.selectors.health import label_mix_psi
from reviewapp.services.health import tripwire_create, tripwire_measure, tripwires_check
from tests.selectors.health_data import cases_at, decide

N = 300  # decisions per window for the accuracy must-show


def _tripwire(ml_model, actor, kind, threshold, **kw):
    return tripwire_create(ml_model=ml_model, actor=actor, kind=kind, threshold=threshold, **kw)


def _decided(ml_model, reviewer, n, *, overrides, days_ago):
    """``n`` decided cases, the first ``overrides`` overridden, decided ``days_ago`` days ago."""
    decide(
        cases_at(ml_model, n, confidence=0.6),
        reviewer=reviewer,
        overrides=overrides,
        decided_at=timezone.now() - timedelta(days=days_ago),
    )


def _open_alerts(tripwire):
    return Alert.objects.filter(tripwire=tripwire, resolved_at__isnull=True).count()


@pytest.mark.parametrize(("recent_overrides", "trips"), [(24, True), (12, False)])
def test_accuracy_drop_suspends_on_six_points_not_on_two(
    ml_model, manager, reviewer, recent_overrides, trips
):
    """98% -> 92% (6 points, 300 decisions each) trips a 0.05 suspend tripwire and suspends
    automation; 98% -> 96% (2 points, same sample) does not."""
    tripwire = _tripwire(
        ml_model,
        manager,
        TripwireKind.ACCURACY_DROP_FROM_BASELINE,
        0.05,
        window_days=7,
        action=TripwireAction.SUSPEND,
    )
    _decided(ml_model, reviewer, N, overrides=6, days_ago=10)
    _decided(ml_model, reviewer, N, overrides=recent_overrides, days_ago=1)
    measurement = tripwire_measure(tripwire)
    assert measurement.tripped is trips
    assert measurement.value == pytest.approx(recent_overrides / N - 6 / N)
    assert tripwires_check()["raised"] == int(trips)
    ml_model.refresh_from_db()
    assert (ml_model.automation_suspended_at is not None) is trips
    assert _open_alerts(tripwire) == int(trips)


def test_accuracy_drop_fires_once_and_clears_itself_when_accuracy_recovers(
    ml_model, manager, reviewer
):
    """One alert per episode however often checked; more good decisions clear it (audited)."""
    tripwire = _tripwire(ml_model, manager, TripwireKind.ACCURACY_DROP_FROM_BASELINE, 0.05)
    _decided(ml_model, reviewer, N, overrides=6, days_ago=10)
    _decided(ml_model, reviewer, N, overrides=24, days_ago=1)
    assert tripwires_check()["raised"] == 1
    assert tripwires_check()["raised"] == 0
    assert Alert.objects.filter(tripwire=tripwire).count() == 1
    # 300 more accepts this week: 576/600 = 96%, a 2-point drop
    _decided(ml_model, reviewer, N, overrides=0, days_ago=1)
    assert tripwires_check()["resolved"] == 1
    assert _open_alerts(tripwire) == 0
    [event] = AuditEvent.objects.filter(action="alert.resolved")
    assert event.changes["reason"].startswith("cleared")
    assert event.changes["kind"] == "accuracy_drop_from_baseline"


def test_accuracy_drop_needs_the_minimum_sample(ml_model, manager, reviewer, settings):
    """A 100% -> 50% drop on 20 decisions is not measured below the minimum sample of 30."""
    settings.REVIEWAPP_TRIPWIRE_MIN_SAMPLE = 30
    tripwire = _tripwire(ml_model, manager, TripwireKind.ACCURACY_DROP_FROM_BASELINE, 0.05)
    _decided(ml_model, reviewer, 20, overrides=0, days_ago=10)
    _decided(ml_model, reviewer, 20, overrides=10, days_ago=1)
    measurement = tripwire_measure(tripwire)
    assert (measurement.tripped, measurement.value) == (False, None)
    assert "needs 30" in measurement.message


def test_override_rate_rise_fires_once_and_clears(ml_model, manager, reviewer):
    """10% -> 50% overrides (40 decisions each) trips a 5-point tripwire once; a week later
    with no rise against the bad week it clears."""
    tripwire = _tripwire(ml_model, manager, TripwireKind.OVERRIDE_RATE_RISE, 5, window_days=7)
    _decided(ml_model, reviewer, 40, overrides=4, days_ago=10)
    _decided(ml_model, reviewer, 40, overrides=20, days_ago=1)
    measurement = tripwire_measure(tripwire)
    assert measurement.tripped
    assert measurement.value == pytest.approx(40.0)
    assert tripwires_check()["raised"] == 1
    assert tripwires_check()["raised"] == 0
    later = timezone.now() + timedelta(days=7)
    _decided(ml_model, reviewer, 40, overrides=8, days_ago=-6)
    assert tripwires_check(now=later)["resolved"] == 1
    assert Alert.objects.filter(tripwire=tripwire).count() == 1


def test_override_rate_rise_within_noise_does_not_fire(ml_model, manager, reviewer):
    """10% -> 17.5% on 40 decisions is 7.5 points over a 5-point limit, but the Wilson
    intervals overlap: no alert."""
    tripwire = _tripwire(ml_model, manager, TripwireKind.OVERRIDE_RATE_RISE, 5, window_days=7)
    _decided(ml_model, reviewer, 40, overrides=4, days_ago=10)
    _decided(ml_model, reviewer, 40, overrides=7, days_ago=1)
    measurement = tripwire_measure(tripwire)
    assert measurement.value == pytest.approx(7.5)
    assert not measurement.tripped
    assert "overlap" in measurement.message
    assert tripwires_check()["raised"] == 0


def _back_date(case_ids, when):
    Case.objects.filter(pk__in=case_ids).update(created_at=when)


def test_volume_drop_fires_when_the_model_goes_silent_and_clears(ml_model, manager):
    """48 cases a day, none for five hours: silent (10 expected); a case arriving clears it."""
    tripwire = _tripwire(ml_model, manager, TripwireKind.VOLUME_DROP, 0.2, window_days=1)
    now = timezone.now()
    _back_date(cases_at(ml_model, 48, confidence=0.9), now - timedelta(hours=5))
    measurement = tripwire_measure(tripwire, now=now)
    assert measurement.tripped
    assert measurement.value == 0.0
    assert "No case for 5.0 hours" in measurement.message
    assert tripwires_check(now=now)["raised"] == 1
    assert tripwires_check(now=now)["raised"] == 0
    cases_at(ml_model, 2, confidence=0.9)
    later = timezone.now() + timedelta(seconds=1)
    assert not tripwire_measure(tripwire, now=later).tripped
    assert tripwires_check(now=later)["resolved"] == 1
    assert _open_alerts(tripwire) == 0


def test_volume_drop_on_a_low_hour_but_not_a_normal_one(ml_model, manager):
    """At 10 an hour, 1 case in the last hour (10%) trips a 0.2 limit; 10 cases do not."""
    tripwire = _tripwire(ml_model, manager, TripwireKind.VOLUME_DROP, 0.2, window_days=1)
    now = timezone.now()
    _back_date(cases_at(ml_model, 240, confidence=0.9), now - timedelta(hours=10))
    _back_date(cases_at(ml_model, 1, confidence=0.9), now - timedelta(minutes=30))
    low = tripwire_measure(tripwire, now=now)
    assert low.tripped
    assert low.value == pytest.approx(0.1)
    _back_date(cases_at(ml_model, 9, confidence=0.9), now - timedelta(minutes=20))
    normal = tripwire_measure(tripwire, now=now)
    assert not normal.tripped
    assert normal.value == pytest.approx(1.0)


def test_volume_drop_stays_quiet_for_a_model_that_was_never_busy(ml_model, manager):
    """Two cases a day: five quiet hours are expected (under 5 cases), no alert."""
    tripwire = _tripwire(ml_model, manager, TripwireKind.VOLUME_DROP, 0.2, window_days=1)
    now = timezone.now()
    _back_date(cases_at(ml_model, 2, confidence=0.9), now - timedelta(hours=5))
    assert not tripwire_measure(tripwire, now=now).tripped


def _mix(ml_model, fraud, legit, when):
    _back_date(cases_at(ml_model, fraud, confidence=0.9, label="fraud"), when)
    _back_date(cases_at(ml_model, legit, confidence=0.9, label="legit"), when)


def test_label_mix_psi_fires_on_a_shifted_mix_once(ml_model, manager):
    """50/50 last week, 87.5/12.5 this week: PSI about 0.73 > 0.2 trips, once."""
    tripwire = _tripwire(ml_model, manager, TripwireKind.LABEL_MIX_PSI, 0.2, window_days=7)
    now = timezone.now()
    _mix(ml_model, 40, 40, now - timedelta(days=10))
    _mix(ml_model, 70, 10, now - timedelta(days=1))
    measurement = tripwire_measure(tripwire, now=now)
    assert measurement.tripped
    assert measurement.value == pytest.approx(label_mix_psi({"a": 1, "b": 1}, {"a": 7, "b": 1}))
    assert measurement.value > 0.7
    assert tripwires_check(now=now)["raised"] == 1
    assert tripwires_check(now=now)["raised"] == 0
    assert Alert.objects.filter(tripwire=tripwire).count() == 1


def test_label_mix_psi_stays_quiet_on_a_stable_mix(ml_model, manager):
    """50/50 then 45/55: PSI about 0.01, no alert."""
    tripwire = _tripwire(ml_model, manager, TripwireKind.LABEL_MIX_PSI, 0.2, window_days=7)
    now = timezone.now()
    _mix(ml_model, 40, 40, now - timedelta(days=10))
    _mix(ml_model, 36, 44, now - timedelta(days=1))
    measurement = tripwire_measure(tripwire, now=now)
    assert not measurement.tripped
    assert measurement.value < 0.02
    assert tripwires_check(now=now)["raised"] == 0


def test_label_mix_psi_counts_new_labels_as_other():
    """A label unseen in the baseline lands in "(other)", which had no share: a large PSI."""
    assert label_mix_psi({"fraud": 50}, {"fraud": 50}) == pytest.approx(0.0)
    assert label_mix_psi({"fraud": 50}, {"fraud": 25, "spam": 25}) > 1
    assert label_mix_psi({}, {"fraud": 1}) is None


def test_new_kinds_validate_thresholds(ml_model, manager):
    """A volume ratio above 1 and a negative drop are 400s naming the threshold."""
    for kind, bad in [
        (TripwireKind.VOLUME_DROP, 2),
        (TripwireKind.ACCURACY_DROP_FROM_BASELINE, -0.1),
        (TripwireKind.LABEL_MIX_PSI, 11),
    ]:
        with pytest.raises(InvalidInput) as exc:
            _tripwire(ml_model, manager, kind, bad)
        assert "threshold" in exc.value.details
    assert not ml_model.tripwires.exists()


def test_health_page_offers_the_new_kinds(ml_model: MLModel, manager):
    """The tripwire form lists the new kinds and creates one."""
    client = Client()
    client.force_login(manager)
    page = client.get(f"/dashboards/health/?model={ml_model.slug}").content.decode()
    for kind in ("accuracy_drop_from_baseline", "volume_drop", "label_mix_psi"):
        assert f'value="{kind}"' in page
    response = client.post(
        f"/dashboards/health/{ml_model.slug}/tripwires/",
        {"kind": "label_mix_psi", "threshold": "0.2", "window_days": "7", "action": "alert"},
    )
    assert response.status_code == 302
    assert ml_model.tripwires.get().kind == TripwireKind.LABEL_MIX_PSI
