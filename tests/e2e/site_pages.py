"""A small but complete site for whole-page browser checks (accessibility, phone layout): one
team with a shown and a blind model, a person of each role, decisions for the dashboards, an
open health alert, a policy proposal, an escalated case and live claims, so that every page
renders its badges, tables and charts. ``PAGES`` names each page with who opens it."""

from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from reviewapp.models import Role
from reviewapp.services.health import tripwire_create, tripwires_check
from reviewapp.services.policies import policy_propose
from reviewapp.services.queue import case_claim_next, case_escalate
from reviewapp.services.rollups import rollups_refresh
from tests.factories import PASSWORD, make_cases, make_model, make_team, make_user
from tests.metrics_data import auto_approved_cases, decided_cases

EXPLANATION = {
    "method": "shap",
    "base_value": 0.1,
    "contributions": [
        {"feature": "account_age_days", "value": 3, "weight": 0.31},
        {"feature": "amount", "value": 1200.5, "weight": 0.12},
        {"feature": "country", "value": "DE", "weight": -0.08},
        {"feature": "merchant_category", "value": "consumer_electronics", "weight": 0.05},
        {"feature": "hour_of_day", "value": 23, "weight": 0.03},
        {"feature": "previous_chargebacks", "value": 0, "weight": -0.04},
        {"feature": "shipping_billing_distance_km", "value": 4312.75, "weight": 0.02},
    ],
    "summary": "New account making a large electronics purchase late at night.",
}
INPUT = {
    "account_age_days": 3,
    "amount": 1200.5,
    "country": "DE",
    "merchant_category": "consumer_electronics",
    "hour_of_day": 23,
    "previous_chargebacks": 0,
    "shipping_billing_distance_km": 4312.75,
}


@dataclass(frozen=True)
class Site:
    shown_case: int
    blind_case: int


@dataclass(frozen=True)
class PageSpec:
    name: str
    username: str | None  # None: signed out
    path: str
    status: int = 200


def seed() -> Site:
    """The data behind every page of ``pages()``."""
    cache.clear()
    team = make_team("payments-risk")
    fraud = make_model(team=team, slug="fraud-screening")
    blind = make_model(team=team, slug="chargeback-risk", blind_sample_rate=1.0)
    rita = make_user(Role.REVIEWER, team=team, username="rita")
    ben = make_user(Role.REVIEWER, team=team, username="ben")
    make_user(Role.LEAD, team=team, username="lee")
    mona = make_user(Role.MANAGER, team=team, username="mona")
    omar = make_user(Role.MODEL_OWNER, team=team, username="omar")
    make_user(Role.AUDITOR, username="audrey")

    today = timezone.localdate()
    days = [today - timedelta(days=d) for d in range(7)]
    for i, day in enumerate(days):
        for person in (rita, ben):
            decided_cases(
                fraud,
                person,
                accepts=3 + i % 2,
                overrides=1 + i % 3,
                reasons=["wrong_label", "missing_context", "policy"],
                day=day,
                blind=i % 3 == 0,
            )
        auto_approved_cases(fraud, 4, day=day)
    rollups_refresh(days=days, ml_model=fraud)
    tripwire_create(ml_model=fraud, actor=mona, kind="accuracy_drop", threshold=0.95)
    tripwires_check()
    policy_propose(
        ml_model=fraud, proposer=omar, changes={"review_threshold": 0.9}, note="Fewer misses."
    )

    make_cases(fraud, 3, confidence=0.62, explanation=EXPLANATION, input=INPUT, priority="high")
    escalated = case_claim_next(ml_model=fraud, reviewer=ben)
    case_escalate(case=escalated, actor=ben, note="Looks like a known fraud ring.")
    shown = case_claim_next(ml_model=fraud, reviewer=rita)
    make_cases(blind, 2, confidence=0.62, explanation=EXPLANATION, input=INPUT)
    blind_case = case_claim_next(ml_model=blind, reviewer=rita)
    assert blind_case.is_blind
    return Site(shown_case=shown.pk, blind_case=blind_case.pk)


def pages(site: Site) -> list[PageSpec]:
    """Every page the checks open, as the role that uses it."""
    return [
        PageSpec("login", None, "/accounts/login/"),
        PageSpec("review-home", "rita", "/review/"),
        PageSpec("case-shown", "rita", f"/review/case/{site.shown_case}/"),
        PageSpec("case-blind", "rita", f"/review/case/{site.blind_case}/"),
        PageSpec("queues", "lee", "/queues/?model=fraud-screening"),
        PageSpec("adoption", "mona", "/dashboards/?model=fraud-screening&days=7"),
        PageSpec("model-health", "mona", "/dashboards/health/?model=fraud-screening&days=30"),
        PageSpec("models", "mona", "/models/"),
        PageSpec("model-detail", "mona", "/models/fraud-screening/"),
        PageSpec("audit", "audrey", "/audit/"),
        PageSpec("error-403", "rita", "/dashboards/", status=403),
    ]


def sign_in(page, username: str | None) -> None:
    """Sign out whoever is signed in, then sign USERNAME in (None: stay signed out)."""
    page.context.clear_cookies()
    if username is None:
        return
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def open_page(page, spec: PageSpec) -> str:
    """Open SPEC's page as its user; a problem ("" if none) when the status is unexpected."""
    response = page.goto(spec.path)
    page.wait_for_load_state("networkidle")
    status = response.status if response is not None else None
    if status != spec.status:
        return f"{spec.name}: {spec.path} answered {status}, expected {spec.status}"
    return ""
