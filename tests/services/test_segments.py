"""Segments and fairness: segment values read at intake, the segment rollups (equal to a direct
count), and the disparity flag (a planted 15-point gap is flagged, no gap or a small one is
not, at the same sample size; nothing below the minimum sample)."""

from datetime import timedelta

import pytest
from django.db.models import Q

from reviewapp.figures import segment_disparity
from reviewapp.models import (
    Case,
    CaseStatus,
    Decision,
    MLModel,
    Outcome,
    SegmentDailyRollup,
    User,
)
from reviewapp.selectors.bands import day_bounds
from reviewapp.selectors.health import wilson_interval
from reviewapp.selectors.quality import quality_metrics
from reviewapp.selectors.segments import QUALITY_FIELD, segment_breakdown
from reviewapp.services.intake import cases_submit, segments_of
from reviewapp.services.model_settings import model_configure
from reviewapp.services.outcomes import outcomes_record
from reviewapp.services.rollups import rollups_dirty_days, rollups_refresh
from tests.factories import case_payload, make_cases, make_service_account
from tests.metrics_data import DAY, at

pytestmark = pytest.mark.django_db


def plant(
    ml_model: MLModel,
    reviewer: User,
    *,
    site: str,
    n: int,
    right: int,
    region_of=lambda i: "east" if i % 2 else "west",
    day=DAY,
) -> list[int]:
    """N decided cases of SITE received and decided on DAY, the model right on the first
    RIGHT of them: the reviewer accepts those and overrides the rest, and each gets an
    outcome agreeing with the reviewer. Returns the case ids."""
    submitter = User.objects.filter(service_model=ml_model).first()
    if submitter is None:
        submitter, _ = make_service_account(ml_model)
    items = [
        case_payload(
            confidence=0.55, label="fraud", metadata={"site": site, "region": region_of(i)}
        )
        for i in range(n)
    ]
    ids = [r.case_id for r in cases_submit(ml_model=ml_model, items=items, submitted_by=submitter)]
    Case.objects.filter(pk__in=ids).update(
        status=CaseStatus.DECIDED, created_at=at(day, 9), decided_at=at(day, 10)
    )
    Decision.objects.bulk_create(
        Decision(
            case_id=case_id,
            ml_model=ml_model,
            reviewer=reviewer,
            action="accept" if i < right else "override",
            final_label="fraud" if i < right else "legit",
            reason_code="" if i < right else "wrong_label",
            time_spent_ms=10_000,
            decided_at=at(day, 10),
        )
        for i, case_id in enumerate(ids)
    )
    externals = dict(Case.objects.filter(pk__in=ids).values_list("pk", "external_id"))
    results = outcomes_record(
        ml_model=ml_model,
        items=[
            {
                "external_id": externals[case_id],
                "label": "fraud" if i < right else "legit",
                "observed_at": at(day, 12).isoformat(),
            }
            for i, case_id in enumerate(ids)
        ],
        actor=User.objects.get(service_model=ml_model),
    )
    assert {r.status for r in results} == {"created"}
    return ids


@pytest.fixture
def segmented(ml_model, model_owner):
    model_configure(ml_model=ml_model, actor=model_owner, segment_fields=["site", "region"])
    return ml_model


def _rows(ml_model, field):
    by_segment = segment_breakdown(ml_models=[ml_model], date_from=DAY, date_to=DAY)
    return {row["value"]: row for row in by_segment[field]}


# --- intake -----------------------------------------------------------------------------------


def test_segment_values_come_from_metadata_then_input():
    """Metadata wins over input; numbers and booleans become text; missing, null, empty and
    nested values are left out; long values are cut to 200 characters."""
    got = segments_of(
        fields=["site", "region", "age_band", "vip", "absent", "empty", "nested", "long"],
        metadata={"site": "north", "empty": "", "nested": {"a": 1}, "long": "x" * 300},
        data={"site": "ignored", "region": "EU", "age_band": 40, "vip": True, "absent": None},
    )
    assert got == {
        "site": "north",
        "region": "EU",
        "age_band": "40",
        "vip": "true",
        "long": "x" * 200,
    }


