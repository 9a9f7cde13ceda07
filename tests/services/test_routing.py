"""Routing rules: each rule with its stored reason code and text, and what intake stores."""

import random

import pytest

from reviewapp.models import (
    AuditEvent,
    Case,
    CaseStatus,
    MLModel,
    ModelVersion,
    PolicyStatus,
    RoutingPolicy,
    RoutingReason,
)
from reviewapp.services.intake import cases_submit
from reviewapp.services.routing import input_schema_problems, route_case
from tests.factories import case_payload, make_model, make_service_account

SCHEMA = {"amount": "number", "country": "string", "account_age_days": "integer"}
GOOD_INPUT = {"amount": 1200.5, "country": "DE", "account_age_days": 3}


def _policy(**rules) -> RoutingPolicy:
    rules = {"qa_sample_rate": 0.0, "blind_sample_rate": 0.0, **rules}
    return RoutingPolicy(version=1, status=PolicyStatus.ACTIVE, **rules)


def _route(policy=None, *, label="legit", confidence=0.95, data=None, schema=None, seed=0):
    return route_case(
        policy=policy or _policy(),
        ml_model=MLModel(slug="m", labels=["fraud", "legit"], input_schema=schema),
        label=label,
        confidence=confidence,
        data=GOOD_INPUT if data is None else data,
        rng=random.Random(seed),
    )


def test_confident_unsampled_case_is_auto_approved_without_reasons():
    """Above the threshold, no sampling, no rule: auto-approved with no reason and no blind."""
    outcome = _route(confidence=0.95, schema=SCHEMA)
    assert outcome.status == CaseStatus.AUTO_APPROVED
    assert outcome.reasons == []
    assert outcome.detail == ""
    assert outcome.is_blind is False


def test_confidence_at_threshold_is_not_low():
    """The threshold is strict: confidence equal to it does not route."""
    assert _route(_policy(review_threshold=0.8), confidence=0.8).status == "auto_approved"


def test_low_confidence_routes_with_reason_and_text():
    """Confidence below the threshold queues the case and says by how much."""
    outcome = _route(_policy(review_threshold=0.8), confidence=0.62)
    assert outcome.status == CaseStatus.QUEUED
    assert outcome.reasons == ["low_confidence"]
    assert outcome.detail == "Confidence 0.62 is below the review threshold 0.80"


def test_always_review_label_routes_even_when_confident():
    """A high-stakes label is always reviewed."""
    outcome = _route(_policy(always_review_labels=["fraud"]), label="fraud", confidence=0.99)
    assert outcome.reasons == ["always_review_label"]
    assert outcome.detail == "'fraud' is a high-stakes label that is always reviewed"
    assert _route(_policy(always_review_labels=["fraud"]), label="legit").reasons == []


def test_qa_sample_rate_one_samples_every_case():
    """With a QA sample rate of 1.0 every confident case is sampled."""
    outcomes = [_route(_policy(qa_sample_rate=1.0), seed=s) for s in range(50)]
    assert all(o.reasons == ["qa_sample"] for o in outcomes)
    assert outcomes[0].detail == "Picked by the random quality sample (100%)"


def test_qa_sample_rate_zero_samples_nothing():
    """With a QA sample rate of 0.0 no confident case is sampled."""
    outcomes = [_route(_policy(qa_sample_rate=0.0), seed=s) for s in range(50)]
    assert all(o.status == "auto_approved" for o in outcomes)


def test_qa_sample_rate_is_roughly_honoured():
    """A 20% sample picks about a fifth of 2,000 confident cases."""
    rng = random.Random(42)
    policy = _policy(qa_sample_rate=0.2)
    ml_model = MLModel(slug="m", labels=["fraud", "legit"])
    picked = sum(
        route_case(
            policy=policy, ml_model=ml_model, label="legit", confidence=0.9, data={}, rng=rng
        ).status
        == "queued"
        for _ in range(2000)
    )
    assert 330 < picked < 470


