"""Adoption metrics and trust signals on hand-built scenarios with known answers."""

from datetime import timedelta

import pytest
from django.core.cache import cache

from reviewapp.figures import HIST_BOUNDS_MS
from reviewapp.selectors.metrics import (
    FLAG_FAST,
    FLAG_OVERRIDES,
    adoption_metrics,
)
from reviewapp.services.rollups import rollups_refresh
from tests.factories import make_model, make_user
from tests.metrics_data import DAY, auto_approved_cases, decided_cases


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _metrics(ml_model, days=(DAY,), **filters):
    rollups_refresh(days=list(days), ml_model=ml_model)
    return adoption_metrics(ml_models=[ml_model], date_from=min(days), date_to=max(days), **filters)


def test_seven_accepts_three_overrides(ml_model, reviewer):
    """7 accepts and 3 overrides give acceptance 0.7 and override 0.3."""
    decided_cases(ml_model, reviewer, accepts=7, overrides=3)
    m = _metrics(ml_model)
    assert (m["decided"], m["accepted"], m["overridden"]) == (10, 7, 3)
    assert m["acceptance_rate"] == 0.7
    assert m["override_rate"] == 0.3
    assert m["active_reviewers"] == 1


def test_override_reasons_are_counted(ml_model, reviewer):
    """Override reasons come back as code -> count, most frequent first."""
    decided_cases(
        ml_model,
        reviewer,
        overrides=6,
        reasons=["policy", "wrong_label", "wrong_label", "data_error", "wrong_label", "policy"],
    )
    m = _metrics(ml_model)
    assert m["override_reasons"] == {"wrong_label": 3, "policy": 2, "data_error": 1}
    assert list(m["override_reasons"]) == ["wrong_label", "policy", "data_error"]


def test_time_to_decision_percentiles_on_known_times(ml_model, reviewer):
    """p50/p90 of ten decisions on bucket bounds are the 5th and 9th values."""
    bounds_ms = HIST_BOUNDS_MS[40:50]
    for ms in bounds_ms:
        decided_cases(ml_model, reviewer, accepts=1, ttd_s=ms / 1000)
    m = _metrics(ml_model)
    assert m["time_to_decision_p50_s"] == round(bounds_ms[4] / 1000, 1)
    assert m["time_to_decision_p90_s"] == round(bounds_ms[8] / 1000, 1)
    assert m["time_to_decision_avg_s"] == round(sum(bounds_ms) / 10 / 1000, 1)


def test_percentiles_are_close_for_arbitrary_times(ml_model, reviewer):
    """For times off the bucket bounds the reported p50 is within a bucket of the truth."""
    for minutes in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29):
        decided_cases(ml_model, reviewer, accepts=1, ttd_s=minutes * 60)
    m = _metrics(ml_model)
    assert abs(m["time_to_decision_p50_s"] - 11 * 60) / (11 * 60) < 0.19
    assert abs(m["time_to_decision_p90_s"] - 23 * 60) / (23 * 60) < 0.19


def test_case_counts_and_share_sent_to_people(ml_model, reviewer):
    """Received counts auto-approved and queued cases; the share sent to people follows."""
    decided_cases(ml_model, reviewer, accepts=2)
    auto_approved_cases(ml_model, 6)
    m = _metrics(ml_model)
    assert (m["received"], m["auto_approved"], m["queued"]) == (8, 6, 2)
    assert m["sent_to_people_rate"] == 0.25


def test_blind_versus_shown_agreement_gap(ml_model, reviewer):
    """Agreement 80% when shown and 50% blind gives a gap of +0.3, per reviewer and overall."""
    decided_cases(ml_model, reviewer, accepts=8, overrides=2)
    decided_cases(ml_model, reviewer, accepts=5, overrides=5, blind=True)
    m = _metrics(ml_model)
    trust = m["trust"]
    assert (trust["shown_accept_rate"], trust["blind_accept_rate"]) == (0.8, 0.5)
    assert trust["agreement_gap"] == 0.3
    row = m["by_reviewer"][0]
    assert (row["shown_decided"], row["blind_decided"]) == (10, 10)
    assert row["agreement_gap"] == 0.3


def test_rubber_stamp_flag_on_fast_accepter(ml_model, team):
    """A reviewer accepting in a tenth of the peers' time is flagged; peers are not."""
    fast, peer1, peer2 = (make_user("reviewer", team=team) for _ in range(3))
    decided_cases(ml_model, fast, accepts=25, spent_ms=2_000)
    for peer in (peer1, peer2):
        decided_cases(ml_model, peer, accepts=20, overrides=5, spent_ms=20_000)
    rows = {r["reviewer_id"]: r for r in _metrics(ml_model)["by_reviewer"]}
    assert rows[fast.pk]["flags"] == [FLAG_FAST]
    assert rows[peer1.pk]["flags"] == []
    assert rows[peer2.pk]["flags"] == []


def test_rubber_stamp_needs_a_minimum_sample(ml_model, team):
    """Too few decisions never raise a flag, however fast."""
    fast, peer = make_user("reviewer", team=team), make_user("reviewer", team=team)
    decided_cases(ml_model, fast, accepts=5, spent_ms=1_000)
    decided_cases(ml_model, peer, accepts=40, spent_ms=30_000)
    rows = {r["reviewer_id"]: r for r in _metrics(ml_model)["by_reviewer"]}
    assert rows[fast.pk]["flags"] == []


