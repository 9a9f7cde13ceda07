"""The reviewer's pages: what was just saved, in words, shown above the next case."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from reviewapp.case_rules import decision_may_undo, decision_undo_deadline
from reviewapp.models import Case, Decision, DecisionAction


@dataclass(frozen=True)
class Outcome:
    """What was just saved, shown above the next case."""

    case_id: int
    action: str
    final_label: str
    reason_code: str
    predicted_label: str
    confidence: float
    was_blind: bool
    undo_ms: int = 0  # how long the reviewer may still undo it (the page hides Undo after)

    @property
    def text(self) -> str:
        if self.was_blind:
            return (
                f"Saved case #{self.case_id}. Blind review: the model said "
                f"{self.predicted_label} ({self.confidence:.0%}); you said {self.final_label}."
            )
        if self.action == DecisionAction.OVERRIDE:
            return (
                f"Saved case #{self.case_id}: you overrode {self.predicted_label} with "
                f"{self.final_label} ({self.reason_code.replace('_', ' ')})."
            )
        return f"Saved case #{self.case_id}: you accepted {self.final_label}."

    @property
    def agreed(self) -> bool:
        return self.final_label == self.predicted_label


def decision_outcome(case: Case, decision: Decision) -> Outcome:
    """The outcome of DECISION on CASE (the model's answer is shown now that it is decided),
    with the time its reviewer may still undo it (none for a blind decision)."""
    undo_ms = 0
    if decision_may_undo(decision, decision.reviewer):
        left = decision_undo_deadline(decision) - timezone.now()
        undo_ms = max(0, int(left.total_seconds() * 1000))
    return Outcome(
        case_id=case.pk,
        action=decision.action,
        final_label=decision.final_label,
        reason_code=decision.reason_code,
        predicted_label=case.predicted_label,
        confidence=case.confidence,
        was_blind=decision.was_blind,
        undo_ms=undo_ms,
    )