def test_advisory_mode_reviews_everything():
    """Advisory mode queues even a confident case."""
    outcome = _route(_policy(advisory_mode=True))
    assert outcome.reasons == ["advisory_mode"]
    assert outcome.detail == "The model is in advisory mode, so every case is reviewed"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"amount": 1.0, "country": "DE"}, "missing features: account_age_days"),
        ({**GOOD_INPUT, "account_age_days": None}, "missing features: account_age_days"),
        ({**GOOD_INPUT, "device": "ios"}, "unseen features: device"),
        ({**GOOD_INPUT, "amount": "1200"}, "wrong type: amount (expected number)"),
        ({**GOOD_INPUT, "amount": True}, "wrong type: amount (expected number)"),
        (
            {**GOOD_INPUT, "account_age_days": 3.5},
            "wrong type: account_age_days (expected integer)",
        ),
        ({**GOOD_INPUT, "country": 49}, "wrong type: country (expected string)"),
    ],
    ids=[
        "missing",
        "null",
        "unseen",
        "string-for-number",
        "bool-for-number",
        "float-for-int",
        "int-for-string",
    ],
)
def test_input_schema_problems_route_with_reason(data, expected):
    """Missing, unseen and mistyped features each send the case to a human, saying which."""
    outcome = _route(data=data, schema=SCHEMA)
    assert outcome.status == CaseStatus.QUEUED
    assert outcome.reasons == ["input_schema"]
    assert expected in outcome.detail
    assert outcome.detail.startswith("The input does not fit the model's schema (")


def test_no_schema_means_no_schema_problems():
    """A model without an input schema accepts any input."""
    assert input_schema_problems(None, {"anything": [1, 2]}) == []
    assert _route(data={"x": "y"}, schema=None).reasons == []


def test_several_rules_keep_every_reason_in_rule_order():
    """When several rules hold, every reason is kept and the text names each."""
    policy = _policy(
        review_threshold=0.9, always_review_labels=["fraud"], qa_sample_rate=1.0, advisory_mode=True
    )
    outcome = _route(policy, label="fraud", confidence=0.5, data={"amount": "x"}, schema=SCHEMA)
    assert outcome.reasons == [
        "low_confidence",
        "always_review_label",
        "qa_sample",
        "advisory_mode",
        "input_schema",
    ]
    for text in ("below the review threshold", "high-stakes", "quality sample", "advisory mode"):
        assert text in outcome.detail


def test_blind_rate_one_makes_queued_cases_blind_and_never_auto_approved_ones():
    """Blind sampling at 1.0 blinds every queued case; auto-approved cases are never blind."""
    policy = _policy(blind_sample_rate=1.0)
    assert _route(policy, confidence=0.3).is_blind is True
    assert _route(policy, confidence=0.99).is_blind is False
    assert _route(_policy(blind_sample_rate=0.0), confidence=0.3).is_blind is False


def test_every_reason_code_has_human_text():
    """Each stored reason code has its human-readable text on the case."""
    case = Case(routing_reasons=[r.value for r in RoutingReason])
    assert case.routing_reason_text.split("; ") == [r.label for r in RoutingReason]


# --- what intake stores ----------------------------------------------------------------------


@pytest.fixture
def svc_model(db):
    ml_model = make_model(
        slug="credit",
        review_threshold=0.7,
        always_review_labels=["fraud"],
        input_schema=SCHEMA,
    )
    user, _raw = make_service_account(ml_model)
    return ml_model, user


def _submit(svc_model, *items):
    ml_model, user = svc_model
    return cases_submit(ml_model=ml_model, items=list(items), submitted_by=user)


