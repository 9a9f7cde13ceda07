"""seed_demo: real trained models, explanations with numeric weights, idempotent."""

import math
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from reviewapp.management.demo import DEFAULT_DEMO_PASSWORD
from reviewapp.models import (
    ApiToken,
    AuditEvent,
    Case,
    CaseStatus,
    Decision,
    MLModel,
    ModelVersion,
    PolicyStatus,
    Role,
    RoutingPolicy,
    Team,
    User,
)
from reviewapp.services.queue import case_claim_next, cases_escalate_overdue, cases_expire

pytestmark = pytest.mark.django_db

# Tests run with DEBUG off, where seed_demo needs a password of its own.
PASSWORD = "a-long-demo-passphrase-42"
COUNTED = (Team, User, MLModel, ModelVersion, RoutingPolicy, Case, Decision, ApiToken, AuditEvent)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def _seed(*args: str, password: str | None = PASSWORD) -> str:
    out = StringIO()
    extra = ("--password", password) if password else ()
    call_command("seed_demo", *args, *extra, stdout=out)
    return out.getvalue()


def test_seed_demo_twice_changes_nothing():
    """A second run creates, duplicates and audits nothing."""
    _seed("--scale", "0.1")
    before = _counts()
    output = _seed("--scale", "0.1")
    assert _counts() == before
    assert "new: none (all present)" in output


def test_seed_demo_hides_secrets_unless_embedded():
    """Outside the embedded mode neither the password nor a token is printed."""
    output = _seed("--scale", "0.1")
    assert PASSWORD not in output
    assert "rva_" not in output


@override_settings(REVIEWAPP_SHOW_DEMO_PASSWORDS=True)
def test_seed_demo_prints_secrets_in_embedded_mode():
    """In the embedded mode the password and the new service account tokens are shown."""
    output = _seed("--scale", "0.1")
    assert PASSWORD in output
    assert output.count("rva_") == 2


def test_seed_demo_builds_a_realistic_world():
    """Full seed: people per role, two real models with linear explanations, a four-eyes
    policy, and a month of decisions with overrides."""
    _seed()
    roles = dict(User.objects.exclude(role=Role.SERVICE_ACCOUNT).values_list("username", "role"))
    assert roles == {
        "reviewer": Role.REVIEWER,
        "reviewer2": Role.REVIEWER,
        "lead": Role.LEAD,
        "manager": Role.MANAGER,
        "owner": Role.MODEL_OWNER,
        "auditor": Role.AUDITOR,
        "admin": Role.ADMIN,
    }
    assert User.objects.get(username="lead").check_password(PASSWORD)
    assert set(Team.objects.values_list("slug", flat=True)) == {
        "clinical-triage",
        "trade-compliance",
    }
    for slug, labels in (
        ("tumour-triage", ["malignant", "benign"]),
        ("wine-provenance", ["barolo", "grignolino", "barbera"]),
    ):
        ml_model = MLModel.objects.get(slug=slug)
        assert ml_model.labels == labels
        assert ml_model.input_schema
        cases = Case.objects.filter(ml_model=ml_model)
        assert 300 <= cases.count() <= 600
        assert ml_model.versions.count() == 2
        case = cases.filter(status=CaseStatus.QUEUED).first()
        explanation = case.explanation
        assert explanation["method"] == "linear"
        assert isinstance(explanation["base_value"], float)
        weights = [c["weight"] for c in explanation["contributions"]]
        assert explanation["scale"] == "log_odds"
        assert len(weights) in (13, 30)  # every feature, so the parts add up to the logit
        assert all(isinstance(w, float) for w in weights)
        assert weights == sorted(weights, key=abs, reverse=True)
        assert {c["feature"] for c in explanation["contributions"]} <= set(case.input)
        assert abs(sum(case.scores.values()) - 1) < 1e-6
        assert case.scores[case.predicted_label] == case.confidence
        for shown in cases.filter(status=CaseStatus.QUEUED):
            parts = shown.explanation
            logit = parts["base_value"] + sum(c["weight"] for c in parts["contributions"])
            assert abs(1 / (1 + math.exp(-logit)) - shown.confidence) < 0.001, shown.pk
        reasons = {r for rs in cases.values_list("routing_reasons", flat=True) for r in rs}
        assert {"low_confidence", "always_review_label", "input_schema"} <= reasons
        assert cases.filter(status=CaseStatus.AUTO_APPROVED).exists()
        policy = RoutingPolicy.objects.get(ml_model=ml_model, status=PolicyStatus.ACTIVE)
        assert (policy.review_threshold, policy.always_review_labels) == (0.9, [labels[0]])
        assert (policy.proposed_by.username, policy.decided_by.username) == ("owner", "manager")
    decisions = Decision.objects.all()
    assert decisions.count() > 200
    assert decisions.filter(action="override").exists()
    assert not decisions.filter(action="override", reason_code="").exists()
    assert decisions.filter(explanation_helpful=True).exists()
    assert len({d.date() for d in decisions.values_list("decided_at", flat=True)}) > 15
    assert set(decisions.values_list("reviewer__username", flat=True)) <= {
        "reviewer",
        "reviewer2",
        "lead",
    }
    assert Case.objects.filter(status=CaseStatus.QUEUED).exists()
    assert Case.objects.filter(status=CaseStatus.ESCALATED).exists()


