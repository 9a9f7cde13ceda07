"""Model health reads: Wilson intervals, live accuracy, PSI and drift against a baseline."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.selectors.health import (
    PSI_EPSILON,
    accuracy_report,
    categorical_distribution,
    drift_report,
    numeric_distribution,
    psi,
    psi_status,
    wilson_interval,
)
from reviewapp.services.health import baseline_create
from tests.factories import make_model
from tests.selectors.health_data import cases_at, decide


def _psi_by_hand(expected, actual, eps=PSI_EPSILON):
    return sum(
        (max(a, eps) - max(e, eps)) * math.log(max(a, eps) / max(e, eps))
        for e, a in zip(expected, actual, strict=True)
    )


def test_wilson_interval_known_values():
    """Wilson 95%: 7/10 is (0.3968, 0.8922), 0/10 (0, 0.2775), 50/100 (0.4038, 0.5962)."""
    low, high = wilson_interval(7, 10)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)
    low, high = wilson_interval(0, 10)
    assert (round(low, 4), round(high, 4)) == (0.0, 0.2775)
    low, high = wilson_interval(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_psi_of_two_known_distributions():
    """PSI equals sum((a - e) * ln(a / e)) computed by hand."""
    expected = [0.5, 0.3, 0.2]
    actual = [0.3, 0.3, 0.4]
    by_hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + 0 + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert psi(expected, actual) == pytest.approx(by_hand, abs=1e-12)
    assert psi(expected, actual) == pytest.approx(0.2408, abs=1e-4)
    assert psi(expected, expected) == 0


def test_psi_smooths_empty_bins_with_epsilon():
    """An empty bin counts as epsilon, so PSI stays finite."""
    expected = [0.5, 0.5, 0.0]
    actual = [0.4, 0.4, 0.2]
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) * 2 + (0.2 - PSI_EPSILON) * math.log(
        0.2 / PSI_EPSILON
    )
    assert psi(expected, actual) == pytest.approx(by_hand, abs=1e-12)


def test_psi_status_bands():
    """Below 0.1 stable, 0.1 to 0.2 moderate, above 0.2 significant."""
    assert [psi_status(v) for v in (0.05, 0.1, 0.2, 0.21, None)] == [
        "stable",
        "moderate",
        "moderate",
        "significant",
        "unknown",
    ]


def test_numeric_distribution_uses_ten_quantile_bins_from_the_baseline():
    """1..100 splits into ten bins of ten values; non-numbers go to the missing share."""
    dist = numeric_distribution([*range(1, 101)])
    assert len(dist["edges"]) == 9
    assert dist["edges"][0] == pytest.approx(10.9)
    assert dist["shares"] == pytest.approx([0.1] * 10 + [0.0])
    with_missing = numeric_distribution([1, 2, 3, None])
    assert with_missing["shares"][-1] == pytest.approx(0.25)


def test_categorical_distribution_has_other_and_missing_buckets():
    """Top categories keep their share; the rest is "(other)", None is "(missing)"."""
    dist = categorical_distribution(["DE"] * 5 + ["FR"] * 3 + [None] * 2, top=1)
    assert dist["categories"] == ["DE"]
    assert dist["shares"] == pytest.approx([0.5, 0.3, 0.2])


def test_accuracy_seven_of_ten_per_version_and_label(ml_model, reviewer):
    """7 accepts of 10 decisions is 70% with the Wilson interval, per version and per label."""
    ids = cases_at(ml_model, 10, confidence=0.6, model_version="2.3.0")
    decide(ids, reviewer=reviewer, overrides=3)
    other = cases_at(ml_model, 4, confidence=0.6, model_version="2.4.0", label="legit")
    decide(other, reviewer=reviewer, overrides=0)
    report = accuracy_report(ml_model)
    v23 = next(r for r in report.by_version if r.key == "2.3.0")
    assert (v23.decided, v23.correct, v23.accuracy) == (10, 7, 0.7)
    assert (round(v23.ci_low, 4), round(v23.ci_high, 4)) == (0.3968, 0.8922)
    assert [r.key for r in report.by_version] == ["2.3.0", "2.4.0"]
    fraud = next(r for r in report.by_label if r.key == "fraud")
    assert (fraud.decided, fraud.accuracy) == (10, 0.7)
    assert (report.overall.decided, report.overall.correct) == (14, 11)


def test_accuracy_ignores_superseded_decisions_and_other_periods(ml_model, reviewer):
    """Only current decisions in the period count."""
    ids = cases_at(ml_model, 4, confidence=0.6)
    decide(ids[:2], reviewer=reviewer, overrides=2, decided_at=timezone.now() - timedelta(days=40))
    decide(ids[2:], reviewer=reviewer, overrides=0)
    report = accuracy_report(ml_model, start=timezone.now() - timedelta(days=30))
    assert (report.overall.decided, report.overall.correct) == (2, 2)


def test_feature_and_confidence_drift_against_a_baseline(team, model_owner):
    """Categorical and numeric PSI against the baseline match the formula by hand."""
    ml_model = make_model(team=team, slug="drifty")
    now = timezone.now()
    base_time = now - timedelta(days=20)
    for country, n in (("DE", 50), ("FR", 30), ("US", 20)):
        cases_at(ml_model, n, confidence=0.7, created_at=base_time, input={"country": country})
    # amounts 1..100 in the baseline (one case each), 1..50 now
    base_ids = cases_at(ml_model, 100, confidence=0.7, created_at=base_time)
    for i, case_id in enumerate(base_ids, start=1):
        from reviewapp.models import Case

        Case.objects.filter(pk=case_id).update(input={"amount": i, "country": "DE"})
    baseline = baseline_create(
        ml_model=ml_model,
        actor=model_owner,
        window_start=now - timedelta(days=21),
        window_end=now - timedelta(days=19),
    )
    assert baseline.n_cases == 200
    # now: countries DE 30%, FR 30%, US 40% (of 100) and amounts 1..50 (of 50 cases)
    for country, n in (("DE", 30), ("FR", 30), ("US", 40)):
        cases_at(ml_model, n, confidence=0.7, input={"country": country})
    report = drift_report(ml_model, start=now - timedelta(days=1), end=now + timedelta(hours=1))
    assert report.n_sampled == 100
    country = next(f for f in report.features if f.name == "country")
    base_shares = baseline.feature_distributions["country"]["shares"]
    # baseline: DE 150/200, FR 30/200, US 20/200
    assert base_shares[:3] == pytest.approx([0.75, 0.15, 0.10])
    by_hand = _psi_by_hand([0.75, 0.15, 0.10, 0, 0], [0.3, 0.3, 0.4, 0, 0])
    assert country.psi == pytest.approx(by_hand, abs=1e-9)
    assert country.status == "significant"
    # amounts: baseline 100 numbers + 100 missing; now 100 missing (no amount in the inputs)
    amount = next(f for f in report.features if f.name == "amount")
    assert amount.kind == "numeric"
    expected = [0.05] * 10 + [0.5]
    assert baseline.feature_distributions["amount"]["shares"] == pytest.approx(expected)
    assert amount.psi == pytest.approx(_psi_by_hand(expected, [0.0] * 10 + [1.0]), abs=1e-9)
    # confidence is 0.7 everywhere: no drift
    assert report.confidence.psi == pytest.approx(0.0, abs=1e-9)
    assert report.confidence.status == "stable"


def test_numeric_feature_drift_half_range(team, model_owner):
    """Baseline 1..100, current 1..50: five bins at 0.2, five empty (epsilon)."""
    ml_model = make_model(team=team, slug="amounts")
    now = timezone.now()
    base = cases_at(ml_model, 100, confidence=0.5, created_at=now - timedelta(days=10))
    cur = cases_at(ml_model, 50, confidence=0.9)
    from reviewapp.models import Case

    for i, case_id in enumerate(base, start=1):
        Case.objects.filter(pk=case_id).update(input={"amount": i})
    for i, case_id in enumerate(cur, start=1):
        Case.objects.filter(pk=case_id).update(input={"amount": i})
    baseline_create(
        ml_model=ml_model,
        actor=model_owner,
        window_start=now - timedelta(days=11),
        window_end=now - timedelta(days=9),
    )
    report = drift_report(ml_model, start=now - timedelta(days=1), end=now + timedelta(hours=1))
    amount = report.features[0]
    assert amount.name == "amount"
    by_hand = _psi_by_hand([0.1] * 10 + [0], [0.2] * 5 + [0] * 5 + [0])
    assert amount.psi == pytest.approx(by_hand, abs=1e-9)
    # confidence moved from 0.5 (baseline) to 0.9: all mass leaves the baseline's bin
    assert report.confidence.psi > 0.2
    assert report.n_sampled == 50


def test_drift_report_queries_are_bounded(team, model_owner, django_assert_max_num_queries):
    """Drift for a model reads the baseline and one capped sample."""
    ml_model = make_model(team=team, slug="bounded")
    now = timezone.now()
    cases_at(ml_model, 30, confidence=0.6, created_at=now - timedelta(days=5))
    baseline_create(
        ml_model=ml_model,
        actor=model_owner,
        window_start=now - timedelta(days=6),
        window_end=now - timedelta(days=4),
    )
    cases_at(ml_model, 30, confidence=0.6)
    with django_assert_max_num_queries(2):
        report = drift_report(ml_model, start=now - timedelta(days=1), end=now + timedelta(hours=1))
    assert report.n_sampled == 30
    assert {f.name for f in report.features} == {"amount", "country", "account_age_days"}


def test_drift_reads_the_windows_latest_cases_only(team, model_owner):
    """Confidence drift reads the capped sample of the window's latest cases, as the features
    do: older cases of the window beyond the cap do not move it."""
    ml_model = make_model(team=team, slug="capped")
    now = timezone.now()
    cases_at(ml_model, 40, confidence=0.5, created_at=now - timedelta(days=5))
    baseline_create(
        ml_model=ml_model,
        actor=model_owner,
        window_start=now - timedelta(days=6),
        window_end=now - timedelta(days=4),
    )
    cases_at(ml_model, 30, confidence=0.95, created_at=now - timedelta(hours=5))
    cases_at(ml_model, 20, confidence=0.5, created_at=now - timedelta(hours=1))
    window = {"start": now - timedelta(days=1), "end": now + timedelta(hours=1)}
    latest = drift_report(ml_model, **window, cap=20)
    assert latest.n_sampled == 20
    assert latest.confidence.psi == pytest.approx(0.0, abs=1e-9)  # the 20 newest: as baseline
    wider = drift_report(ml_model, **window, cap=50)
    assert wider.n_sampled == 50
    assert wider.confidence.psi > 0.2  # 30 of the 50 moved to 0.95
