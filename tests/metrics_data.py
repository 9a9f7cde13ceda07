"""Hand-built decision data for the adoption metrics tests: cases go through intake, then
their decisions are written with the ORM at chosen times (data set-up, not mocking)."""

from datetime import UTC, date, datetime, timedelta

from reviewapp.models import Case, CaseStatus, Decision, MLModel, User
from tests.factories import make_cases

DAY = date(2025, 3, 10)


def at(day: date = DAY, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def decide(
    case_id: int,
    *,
    reviewer: User,
    action: str = "accept",
    reason_code: str = "",
    created_at: datetime | None = None,
    ttd_s: float = 60,
    spent_ms: int = 20_000,
    blind: bool = False,
    helpful: bool | None = None,
) -> Decision:
    """Mark a queued case decided ``ttd_s`` seconds after it was received."""
    created_at = created_at or at()
    decided_at = created_at + timedelta(seconds=ttd_s)
    case = Case.objects.get(pk=case_id)
    Case.objects.filter(pk=case_id).update(
        status=CaseStatus.DECIDED, created_at=created_at, decided_at=decided_at, is_blind=blind
    )
    other = next(label for label in case.ml_model.labels if label != case.predicted_label)
    return Decision.objects.create(
        case_id=case_id,
        ml_model_id=case.ml_model_id,
        reviewer=reviewer,
        action=action,
        final_label=case.predicted_label if action == "accept" else other,
        reason_code=reason_code or ("" if action == "accept" else "wrong_label"),
        explanation_helpful=helpful,
        time_spent_ms=spent_ms,
        was_blind=blind,
        decided_at=decided_at,
    )


def decided_cases(
    ml_model: MLModel,
    reviewer: User,
    *,
    accepts: int = 0,
    overrides: int = 0,
    reasons: list[str] | None = None,
    day: date = DAY,
    ttd_s: float = 60,
    spent_ms: int = 20_000,
    blind: bool = False,
    confidence: float = 0.55,
    label: str = "fraud",
    model_version: str = "2.3.0",
) -> list[Decision]:
    """``accepts`` accepted and ``overrides`` overridden cases received and decided on
    ``day``; override reason codes cycle through ``reasons``."""
    n = accepts + overrides
    if not n:
        return []
    ids = make_cases(ml_model, n, confidence=confidence, label=label, model_version=model_version)
    reasons = reasons or ["wrong_label"]
    out = []
    for i, case_id in enumerate(ids):
        is_accept = i < accepts
        out.append(
            decide(
                case_id,
                reviewer=reviewer,
                action="accept" if is_accept else "override",
                reason_code="" if is_accept else reasons[(i - accepts) % len(reasons)],
                created_at=at(day, 9, 0, 0),
                ttd_s=ttd_s,
                spent_ms=spent_ms,
                blind=blind,
            )
        )
    return out


def auto_approved_cases(ml_model: MLModel, n: int, *, day: date = DAY) -> list[int]:
    """``n`` confident cases (auto-approved) received on ``day``."""
    ids = make_cases(ml_model, n, confidence=0.95)
    Case.objects.filter(pk__in=ids).update(created_at=at(day, 8))
    return ids
