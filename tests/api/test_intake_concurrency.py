"""Idempotent intake under concurrency, against PostgreSQL with real threads."""

import threading
from collections import Counter

import pytest
from django.db import connection

from reviewapp.models import AuditEvent, Case, ModelVersion
from tests.conftest import bearer_client
from tests.factories import case_payload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_concurrently(raw_token: str, calls: list) -> list:
    """Run ``(path, body)`` POSTs at once, one thread and DB connection each."""
    barrier = threading.Barrier(len(calls))
    responses: list = [None] * len(calls)

    def worker(i: int, path: str, body) -> None:
        client = bearer_client(raw_token)
        try:
            barrier.wait(timeout=10)
            response = client.post(path, body, format="json")
            responses[i] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, path, body))
        for i, (path, body) in enumerate(calls)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in responses), responses
    return responses


def test_ten_identical_concurrent_posts_make_one_case(service_account):
    """Ten threads POST the same case at once: one 201, nine 200, all with the same id."""
    body = case_payload(external_id="race-1", model_version="5.0.0")
    responses = _run_concurrently(service_account[1], [("/api/v1/cases", body)] * 10)
    statuses = Counter(status for status, _ in responses)
    assert statuses == {201: 1, 200: 9}, responses
    assert len({payload["id"] for _, payload in responses}) == 1
    assert Case.objects.filter(external_id="race-1").count() == 1
    assert AuditEvent.objects.filter(action="case.submitted").count() == 1
    assert ModelVersion.objects.filter(version="5.0.0").count() == 1
    assert AuditEvent.objects.filter(action="model_version.registered").count() == 1


def test_ten_concurrent_posts_with_different_bodies_one_wins(service_account):
    """Ten different bodies for one external_id at once: one 201, nine 409."""
    calls = [
        ("/api/v1/cases", case_payload(external_id="race-2", confidence=round(0.1 + i * 0.05, 2)))
        for i in range(10)
    ]
    responses = _run_concurrently(service_account[1], calls)
    statuses = Counter(status for status, _ in responses)
    assert statuses == {201: 1, 409: 9}, responses
    for status, payload in responses:
        if status == 409:
            assert payload["error"]["code"] == "conflict"
    winner = next(payload for status, payload in responses if status == 201)
    assert Case.objects.get(external_id="race-2").pk == winner["id"]


@pytest.mark.parametrize("reverse_second", [False, True], ids=["same-order", "reversed"])
def test_two_concurrent_identical_batches_create_each_case_once(service_account, reverse_second):
    """Two identical batches of 200 racing each other create every case exactly once."""
    items = [case_payload(external_id=f"batch-{i:03d}") for i in range(200)]
    second = list(reversed(items)) if reverse_second else items
    responses = _run_concurrently(
        service_account[1],
        [("/api/v1/cases/batch", {"cases": items}), ("/api/v1/cases/batch", {"cases": second})],
    )
    assert [status for status, _ in responses] == [200, 200]
    counts = [payload["counts"] for _, payload in responses]
    assert sum(c["created"] for c in counts) == 200
    assert sum(c["duplicate"] for c in counts) == 200
    assert all(c["error"] == 0 for c in counts)
    ids_first = {r["external_id"]: r["id"] for r in responses[0][1]["results"]}
    ids_second = {r["external_id"]: r["id"] for r in responses[1][1]["results"]}
    assert ids_first == ids_second
    assert Case.objects.count() == 200
    assert AuditEvent.objects.filter(action="case.submitted").count() == 200
