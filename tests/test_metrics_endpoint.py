"""/metrics: what it exports after a scripted scenario (cases submitted, decided, escalated,
breached, expired, a webhook receiver that keeps failing), who may scrape it, and that the
Grafana dashboard and the Prometheus alerts only use metrics it exports."""

import json
import math
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from reviewapp.models import (
    Alert,
    AuditEvent,
    Case,
    JobRun,
    Role,
    Tripwire,
    TripwireKind,
    WebhookDelivery,
)
from reviewapp.selectors.system import tallies_reset
from reviewapp.services.accounts import token_create
from reviewapp.services.audit import audit_seal
from reviewapp.services.webhooks import webhook_set
from reviewapp.tasks import (
    cases_expire_task,
    rollups_refresh_task,
    sla_escalate_task,
    worker_heartbeat_task,
)
from tests import factories
from tests.conftest import bearer_client

OPS = Path(__file__).resolve().parent.parent / "ops"
REQUIRED = {
    "reviewapp_queue_waiting_cases": {"model"},
    "reviewapp_queue_oldest_waiting_seconds": {"model"},
    "reviewapp_cases_received_total": {"model", "route"},
    "reviewapp_decisions_total": {"model", "action"},
    "reviewapp_webhook_outbox_pending": {"model"},
    "reviewapp_audit_unsealed_events": set(),
}


def scrape(client: Client | None = None, **extra) -> dict[tuple[str, frozenset], float]:
    """GET /metrics and return every sample as (name, labels) -> value."""
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture(autouse=True)
def _fresh_tallies():
    """Running totals are kept per process; each test starts from its own database."""
    tallies_reset()
    yield
    tallies_reset()


@pytest.fixture
def failing_receiver():
    """A webhook receiver on 127.0.0.1 that answers every POST with 503."""
    hits: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", hits
    server.shutdown()
    server.server_close()


