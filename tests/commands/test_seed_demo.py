"""seed_demo: real trained models, explanations with numeric weights, idempotent."""

import math
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from reviewapp.management.demo import DEFAULT_DEMO_PASSWORD, DEMO_MODELS, ESCALATION_NOTE
from reviewapp.models import (
    ApiToken,
    AuditEvent,
    Case,
    CaseStatus,
    Comment,
    Decision,
    GuidelineVersion,
    MLModel,
    ModelDocumentation,
    ModelVersion,
    Outcome,
    PolicyStatus,
    Role,
    RoutingPolicy,
    Team,
    User,
    VersionStatus,
)
from reviewapp.selectors.metrics import adoption_metrics
from reviewapp.selectors.quality import quality_metrics
from reviewapp.services.queue import case_claim_next, cases_escalate_overdue, cases_expire
from reviewapp.services.retention import retention_apply

pytestmark = pytest.mark.django_db

# Tests run with DEBUG off, where seed_demo needs a password of its own.
PASSWORD = "a-long-demo-passphrase-42"
COUNTED = (
    Team,
    User,
    MLModel,
    ModelVersion,
    RoutingPolicy,
    Case,
    Decision,
    ApiToken,
    AuditEvent,
    Comment,
    GuidelineVersion,
    ModelDocumentation,
    Outcome,
)


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
        assert ml_model.versions.count() == 3  # two approved, one waiting for approval
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


def _thread(case: Case) -> list[tuple[str, str]]:
    return [(c.author.username, c.text) for c in case.comments.order_by("created_at", "id")]


