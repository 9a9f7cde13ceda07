"""Concurrent reviewers on PostgreSQL: every case claimed and decided exactly once."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from reviewapp.models import AuditEvent, Case, CaseStatus, Decision, Role
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next
from tests.factories import make_cases, make_model, make_team, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REVIEWERS = 20
CASES = 500


def _work(ml_model, reviewer, claimed: list, errors: list, barrier: threading.Barrier) -> None:
    try:
        barrier.wait()
        while True:
            case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
            if case is None:
                return
            claimed.append(case.pk)
            case_decide(case=case, reviewer=reviewer, action="accept")
    except Exception as exc:  # surfaced by the test
        errors.append(repr(exc))
    finally:
        connections.close_all()


def test_twenty_reviewers_decide_500_cases_exactly_once():
    """20 threads, each its own user and connection: no case lost, none decided twice."""
    team = make_team("concurrency")
    ml_model = make_model(team=team, slug="concurrent-model")
    make_cases(ml_model, CASES)
    reviewers = [make_user(Role.REVIEWER, team=team) for _ in range(REVIEWERS)]
    claimed: list[int] = []
    errors: list[str] = []
    barrier = threading.Barrier(REVIEWERS)
    threads = [
        threading.Thread(target=_work, args=(ml_model, r, claimed, errors, barrier))
        for r in reviewers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert connection.vendor == "postgresql"
    assert Decision.objects.count() == CASES
    assert Decision.objects.values("case_id").distinct().count() == CASES
    assert len(claimed) == CASES
    assert len(set(claimed)) == CASES
    assert Case.objects.filter(status=CaseStatus.DECIDED).count() == CASES
    per_case = Counter(
        AuditEvent.objects.filter(action="case.claimed").values_list("target_id", flat=True)
    )
    assert len(per_case) == CASES
    assert set(per_case.values()) == {1}
    assert len(set(Decision.objects.values_list("reviewer_id", flat=True))) > 1


def test_one_reviewer_claiming_concurrently_holds_one_case():
    """Two simultaneous claims by one reviewer on one model lease a single case."""
    team = make_team("double-click")
    ml_model = make_model(team=team, slug="double-click-model")
    make_cases(ml_model, 10)
    reviewer = make_user(Role.REVIEWER, team=team)
    got: list[int] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        try:
            barrier.wait()
            got.append(case_claim_next(ml_model=ml_model, reviewer=reviewer).pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(got) == 6
    assert len(set(got)) == 1
    assert Case.objects.filter(status=CaseStatus.ASSIGNED).count() == 1
