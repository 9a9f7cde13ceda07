"""Daily rollups: refresh is idempotent and equals a direct computation."""

from datetime import timedelta

from django.utils import timezone

from reviewapp.figures import HIST_BOUNDS_MS, band_of, bucket_of, hist_quantile
from reviewapp.models import AuditEvent, Case, CaseDailyRollup, Decision, DecisionDailyRollup
from reviewapp.services.rollups import (
    rollups_direct,
    rollups_dirty_days,
    rollups_missing_days,
    rollups_refresh,
    rollups_refresh_request,
)
from tests.factories import make_model, make_user
from tests.metrics_data import DAY, at, auto_approved_cases, decided_cases


def _rollup_totals(ml_model, day) -> dict:
    cases = CaseDailyRollup.objects.filter(ml_model=ml_model, day=day)
    decisions = DecisionDailyRollup.objects.filter(ml_model=ml_model, day=day)
    totals = {
        f: sum(getattr(r, f) for r in cases)
        for f in ("received", "auto_approved", "queued", "escalated", "sla_breached", "expired")
    }
    totals.update(
        {f: sum(getattr(r, f) for r in decisions) for f in ("decided", "accepted", "overridden")}
    )
    reasons: dict[str, int] = {}
    hist: dict[int, int] = {}
    for r in decisions:
        for code, n in r.override_reasons.items():
            reasons[code] = reasons.get(code, 0) + n
        for bound, n in r.time_to_decision_hist.items():
            hist[int(bound)] = hist.get(int(bound), 0) + n
    totals["override_reasons"] = reasons
    totals["time_to_decision_hist"] = hist
    return totals


def _mixed_day(ml_model, reviewer, other):
    decided_cases(ml_model, reviewer, accepts=5, overrides=2, reasons=["policy", "data_error"])
    decided_cases(ml_model, other, accepts=1, overrides=3, ttd_s=7200, blind=True)
    decided_cases(ml_model, other, accepts=2, label="legit", confidence=0.31, ttd_s=5)
    auto_approved_cases(ml_model, 4)
    escalated = auto_approved_cases(ml_model, 2)
    Case.objects.filter(pk__in=escalated).update(
        status="escalated", escalated_at=at(DAY, 10), escalation_source="sla"
    )


def test_band_of_matches_the_documented_bands():
    """Band is floor(confidence * 10) with 1.0 in band 9."""
    assert [band_of(c) for c in (0.0, 0.09, 0.1, 0.55, 0.79, 0.8, 0.99, 1.0)] == [
        0,
        0,
        1,
        5,
        7,
        8,
        9,
        9,
    ]


def test_hist_quantile_is_exact_at_bucket_bounds():
    """Values placed on bucket upper bounds give their exact nearest-rank quantiles."""
    values = list(HIST_BOUNDS_MS[20:30])  # ten distinct bounds
    hist: dict[int, int] = {}
    for v in values:
        hist[bucket_of(v)] = hist.get(bucket_of(v), 0) + 1
    assert hist_quantile(hist, 0.5) == values[4]
    assert hist_quantile(hist, 0.9) == values[8]
    assert hist_quantile({}, 0.5) is None


def test_hist_quantile_interpolates_within_one_bucket():
    """A quantile read from the histogram is within one bucket width of the exact value."""
    values = [1_500 + 137 * i for i in range(200)]
    hist: dict[int, int] = {}
    for v in values:
        hist[bucket_of(v)] = hist.get(bucket_of(v), 0) + 1
    exact = sorted(values)[99]
    assert abs(hist_quantile(hist, 0.5) - exact) / exact < 0.19


def test_refresh_equals_direct_computation(ml_model, reviewer):
    """The rollup rows of a day add up to the figures computed straight from the cases."""
    other = make_user("reviewer", team=ml_model.team)
    _mixed_day(ml_model, reviewer, other)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    direct = rollups_direct(ml_model=ml_model, day=DAY)
    rolled = _rollup_totals(ml_model, DAY)
    for key in ("received", "auto_approved", "queued", "escalated", "sla_breached", "expired"):
        assert rolled[key] == direct[key], key
    for key in ("decided", "accepted", "overridden", "override_reasons", "time_to_decision_hist"):
        assert rolled[key] == direct[key], key
    assert direct["decided"] == 13
    assert direct["override_reasons"] == {"policy": 1, "data_error": 1, "wrong_label": 3}
    assert direct["escalated"] == 2
    assert direct["received"] == 19


def test_refresh_is_idempotent(ml_model, reviewer):
    """Refreshing a day twice leaves exactly the same rows."""
    other = make_user("reviewer", team=ml_model.team)
    _mixed_day(ml_model, reviewer, other)

    def snapshot():
        cases = sorted(
            CaseDailyRollup.objects.values_list(
                "day",
                "model_version_id",
                "predicted_label",
                "confidence_band",
                "received",
                "auto_approved",
                "queued",
                "escalated",
                "sla_breached",
                "expired",
            )
        )
        decisions = sorted(
            (
                r.reviewer_id,
                r.predicted_label,
                r.confidence_band,
                r.was_blind,
                r.decided,
                r.accepted,
                r.overridden,
                sorted(r.override_reasons.items()),
                sorted(r.time_to_decision_hist.items()),
                sorted(r.time_spent_hist.items()),
                r.time_to_decision_ms_sum,
                r.time_spent_ms_sum,
            )
            for r in DecisionDailyRollup.objects.all()
        )
        return cases, decisions

    first = rollups_refresh(days=[DAY], ml_model=ml_model)
    before = snapshot()
    second = rollups_refresh(days=[DAY, DAY], ml_model=ml_model)
    assert snapshot() == before
    assert first == second
    assert first["decision_rows"] == DecisionDailyRollup.objects.count() == 3