def test_distrust_flag_on_frequent_overrider(ml_model, team):
    """Overriding 60% against peers' 10% is flagged; 12% against 10% is not."""
    heavy, mild, peer = (make_user("reviewer", team=team) for _ in range(3))
    decided_cases(ml_model, heavy, accepts=10, overrides=15)
    decided_cases(ml_model, mild, accepts=22, overrides=3)
    decided_cases(ml_model, peer, accepts=90, overrides=10)
    rows = {r["reviewer_id"]: r for r in _metrics(ml_model)["by_reviewer"]}
    assert rows[heavy.pk]["flags"] == [FLAG_OVERRIDES]
    assert rows[mild.pk]["flags"] == []
    assert rows[peer.pk]["flags"] == []


def test_daily_rows_cover_every_day_of_the_period(ml_model, reviewer):
    """One daily row per day, zeros on days without data, with the same counts."""
    decided_cases(ml_model, reviewer, accepts=3, overrides=1)
    day2 = DAY + timedelta(days=2)
    decided_cases(ml_model, reviewer, accepts=1, day=day2)
    m = _metrics(ml_model, days=(DAY, DAY + timedelta(days=1), day2))
    assert [r["date"] for r in m["daily"]] == [
        DAY.isoformat(),
        (DAY + timedelta(days=1)).isoformat(),
        day2.isoformat(),
    ]
    assert [r["decided"] for r in m["daily"]] == [4, 0, 1]
    assert m["daily"][0]["override_rate"] == 0.25
    assert m["daily"][1]["acceptance_rate"] is None


def test_filters_by_version_label_band_and_reviewer(ml_model, team, reviewer):
    """Each filter narrows the figures to its slice."""
    other = make_user("reviewer", team=team)
    decided_cases(ml_model, reviewer, accepts=4, model_version="2.3.0", confidence=0.55)
    decided_cases(ml_model, other, overrides=2, model_version="2.4.0", confidence=0.35)
    decided_cases(ml_model, other, accepts=1, label="legit", confidence=0.65)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    period = {"ml_models": [ml_model], "date_from": DAY, "date_to": DAY}
    assert adoption_metrics(**period)["decided"] == 7
    assert adoption_metrics(**period, model_version="2.4.0")["decided"] == 2
    assert adoption_metrics(**period, label="legit")["decided"] == 1
    assert adoption_metrics(**period, band=5)["decided"] == 4
    by_reviewer = adoption_metrics(**period, reviewer=other)
    assert (by_reviewer["decided"], by_reviewer["overridden"]) == (3, 2)
    assert adoption_metrics(**period, model_version="9.9.9")["decided"] == 0


def test_breakdowns_by_version_label_and_band(ml_model, reviewer):
    """Per-version, per-label and per-band rows carry exact counts."""
    decided_cases(ml_model, reviewer, accepts=3, model_version="2.3.0", confidence=0.55)
    decided_cases(ml_model, reviewer, overrides=1, model_version="2.4.0", confidence=0.75)
    m = _metrics(ml_model)
    versions = {
        r["version"]: (r["received"], r["decided"], r["overridden"]) for r in m["by_version"]
    }
    assert versions == {"2.3.0": (3, 3, 0), "2.4.0": (1, 1, 1)}
    bands = {r["band_index"]: r["decided"] for r in m["by_band"]}
    assert bands == {5: 3, 7: 1}
    assert [r["band_index"] for r in m["by_band"]] == [7, 5]
    assert m["by_label"][0]["label"] == "fraud"


def test_several_models_add_up(ml_model, reviewer):
    """Metrics over two models are the sum of each."""
    other_model = make_model(team=ml_model.team, slug="chargebacks")
    decided_cases(ml_model, reviewer, accepts=2)
    decided_cases(other_model, reviewer, overrides=2)
    rollups_refresh(days=[DAY])
    m = adoption_metrics(ml_models=[ml_model, other_model], date_from=DAY, date_to=DAY)
    assert (m["decided"], m["accepted"], m["overridden"]) == (4, 2, 2)
    assert {r["version"] for r in m["by_version"]} == {
        "fraud-screening@2.3.0",
        "chargebacks@2.3.0",
    }


def test_new_refresh_replaces_cached_figures(ml_model, reviewer):
    """Figures are cached per day until that day is refreshed again."""
    decided_cases(ml_model, reviewer, accepts=2)
    assert _metrics(ml_model)["decided"] == 2
    decided_cases(ml_model, reviewer, accepts=3)
    period = {"ml_models": [ml_model], "date_from": DAY, "date_to": DAY}
    assert adoption_metrics(**period)["decided"] == 2  # not refreshed yet: cached rollups
    rollups_refresh(days=[DAY], ml_model=ml_model)
    assert adoption_metrics(**period)["decided"] == 5


def test_warm_read_takes_few_queries(ml_model, reviewer, django_assert_max_num_queries):
    """A cached 30-day read costs a handful of queries, whatever the data size."""
    for i in range(5):
        decided_cases(ml_model, reviewer, accepts=2, day=DAY + timedelta(days=i))
    days = [DAY + timedelta(days=i) for i in range(30)]
    rollups_refresh(days=days, ml_model=ml_model)
    period = {"ml_models": [ml_model], "date_from": days[0], "date_to": days[-1]}
    adoption_metrics(**period)
    with django_assert_max_num_queries(3):
        m = adoption_metrics(**period)
    assert m["decided"] == 10


def test_empty_period_gives_zeros_and_no_rates(ml_model):
    """A period without data answers zeros, None rates and a full daily series."""
    m = adoption_metrics(ml_models=[ml_model], date_from=DAY, date_to=DAY + timedelta(days=6))
    assert m["decided"] == 0
    assert m["acceptance_rate"] is None
    assert m["time_to_decision_p50_s"] is None
    assert len(m["daily"]) == 7
    assert m["by_reviewer"] == []