def test_seed_demo_refuses_to_run_without_password_when_debug_is_off(monkeypatch):
    """With DEBUG off and no password given, seed_demo stops before creating anything."""
    monkeypatch.delenv("REVIEWAPP_DEMO_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="REVIEWAPP_DEMO_PASSWORD"):
        _seed("--scale", "0.1", password=None)
    assert not User.objects.exists()
    assert not AuditEvent.objects.exists()


def test_seed_demo_takes_password_from_environment_when_debug_is_off(monkeypatch):
    """REVIEWAPP_DEMO_PASSWORD is enough with DEBUG off; the people get that password."""
    monkeypatch.setenv("REVIEWAPP_DEMO_PASSWORD", "another-demo-passphrase-7")
    _seed("--scale", "0.1", password=None)
    assert User.objects.get(username="lead").check_password("another-demo-passphrase-7")


@override_settings(DEBUG=True)
def test_seed_demo_uses_the_demo_default_with_debug_on(monkeypatch):
    """With DEBUG on (make run) and no password given, the documented demo default is used."""
    monkeypatch.delenv("REVIEWAPP_DEMO_PASSWORD", raising=False)
    _seed("--scale", "0.1", password=None)
    assert User.objects.get(username="lead").check_password(DEFAULT_DEMO_PASSWORD)


def _waiting() -> list[Case]:
    return list(Case.objects.filter(status__in=[CaseStatus.QUEUED, CaseStatus.ESCALATED]))


def _assert_fresh_queue() -> None:
    now = timezone.now()
    waiting = _waiting()
    assert len([c for c in waiting if c.status == CaseStatus.QUEUED]) >= 5
    assert all(c.sla_due_at > now and c.expires_at > now for c in waiting)
    assert all(c.created_at <= now for c in waiting)
    assert sum(c.is_blind for c in waiting if c.status == CaseStatus.QUEUED) >= 3
    escalated = [c for c in waiting if c.status == CaseStatus.ESCALATED]
    assert any(c.escalation_source == "reviewer" and c.escalation_note for c in escalated)


def test_seed_demo_leaves_a_fresh_queue_days_later():
    """Seeded, then left for ten days (rows aged, the SLA and expiry jobs run, a claim left
    lapsed): a second run leaves waiting cases inside their SLA and lifetime, a few blind, and
    an escalation with its note."""
    _seed("--scale", "0.1")
    _assert_fresh_queue()
    aged = timedelta(days=10)
    Case.objects.filter(status__in=[CaseStatus.QUEUED, CaseStatus.ESCALATED]).update(
        created_at=F("created_at") - aged,
        sla_due_at=F("sla_due_at") - aged,
        expires_at=F("expires_at") - aged,
    )
    ml_model = MLModel.objects.get(slug="tumour-triage")
    claimed = case_claim_next(ml_model=ml_model, reviewer=User.objects.get(username="reviewer2"))
    Case.objects.filter(pk=claimed.pk).update(lease_expires_at=timezone.now() - aged)
    escalated_by_sla = cases_escalate_overdue()
    expired = cases_expire()
    assert escalated_by_sla + expired > 0
    assert not any(c.status == CaseStatus.QUEUED for c in _waiting())

    _seed("--scale", "0.1")
    _assert_fresh_queue()
    assert not Case.objects.filter(status=CaseStatus.ASSIGNED).exists()
    assert cases_escalate_overdue() == 0
    assert cases_expire() == 0