@pytest.fixture
def scenario(db, settings, failing_receiver, django_capture_on_commit_callbacks):
    """Six cases submitted over the API (four for review, two auto-approved); two decided
    (accept, override), one escalated by its reviewer and later expired, one breaching its SLA;
    the model's webhook receiver fails every delivery."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    url, hits = failing_receiver
    team = factories.make_team("ops")
    ml_model = factories.make_model(team=team, slug="fraud-ops")
    factories.make_model(team=team, slug="quiet-model")
    owner = factories.make_user(Role.MODEL_OWNER, team=team)
    webhook_set(ml_model=ml_model, url=url, actor=owner)
    _, sa_token = factories.make_service_account(ml_model)
    sa = bearer_client(sa_token)
    reviewer = factories.make_user(Role.REVIEWER, team=team)
    rev = bearer_client(token_create(user=reviewer)[1])

    ids = []
    for confidence in (0.5, 0.5, 0.5, 0.5, 0.95, 0.95):
        response = sa.post(
            "/api/v1/cases", factories.case_payload(confidence=confidence), format="json"
        )
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])

    outcomes = [
        {"action": "accept"},
        {"action": "override", "final_label": "legit", "reason_code": "wrong_label"},
    ]
    for outcome in outcomes:
        with django_capture_on_commit_callbacks(execute=True):
            claimed = rev.post(f"/api/v1/queues/{ml_model.slug}/claim", format="json")
            assert claimed.status_code == 200
            decided = rev.post(
                f"/api/v1/cases/{claimed.json()['id']}/decision", outcome, format="json"
            )
            assert decided.status_code == 200, decided.content
    claimed = rev.post(f"/api/v1/queues/{ml_model.slug}/claim", format="json")
    escalated_id = claimed.json()["id"]
    response = rev.post(
        f"/api/v1/cases/{escalated_id}/escalate", {"note": "needs a lead"}, format="json"
    )
    assert response.status_code == 200, response.content

    past = timezone.now() - timedelta(minutes=5)
    (breaching,) = Case.objects.filter(ml_model=ml_model, status="queued").values_list(
        "id", flat=True
    )
    Case.objects.filter(pk=breaching).update(sla_due_at=past, created_at=past)
    assert sla_escalate_task.delay().get() == 1
    Case.objects.filter(pk=escalated_id).update(expires_at=past)
    with django_capture_on_commit_callbacks(execute=True):
        assert cases_expire_task.delay().get() == 1
    assert len(hits) == 3  # two decisions and one expiry, each tried once
    return ml_model


def test_scenario_figures(scenario):
    """After the scenario every required metric is there with its labels and exact values."""
    samples = scrape()
    for name, labels in REQUIRED.items():
        found = [set(dict(lbl)) for n, lbl in samples if n == name]
        assert found, f"{name} is missing"
        assert all(f == labels for f in found), (name, found)
    m = {"model": "fraud-ops"}
    assert value(samples, "reviewapp_cases_received_total", **m, route="review") == 4
    assert value(samples, "reviewapp_cases_received_total", **m, route="auto_approved") == 2
    assert value(samples, "reviewapp_decisions_total", **m, action="accept") == 1
    assert value(samples, "reviewapp_decisions_total", **m, action="override") == 1
    assert value(samples, "reviewapp_claims_total") == 3
    assert value(samples, "reviewapp_escalations_total", source="reviewer") == 1
    assert value(samples, "reviewapp_escalations_total", source="sla") == 1
    assert value(samples, "reviewapp_sla_breaches_total") == 1
    assert value(samples, "reviewapp_expiries_total") == 1
    # The SLA-breached case waits for a lead, escalated; the other escalated one expired.
    assert value(samples, "reviewapp_queue_waiting_cases", **m) == 1
    assert value(samples, "reviewapp_queue_escalated_cases", **m) == 1
    assert value(samples, "reviewapp_queue_claimed_cases", **m) == 0
    assert 290 <= value(samples, "reviewapp_queue_oldest_waiting_seconds", **m) < 400
    assert value(samples, "reviewapp_queue_waiting_cases", model="quiet-model") == 0
    assert value(samples, "reviewapp_queue_oldest_waiting_seconds", model="quiet-model") == 0
    # The failing receiver: three deliveries wait for their retry, three attempts failed.
    assert value(samples, "reviewapp_webhook_outbox_pending", **m) == 3
    assert value(samples, "reviewapp_webhook_outbox_pending", model="quiet-model") == 0
    assert value(samples, "reviewapp_webhook_delivery_failures_total", **m) == 3
    assert value(samples, "reviewapp_webhook_outbox_oldest_seconds", **m) >= 0
    assert value(samples, "reviewapp_audit_unsealed_events") == AuditEvent.objects.count() > 0
    assert value(samples, "reviewapp_database_up") == 1
    # The periodic jobs the scenario ran are recorded; the worker never beat here.
    assert value(samples, "reviewapp_job_last_run_ok", job="sla_escalate_task") == 1
    assert value(samples, "reviewapp_job_last_run_ok", job="cases_expire_task") == 1
    assert math.isinf(value(samples, "reviewapp_worker_heartbeat_age_seconds"))


def test_state_gauges_follow_the_database(scenario):
    """Sealing, a heartbeat and an alert show at the next scrape; totals never go down."""
    before = scrape()
    audit_seal()
    worker_heartbeat_task.delay()
    tripwire = Tripwire.objects.create(
        ml_model=scenario, kind=TripwireKind.QUEUE_AGE, threshold=60, window_days=1
    )
    Alert.objects.create(
        ml_model=scenario, tripwire=tripwire, kind=tripwire.kind, message="old", value=300
    )
    WebhookDelivery.objects.filter(ml_model=scenario).update(status="delivered")
    after = scrape()
    assert value(after, "reviewapp_audit_unsealed_events") == 0
    assert value(after, "reviewapp_audit_oldest_unsealed_seconds") == 0
    assert 0 <= value(after, "reviewapp_worker_heartbeat_age_seconds") < 5
    assert JobRun.objects.get(name="reviewapp.tasks.worker_heartbeat_task").runs == 1
    assert value(after, "reviewapp_alerts_open", model="fraud-ops", kind="queue_age") == 1
    assert value(after, "reviewapp_webhook_outbox_pending", model="fraud-ops") == 0
    for name, labels in before:
        if name.endswith("_total") and name.startswith("reviewapp_") and "task" not in name:
            assert after[(name, labels)] >= before[(name, labels)], name


def test_totals_settle_and_stay_exact(scenario, monkeypatch):
    """Rows older than the settling delay move into the kept counts: the totals read the same
    afterwards, and new rows are still added."""
    import reviewapp.selectors.system as system

    first = scrape()
    monkeypatch.setattr(system, "TALLY_SETTLE_S", 0)  # every row so far is settled now
    settled = scrape()
    assert system._tallies["cases"].settled_id > 0
    for key, n in first.items():
        if key[0] in ("reviewapp_cases_received_total", "reviewapp_decisions_total"):
            assert settled[key] == n
    factories.make_cases(scenario, 2, confidence=0.95)
    later = scrape()
    key = (
        "reviewapp_cases_received_total",
        frozenset({"model": "fraud-ops", "route": "auto_approved"}.items()),
    )
    assert later[key] == first[key] + 2


def test_request_and_task_instruments(scenario):
    """Requests are timed per route and status; task runs, failures and durations per task."""
    before = scrape()
    Client().get("/healthz")
    # As in a worker: the failure is caught by Celery's tracer, not raised to the caller.
    result = rollups_refresh_task.apply(kwargs={"days": ["not-a-day"]}, throw=False)
    assert result.failed()
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0) - before.get(key, 0)

    http = "reviewapp_http_request_duration_seconds"
    assert delta(f"{http}_count", route="healthz", method="GET", status="200") == 1
    assert delta(f"{http}_bucket", route="healthz", method="GET", status="200", le="+Inf") == 1
    # The scrape before "after" is itself a request of route "metrics".
    assert delta(f"{http}_count", route="metrics", method="GET", status="200") == 1
    assert value(after, f"{http}_count", route="api-cases", method="POST", status="201") >= 6
    assert delta("reviewapp_task_failures_total", task="rollups_refresh_task") == 1
    assert delta("reviewapp_task_runs_total", task="rollups_refresh_task", state="FAILURE") == 1
    assert delta("reviewapp_task_duration_seconds_count", task="rollups_refresh_task") == 1
    assert (
        value(after, "reviewapp_task_runs_total", task="webhook_deliver_task", state="SUCCESS") >= 3
    )


# --- who may scrape -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote", "forwarded", "status"),
    [
        ("127.0.0.1", None, 200),
        ("127.8.9.10", None, 200),
        ("::1", None, 200),
        ("::ffff:127.0.0.1", None, 200),
        ("10.0.0.7", None, 403),
        ("192.0.2.1", None, 403),
        ("2001:db8::1", None, 403),
        ("", None, 403),
        # A proxy on this host forwarding an outside client is not a local scrape.
        ("127.0.0.1", "203.0.113.9", 403),
    ],
)
def test_without_token_only_loopback(settings, remote, forwarded, status):
    """With no token set, only direct loopback peers are answered; others get 403."""
    settings.REVIEWAPP_METRICS_TOKEN = ""
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    response = Client().get("/metrics", **extra)
    assert response.status_code == status
    if status == 200:
        assert b"reviewapp_audit_unsealed_events" in response.content
    else:
        assert b"reviewapp_" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("authorization", "remote", "status"),
    [
        ("Bearer s3cret-metrics-token", "198.51.100.4", 200),
        ("bearer s3cret-metrics-token", "127.0.0.1", 200),
        (None, "127.0.0.1", 401),  # loopback is not enough once a token is set
        ("Bearer wrong", "198.51.100.4", 401),
        ("Basic czNjcmV0", "198.51.100.4", 401),
        ("Bearer ", "198.51.100.4", 401),
    ],
)
def test_with_token_a_bearer_is_required(settings, authorization, remote, status):
    """With REVIEWAPP_METRICS_TOKEN set, only a scrape sending it as a bearer token is
    answered, from anywhere; others get 401 with a WWW-Authenticate challenge."""
    settings.REVIEWAPP_METRICS_TOKEN = "s3cret-metrics-token"
    extra = {"REMOTE_ADDR": remote}
    if authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization
    response = Client().get("/metrics", **extra)
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"reviewapp_" not in response.content


@pytest.mark.django_db
def test_post_is_refused():
    """The exposition is read-only: POST is 405."""
    assert Client().post("/metrics").status_code == 405


# --- the shipped dashboard and alerts -------------------------------------------------------

METRIC_NAME = re.compile(r"\breviewapp_[a-z0-9_]+")


def exported_names() -> set[str]:
    """Every metric name /metrics exports now: families (also those without samples, such as
    alerts when none is open), their counters' ``_total`` and their samples' names."""
    text = Client().get("/metrics").content.decode()
    exported = set()
    for family in text_string_to_metric_families(text):
        exported.add(family.name)
        if family.type == "counter":
            exported.add(f"{family.name}_total")
        exported.update(sample.name for sample in family.samples)
    return exported


def _alert_rules() -> list[dict]:
    document = yaml.safe_load((OPS / "prometheus-alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_ops_files_reference_only_exported_metrics(scenario):
    """Every reviewapp_* name in ops/grafana-dashboard.json and ops/prometheus-alerts.yml is
    exported by /metrics (after a scenario, so that labelled families have samples)."""
    Client().get("/healthz")
    rollups_refresh_task.delay()
    exported = exported_names()
    expressions = [rule["expr"] for rule in _alert_rules()] + _dashboard_expressions()
    referenced = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    assert len(referenced) >= 10
    assert referenced - exported == set()


def test_alerts_cover_the_runbook():
    """The alert rules cover queue age, outbox lag, seal lag, worker heartbeat and error
    rate, and each names its runbook section in docs/operations.md."""
    rules = {rule["alert"]: rule for rule in _alert_rules()}
    exprs = " ".join(rule["expr"] for rule in rules.values())
    for metric in (
        "reviewapp_queue_oldest_waiting_seconds",
        "reviewapp_webhook_outbox_oldest_seconds",
        "reviewapp_audit_oldest_unsealed_seconds",
        "reviewapp_worker_heartbeat_age_seconds",
        "reviewapp_http_request_duration_seconds_count",
    ):
        assert metric in exprs, metric
    runbook = (OPS.parent / "docs" / "operations.md").read_text()
    anchors = set(re.findall(r"^#+ (.+)$", runbook, flags=re.MULTILINE))
    slugs = {re.sub(r"[^a-z0-9 _-]", "", a.lower()).replace(" ", "-") for a in anchors}
    for name, rule in rules.items():
        link = rule["annotations"]["runbook_url"]
        assert "docs/operations.md#" in link, name
        assert link.split("#", 1)[1] in slugs, (name, link)


def test_snapshot_query_count_is_fixed(scenario, django_assert_num_queries):
    """A scrape's database work does not grow with the data: one ping, the model list, three
    queue queries, outbox, seal head and unsealed range, alerts, job runs, and two queries for
    each of the four running totals."""
    from reviewapp.selectors.system import system_snapshot

    system_snapshot()  # the first read of a process counts everything once
    with django_assert_num_queries(18):
        system_snapshot()


@pytest.mark.django_db
def test_a_long_unsealed_backlog_is_read_from_the_id_range_not_counted(monkeypatch):
    """Past the exact-count limit the unsealed figure is the id range after the last seal
    (ids are handed out in order), and the age is the lowest unsealed event's."""
    from datetime import timedelta

    from django.utils import timezone

    from reviewapp.selectors import system
    from reviewapp.services.audit import audit_record, audit_seal
    from tests.commands.tampering import audit_rows_update

    audit_record(actor=None, action="bench.sealed")
    audit_seal(lag_seconds=0)
    ids = [audit_record(actor=None, action="bench.backlog").pk for _ in range(5)]
    audit_rows_update([ids[0]], occurred_at=timezone.now() - timedelta(hours=2))
    now = timezone.now()
    exact = system.audit_seal_figures(now=now)
    monkeypatch.setattr(system, "EXACT_UNSEALED_COUNT_UP_TO", 2)
    ranged = system.audit_seal_figures(now=now)
    assert exact.unsealed == ranged.unsealed == ids[-1] - ids[0] + 1 == 5
    assert 7100 < ranged.oldest_unsealed_age_s < 7300
    assert abs(exact.oldest_unsealed_age_s - ranged.oldest_unsealed_age_s) < 1
