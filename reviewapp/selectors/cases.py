"""Reading cases: the API representation and look-ups scoped to what a user may see."""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from reviewapp.models import Case, Decision, User
from reviewapp.permissions import models_visible_to


def cases_visible_to(user: User) -> QuerySet[Case]:
    return Case.objects.filter(ml_model__in=models_visible_to(user))


def with_current_decision(qs: QuerySet[Case]) -> QuerySet[Case]:
    return qs.select_related("ml_model", "model_version", "assigned_to").prefetch_related(
        Prefetch(
            "decisions",
            queryset=Decision.objects.filter(superseded_at__isnull=True).select_related("reviewer"),
            to_attr="current_decisions",
        )
    )


def current_decision(case: Case) -> Decision | None:
    decisions = getattr(case, "current_decisions", None)
    if decisions is None:
        return case.decisions.filter(superseded_at__isnull=True).select_related("reviewer").first()
    return decisions[0] if decisions else None


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


def case_representation(case: Case, *, hide_model_answer: bool = False) -> dict[str, Any]:
    """The case body of DESIGN.md. ``hide_model_answer`` blanks the recommendation, scores
    and explanation (for blind-sampled cases shown to a reviewer before the decision)."""
    decision = current_decision(case)
    body: dict[str, Any] = {
        "id": case.pk,
        "external_id": case.external_id,
        "model": case.ml_model.slug,
        "model_version": case.model_version.version,
        "status": case.status,
        "routing_reason": case.routing_detail,
        "routing_reasons": case.routing_reasons,
        "priority": case.priority_name,
        "input": case.input,
        "prediction": {
            "label": case.predicted_label,
            "confidence": case.confidence,
            "scores": case.scores,
        },
        "explanation": case.explanation,
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
    if hide_model_answer:
        body["prediction"] = None
        body["explanation"] = None
    return body
