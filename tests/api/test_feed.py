"""GET /api/v1/decisions: the pull feed of a model's decisions."""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, Decision, FeedEvent, Role, RoutingPolicy
from reviewapp.selectors.feed import decision_feed_page, feed_cursor_encode
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next, cases_expire
from tests.conftest import bearer_client
from tests.factories import make_cases, make_model, make_service_account, make_team, make_user

# On PostgreSQL the feed shows only decisions of finished transactions, so tests that read
# decisions back commit them for real.
FEED_DB = pytest.mark.django_db(transaction=True)


def settle(ml_model) -> None:
    """On PostgreSQL the feed trails the oldest transaction running on the server (other
    sessions' too): wait until every committed decision of the model is readable."""
    if connection.vendor != "postgresql":
        return
    total = Decision.objects.filter(ml_model=ml_model).count()
    deadline = time.monotonic() + 30
    while len(decision_feed_page(ml_model=ml_model, limit=1000).results) < total:
        assert time.monotonic() < deadline, "the feed did not catch up in 30 s"
        time.sleep(0.05)


def decide_all(ml_model, reviewer) -> list[Decision]:
    decisions = []
    while (case := case_claim_next(ml_model=ml_model, reviewer=reviewer)) is not None:
        if len(decisions) % 2:
            outcome = {"action": "override", "final_label": "legit", "reason_code": "other"}
        else:
            outcome = {"action": "accept"}
        decisions.append(case_decide(case=case, reviewer=reviewer, **outcome))
    settle(ml_model)
    return decisions


def read_all(client, url: str) -> list[dict]:
    seen = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        seen.extend(response.json()["results"])
        url = response.json()["next"]
    return seen


@FEED_DB
def test_service_account_pages_through_all_decisions(ml_model, reviewer, sa_client):
    """Small pages return every decision once, in order, each with the decision object."""
    make_cases(ml_model, 5)
    decisions = decide_all(ml_model, reviewer)
    seen = read_all(sa_client, "/api/v1/decisions?limit=2")
    assert [d["decision_id"] for d in seen] == [d.pk for d in decisions]
    first = seen[0]
    case = decisions[0].case
    assert first["event"] == "case.decided"
    assert first["case_id"] == case.pk
    assert first["external_id"] == case.external_id
    assert (first["model"], first["model_version"]) == ("fraud-screening", "2.3.0")
    assert (first["action"], first["final_label"], first["reason_code"]) == ("accept", "fraud", "")
    assert (seen[1]["action"], seen[1]["final_label"], seen[1]["reason_code"]) == (
        "override",
        "legit",
        "other",
    )
    assert first["decided_at"] == decisions[0].decided_at.isoformat()
    assert len({d["cursor"] for d in seen}) == 5


@FEED_DB
def test_next_is_null_when_caught_up_and_cursor_resumes(ml_model, reviewer, sa_client):
    """next is null at the end; polling with the last cursor returns only newer decisions."""
    make_cases(ml_model, 2)
    decide_all(ml_model, reviewer)
    body = sa_client.get("/api/v1/decisions").json()
    assert len(body["results"]) == 2
    assert body["next"] is None
    cursor = body["results"][-1]["cursor"]
    assert sa_client.get(f"/api/v1/decisions?after={cursor}").json()["results"] == []
    make_cases(ml_model, 1)
    [newer] = decide_all(ml_model, reviewer)
    body = sa_client.get(f"/api/v1/decisions?after={cursor}").json()
    assert [d["decision_id"] for d in body["results"]] == [newer.pk]


