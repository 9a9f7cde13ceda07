"""Routing: does a case need a human, and why. Pure functions over a policy."""

import random
from dataclasses import dataclass

from reviewapp.models import CaseStatus, MLModel, RoutingPolicy, RoutingReason, VersionStatus

_TYPE_CHECKS = {
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
}
SCHEMA_TYPES = frozenset(_TYPE_CHECKS)


@dataclass(frozen=True)
class RoutingOutcome:
    status: str
    reasons: list[str]
    detail: str
    is_blind: bool
    reviews_required: int = 1


def second_opinions_required(*, policy: RoutingPolicy, label: str, confidence: float) -> int:
    """How many independent reviewers a case that goes to people needs: the policy's
    ``reviewers_required`` when its selectors pick the case (the label is one of
    ``second_opinion_labels``, or the confidence is below ``second_opinion_below``; with
    neither set, every case that goes to people), else one."""
    if policy.reviewers_required <= 1:
        return 1
    labels, below = policy.second_opinion_labels or [], policy.second_opinion_below
    if not labels and below is None:
        return policy.reviewers_required
    if label in labels or (below is not None and confidence < below):
        return policy.reviewers_required
    return 1


def input_schema_problems(input_schema: dict | None, data: dict) -> list[str]:
    """What is wrong with an input against the model's schema (missing, unseen or mistyped
    features). An empty list means the input fits, or the model has no schema."""
    if not input_schema:
        return []
    problems = []
    unseen = sorted(set(data) - set(input_schema))
    if unseen:
        problems.append("unseen features: " + ", ".join(unseen[:10]))
    missing = sorted(name for name in input_schema if data.get(name) is None)
    if missing:
        problems.append("missing features: " + ", ".join(missing[:10]))
    mistyped = sorted(
        name
        for name, kind in input_schema.items()
        if data.get(name) is not None and not _TYPE_CHECKS.get(kind, lambda v: True)(data[name])
    )
    if mistyped:
        problems.append(
            "wrong type: " + ", ".join(f"{n} (expected {input_schema[n]})" for n in mistyped[:10])
        )
    return problems


def route_case(
    *,
    policy: RoutingPolicy,
    ml_model: MLModel,
    label: str,
    confidence: float,
    data: dict,
    rng: random.Random | None = None,
    version: str = "",
    version_status: str = VersionStatus.ACTIVE,
    automation_suspended: bool = False,
) -> RoutingOutcome:
    """Apply the routing rules of DESIGN.md; every rule that holds is kept as a reason.
    VERSION_STATUS is the lifecycle status of the case's model version (a candidate's cases
    all go to people) and AUTOMATION_SUSPENDED whether the model's circuit breaker holds."""
    draw = (rng or random).random
    reasons: list[str] = []
    details: list[str] = []
    if automation_suspended or version_status == VersionStatus.SUSPENDED:
        reasons.append(RoutingReason.AUTOMATION_SUSPENDED)
        details.append("automation is suspended for this model, so every case is reviewed")
    if version_status == VersionStatus.CANDIDATE:
        reasons.append(RoutingReason.CANDIDATE_VERSION)
        named = f"version {version}" if version else "the model version"
        details.append(
            f"{named} is a candidate: every case is reviewed until a manager approves "
            "its activation"
        )
    if confidence < policy.review_threshold:
        reasons.append(RoutingReason.LOW_CONFIDENCE)
        details.append(
            f"confidence {confidence:.2f} is below the review threshold "
            f"{policy.review_threshold:.2f}"
        )
    if label in (policy.always_review_labels or []):
        reasons.append(RoutingReason.ALWAYS_REVIEW_LABEL)
        details.append(f"'{label}' is a high-stakes label that is always reviewed")
    if policy.qa_sample_rate > 0 and draw() < policy.qa_sample_rate:
        reasons.append(RoutingReason.QA_SAMPLE)
        details.append(f"picked by the random quality sample ({policy.qa_sample_rate:.0%})")
    if policy.advisory_mode:
        reasons.append(RoutingReason.ADVISORY_MODE)
        details.append("the model is in advisory mode, so every case is reviewed")
    if policy.shadow_mode:  # every case reviewed blind, nothing auto-approved (go-live test)
        reasons.append(RoutingReason.SHADOW_MODE)
        details.append("the model runs in shadow mode: every case is reviewed blind")
    problems = input_schema_problems(ml_model.input_schema, data)
    if problems:
        reasons.append(RoutingReason.INPUT_SCHEMA)
        details.append("the input does not fit the model's schema (" + "; ".join(problems) + ")")
    if not reasons:
        return RoutingOutcome(CaseStatus.AUTO_APPROVED, [], "", False)
    is_blind = policy.shadow_mode or (
        policy.blind_sample_rate > 0 and draw() < policy.blind_sample_rate
    )
    reviewers = second_opinions_required(policy=policy, label=label, confidence=confidence)
    if reviewers > 1:
        reasons.append(RoutingReason.SECOND_OPINION)
        details.append(f"{reviewers} independent reviewers are asked for their answer")
    detail = "; ".join(details)
    return RoutingOutcome(
        CaseStatus.QUEUED,
        [str(r) for r in reasons],
        detail[:1].upper() + detail[1:],
        is_blind,
        reviewers,
    )
