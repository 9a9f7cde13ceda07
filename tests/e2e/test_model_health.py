"""Browser: a model owner opens the model-health page and sees its charts."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import Case, Role
from reviewapp.services.health import baseline_create, tripwire_create, tripwires_check
from tests.factories import make_model, make_team, make_user
from tests.selectors.health_data import cases_at, decide


def _seed():
    """A model with two versions, a baseline three weeks ago, drift now and an open alert."""
    team = make_team("payments-risk")
    owner = make_user(Role.MODEL_OWNER, team=team, username="otto")
    reviewer = make_user(Role.REVIEWER, team=team, username="rita")
    ml_model = make_model(team=team, slug="fraud-screening", qa_sample_rate=0.0)
    rng = random.Random(7)
    now = timezone.now()
    countries = ["DE", "FR", "NL", "US"]
    base_ids = []
    for confidence in (0.55, 0.65, 0.75, 0.85, 0.95):
        base_ids += cases_at(
            ml_model, 30, confidence=confidence, created_at=now - timedelta(days=21)
        )
    for case_id in base_ids:
        Case.objects.filter(pk=case_id).update(
            input={
                "amount": round(rng.lognormvariate(5, 1), 2),
                "country": rng.choice(countries[:3]),
                "account_age_days": rng.randint(1, 900),
            }
        )
    baseline_create(
        ml_model=ml_model,
        actor=owner,
        window_start=now - timedelta(days=22),
        window_end=now - timedelta(days=20),
    )
    for version, shift in (("2.3.0", 0), ("2.4.0", 1)):
        for confidence, overrides in ((0.52, 9), (0.63, 6), (0.74, 4), (0.83, 1), (0.93, 0)):
            ids = cases_at(ml_model, 20, confidence=confidence, model_version=version)
            for case_id in ids:
                Case.objects.filter(pk=case_id).update(
                    input={
                        "amount": round(rng.lognormvariate(5 + shift, 1), 2),
                        "country": rng.choice(countries),
                        "account_age_days": rng.randint(1, 900),
                    }
                )
            decide(
                ids,
                reviewer=reviewer,
                overrides=max(0, overrides - shift * 2),
                time_spent_ms=rng.randint(20_000, 60_000),
            )
    tripwire_create(ml_model=ml_model, actor=owner, kind="feature_psi", threshold=0.2)
    tripwire_create(ml_model=ml_model, actor=owner, kind="accuracy_drop", threshold=0.9)
    tripwires_check()
    return ml_model


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_model_owner_sees_the_health_page(page, login, screenshot, live_server):
    """Charts render, the PSI table is coloured, the recommendation can be proposed."""
    _seed()
    login("otto")
    page.goto("/dashboards/health/?model=fraud-screening&days=30&target=5")
    page.wait_for_selector("#health-body")
    assert page.locator(".alert-banner").is_visible()
    assert page.locator("svg.chart-ci").count() == 2
    assert page.locator("svg.chart-reliability circle.reliability-dot").count() >= 5
    assert page.locator("svg.chart-hbar").count() == 1
    assert page.locator(".psi-significant").count() >= 1
    assert page.locator("text=Propose this threshold").is_visible()
    screenshot("model-health")
    page.click("text=Propose this threshold")
    page.wait_for_load_state("networkidle")
    assert "takes effect once a manager approves it" in page.content()
