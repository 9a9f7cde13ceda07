"""Structured logs: JSON lines with timestamp, level, event, request id, route, status,
duration and the user's pseudonym; the request id follows a decision from the request into
the Celery task that delivers its webhook."""

import io
import json
import logging

import pytest
from celery import current_app

from config.logconfig import log_formatter, logging_settings
from reviewapp.models import Role
from reviewapp.observability import REQUEST_ID_HEADER, request_id_into_headers
from reviewapp.request_context import request_context_bind
from reviewapp.services.accounts import token_create
from reviewapp.services.webhooks import webhook_set
from tests import factories
from tests.conftest import bearer_client


@pytest.fixture
def json_log():
    """Root-logger output through the production JSON formatter; returns a reader of the
    parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_formatter("json"))
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(before)


def test_request_line_carries_the_fields(db, json_log):
    """One request_finished line per request, every line JSON, with the request's fields."""
    ml_model = factories.make_model(slug="logged-model")
    sa, token = factories.make_service_account(ml_model)
    response = bearer_client(token).post("/api/v1/cases", factories.case_payload(), format="json")
    assert response.status_code == 201
    finished = [line for line in json_log() if line["event"] == "request_finished"]
    assert len(finished) == 1
    line = finished[0]
    assert line["request_id"] == response["X-Request-ID"]
    assert line["route"] == "api-cases"
    assert line["method"] == "POST"
    assert line["status"] == 201
    assert line["level"] == "info"
    assert line["logger"] == "reviewapp.access"
    assert line["timestamp"].endswith("Z")
    assert isinstance(line["duration_ms"], float)
    assert line["user"] == sa.pseudonym
    assert sa.username not in json.dumps(json_log())


def test_anonymous_and_unmatched_requests(db, client, json_log):
    """A 404 for an unknown path is logged under route "unmatched" with no user."""
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    (line,) = [line for line in json_log() if line["event"] == "request_finished"]
    assert (line["route"], line["status"], line["user"]) == ("unmatched", 404, "")
    assert line["request_id"] == response["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
def test_a_decision_is_followed_into_its_webhook_task(settings, json_log):
    """The decision request's id is on the log lines of the webhook task it queued after the
    decision's commit (eager here: the task runs inline, as a worker would run it later)."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    team = factories.make_team("logs")
    ml_model = factories.make_model(team=team, slug="followed")
    owner = factories.make_user(Role.MODEL_OWNER, team=team)
    webhook_set(ml_model=ml_model, url="http://127.0.0.1:9/hook", actor=owner)
    factories.make_cases(ml_model, 1, confidence=0.3)
    reviewer = factories.make_user(Role.REVIEWER, team=team)
    client = bearer_client(token_create(user=reviewer)[1])
    case_id = client.post(f"/api/v1/queues/{ml_model.slug}/claim").json()["id"]
    response = client.post(f"/api/v1/cases/{case_id}/decision", {"action": "accept"}, format="json")
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    task_lines = [
        line
        for line in json_log()
        if line.get("task") == "webhook_deliver_task" and line["logger"] == "reviewapp.tasks"
    ]
    assert {line["event"] for line in task_lines} >= {"task_started", "task_finished"}
    assert all(line["request_id"] == request_id for line in task_lines)
    decision_line = next(
        line
        for line in json_log()
        if line["event"] == "request_finished" and line["route"] == "api-case-decide"
    )
    assert decision_line["request_id"] == request_id
    assert decision_line["user"] == reviewer.pseudonym


def test_a_worker_binds_the_request_id_from_the_message_headers(db, json_log):
    """As on a real broker: publishing copies the bound request id into the headers, and a
    task run from those headers (outside any request) logs under that id."""
    headers: dict = {}
    with request_context_bind(request_id="feedc0ffee"):
        request_id_into_headers(headers=headers)
    assert headers == {REQUEST_ID_HEADER: "feedc0ffee"}
    task = current_app.tasks["reviewapp.tasks.worker_heartbeat_task"]
    task.apply(headers=headers)
    lines = [
        line
        for line in json_log()
        if line.get("task") == "worker_heartbeat_task" and line["logger"] == "reviewapp.tasks"
    ]
    assert [line["event"] for line in lines] == ["task_started", "task_finished"]
    assert {line["request_id"] for line in lines} == {"feedc0ffee"}
    assert lines[1]["state"] == "SUCCESS"


def test_nothing_bound_means_no_header(db):
    """Outside a request (beat), nothing is added to the headers."""
    headers: dict = {}
    request_id_into_headers(headers=headers)
    assert headers == {}


def test_text_format_is_readable_and_formats_are_checked():
    """The text format is one plain line with the same fields; an unknown format is refused."""
    record = logging.LogRecord("reviewapp.x", logging.INFO, __file__, 1, "hello", (), None)
    record.route = "home"
    with request_context_bind(request_id="abc123"):
        text = log_formatter("text").format(record)
        as_json = json.loads(log_formatter("json").format(record))
    assert "hello" in text
    assert "request_id=abc123" in text
    assert "route=home" in text
    assert not text.lstrip().startswith("{")
    assert as_json["event"] == "hello"
    assert as_json["request_id"] == "abc123"
    assert logging_settings("json")["formatters"]["main"]["log_format"] == "json"
    with pytest.raises(ValueError, match="REVIEWAPP_LOG_FORMAT"):
        logging_settings("xml")
