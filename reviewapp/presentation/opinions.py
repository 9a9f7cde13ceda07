"""Second opinions in words: the opinions a lead reads on an escalated case, the line a
reviewer sees after giving an opinion, the note on a case that needs several reviewers, and
the agreement figures of the adoption dashboard (worded as information, not judgement)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from reviewapp.case_rules import opinion_undo_deadline
from reviewapp.models import Case, CaseOpinion, CaseStatus, DecisionAction
from reviewapp.selectors.opinions import AgreementRow, OpinionAgreement


def _person(opinion: CaseOpinion) -> str:
    user = opinion.reviewer
    return user.get_full_name() or user.get_username()


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def opinion_rows(opinions: list[CaseOpinion]) -> list[dict]:
    """One row per opinion for the lead's view: who, what, why, when, and whether it is the
    label most of the others named (a disagreement has no majority with two reviewers)."""
    labels = [o.final_label for o in opinions]
    return [
        {
            "reviewer": _person(o),
            "label": o.final_label,
            "action": "accepted the model's label"
            if o.action == DecisionAction.ACCEPT
            else "overrode the model's label",
            "reason": o.reason_code.replace("_", " ") if o.reason_code else "",
            "feedback": o.feedback,
            "given_at": o.given_at,
            "was_blind": o.was_blind,
            "shared": labels.count(o.final_label) > 1,
        }
        for o in opinions
    ]


def second_opinion_note(case: Case, *, shown_count: int | None) -> str:
    """What a reviewer of a case that needs several reviewers is told: that they are one of
    them and the others' answers stay hidden. Empty for a single-review case and for a lead
    deciding an escalated one (the opinions are listed instead)."""
    if case.reviews_required <= 1 or case.escalated_at is not None:
        return ""
    text = (
        f"Second opinion: this case needs {case.reviews_required} independent reviewers. "
        "Answer on your own; the other answers stay hidden until the case is resolved, and a "
        "lead decides when the answers differ."
    )
    if shown_count:
        text += f" Opinions given so far: {shown_count}."
    return text


@dataclass(frozen=True)
class OpinionOutcome:
    """What was just saved when the answer was one independent opinion (the shape of
    ``presentation.review.Outcome`` that the outcome line reads)."""

    case_id: int
    text: str
    undo_ms: int = 0
    was_blind: bool = False  # the outcome line reveals nothing: the case is still undecided
    agreed: bool = False


def opinion_outcome(
    case: Case, opinion: CaseOpinion, *, now: datetime | None = None
) -> OpinionOutcome:
    """The line shown above the next case after an opinion, with its undo time left (none
    for a blind opinion)."""
    now = now or timezone.now()
    if case.status == CaseStatus.ESCALATED:
        where = "the independent answers differ, so a lead decides it"
    elif case.status == CaseStatus.DECIDED:
        where = "the independent answers agree, so it is decided"
    else:
        where = "it goes on to the next independent reviewer"
    text = f"Saved your opinion on case #{case.pk} ({opinion.final_label}): {where}."
    if opinion.was_blind:
        text = f"Saved your opinion on case #{case.pk}: {where}."
    undo_ms = 0
    if not opinion.was_blind and case.status in (CaseStatus.QUEUED, CaseStatus.ESCALATED):
        left = opinion_undo_deadline(opinion) - now
        undo_ms = max(0, int(left.total_seconds() * 1000))
    return OpinionOutcome(case_id=case.pk, text=text, undo_ms=undo_ms)


def _agreement_row(row: AgreementRow) -> dict:
    return {
        "names": " & ".join(row.names),
        "compared": row.compared,
        "agreed": row.agreed,
        "rate": _percent(row.rate),
    }


def agreement_card(agreement: OpinionAgreement) -> dict:
    """The dashboard's "Independent reviewers" card: overall, per reviewer, per pair."""
    summary = (
        f"On {agreement.cases} case{'s' if agreement.cases != 1 else ''} with independent "
        f"reviewers, their answers named the same label in {_percent(agreement.rate)} of "
        f"{agreement.compared} comparison{'s' if agreement.compared != 1 else ''}."
        if agreement.cases
        else ""
    )
    return {
        "summary": summary,
        "by_reviewer": [_agreement_row(r) for r in agreement.by_reviewer],
        "by_pair": [_agreement_row(r) for r in agreement.by_pair],
    }


def _figures_row(row: AgreementRow) -> dict:
    return {"compared": row.compared, "agreed": row.agreed, "agreement_rate": row.rate}


def agreement_figures(agreement: OpinionAgreement) -> dict:
    """The same figures for GET /api/v1/metrics/adoption (``second_opinions``)."""
    return {
        "cases": agreement.cases,
        "compared": agreement.compared,
        "agreed": agreement.agreed,
        "agreement_rate": agreement.rate,
        "by_reviewer": [
            {"reviewer": row.names[0], **_figures_row(row)} for row in agreement.by_reviewer
        ],
        "by_pair": [
            {"reviewers": list(row.names), **_figures_row(row)} for row in agreement.by_pair
        ],
    }
