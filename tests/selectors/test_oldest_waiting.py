"""The oldest case waiting for people (the queue-age tripwire's figure): every waiting status
and every priority counts, finished cases don't."""

from datetime import timedelta

from django.utils import timezone

from reviewapp.models import Case, CaseStatus, Priority
from reviewapp.selectors.queue import oldest_waiting_at
from tests.factories import make_cases


def _received(case_id: int, *, hours_ago: float, **fields) -> None:
    at = timezone.now() - timedelta(hours=hours_ago)
    Case.objects.filter(pk=case_id).update(created_at=at, **fields)


def test_the_oldest_of_every_waiting_status_and_priority(ml_model, reviewer):
    ids = make_cases(ml_model, 6, confidence=0.4)
    assert oldest_waiting_at(ml_model) is not None  # all six queued, just now
    _received(ids[0], hours_ago=1, priority=Priority.URGENT)
    _received(ids[1], hours_ago=2, priority=Priority.LOW)
    assert oldest_waiting_at(ml_model) == Case.objects.get(pk=ids[1]).created_at
    _received(ids[2], hours_ago=3, status=CaseStatus.ESCALATED, escalated_at=timezone.now())
    assert oldest_waiting_at(ml_model) == Case.objects.get(pk=ids[2]).created_at
    lease = timezone.now() + timedelta(minutes=10)
    _received(
        ids[3],
        hours_ago=4,
        status=CaseStatus.ASSIGNED,
        assigned_to=reviewer,
        lease_expires_at=lease,
    )
    assert oldest_waiting_at(ml_model) == Case.objects.get(pk=ids[3]).created_at
    _received(ids[4], hours_ago=9, status=CaseStatus.DECIDED)  # finished: not waiting
    _received(ids[5], hours_ago=8, status=CaseStatus.AUTO_APPROVED)
    assert oldest_waiting_at(ml_model) == Case.objects.get(pk=ids[3]).created_at
    Case.objects.filter(pk__in=ids[:4]).update(
        status=CaseStatus.DECIDED, assigned_to=None, lease_expires_at=None
    )
    assert oldest_waiting_at(ml_model) is None