def test_intake_stores_the_declared_segments(segmented):
    """A submitted case keeps its segment values; an undeclared key is not one."""
    [case_id] = make_cases(
        segmented, 1, metadata={"site": "north", "channel": "web"}, input={"region": "EU"}
    )
    assert Case.objects.get(pk=case_id).segments == {"site": "north", "region": "EU"}


def test_a_model_without_segment_fields_stores_none(ml_model):
    [case_id] = make_cases(ml_model, 1, metadata={"site": "north"})
    assert Case.objects.get(pk=case_id).segments == {}


# --- the disparity rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seg", "rest", "min_sample", "flagged"),
    [
        ((300, 400), (720, 800), 30, True),  # 75% against 90%: 15 points
        ((348, 400), (720, 800), 30, False),  # 87% against 90%: within the intervals
        ((360, 400), (720, 800), 30, False),  # the same rate
        ((10, 20), (720, 800), 30, False),  # 50% but only 20 cases: below the minimum
        ((10, 20), (720, 800), 10, True),  # the same with a minimum of 10
        ((720, 800), (300, 400), 30, False),  # better than the rest is never flagged
    ],
)
def test_segment_disparity_rule(seg, rest, min_sample, flagged):
    """Flagged when the segment's interval lies wholly below the rest's, with enough cases."""
    got = segment_disparity(
        n=seg[1],
        ci=wilson_interval(*seg),
        rest_n=rest[1],
        rest_ci=wilson_interval(*rest),
        min_sample=min_sample,
    )
    assert got is flagged


# --- rollups and the breakdown ----------------------------------------------------------------


@pytest.mark.parametrize(("gap", "flagged"), [(0.15, True), (0.03, False), (0.0, False)])
def test_planted_gap_is_flagged_and_no_gap_is_not(segmented, reviewer, gap, flagged):
    """Three sites of 400 decided cases with outcomes, two at 90% accuracy and one at 90% minus
    GAP: a 15-point gap is flagged on live and outcome accuracy, 3 points or none is not; the
    region field, which cuts across sites, is never flagged."""
    n = 400
    plant(segmented, reviewer, site="north", n=n, right=360)
    plant(segmented, reviewer, site="east", n=n, right=360)
    plant(segmented, reviewer, site="south", n=n, right=round(n * (0.90 - gap)))
    rollups_refresh(days=[DAY], ml_model=segmented)

    sites = _rows(segmented, "site")
    south = sites["south"]
    assert south["decided"] == south["outcomes"] == n
    assert south["live_accuracy"] == pytest.approx(0.90 - gap)
    assert south["outcome_accuracy"] == pytest.approx(0.90 - gap)
    assert south["final_accuracy"] == 1.0  # the reviewer always matched the outcome
    assert south["disparity"] is flagged
    assert south["disparity_on"] == (["live_accuracy", "outcome_accuracy"] if flagged else [])
    assert not sites["north"]["disparity"]
    assert not sites["east"]["disparity"]
    assert sites["north"]["rest_live_accuracy"] == pytest.approx((360 + n * (0.9 - gap)) / 800)
    regions = _rows(segmented, "region")
    assert set(regions) == {"east", "west"}
    assert not any(row["disparity"] for row in regions.values())


def test_a_small_segment_is_not_flagged_below_the_minimum_sample(segmented, reviewer, settings):
    """20 cases at 50% are not flagged with the default minimum of 30, but are with 10."""
    plant(segmented, reviewer, site="north", n=200, right=180)
    plant(segmented, reviewer, site="tiny", n=20, right=10)
    rollups_refresh(days=[DAY], ml_model=segmented)
    assert not _rows(segmented, "site")["tiny"]["disparity"]
    settings.REVIEWAPP_SEGMENT_MIN_SAMPLE = 10
    assert _rows(segmented, "site")["tiny"]["disparity_on"] == [
        "live_accuracy",
        "outcome_accuracy",
    ]


