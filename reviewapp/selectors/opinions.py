"""Reads about second opinions: the opinions given on a case, and how often independent
reviewers agree (per reviewer and per pair of reviewers), for the adoption dashboard.

Who may read a case's opinions is ``permissions.user_may_see_opinions``; these functions do
not check it."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import combinations

from django.utils import timezone

from reviewapp.models import Case, CaseOpinion, MLModel, User

# At most this many opinions are read for the agreement figures of one period.
MAX_OPINIONS = 50_000


def case_opinions(case: Case) -> list[CaseOpinion]:
    """CASE's live opinions, oldest first, with their reviewers. No query for a case that
    needs a single reviewer."""
    if case.reviews_required <= 1:
        return []
    return list(
        CaseOpinion.objects.filter(case_id=case.pk, undone_at__isnull=True)
        .select_related("reviewer")
        .order_by("given_at", "id")
    )


def case_opinions_count(case: Case) -> int:
    """How many live opinions CASE has (no query for a case that needs a single reviewer)."""
    if case.reviews_required <= 1:
        return 0
    return CaseOpinion.objects.filter(case_id=case.pk, undone_at__isnull=True).count()


@dataclass(frozen=True)
class AgreementRow:
    """How often one reviewer (or one pair) named the same label as the other independent
    reviewers of the same cases: ``agreed`` of ``compared`` pairwise comparisons."""

    names: tuple[str, ...]
    compared: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.compared if self.compared else None


@dataclass(frozen=True)
class OpinionAgreement:
    cases: int  # cases with at least two opinions in the period
    compared: int  # pairwise comparisons over those cases
    agreed: int
    by_reviewer: list[AgreementRow]
    by_pair: list[AgreementRow]

    @property
    def rate(self) -> float | None:
        return self.agreed / self.compared if self.compared else None


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(date_from, time.min), tz)
    return start, timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), tz)


def opinion_agreement(
    *, ml_models: list[MLModel], date_from: date, date_to: date
) -> OpinionAgreement:
    """Agreement between independent reviewers on the cases of ML_MODELS whose opinions were
    given in the period: every pair of live opinions on one case is one comparison; it agrees
    when both name the same label. Per reviewer over the comparisons they take part in, and
    per pair of reviewers (names ordered). Two queries."""
    start, end = _bounds(date_from, date_to)
    rows = list(
        CaseOpinion.objects.filter(
            ml_model__in=ml_models,
            undone_at__isnull=True,
            given_at__gte=start,
            given_at__lt=end,
        )
        .order_by("case_id", "given_at", "id")
        .values_list("case_id", "reviewer_id", "final_label")[:MAX_OPINIONS]
    )
    by_case: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for case_id, reviewer_id, label in rows:
        by_case[case_id].append((reviewer_id, label))
    reviewer_counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    pair_counts: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    cases = compared = agreed = 0
    for opinions in by_case.values():
        if len(opinions) < 2:
            continue
        cases += 1
        for (a, label_a), (b, label_b) in combinations(opinions, 2):
            same = int(label_a == label_b)
            compared, agreed = compared + 1, agreed + same
            for counts in (reviewer_counts[a], reviewer_counts[b], pair_counts[_pair(a, b)]):
                counts[0] += 1
                counts[1] += same
    names = (
        dict(User.objects.filter(pk__in=set(reviewer_counts)).values_list("pk", "username"))
        if reviewer_counts
        else {}
    )

    def name(pk: int) -> str:
        return names.get(pk, f"#{pk}")

    by_reviewer = sorted(
        (AgreementRow((name(pk),), n, ok) for pk, (n, ok) in reviewer_counts.items()),
        key=lambda r: (-r.compared, r.names),
    )
    by_pair = sorted(
        (
            AgreementRow(tuple(sorted((name(a), name(b)))), n, ok)
            for (a, b), (n, ok) in pair_counts.items()
        ),
        key=lambda r: (-r.compared, r.names),
    )
    return OpinionAgreement(cases, compared, agreed, by_reviewer, by_pair)


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)