@FEED_DB
def test_next_url_is_absolute_and_keeps_limit(ml_model, reviewer, sa_client):
    """A full page links to the next one with the same limit."""
    make_cases(ml_model, 3)
    decide_all(ml_model, reviewer)
    body = sa_client.get("/api/v1/decisions?limit=2").json()
    assert body["next"].startswith("http://testserver/api/v1/decisions?after=")
    assert "limit=2" in body["next"]


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", ["garbage!", "bm90LWEtY3Vyc29y", "MTox" + "Og", "-1"])
def test_invalid_cursor_is_400(sa_client, cursor):
    """A cursor the feed did not issue is a 400 with the error body, never a 500."""
    response = sa_client.get("/api/v1/decisions", {"after": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
    assert "after" in response.json()["error"]["details"]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["0", "1001", "ten", "-5"])
def test_invalid_limit_is_400(sa_client, limit):
    """limit must be 1..1000."""
    response = sa_client.get("/api/v1/decisions", {"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["limit"]


@FEED_DB
def test_service_account_sees_only_its_model(ml_model, reviewer, sa_client):
    """Another model's service account gets none of these decisions; naming this model is 404."""
    make_cases(ml_model, 2)
    decide_all(ml_model, reviewer)
    other = make_model(team=make_team("claims"), slug="claims-triage")
    _user, raw = make_service_account(other)
    client = bearer_client(raw)
    assert client.get("/api/v1/decisions").json()["results"] == []
    response = client.get("/api/v1/decisions?model=fraud-screening")
    assert response.status_code == 404
    assert sa_client.get("/api/v1/decisions?model=fraud-screening").status_code == 200


@FEED_DB
def test_people_read_with_model_param(ml_model, reviewer, manager, session_client):
    """A team member reads with ?model=; outsiders get 404; without ?model= it is 400."""
    make_cases(ml_model, 1)
    decide_all(ml_model, reviewer)
    client = session_client(manager)
    assert len(client.get("/api/v1/decisions?model=fraud-screening").json()["results"]) == 1
    assert client.get("/api/v1/decisions").status_code == 400
    outsider = make_user(Role.MANAGER, team=make_team("claims"))
    response = session_client(outsider).get("/api/v1/decisions?model=fraud-screening")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="permission.denied", actor=outsider).exists()


@pytest.mark.django_db
def test_feed_requires_authentication(client):
    """No credentials: 401 with the error body."""
    response = client.get("/api/v1/decisions")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@FEED_DB
def test_feed_read_is_audited_and_query_count_is_flat(
    ml_model, reviewer, sa_client, django_assert_max_num_queries
):
    """One page costs a fixed number of queries whatever its size, and is audited."""
    make_cases(ml_model, 30)
    decide_all(ml_model, reviewer)
    sa_client.get("/api/v1/decisions?limit=1")  # token last-used stamp settles
    with django_assert_max_num_queries(5):
        response = sa_client.get("/api/v1/decisions?limit=30")
    assert len(response.json()["results"]) == 30
    assert AuditEvent.objects.filter(action="decision_feed.read").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_gaps_or_repeats_with_concurrent_writers():
    """Threads decide cases (holding their transactions open a little) while a reader pages
    through the feed; everything read is every decision exactly once, in a stable order."""
    team = make_team("feed-race")
    ml_model = make_model(team=team, slug="feed-race")
    writers = [make_user(Role.REVIEWER, team=team) for _ in range(4)]
    per_writer = 15
    make_cases(ml_model, len(writers) * per_writer)
    done = threading.Event()
    errors: list[BaseException] = []

    def write(reviewer) -> None:
        try:
            for _ in range(per_writer):
                case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
                with transaction.atomic():
                    case_decide(case=case, reviewer=reviewer, action="accept")
                    time.sleep(random.uniform(0, 0.03))  # commit late: later txids overtake
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    read: list[dict] = []

    expected_total = len(writers) * per_writer

    def reader() -> None:
        # The feed trails the oldest transaction still running on the server (any session),
        # so after the writers finish the reader keeps polling until it has caught up.
        cursor, deadline = None, None
        try:
            while len(read) < expected_total:
                if done.is_set() and deadline is None:
                    deadline = time.monotonic() + 60
                if deadline is not None and time.monotonic() > deadline:
                    return
                page = decision_feed_page(ml_model=ml_model, after=cursor, limit=7)
                read.extend(page.results)
                cursor = page.last_cursor or cursor
                if not page.results:
                    time.sleep(0.01)
            # One more read past the end: nothing new, nothing repeated.
            read.extend(decision_feed_page(ml_model=ml_model, after=cursor, limit=7).results)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    reading = threading.Thread(target=reader)
    reading.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reading.join(timeout=90)
    assert not errors, errors
    ids = [r["decision_id"] for r in read]
    assert len(ids) == len(set(ids)), "a decision was served twice"
    all_decisions = list(Decision.objects.filter(ml_model=ml_model).order_by("feed_txid", "pk"))
    assert len(all_decisions) == len(writers) * per_writer
    assert set(ids) == {d.pk for d in all_decisions}, "a decision was skipped"
    assert ids == [d.pk for d in all_decisions], "the order is not the stable feed order"
    expected = [feed_cursor_encode(feed_txid=d.feed_txid, decision_id=d.pk) for d in all_decisions]
    assert [r["cursor"] for r in read] == expected
    assert all(d.feed_txid for d in all_decisions), "the trigger stamps every decision"


# --- case.expired rows ------------------------------------------------------------------------


def settle_all(ml_model) -> None:
    """settle() for decisions and feed events together."""
    if connection.vendor != "postgresql":
        return
    total = Decision.objects.filter(ml_model=ml_model).count()
    total += FeedEvent.objects.filter(ml_model=ml_model).count()
    deadline = time.monotonic() + 30
    while len(decision_feed_page(ml_model=ml_model, limit=1000).results) < total:
        assert time.monotonic() < deadline, "the feed did not catch up in 30 s"
        time.sleep(0.05)


def expire_new_cases(ml_model, n: int, **payload) -> list[int]:
    """Submit N cases and let the availability job expire them at once (one transaction)."""
    ids = make_cases(ml_model, n, **payload)
    Case.objects.filter(pk__in=ids).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert cases_expire() == n
    return ids


@FEED_DB
@pytest.mark.parametrize("fallback", ["apply_model", "reject", "hold"])
def test_expired_cases_are_feed_rows_in_order(ml_model, reviewer, sa_client, fallback):
    """Expiries are case.expired rows between the decisions written before and after them,
    read once each across pages, with the fallback and (apply_model) the model's label."""
    RoutingPolicy.objects.filter(ml_model=ml_model).update(fallback_action=fallback)
    make_cases(ml_model, 2)
    first = decide_all(ml_model, reviewer)
    expired = expire_new_cases(ml_model, 2, label="fraud", confidence=0.5)
    make_cases(ml_model, 1)
    last = decide_all(ml_model, reviewer)
    settle_all(ml_model)
    seen = read_all(sa_client, "/api/v1/decisions?limit=2")
    assert [r["event"] for r in seen] == ["case.decided"] * 2 + ["case.expired"] * 2 + [
        "case.decided"
    ]
    assert [r.get("decision_id") for r in seen] == [d.pk for d in first] + [None, None] + [
        last[0].pk
    ]
    assert sorted(r["case_id"] for r in seen[2:4]) == sorted(expired)
    assert len({r["cursor"] for r in seen}) == 5
    row = seen[2]
    case = Case.objects.get(pk=row["case_id"])
    event = FeedEvent.objects.get(case=case)
    assert row == {
        "event": "case.expired",
        "event_id": event.pk,
        "case_id": case.pk,
        "external_id": case.external_id,
        "model": "fraud-screening",
        "model_version": "2.3.0",
        "fallback_applied": fallback,
        "final_label": "fraud" if fallback == "apply_model" else None,
        "expired_at": case.expired_at.isoformat(),
        "cursor": row["cursor"],
    }
    # Resuming from an expired row's cursor returns only what follows it.
    after = sa_client.get("/api/v1/decisions", {"after": seen[2]["cursor"]}).json()["results"]
    assert [r["cursor"] for r in after] == [r["cursor"] for r in seen[3:]]
    after_last = sa_client.get("/api/v1/decisions", {"after": seen[3]["cursor"]}).json()
    assert [r.get("decision_id") for r in after_last["results"]] == [last[0].pk]


@FEED_DB
def test_feed_of_only_expiries_pages_and_resumes(ml_model, sa_client):
    """A model with no decisions at all still serves its expiries, and new ones after the
    last cursor."""
    expire_new_cases(ml_model, 3)
    settle_all(ml_model)
    seen = read_all(sa_client, "/api/v1/decisions?limit=2")
    assert [r["event"] for r in seen] == ["case.expired"] * 3
    cursor = seen[-1]["cursor"]
    assert sa_client.get("/api/v1/decisions", {"after": cursor}).json()["results"] == []
    (newer,) = expire_new_cases(ml_model, 1)
    settle_all(ml_model)
    rows = sa_client.get("/api/v1/decisions", {"after": cursor}).json()["results"]
    assert [r["case_id"] for r in rows] == [newer]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_gaps_or_repeats_with_concurrent_decisions_and_expiries():
    """Reviewers decide and the availability job expires cases at the same time (both holding
    their transactions open a little) while a reader pages through: every decision and every
    expiry is read exactly once, in the stable (feed_txid, kind, id) order."""
    team = make_team("feed-mixed")
    ml_model = make_model(team=team, slug="feed-mixed")
    writers = [make_user(Role.REVIEWER, team=team) for _ in range(3)]
    per_writer, expiry_runs, per_run = 10, 8, 3
    make_cases(ml_model, len(writers) * per_writer)
    to_expire = [make_cases(ml_model, per_run) for _ in range(expiry_runs)]
    expected_total = len(writers) * per_writer + expiry_runs * per_run
    done = threading.Event()
    errors: list[BaseException] = []

    def decide_some(reviewer) -> None:
        try:
            for _ in range(per_writer):
                case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
                with transaction.atomic():
                    case_decide(case=case, reviewer=reviewer, action="accept")
                    time.sleep(random.uniform(0, 0.03))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def expire_some() -> None:
        try:
            for ids in to_expire:
                with transaction.atomic():
                    Case.objects.filter(pk__in=ids).update(
                        expires_at=timezone.now() - timedelta(seconds=1)
                    )
                    assert cases_expire() == per_run
                    time.sleep(random.uniform(0, 0.03))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    read: list[dict] = []

    def reader() -> None:
        cursor, deadline = None, None
        try:
            while len(read) < expected_total:
                if done.is_set() and deadline is None:
                    deadline = time.monotonic() + 60
                if deadline is not None and time.monotonic() > deadline:
                    return
                page = decision_feed_page(ml_model=ml_model, after=cursor, limit=5)
                read.extend(page.results)
                cursor = page.last_cursor or cursor
                if not page.results:
                    time.sleep(0.01)
            read.extend(decision_feed_page(ml_model=ml_model, after=cursor, limit=5).results)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide_some, args=(w,)) for w in writers]
    threads.append(threading.Thread(target=expire_some))
    reading = threading.Thread(target=reader)
    reading.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reading.join(timeout=90)
    assert not errors, errors
    keys = [(r["event"], r.get("decision_id") or r.get("event_id")) for r in read]
    assert len(keys) == len(set(keys)), "a row was served twice"
    stored = [
        (d.feed_txid, 0, d.pk, ("case.decided", d.pk))
        for d in Decision.objects.filter(ml_model=ml_model)
    ] + [
        (e.feed_txid, 1, e.pk, ("case.expired", e.pk))
        for e in FeedEvent.objects.filter(ml_model=ml_model)
    ]
    assert len(stored) == expected_total
    assert all(row[0] for row in stored), "the trigger stamps every row"
    assert keys == [row[3] for row in sorted(stored)], "skipped rows or an unstable order"