def _direct(ml_model, field, value, day):
    """The figures of one segment value on DAY, counted straight from cases, decisions and
    outcomes with the ORM."""
    start, end = day_bounds(day)
    in_segment = Q(**{f"segments__{field}": value})
    cases = Case.objects.filter(in_segment, ml_model=ml_model, created_at__gte=start)
    cases = cases.filter(created_at__lt=end)
    decisions = Decision.objects.filter(
        ml_model=ml_model, superseded_at__isnull=True, decided_at__gte=start, decided_at__lt=end
    ).filter(**{f"case__segments__{field}": value})
    outcomes = list(
        Outcome.objects.filter(
            ml_model=ml_model, observed_at__gte=start, observed_at__lt=end
        ).filter(**{f"case__segments__{field}": value})
    )
    finals = dict(
        Decision.objects.filter(
            case_id__in=[o.case_id for o in outcomes], superseded_at__isnull=True
        ).values_list("case_id", "final_label")
    )
    cases_of = {c.pk: c for c in Case.objects.filter(pk__in=[o.case_id for o in outcomes])}
    return {
        "received": cases.count(),
        "auto_approved": cases.filter(status=CaseStatus.AUTO_APPROVED).count(),
        "to_people": cases.exclude(status__in=["received", "auto_approved"]).count(),
        "decided": decisions.count(),
        "accepted": decisions.filter(action="accept").count(),
        "overridden": decisions.filter(action="override").count(),
        "outcomes": len(outcomes),
        "outcomes_auto_approved": sum(
            cases_of[o.case_id].status == CaseStatus.AUTO_APPROVED for o in outcomes
        ),
        "outcomes_model_correct": sum(
            cases_of[o.case_id].predicted_label == o.label for o in outcomes
        ),
        "outcomes_final_correct": sum(
            finals.get(o.case_id, cases_of[o.case_id].predicted_label) == o.label for o in outcomes
        ),
    }


def test_rollup_equals_a_direct_count(segmented, reviewer, lead):
    """Auto-approved, waiting, decided and reopened cases, outcomes on some of each: every
    segment rollup row equals the direct count, and a second refresh changes nothing."""
    plant(segmented, reviewer, site="north", n=12, right=9)
    plant(segmented, reviewer, site="south", n=8, right=3, region_of=lambda i: "west")
    auto = make_cases(segmented, 6, confidence=0.95, metadata={"site": "north"})
    waiting = make_cases(segmented, 4, confidence=0.5, input={"site": "south", "x": 1})
    unsegmented = make_cases(segmented, 3, confidence=0.5)
    Case.objects.filter(pk__in=auto + waiting + unsegmented).update(created_at=at(DAY, 8))
    # A reopened decision: superseded, so it no longer counts.
    reopened = Decision.objects.filter(case__segments__site="south").first()
    Decision.objects.filter(pk=reopened.pk).update(superseded_at=at(DAY, 11))
    Case.objects.filter(pk=reopened.case_id).update(status=CaseStatus.QUEUED)
    # Outcomes on auto-approved and waiting cases too (one the model got wrong).
    ext = dict(Case.objects.filter(pk__in=auto + waiting).values_list("pk", "external_id"))
    outcomes_record(
        ml_model=segmented,
        items=[
            {"external_id": ext[pk], "label": "legit" if pk == auto[0] else "fraud"}
            | {"observed_at": at(DAY, 13).isoformat()}
            for pk in auto[:3] + waiting[:2]
        ],
        actor=User.objects.get(service_model=segmented),
    )
    rollups_refresh(days=[DAY], ml_model=segmented)
    rows = list(
        SegmentDailyRollup.objects.filter(ml_model=segmented, day=DAY).exclude(field=QUALITY_FIELD)
    )
    assert {(r.field, r.value) for r in rows} == {
        ("site", "north"),
        ("site", "south"),
        ("region", "east"),
        ("region", "west"),
    }
    fields = list(_direct(segmented, "site", "north", DAY))
    for row in rows:
        assert {f: getattr(row, f) for f in fields} == _direct(segmented, row.field, row.value, DAY)
    north = next(r for r in rows if r.value == "north")
    assert (north.received, north.auto_approved, north.outcomes_auto_approved) == (18, 6, 3)
    assert north.outcomes_model_correct == 9 + 2
    first = sorted((r.field, r.value, r.received, r.decided, r.outcomes) for r in rows)
    rollups_refresh(days=[DAY], ml_model=segmented)
    again = SegmentDailyRollup.objects.filter(ml_model=segmented, day=DAY).exclude(
        field=QUALITY_FIELD
    )
    assert sorted((r.field, r.value, r.received, r.decided, r.outcomes) for r in again) == first


