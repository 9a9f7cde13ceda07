"""Response bodies of the API, built from rows (the fast path). Their documented shape is
``reviewapp/api/serializers.py``; tests/api/test_response_schema.py keeps the two in step."""

from typing import Any

from django.urls import reverse

from reviewapp.case_rules import reviews_required_shown, routing_codes, routing_text
from reviewapp.models import Case, CaseOpinion, Decision, User
from reviewapp.permissions import (
    user_may_see_model_answer,
    user_may_see_opinions,
    user_sees_pii,
)
from reviewapp.pii import explanation_mask, pii_mask
from reviewapp.selectors.cases import current_decision
from reviewapp.selectors.opinions import case_opinions


def decision_representation(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action,
        "final_label": decision.final_label,
        "reason_code": decision.reason_code,
        "feedback": decision.feedback,
        "explanation_helpful": decision.explanation_helpful,
        "decided_at": decision.decided_at.isoformat(),
        "reviewer": decision.reviewer.pseudonym,
        "was_blind": decision.was_blind,
    }


def opinion_representation(opinion: CaseOpinion) -> dict[str, Any]:
    return {
        "action": opinion.action,
        "final_label": opinion.final_label,
        "reason_code": opinion.reason_code,
        "feedback": opinion.feedback,
        "given_at": opinion.given_at.isoformat(),
        "reviewer": opinion.reviewer.pseudonym,
        "was_blind": opinion.was_blind,
    }


def opinions_part(case: Case, *, viewer: User | None) -> dict[str, Any]:
    """Second opinions as VIEWER may read them: how many reviewers the case needs and how
    many answered (hidden with the model's answer), and the opinions themselves for those who
    may see them (``permissions.user_may_see_opinions``). No query for single-review cases."""
    required = reviews_required_shown(case, viewer)
    if case.reviews_required <= 1 or required is None:
        return {
            "reviews_required": required,
            "opinions_given": 0 if required else None,
            "opinions": None,
        }
    opinions = case_opinions(case)
    return {
        "reviews_required": required,
        "opinions_given": len(opinions),
        "opinions": [opinion_representation(o) for o in opinions]
        if user_may_see_opinions(viewer, case)
        else None,
    }


def case_representation(case: Case, *, viewer: User | None) -> dict[str, Any]:
    """The case body of DESIGN.md as VIEWER may read it: while a blind case is undecided,
    whoever may decide it gets no prediction, explanation or answer-revealing routing text
    (``permissions.user_may_see_model_answer``)."""
    decision = current_decision(case)
    shown = user_may_see_model_answer(viewer, case)
    # Personal-data fields reach only the team's reviewers and leads unmasked (reviewapp/pii.py).
    pii = [] if user_sees_pii(viewer, case.ml_model) else list(case.ml_model.pii_fields or [])
    return {
        "id": case.pk,
        "external_id": case.external_id,
        "model": case.ml_model.slug,
        "model_version": case.model_version.version,
        "status": case.status,
        "routing_reason": routing_text(case, viewer),
        "routing_reasons": routing_codes(case, viewer),
        "priority": case.priority_name,
        "input": pii_mask(case.input, pii),
        "prediction": {
            "label": case.predicted_label,
            "confidence": case.confidence,
            "scores": case.scores,
        }
        if shown
        else None,
        "explanation": explanation_mask(case.explanation, pii) if shown else None,
        "metadata": pii_mask(case.metadata, pii),
        "redaction": case.redaction or None,
        "blind": case.is_blind,
        "created_at": case.created_at.isoformat(),
        "sla_due_at": case.sla_due_at.isoformat() if case.sla_due_at else None,
        "expires_at": case.expires_at.isoformat() if case.expires_at else None,
        "assigned_to": case.assigned_to.pseudonym
        if case.assigned_to_id and case.assigned_to
        else None,
        "lease_expires_at": case.lease_expires_at.isoformat() if case.lease_expires_at else None,
        "escalated": case.escalated_at is not None,
        "fallback_applied": case.fallback_applied or None,
        "decision": decision_representation(decision) if decision else None,
        **opinions_part(case, viewer=viewer),
        "url": reverse("api-case-detail", kwargs={"case_id": case.pk}),
    }
