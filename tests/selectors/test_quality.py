"""Quality against ground truth (selectors.quality): known answers on a synthetic set, Wilson
intervals against a hand computation, the period, versions, and the dashboard's card."""

import math
from datetime import date

import pytest
from django.core.cache import cache
from django.test import Client

from reviewapp.models import Case, CaseStatus, Decision
from reviewapp.presentation.adoption import quality_card
from reviewapp.selectors.quality import quality_metrics
from reviewapp.services.outcomes import outcomes_record
from tests.factories import make_cases
from tests.metrics_data import DAY, decided_cases

pytestmark = pytest.mark.django_db

WHEN = f"{DAY.isoformat()}T12:00:00Z"


def hand_wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval written out from its formula (z rounded to 1.96)."""
    z = 1.96
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


def report(ml_model, service_account, pairs: list[tuple[int, str]], when: str = WHEN) -> None:
    """Report OUTCOME labels for (case id, label) pairs through the service."""
    external = dict(
        Case.objects.filter(pk__in=[p for p, _ in pairs]).values_list("pk", "external_id")
    )
    items = [{"external_id": external[pk], "label": lab, "observed_at": when} for pk, lab in pairs]
    results = outcomes_record(ml_model=ml_model, items=items, actor=service_account[0])
    assert {r.status for r in results} == {"created"}


@pytest.fixture
def synthetic(ml_model, service_account, reviewer):
    """100 auto-approved cases (model right on 90) and 100 reviewed ones, all predicted
    "fraud": 55 accepted (outcome fraud on 50), 45 overridden to "legit" (outcome fraud on
    10), so the model is right on 60 reviewed cases and the final label on 85."""
    auto = make_cases(ml_model, 100, confidence=0.95, label="fraud")
    Case.objects.filter(pk__in=auto).update(status=CaseStatus.AUTO_APPROVED)
    decisions = decided_cases(ml_model, reviewer, accepts=55, overrides=45, label="fraud")
    accepted = [d.case_id for d in decisions if d.action == "accept"]
    overridden = [d.case_id for d in decisions if d.action == "override"]
    pairs = [(pk, "fraud" if i < 90 else "legit") for i, pk in enumerate(auto)]
    pairs += [(pk, "fraud" if i < 50 else "legit") for i, pk in enumerate(accepted)]
    pairs += [(pk, "fraud" if i < 10 else "legit") for i, pk in enumerate(overridden)]
    report(ml_model, service_account, pairs)
    return ml_model


def test_known_answers_on_the_synthetic_set(synthetic):
    """90/100 auto-approved right, reviewed 60/100 model and 85/100 final: gain 0.25."""
    q = quality_metrics(ml_model=synthetic, date_from=DAY, date_to=DAY)
    assert q["outcomes"] == 200
    assert q["auto_approved"]["n"] == 100
    assert q["auto_approved"]["model_accuracy"] == pytest.approx(0.90)
    assert q["reviewed"]["n"] == 100
    assert q["reviewed"]["model_accuracy"] == pytest.approx(0.60)
    assert q["reviewed"]["final_accuracy"] == pytest.approx(0.85)
    assert q["review_gain"] == pytest.approx(0.25)
    assert q["by_segment"] == {}


def test_wilson_intervals_match_a_hand_computation(synthetic):
    """Each rate's interval is the Wilson interval, e.g. 90/100 -> [0.8256, 0.9448]."""
    q = quality_metrics(ml_model=synthetic, date_from=DAY, date_to=DAY)
    assert q["auto_approved"]["model_accuracy_ci"] == pytest.approx([0.8256, 0.9448], abs=1e-4)
    assert q["auto_approved"]["model_accuracy_ci"] == pytest.approx(hand_wilson(90, 100), abs=1e-5)
    assert q["reviewed"]["model_accuracy_ci"] == pytest.approx(hand_wilson(60, 100), abs=1e-5)
    assert q["reviewed"]["final_accuracy_ci"] == pytest.approx(hand_wilson(85, 100), abs=1e-5)
    assert q["reviewed"]["final_accuracy_ci"] == pytest.approx([0.7672, 0.9069], abs=1e-4)


def test_by_version_splits_the_same_figures(ml_model, service_account, reviewer):
    """Per-version rows carry the same figures and add up to the totals."""
    old = decided_cases(ml_model, reviewer, accepts=3, overrides=1, model_version="2.3.0")
    new = decided_cases(ml_model, reviewer, accepts=2, model_version="2.4.0")
    report(ml_model, service_account, [(d.case_id, "fraud") for d in old + new])
    q = quality_metrics(ml_model=ml_model, date_from=DAY, date_to=DAY)
    rows = {r["version"]: r for r in q["by_version"]}
    assert set(rows) == {"2.3.0", "2.4.0"}
    assert rows["2.3.0"]["reviewed"]["n"] == 4
    assert rows["2.3.0"]["reviewed"]["final_accuracy"] == pytest.approx(0.75)
    assert rows["2.4.0"]["review_gain"] == pytest.approx(0.0)
    assert q["reviewed"]["n"] == 6
    assert q["review_gain"] == pytest.approx(5 / 6 - 1)


def test_period_waiting_and_reopened_cases(ml_model, service_account, reviewer):
    """Only outcomes observed in the period count; waiting and reopened cases count in
    outcomes but in neither group; an empty period has null rates and intervals."""
    waiting = make_cases(ml_model, 1)
    Case.objects.filter(pk__in=waiting).update(status=CaseStatus.QUEUED)
    reopened = decided_cases(ml_model, reviewer, accepts=1)[0]
    Decision.objects.filter(pk=reopened.pk).update(superseded_at=reopened.decided_at)
    late = decided_cases(ml_model, reviewer, accepts=1)[0]
    report(ml_model, service_account, [(waiting[0], "fraud"), (reopened.case_id, "fraud")])
    report(ml_model, service_account, [(late.case_id, "fraud")], when="2025-03-12T00:00:00Z")
    q = quality_metrics(ml_model=ml_model, date_from=DAY, date_to=DAY)
    assert q["outcomes"] == 2
    assert q["auto_approved"]["n"] == 0
    assert q["reviewed"]["n"] == 0
    assert q["reviewed"]["final_accuracy_ci"] is None
    assert q["review_gain"] is None
    later = quality_metrics(
        ml_model=ml_model, date_from=date(2025, 3, 11), date_to=date(2025, 3, 12)
    )
    assert later["reviewed"]["n"] == 1


def test_quality_card_shapes_the_figures(synthetic):
    """The card prints each accuracy with its interval and the gain in points."""
    card = quality_card(quality_metrics(ml_model=synthetic, date_from=DAY, date_to=DAY))
    assert card["outcomes"] == 200
    assert [r["accuracy"] for r in card["rows"]] == ["90%", "60%", "85%"]
    assert card["rows"][0]["ci"] == "83%\u201394%"
    assert card["gain"] == "+25 pts"
    assert card["tone"] == "good"


def test_dashboard_shows_the_card_for_one_model_only(synthetic, manager):
    """The adoption page shows "Did review help?" when one model is selected."""
    cache.clear()
    client = Client()
    client.force_login(manager)
    period = {"from": DAY.isoformat(), "to": DAY.isoformat()}
    html = client.get("/dashboards/", {**period, "model": synthetic.slug}).content.decode()
    assert "Did review help?" in html
    assert "+25 pts" in html
    assert "83%\u201394%" in html
    all_models = client.get("/dashboards/", period)
    assert all_models.status_code == 200
    assert "Did review help?" not in all_models.content.decode()
    cache.clear()
