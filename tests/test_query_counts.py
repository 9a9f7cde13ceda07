"""Exact query counts on the hot paths, per database (Zulip's assert_database_query_count).
A change that adds a query fails here and must update the pin on purpose; the comment beside
each pin says what the queries are."""

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from reviewapp.services.accounts import token_create
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next
from tests import factories
from tests.conftest import bearer_client


def pin(sqlite: int, postgresql: int) -> int:
    return {"sqlite": sqlite, "postgresql": postgresql}[connection.vendor]


@pytest.fixture
def sa(ml_model):
    """The service account's API client (its token is looked up once per request)."""
    _user, raw = factories.make_service_account(ml_model)
    client = bearer_client(raw)
    client.post("/api/v1/cases", factories.case_payload(), format="json")  # warm: version row
    return client


@pytest.fixture
def reviewer_api(reviewer) -> APIClient:
    return bearer_client(token_create(user=reviewer)[1])


def test_submit_one(sa, django_assert_num_queries):
    """Single submit: token, policy, (version), insert ... ON CONFLICT RETURNING, audit event;
    SQLite adds its existing-id probe and savepoints."""
    body = factories.case_payload()
    with django_assert_num_queries(pin(sqlite=10, postgresql=7)):
        assert sa.post("/api/v1/cases", body, format="json").status_code == 201


def test_submit_batch_of_100(sa, django_assert_num_queries):
    """A batch of 100: set-based (COPY into a temp table on PostgreSQL), one audit insert."""
    items = [factories.case_payload() for _ in range(100)]
    with django_assert_num_queries(pin(sqlite=14, postgresql=9)):
        response = sa.post("/api/v1/cases/batch", {"cases": items}, format="json")
    assert response.json()["counts"]["created"] == 100


def test_claim(ml_model, reviewer_api, django_assert_num_queries):
    """Claim: token (+ last use), model, teams, advisory/held-claim read, pick, take, audit."""
    factories.make_cases(ml_model, 3)
    with django_assert_num_queries(pin(sqlite=10, postgresql=10)):
        assert reviewer_api.post(f"/api/v1/queues/{ml_model.slug}/claim").status_code == 200


def test_decide(ml_model, reviewer, reviewer_api, django_assert_num_queries):
    """Decide: token (+ last use), case, teams, row lock, guidelines version, insert decision,
    update case, audit (no outbox row: this model has no webhook)."""
    factories.make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    with django_assert_num_queries(pin(sqlite=11, postgresql=11)):
        response = reviewer_api.post(
            f"/api/v1/cases/{case.pk}/decision", {"action": "accept"}, format="json"
        )
    assert response.status_code == 200


def test_case_read(ml_model, sa, django_assert_num_queries):
    """Read by id: token, case with its joins, audit view event, current decision."""
    (case_id,) = factories.make_cases(ml_model, 1)
    with django_assert_num_queries(pin(sqlite=6, postgresql=6)):
        assert sa.get(f"/api/v1/cases/{case_id}").status_code == 200


def test_lookup(ml_model, reviewer_api, django_assert_num_queries):
    """Look-up: token (+ last use), teams, cases, prefetched decisions, one audit insert."""
    factories.make_cases(ml_model, 3)
    external_id = ml_model.cases.first().external_id
    with django_assert_num_queries(pin(sqlite=8, postgresql=8)):
        response = reviewer_api.get("/api/v1/cases", {"external_id": external_id})
    assert len(response.json()["results"]) == 1


@pytest.mark.django_db(transaction=True)  # the feed reads only committed decisions
def test_feed_page(ml_model, reviewer, sa, django_assert_num_queries):
    """Feed: token, the page's positions (one UNION statement over decisions and feed events,
    one snapshot), its decisions, one audit event (its own autocommit INSERT)."""
    factories.make_cases(ml_model, 5)
    for _ in range(5):
        case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
        case_decide(case=case, reviewer=reviewer, action="accept")
    with django_assert_num_queries(pin(sqlite=4, postgresql=4)):
        response = sa.get("/api/v1/decisions")
    assert len(response.json()["results"]) == 5


def test_review_page(ml_model, reviewer, client, django_assert_num_queries):
    """The reviewer's case page: session, user, case with joins, teams, audit view event, and
    the progress line (decided today, waiting in the queue), the model's guidelines, the
    case's comments."""
    factories.make_cases(ml_model, 1)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    client.force_login(reviewer)
    with django_assert_num_queries(pin(sqlite=11, postgresql=11)):
        assert client.get(reverse("review-case", args=[case.pk])).status_code == 200