def test_refresh_splits_rows_by_key(ml_model, reviewer):
    """Rows are split by reviewer, label, band and blindness, with exact sums."""
    decided_cases(ml_model, reviewer, accepts=3, ttd_s=30, spent_ms=4_000)
    decided_cases(ml_model, reviewer, overrides=1, blind=True, ttd_s=90, spent_ms=8_000)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    shown = DecisionDailyRollup.objects.get(was_blind=False)
    blind = DecisionDailyRollup.objects.get(was_blind=True)
    assert (shown.decided, shown.accepted, shown.confidence_band) == (3, 3, 5)
    assert shown.time_to_decision_ms_sum == 90_000
    assert shown.time_spent_ms_sum == 12_000
    assert shown.time_to_decision_hist == {str(bucket_of(30_000)): 3}
    assert (blind.overridden, blind.override_reasons) == (1, {"wrong_label": 1})


def test_refresh_drops_superseded_decisions(ml_model, reviewer):
    """A reopened (superseded) decision no longer counts after a refresh."""
    decisions = decided_cases(ml_model, reviewer, accepts=2)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    assert sum(r.decided for r in DecisionDailyRollup.objects.all()) == 2
    Decision.objects.filter(pk=decisions[0].pk).update(superseded_at=at(DAY, 12))
    rollups_refresh(days=[DAY], ml_model=ml_model)
    assert sum(r.decided for r in DecisionDailyRollup.objects.all()) == 1


def test_refresh_for_one_model_leaves_others_alone(ml_model, reviewer):
    """Refreshing one model does not delete another model's rows of the same day."""
    other_model = make_model(team=ml_model.team, slug="churn")
    decided_cases(ml_model, reviewer, accepts=1)
    decided_cases(other_model, reviewer, accepts=2)
    rollups_refresh(days=[DAY])
    rollups_refresh(days=[DAY], ml_model=ml_model)
    assert DecisionDailyRollup.objects.filter(ml_model=other_model).get().decided == 2


def test_refresh_marks_days_with_decisions_but_no_intake(ml_model, reviewer):
    """A day with decisions but no received cases still gets a (zero) case row."""
    case = decided_cases(ml_model, reviewer, accepts=1, ttd_s=30 * 3600)[0]
    decided_day = case.decided_at.date()
    assert decided_day != DAY
    rollups_refresh(days=[decided_day], ml_model=ml_model)
    marker = CaseDailyRollup.objects.get(day=decided_day)
    assert marker.received == 0
    assert DecisionDailyRollup.objects.get(day=decided_day).decided == 1


def test_missing_days_lists_only_days_with_data(ml_model, reviewer):
    """Days without rollups but with cases are missing; days with nothing are not."""
    decided_cases(ml_model, reviewer, accepts=1)
    period = {"date_from": DAY - timedelta(days=3), "date_to": DAY + timedelta(days=1)}
    assert rollups_missing_days(ml_models=[ml_model], **period) == [DAY]
    rollups_refresh(days=[DAY], ml_model=ml_model)
    assert rollups_missing_days(ml_models=[ml_model], **period) == []


def test_dirty_days_include_old_days_with_late_changes(ml_model, reviewer):
    """A case received days ago and decided since the last refresh makes its day dirty."""
    recent = decided_cases(ml_model, reviewer, accepts=1)[0]
    now = timezone.now()
    Case.objects.filter(pk=recent.case_id).update(
        created_at=now - timedelta(days=4), decided_at=now
    )
    days = rollups_dirty_days(since=now - timedelta(minutes=1))
    assert timezone.localdate(now - timedelta(days=4)) in days
    assert timezone.localdate(now) in days
    assert timezone.localdate(now - timedelta(days=3)) not in days


def test_refresh_request_is_audited(ml_model, manager, reviewer):
    """A manager's refresh request writes an audit event and refreshes short periods now."""
    decided_cases(ml_model, reviewer, accepts=2)
    mode = rollups_refresh_request(actor=manager, ml_models=[ml_model], date_from=DAY, date_to=DAY)
    assert mode == "done"
    assert DecisionDailyRollup.objects.get().decided == 2
    event = AuditEvent.objects.get(action="rollups.refresh_requested")
    assert event.actor == manager
    assert event.changes["days"] == 1


def test_refresh_task_refreshes_given_days(ml_model, reviewer):
    """The Celery task refreshes the days it is given (eager in tests)."""
    from reviewapp.tasks.metrics import rollups_refresh_task

    decided_cases(ml_model, reviewer, accepts=3)
    result = rollups_refresh_task.delay(days=[DAY.isoformat()], ml_model_id=ml_model.pk).get()
    assert result["decision_rows"] == 1
    assert DecisionDailyRollup.objects.get().accepted == 3


def test_sql_bucketing_and_banding_agree_with_python(ml_model, reviewer):
    """The vendor SQL for bands and histogram buckets agrees with the Python helpers."""
    for i, ttd in enumerate((0.2, 1, 3, 61, 3599, 36_001)):
        decided_cases(ml_model, reviewer, accepts=1, ttd_s=ttd, confidence=0.1 * i + 0.05)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    direct = rollups_direct(ml_model=ml_model, day=DAY)
    assert _rollup_totals(ml_model, DAY)["time_to_decision_hist"] == direct["time_to_decision_hist"]
    assert sorted(DecisionDailyRollup.objects.values_list("confidence_band", flat=True)) == [
        0,
        1,
        2,
        3,
        4,
        5,
    ]