def test_breakdown_sums_days_and_ignores_undeclared_fields(segmented, reviewer, model_owner):
    """Over a period, a value's figures add up its days; a field no longer declared is not
    shown; without declared fields the breakdown is empty."""
    plant(segmented, reviewer, site="north", n=5, right=5)
    plant(segmented, reviewer, site="north", n=3, right=1, day=DAY + timedelta(days=1))
    rollups_refresh(days=[DAY, DAY + timedelta(days=1)], ml_model=segmented)
    both = segment_breakdown(ml_models=[segmented], date_from=DAY, date_to=DAY + timedelta(days=1))
    assert [(r["value"], r["decided"], r["accepted"]) for r in both["site"]] == [("north", 8, 6)]
    model_configure(ml_model=segmented, actor=model_owner, segment_fields=["site"])
    assert list(segment_breakdown(ml_models=[segmented], date_from=DAY, date_to=DAY)) == ["site"]
    model_configure(ml_model=segmented, actor=model_owner, segment_fields=[])
    assert segment_breakdown(ml_models=[segmented], date_from=DAY, date_to=DAY) == {}


def test_outcomes_reported_late_make_their_observed_day_dirty(segmented, reviewer):
    """The beat refreshes the observed day of an outcome reported since the last refresh."""
    [case_id] = make_cases(segmented, 1, confidence=0.95, metadata={"site": "north"})
    since = Case.objects.get(pk=case_id).created_at
    observed = DAY + timedelta(days=3)
    outcomes_record(
        ml_model=segmented,
        items=[
            {
                "external_id": Case.objects.get(pk=case_id).external_id,
                "label": "fraud",
                "observed_at": at(observed, 9).isoformat(),
            }
        ],
        actor=User.objects.get(service_model=segmented),
    )
    assert observed in rollups_dirty_days(since=since - timedelta(seconds=1))


def _quality(ml_model) -> dict:
    """The quality figures of DAY without by_segment (which only the rollups hold)."""
    q = quality_metrics(ml_model=ml_model, date_from=DAY, date_to=DAY)
    return {key: value for key, value in q.items() if key != "by_segment"}


def test_quality_read_from_rollups_equals_the_live_count(segmented, reviewer):
    """The quality figures read the rollups once they exist (a changed rollup row changes
    them), equal the live count, and add outcomes reported after the refresh at once."""
    plant(segmented, reviewer, site="north", n=30, right=24)
    auto = make_cases(segmented, 10, confidence=0.95, metadata={"site": "north"})
    Case.objects.filter(pk__in=auto).update(created_at=at(DAY, 8))
    ext = dict(Case.objects.filter(pk__in=auto).values_list("pk", "external_id"))
    sa = User.objects.get(service_model=segmented)
    items = [
        {"external_id": ext[pk], "label": "legit" if i < 3 else "fraud"}
        | {"observed_at": at(DAY, 13).isoformat()}
        for i, pk in enumerate(auto[:8])
    ]
    outcomes_record(ml_model=segmented, items=items, actor=sa)
    live = _quality(segmented)
    assert (live["outcomes"], live["auto_approved"]["n"], live["reviewed"]["n"]) == (38, 8, 30)
    rollups_refresh(days=[DAY], ml_model=segmented)
    assert _quality(segmented) == live
    SegmentDailyRollup.objects.filter(field=QUALITY_FIELD, value="auto:2.3.0").update(outcomes=99)
    assert _quality(segmented)["outcomes"] != 38
    rollups_refresh(days=[DAY], ml_model=segmented)
    late = [
        {"external_id": ext[pk], "label": "fraud"} | {"observed_at": at(DAY, 14).isoformat()}
        for pk in auto[8:]
    ]
    outcomes_record(ml_model=segmented, items=late, actor=sa)
    now = _quality(segmented)
    assert (now["outcomes"], now["auto_approved"]["n"]) == (40, 10)
    assert now["auto_approved"]["model_accuracy"] == 0.7
    rollups_refresh(days=[DAY], ml_model=segmented)
    assert _quality(segmented) == now
