"""Response bodies of the API, built from rows (the fast path). Their documented shape is
``reviewapp/api/serializers.py``; tests/api/test_response_schema.py keeps the two in step."""

from typing import Any

from django.urls import reverse

from reviewapp.case_rules import routing_codes, routing_text
from reviewapp.models import Case, Decision, User
from reviewapp.permissions import user_may_see_model_answer
from reviewapp.selectors.cases import current_decision


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


def case_representation(case: Case, *, viewer: User | None) -> dict[str, Any]:
    """The case body of DESIGN.md as VIEWER may read it: while a blind case is undecided,
    whoever may decide it gets no prediction, explanation or answer-revealing routing text
    (``permissions.user_may_see_model_answer``)."""
    decision = current_decision(case)
    shown = user_may_see_model_answer(viewer, case)
    return {
        "id": case.pk,
        "external_id": case.external_id,
        "model": case.ml_model.slug,
        "model_version": case.model_version.version,
        "status": case.status,
        "routing_reason": routing_text(case, viewer),
        "routing_reasons": routing_codes(case, viewer),
        "priority": case.priority_name,
        "input": case.input,
        "prediction": {
            "label": case.predicted_label,
            "confidence": case.confidence,
            "scores": case.scores,
        }
        if shown
        else None,
        "explanation": case.explanation if shown else None,
        "metadata": case.metadata,
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
        "url": reverse("api-case-detail", kwargs={"case_id": case.pk}),
    }