def test_intake_stores_reasons_text_and_policy_version(svc_model):
    """The stored case carries its reason codes, the human text and the policy version."""
    [result] = _submit(svc_model, case_payload(external_id="c1", label="fraud", confidence=0.5))
    case = Case.objects.select_related("policy").get(pk=result.case_id)
    assert case.status == CaseStatus.QUEUED
    assert case.routing_reasons == ["low_confidence", "always_review_label"]
    assert case.routing_detail == (
        "Confidence 0.50 is below the review threshold 0.70; "
        "'fraud' is a high-stakes label that is always reviewed"
    )
    assert case.routing_reason_text == (
        "Confidence is below the review threshold; The predicted label is always reviewed"
    )
    assert case.policy.status == PolicyStatus.ACTIVE
    assert case.policy.version == 1
    assert case.sla_due_at is not None
    assert case.expires_at is not None


def test_intake_auto_approves_confident_case(svc_model):
    """A confident legit case with a clean input is auto-approved and keeps no reasons."""
    [result] = _submit(svc_model, case_payload(external_id="c2", label="legit", confidence=0.9))
    case = Case.objects.get(pk=result.case_id)
    assert (case.status, case.routing_reasons, case.routing_detail) == ("auto_approved", [], "")
    assert case.sla_due_at is None
    assert case.is_blind is False


def test_intake_uses_the_newly_active_policy_version(svc_model):
    """Cases record the policy version active when they arrived."""
    ml_model, _user = svc_model
    _submit(svc_model, case_payload(external_id="before", label="legit", confidence=0.9))
    old = RoutingPolicy.objects.get(ml_model=ml_model, status="active")
    new = RoutingPolicy.objects.create(
        ml_model=ml_model,
        version=2,
        status=PolicyStatus.PROPOSED,
        advisory_mode=True,
        qa_sample_rate=0,
        blind_sample_rate=0,
    )
    RoutingPolicy.objects.filter(pk=old.pk).update(status=PolicyStatus.SUPERSEDED)
    RoutingPolicy.objects.filter(pk=new.pk).update(status=PolicyStatus.ACTIVE)
    _submit(svc_model, case_payload(external_id="after", label="legit", confidence=0.9))
    versions = dict(Case.objects.values_list("external_id", "policy__version"))
    assert versions == {"before": 1, "after": 2}
    assert Case.objects.get(external_id="after").routing_reasons == ["advisory_mode"]


def test_blind_rate_one_sets_is_blind_on_stored_case(db):
    """With blind sampling at 1.0 every queued case is stored blind."""
    ml_model = make_model(slug="blind", blind_sample_rate=1.0)
    user, _ = make_service_account(ml_model)
    results = cases_submit(
        ml_model=ml_model,
        items=[case_payload(confidence=0.5), case_payload(confidence=0.95)],
        submitted_by=user,
    )
    blind = dict(
        Case.objects.filter(pk__in=[r.case_id for r in results]).values_list("status", "is_blind")
    )
    assert blind == {"queued": True, "auto_approved": False}


def test_model_version_created_on_first_sight_and_reused(svc_model):
    """A new version string creates one ModelVersion (audited once); later cases reuse it."""
    ml_model, _user = svc_model
    _submit(svc_model, case_payload(external_id="v1", model_version="9.0.0"))
    _submit(
        svc_model,
        case_payload(external_id="v2", model_version="9.0.0"),
        case_payload(external_id="v3", model_version="9.1.0"),
        case_payload(external_id="v4", model_version="9.1.0"),
    )
    assert sorted(
        ModelVersion.objects.filter(ml_model=ml_model).values_list("version", flat=True)
    ) == [
        "9.0.0",
        "9.1.0",
    ]
    cases = Case.objects.select_related("model_version")
    assert {c.external_id: c.model_version.version for c in cases} == {
        "v1": "9.0.0",
        "v2": "9.0.0",
        "v3": "9.1.0",
        "v4": "9.1.0",
    }
    registered = AuditEvent.objects.filter(action="model_version.registered")
    assert sorted(e.changes["version"] for e in registered) == ["9.0.0", "9.1.0"]


def test_invalid_items_do_not_register_versions(svc_model):
    """A version named only by an invalid case is not registered."""
    _submit(svc_model, case_payload(external_id="bad", model_version="7.7.7", label="cat"))
    assert not ModelVersion.objects.filter(version="7.7.7").exists()
