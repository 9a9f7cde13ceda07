"""Threshold calibration: reliability bands, the what-if estimates and the recommendation."""

import pytest

from reviewapp.models import RoutingPolicy
from reviewapp.selectors.calibration import calibration_report, median
from tests.selectors.health_data import cases_at, decide


def _row(report, threshold):
    return next(r for r in report.what_if if r.threshold == threshold)


def test_reliability_curve_bands(ml_model, reviewer):
    """Accuracy by 0.1 confidence band with counts and mean confidence."""
    decide(cases_at(ml_model, 10, confidence=0.55), reviewer=reviewer, overrides=4)
    decide(cases_at(ml_model, 10, confidence=0.85), reviewer=reviewer, overrides=1)
    decide(cases_at(ml_model, 4, confidence=1.0), reviewer=reviewer, overrides=0)
    cases_at(ml_model, 6, confidence=0.31)  # received, not decided
    report = calibration_report(ml_model, start=None, end=None)
    curve = {band.index: band for band in report.curve}
    assert (curve[5].decided, curve[5].correct, curve[5].accuracy) == (10, 6, 0.6)
    assert curve[5].mean_confidence == pytest.approx(0.55)
    assert (curve[8].decided, curve[8].accuracy) == (10, 0.9)
    assert (curve[9].decided, curve[9].accuracy) == (4, 1.0)  # 1.0 lands in the top band
    assert (curve[3].received, curve[3].decided, curve[3].accuracy) == (6, 0, None)
    assert sum(b.decided for b in report.curve) == 24
    assert report.received == 30


def test_recommended_threshold_on_a_synthetic_set(ml_model, reviewer):
    """Error rates 50/30/20/5/0% at 0.52/0.62/0.77/0.82/0.92: target 5% gives 0.80."""
    for confidence, overrides in ((0.52, 10), (0.62, 6), (0.77, 4), (0.82, 1), (0.92, 0)):
        decide(
            cases_at(ml_model, 20, confidence=confidence), reviewer=reviewer, overrides=overrides
        )
    report = calibration_report(ml_model, start=None, end=None, target_error_rate=0.05)
    assert _row(report, 0.5).error_rate == pytest.approx(21 / 100)
    assert _row(report, 0.75).error_rate == pytest.approx(5 / 60)
    assert _row(report, 0.8).error_rate == pytest.approx(1 / 40)
    assert _row(report, 0.8).sample_size == 40
    assert not _row(report, 0.85).enough_data  # 20 decided cases < 30
    assert report.recommended is not None
    assert report.recommended.threshold == 0.8
    assert report.recommended.share_to_people == pytest.approx(60 / 100)
    stricter = calibration_report(ml_model, start=None, end=None, target_error_rate=0.01)
    assert stricter.recommended is None


def test_error_rate_is_post_stratified_by_band(ml_model, reviewer):
    """Bands sampled at different rates are weighted by their cases, not their samples."""
    low = cases_at(ml_model, 100, confidence=0.82)
    high = cases_at(ml_model, 100, confidence=0.92)
    decide(low[:20], reviewer=reviewer, overrides=2)  # 10% wrong in 0.80-0.85
    decide(high[:5], reviewer=reviewer, overrides=0)  # 0% wrong in 0.90-0.95
    report = calibration_report(ml_model, start=None, end=None, min_sample=10)
    row = _row(report, 0.8)
    assert row.error_rate == pytest.approx((100 * 0.1 + 100 * 0.0) / 200)  # 0.05, not 2/25
    assert (row.sample_size, row.errors_in_sample) == (25, 2)
    assert row.share_to_people == 0
    assert _row(report, 0.85).share_to_people == pytest.approx(0.5)
    assert _row(report, 0.95).share_to_people == pytest.approx(1.0)
    assert _row(report, 0.95).error_rate is None  # nothing decided at or above 0.95


def test_workload_counts_qa_sampling_and_always_review_labels(ml_model, reviewer):
    """Share to people adds always-reviewed labels and the QA sample of the rest."""
    RoutingPolicy.objects.filter(ml_model=ml_model, status="active").update(
        qa_sample_rate=0.1, always_review_labels=["legit"]
    )
    cases_at(ml_model, 50, confidence=0.6)
    cases_at(ml_model, 40, confidence=0.9)
    cases_at(ml_model, 10, confidence=0.9, label="legit")
    report = calibration_report(ml_model, start=None, end=None)
    row = _row(report, 0.8)
    # 50 below + 10 always-review + 10% of the other 40
    assert row.to_people == pytest.approx(64)
    assert row.share_to_people == pytest.approx(0.64)
    assert row.auto_approved == pytest.approx(36)


def test_reviewer_hours_from_the_median_time_per_case(ml_model, reviewer):
    """Hours = cases to people x median time_spent_ms (zeros are not measurements)."""
    ids = cases_at(ml_model, 3, confidence=0.6)
    decide(ids[:1], reviewer=reviewer, time_spent_ms=1000)
    decide(ids[1:2], reviewer=reviewer, time_spent_ms=2000)
    decide(ids[2:], reviewer=reviewer, time_spent_ms=9000)
    cases_at(ml_model, 3, confidence=0.9)
    report = calibration_report(ml_model, start=None, end=None)
    assert report.median_time_ms == 2000
    assert report.time_sample == 3
    row = _row(report, 0.8)
    assert row.to_people == 3
    assert row.reviewer_hours == pytest.approx(3 * 2000 / 3_600_000)


def test_median_helper():
    """Median of odd and even lists; None when empty."""
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 2, 3]) == 2.5
    assert median([]) is None


def test_calibration_report_query_count(ml_model, reviewer, django_assert_num_queries):
    """The whole calibration is six queries whatever the data: the policy, the model's first
    day, the band rollups' days (none yet, so no sum), the cases and decisions they leave
    to count live, the review times."""
    decide(cases_at(ml_model, 20, confidence=0.7), reviewer=reviewer, overrides=3)
    with django_assert_num_queries(6):
        report = calibration_report(ml_model, start=None, end=None)
    assert report.decided == 20
