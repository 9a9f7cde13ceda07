"""Test data for the model-health tests: cases through intake, decisions written directly
(the review workflow is tested elsewhere; here only the recorded outcome matters)."""

from datetime import datetime

from django.utils import timezone

from reviewapp.models import Case, CaseStatus, Decision, DecisionAction, MLModel, User
from tests.factories import make_cases


def cases_at(
    ml_model: MLModel, n: int, *, confidence: float, created_at: datetime | None = None, **kw
) -> list[int]:
    """``n`` cases predicted "fraud" at ``confidence`` (optionally back-dated)."""
    ids = make_cases(ml_model, n, confidence=confidence, label=kw.pop("label", "fraud"), **kw)
    if created_at is not None:
        Case.objects.filter(pk__in=ids).update(created_at=created_at)
    return ids


def decide(
    case_ids: list[int],
    *,
    reviewer: User,
    overrides: int = 0,
    time_spent_ms: int = 0,
    decided_at: datetime | None = None,
) -> None:
    """Decide the cases: the first ``overrides`` are overridden, the rest accepted."""
    when = decided_at or timezone.now()
    cases = list(Case.objects.filter(pk__in=case_ids).order_by("pk"))
    decisions = []
    for i, case in enumerate(cases):
        override = i < overrides
        decisions.append(
            Decision(
                case=case,
                ml_model_id=case.ml_model_id,
                reviewer=reviewer,
                action=DecisionAction.OVERRIDE if override else DecisionAction.ACCEPT,
                final_label=("legit" if case.predicted_label == "fraud" else "fraud")
                if override
                else case.predicted_label,
                reason_code="wrong_label" if override else "",
                time_spent_ms=time_spent_ms,
                decided_at=when,
            )
        )
    Decision.objects.bulk_create(decisions)
    Case.objects.filter(pk__in=case_ids).update(status=CaseStatus.DECIDED, decided_at=when)