def _story_checks() -> None:
    """Every story element of the demo (issues #9 and #10), per model."""
    owner, manager = User.objects.get(username="owner"), User.objects.get(username="manager")
    today = timezone.localdate()
    for spec in DEMO_MODELS:
        ml_model = MLModel.objects.get(slug=spec.slug)
        cases = Case.objects.filter(ml_model=ml_model)
        policy = RoutingPolicy.objects.get(ml_model=ml_model, status=PolicyStatus.ACTIVE)

        # Guidelines: Markdown text, every label and every reason code defined, by the owner.
        guidelines = GuidelineVersion.objects.get(ml_model=ml_model)
        assert guidelines.text.startswith("## ")
        assert guidelines.created_by == owner
        assert set(guidelines.label_definitions) == set(ml_model.labels)  # jsonb: no order
        assert set(guidelines.reason_definitions) == set(policy.reason_codes)

        # A conversation on the escalated case: the note, the lead's reply mentioning the
        # reviewer, the reviewer's answer.
        escalated = cases.get(status=CaseStatus.ESCALATED, escalation_note=ESCALATION_NOTE)
        thread = _thread(escalated)
        assert [who for who, _ in thread] == ["reviewer", "lead", "reviewer"]
        assert thread[0][1] == ESCALATION_NOTE
        assert thread[1][1].startswith("@reviewer ")
        reply = escalated.comments.get(author__username="lead")
        assert list(reply.mentions.values_list("username", flat=True)) == ["reviewer"]

        # Model cards on every version; the rollout approved by a manager (four eyes); a
        # later version sent by the service account, waiting for a manager's approval.
        versions = {v.version: v for v in ml_model.versions.all()}
        assert set(versions) == {spec.versions[0][0], spec.versions[1][0], spec.candidate[0]}
        assert all(v.documentation.exists() for v in versions.values())
        rollout = versions[spec.versions[1][0]]
        assert (rollout.status, rollout.activated_by) == (VersionStatus.ACTIVE, manager)
        candidate = versions[spec.candidate[0]]
        assert candidate.status == VersionStatus.CANDIDATE
        assert candidate.activation_proposed_by == owner
        assert candidate.activation_proposed_at is not None
        waiting = cases.filter(model_version=candidate, status=CaseStatus.QUEUED)
        assert waiting.count() >= 3
        assert all("candidate_version" in c.routing_reasons for c in waiting)
        assert {c.submitted_by.role for c in waiting} == {Role.SERVICE_ACCOUNT}

        # Ground truth for most of the finished history: "Did review help?" has figures.
        finished = cases.filter(status__in=[CaseStatus.DECIDED, CaseStatus.AUTO_APPROVED])
        outcomes = Outcome.objects.filter(ml_model=ml_model)
        assert outcomes.count() >= 0.5 * finished.count()
        quality = quality_metrics(
            ml_model=ml_model, date_from=today - timedelta(days=30), date_to=today
        )
        assert quality["outcomes"] == outcomes.count()
        assert quality["auto_approved"]["n"] >= 30
        assert quality["auto_approved"]["model_accuracy"] is not None
        assert quality["reviewed"]["n"] >= 100
        assert quality["review_gain"] is not None

        # Segments declared before the cases came in: each case carries its segment.
        assert ml_model.segment_fields == list(spec.segment_fields)
        field = spec.segment_fields[0]
        assert all(field in c.segments for c in cases.only("segments"))

    tumour = MLModel.objects.get(slug="tumour-triage")
    quality = quality_metrics(ml_model=tumour, date_from=today - timedelta(days=30), date_to=today)
    assert quality["review_gain"] > 0  # reviewers caught more than they broke

    # A planted gap: at riverside the model is wrong far more often (outcomes and overrides).
    def rates(*, riverside: bool) -> tuple[float, float]:
        there = {"case__segments__site": "riverside"}
        outcomes = Outcome.objects.filter(ml_model=tumour).select_related("case")
        decisions = Decision.objects.filter(ml_model=tumour)
        if riverside:
            outcomes, decisions = outcomes.filter(**there), decisions.filter(**there)
        else:
            outcomes, decisions = outcomes.exclude(**there), decisions.exclude(**there)
        wrong = sum(o.label != o.case.predicted_label for o in outcomes)
        overrides = decisions.filter(action="override").count()
        return wrong / len(outcomes), overrides / decisions.count()

    error_there, override_there = rates(riverside=True)
    error_elsewhere, override_elsewhere = rates(riverside=False)
    assert error_there - error_elsewhere >= 0.10
    assert override_there > override_elsewhere
    # ... which the dashboards' segment figures flag, and only there.
    month = {"date_from": today - timedelta(days=30), "date_to": today}
    flagged = {
        (slug, row["value"])
        for slug in ("tumour-triage", "wine-provenance")
        for rows in adoption_metrics(ml_models=[MLModel.objects.get(slug=slug)], **month)[
            "by_segment"
        ].values()
        for row in rows
        if row["disparity"]
    }
    assert flagged == {("tumour-triage", "riverside")}

    # Personal data and retention: the patient reference is a declared personal field, and
    # the retention period keeps every demo case (the retention job removes nothing).
    assert tumour.pii_fields == ["patient_ref"]
    assert tumour.retention_days == 365
    assert all(
        c.metadata["patient_ref"].startswith("PT-")
        for c in Case.objects.filter(ml_model=tumour).only("metadata")
    )
    assert retention_apply().cases == 0


def test_seed_demo_tells_the_story_and_a_second_run_changes_nothing():
    """Full seed: guidelines, a comment thread on the escalation, outcomes with review gain,
    a candidate version waiting for approval (documented), segments with a planted gap,
    personal-data and retention settings. Seeded again at once, nothing changes."""
    _seed()
    _story_checks()
    before = _counts()
    output = _seed()
    assert _counts() == before
    assert "(0 new)" in output
    assert output.count("waits for a manager's approval") == 2
    _story_checks()


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
    for spec in DEMO_MODELS:
        thread = Case.objects.get(
            ml_model__slug=spec.slug,
            status=CaseStatus.ESCALATED,
            escalation_note=ESCALATION_NOTE,
        )
        assert [who for who, _ in _thread(thread)] == ["reviewer", "lead", "reviewer"]
        version = ModelVersion.objects.get(ml_model__slug=spec.slug, version=spec.candidate[0])
        assert version.activation_proposed_at is not None
        assert any(c.model_version_id == version.pk for c in waiting)


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
