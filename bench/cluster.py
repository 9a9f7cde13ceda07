"""The multi-node topology under load and kills (README, "Cluster"); not a test (the bounded
form is tests/cluster/test_cluster.py, which calls ``cluster_run`` below).

``scripts/cluster.sh up`` starts nginx, two gunicorn nodes, two Celery workers and one beat
on loopback, with a redis-server of its own and a PostgreSQL database of its own
(rv_cluster_<pid> on BENCH_PG, default postgres://postgres@127.0.0.1:5432; dropped at the
end). Then, every request going through nginx:

- sessions and throttles are shared by the nodes: a session signed in through nginx opens a
  page on web1 and on web2; failed sign-ins sent to web1 and web2 in turn are refused (429)
  after the one shared budget (REVIEWAPP_RATE_LOGIN_IP, 6 a day here); a spoofed
  X-Forwarded-For sent through nginx does not reach the audit log;
- a submitting model (2 threads of single POSTs) and 50 reviewers (threads: claim -> accept)
  work the queue; midway, one gunicorn node (master and workers) and one Celery worker (its
  process and pool; scripts/worker.sh restarts it) are SIGKILLed;
- afterwards: requests sent, the ones cut off at the kills (502 from nginx or a dropped
  connection, every one retried by the client), lost items, duplicate claims (a case leased
  to two reviewers), duplicate decisions, decisions published twice under different delivery
  ids, and webhooks delivered (a receiver on loopback records every POST).

    .venv/bin/python bench/cluster.py                          # 2,000 cases, 50 reviewers
    .venv/bin/python bench/cluster.py --cases 600 --out test-artifacts/cluster-report.md

Ports: 18160-18164 by default (--port-base); exit status 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from fault_scenarios import (
    Api,
    Receiver,
    Stats,
    _children,
    _descendants,
    _kill,
    _wait_for,
    case_body,
)
from harness import HOST, ROOT, database_url, server_env

CLUSTER_SH = ROOT / "scripts" / "cluster.sh"
PASSWORD = "cluster-run-pw-1"  # throwaway users of a throwaway database
SLUG = "cluster-fraud"
LOGIN_BUDGET = 6  # REVIEWAPP_RATE_LOGIN_IP of the run: failed sign-ins per address
SPOOFED = "203.0.113.7"


def log(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class GatewayStats(Stats):
    """Stats where nginx's 502/504 (a node died with the request) count as cut off, like a
    dropped connection, not as server errors."""

    def note(self, status: int | None) -> None:
        super().note(None if status in (502, 504) else status)


# --- the cluster ------------------------------------------------------------------------------


SETUP = """
import json
from reviewapp.models import RoutingPolicy, Role
from reviewapp.services.accounts import (
    service_account_create, team_get_or_create, token_create, user_create)
from reviewapp.services.policies import model_register
from reviewapp.services.webhooks import webhook_set
team = team_get_or_create(slug="cluster")
m = model_register(slug=SLUG, labels=["fraud", "legit"], team=team)
RoutingPolicy.objects.filter(ml_model=m, status="active").update(
    blind_sample_rate=0, qa_sample_rate=0, lease_minutes=30)
webhook_set(ml_model=m, url=HOOK, actor=None)
out = {"model": m.pk, "service": service_account_create(ml_model=m)[1], "reviewers": []}
for i in range(N):
    user = user_create(username=f"c-reviewer-{i}", role=Role.REVIEWER, teams=[team],
                       password=PW if i == 0 else None)
    out["reviewers"].append(token_create(user=user, name="cluster")[1])
print(json.dumps(out))
"""


@dataclass
class Cluster:
    """scripts/cluster.sh's processes, started for one run in a directory of their own."""

    port_base: int
    workdir: Path
    db_name: str = field(default_factory=lambda: f"rv_cluster_{os.getpid()}")
    env: dict[str, str] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = self.port_base
        overrides = {
            **server_env(db_name=self.db_name, redis_db=0),
            "CLUSTER_DIR": str(self.workdir),
            "CLUSTER_PORT": str(base),
            "CLUSTER_WEB1_PORT": str(base + 1),
            "CLUSTER_WEB2_PORT": str(base + 2),
            "CLUSTER_REDIS_PORT": str(base + 3),
            "CLUSTER_PG_PORT": str(base + 4),
            "REVIEWAPP_WEBHOOK_ALLOW_PRIVATE": "true",
            "REVIEWAPP_WEBHOOK_SWEEP_S": "2",
            "REVIEWAPP_WEBHOOK_TIMEOUT_S": "3",
            "REVIEWAPP_UNDO_WINDOW_S": "2",
            "REVIEWAPP_BROKER_RETRY_S": "2",
            # A day-long fixed window, so that the probe never straddles two windows.
            "REVIEWAPP_RATE_LOGIN_IP": f"{LOGIN_BUDGET}/day",
            "REVIEWAPP_WORKER_BACKOFF_S": "1",
            "LOG_LEVEL": "WARNING",
            "CELERY_LOG_LEVEL": "warning",
            "PYTHONWARNINGS": "ignore",
        }
        env = {**os.environ, **overrides}
        # cluster.sh starts its own Redis and picks its own secret; nothing of this process's
        # settings (the test suite's DATABASE_URL, REDIS_URL) may leak into the cluster.
        for name in ("REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE"):
            env.pop(name, None)
        self.env = env

    @property
    def url_port(self) -> int:
        return self.port_base

    def sh(self, command: str, *, check: bool = True, timeout: float = 240) -> str:
        done = subprocess.run(
            ["bash", str(CLUSTER_SH), command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"cluster.sh {command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout + done.stderr

    def up(self) -> None:
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        started = time.monotonic()
        self.sh("up")
        for line in (self.workdir / "cluster.env").read_text().splitlines():
            key, _, value = line.partition("=")
            self.info[key] = value
        log(f"cluster up in {time.monotonic() - started:.0f} s ({self.workdir})")

    def down(self) -> None:
        with contextlib.suppress(Exception):
            self.sh("down", check=False, timeout=120)
        with (
            contextlib.suppress(Exception),
            psycopg.connect(database_url("postgres"), autocommit=True) as conn,
        ):
            conn.execute(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")

    def django_env(self) -> dict[str, str]:
        """The settings of the cluster's processes, for manage.py here."""
        return {
            **self.env,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DATABASE_URL": self.info["DATABASE_URL"],
            "REDIS_URL": self.info["REDIS_URL"],
            "DJANGO_SECRET_KEY": (self.workdir / "secret-key").read_text().strip(),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }

    def setup(self, *, hook: str, reviewers: int) -> dict:
        code = SETUP.replace("SLUG", repr(SLUG)).replace("HOOK", repr(hook))
        code = code.replace("PW", repr(PASSWORD)).replace("range(N)", f"range({reviewers})")
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.django_env(),
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return json.loads(out.splitlines()[-1])

    def pid(self, name: str) -> int:
        return int((self.workdir / "run" / f"{name}.pid").read_text())

    def kill_web(self, name: str) -> list[int]:
        """SIGKILL a gunicorn node: its master and every worker (the process group)."""
        pid = self.pid(name)
        pids = [pid, *_descendants(pid)]
        os.killpg(pid, signal.SIGKILL)
        return pids

    def celery_of(self, name: str) -> int | None:
        for kid in _children(self.pid(name)):
            try:
                if b"celery" in Path(f"/proc/{kid}/cmdline").read_bytes():
                    return kid
            except OSError:
                continue
        return None

    def kill_worker(self, name: str) -> int:
        """SIGKILL a Celery worker and its pool (scripts/worker.sh, its parent, restarts it)."""
        pid = self.celery_of(name)
        if pid is None:
            raise RuntimeError(f"no celery process under {name}")
        _kill([pid, *_descendants(pid)])
        return pid

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.info["DATABASE_URL"], autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


# --- pages: sessions, throttles, client address -----------------------------------------------


class Browser:
    """Cookies and plain HTTP to one address (nginx or a node)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def call(
        self,
        port: int,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
    ) -> tuple[int, str]:
        conn = http.client.HTTPConnection(HOST, port, timeout=20)
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        sent.update(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            text = response.read().decode(errors="replace")
        finally:
            conn.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return response.status, text

    def login(self, port: int, username: str, password: str, headers: dict | None = None) -> int:
        status, text = self.call(port, "GET", "/accounts/login/")
        marker = 'name="csrfmiddlewaretoken" value="'
        if status != 200 or marker not in text:
            return status
        token = text.split(marker, 1)[1].split('"', 1)[0]
        form = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password})
        status, _ = self.call(port, "POST", "/accounts/login/", form.encode(), headers)
        return status


def shared_state_checks(cluster: Cluster) -> dict[str, object]:
    """Sessions and throttles across the two nodes; the client address behind nginx."""
    web1, web2, front = cluster.port_base + 1, cluster.port_base + 2, cluster.port_base
    checks: dict[str, object] = {}
    browser = Browser()
    status = browser.login(front, "c-reviewer-0", PASSWORD, {"X-Forwarded-For": SPOOFED})
    checks["sign-in through nginx"] = status
    checks["session on web1 / web2"] = (
        f"{browser.call(web1, 'GET', '/review/')[0]} / {browser.call(web2, 'GET', '/review/')[0]}"
    )
    rows = cluster.sql(
        "SELECT host(ip) FROM reviewapp_auditevent WHERE action = 'auth.login' "
        "ORDER BY id DESC LIMIT 1"
    )
    checks["client address audited (X-Forwarded-For spoofed)"] = rows[0][0] if rows else None
    statuses = []
    for attempt in range(LOGIN_BUDGET + 2):
        port = web1 if attempt % 2 == 0 else web2
        statuses.append(Browser().login(port, f"nobody-{attempt}", "wrong-password"))
    checks["failed sign-ins, web1/web2 in turn"] = statuses
    return checks


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the clients sent and saw, per item."""

    intended: set[str] = field(default_factory=set)
    stored: set[str] = field(default_factory=set)
    refused: dict[str, int] = field(default_factory=dict)
    gave_up: dict[str, int | None] = field(default_factory=dict)
    claims: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))  # case -> who
    decided: set[int] = field(default_factory=set)
    unresolved: dict[int, str] = field(default_factory=dict)
    retried_decisions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def submitter(api: Api, token: str, ids: list[str], ledger: Ledger, pace_s: float) -> None:
    rng = random.Random(ids[0] if ids else 0)
    for external_id in ids:
        body = case_body(external_id, rng)
        status, _, _ = api.retrying("POST", "/api/v1/cases", token=token, body=body)
        with ledger.lock:
            if status in (200, 201):
                ledger.stored.add(external_id)
            elif status is not None and status < 500:
                ledger.refused[external_id] = status
            else:
                ledger.gave_up[external_id] = status
        time.sleep(pace_s * random.uniform(0.5, 1.5))


def reviewer(api: Api, who: int, token: str, ledger: Ledger, intake_done: threading.Event) -> None:
    """Claim -> accept until the intake is over and the queue stays empty for 2 s."""
    time.sleep(random.uniform(0, 1.0))  # staggered starts
    empty_since: float | None = None
    while time.monotonic() < api.deadline:
        status, case, _ = api.retrying("POST", f"/api/v1/queues/{SLUG}/claim", token=token)
        if status != 200:
            if intake_done.is_set():
                empty_since = empty_since or time.monotonic()
                if time.monotonic() - empty_since > 2.0:
                    return
            time.sleep(random.uniform(0.5, 1.5))  # nothing waits: look again in a second
            continue
        empty_since = None
        case_id = case["id"]
        with ledger.lock:
            ledger.claims[case_id].add(who)
        status, payload, tries = api.retrying(
            "POST", f"/api/v1/cases/{case_id}/decision", token=token, body={"action": "accept"}
        )
        code = (payload.get("error") or {}).get("code", "")
        with ledger.lock:
            if status is not None and 200 <= status < 300:
                ledger.decided.add(case_id)
            elif status == 409 and code == "already_decided" and tries > 1:
                ledger.decided.add(case_id)  # the first attempt committed; its answer was cut
                ledger.retried_decisions += 1
            else:
                ledger.unresolved[case_id] = f"{status} {code}"


@dataclass
class ClusterResult:
    cases: int
    reviewers: int
    stats: Stats
    seconds: float = 0.0
    kills: list[str] = field(default_factory=list)
    in_flight_at_kill: int = 0
    cut_off: int = 0  # attempts answered 502/504 or dropped: in flight at the kills, retried
    stored: int = 0
    lost: int = 0
    duplicate_cases: int = 0
    duplicate_claims: int = 0  # cases the clients saw leased to two reviewers
    duplicate_claims_audited: int = 0  # the same, from the audit log's claim events
    decisions: int = 0
    duplicate_decisions: int = 0
    published_twice_new_id: int = 0
    resent_same_id: int = 0
    delivered: int = 0
    delivery_wait_s: float = 0.0
    checks: dict[str, object] = field(default_factory=dict)
    status_after: str = ""

    def failures(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{self.lost} lost")
        if self.duplicate_claims or self.duplicate_claims_audited:
            found.append(
                f"duplicate claims: {self.duplicate_claims} seen by the clients, "
                f"{self.duplicate_claims_audited} in the audit log"
            )
        if self.duplicate_cases or self.duplicate_decisions:
            found.append(f"duplicates: {self.duplicate_cases} cases, {self.duplicate_decisions}")
        if self.published_twice_new_id:
            found.append(f"{self.published_twice_new_id} decisions published under two ids")
        if self.delivered != self.decisions:
            found.append(f"webhooks for {self.delivered} of {self.decisions} decisions")
        if self.stats.server_errors:
            found.append(f"{self.stats.server_errors} answers 5xx (not 502/503/504)")
        if self.stored != self.cases:
            found.append(f"{self.stored} of {self.cases} cases stored")
        if self.decisions != self.stored:
            found.append(f"{self.decisions} of {self.stored} cases decided")
        if len(self.kills) != 2:
            found.append(f"kills: {self.kills}")
        return found


def cluster_run(
    *,
    cases: int = 2000,
    reviewers: int = 50,
    kill_at: float = 0.35,
    pace_s: float = 0.02,
    port_base: int = 18160,
    receiver_delay_s: float = 0.05,
    deadline_s: float = 1800.0,
) -> ClusterResult:
    """Start the cluster, drive the load through nginx, kill web2 and worker1 once KILL_AT of
    the cases are stored, measure, stop the cluster. Returns the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="rv-cluster-"))
    receiver = Receiver()
    receiver.delay_s = receiver_delay_s  # a delivery takes a moment, so a kill can land in one
    cluster = Cluster(port_base=port_base, workdir=workdir)
    stats = GatewayStats()
    result = ClusterResult(cases=cases, reviewers=reviewers, stats=stats)
    failed = True
    try:
        cluster.up()
        data = cluster.setup(hook=receiver.url, reviewers=reviewers)
        result.checks.update(shared_state_checks(cluster))
        ledger = Ledger(intended={f"k-{i}" for i in range(cases)})
        ids = sorted(ledger.intended, key=lambda s: int(s[2:]))
        api = Api(cluster.url_port, stats, deadline_s=deadline_s)
        intake_done = threading.Event()
        started = time.monotonic()
        submitters = [
            threading.Thread(
                target=submitter, args=(api, data["service"], ids[k::2], ledger, pace_s)
            )
            for k in range(2)
        ]
        people = [
            threading.Thread(target=reviewer, args=(api, i, token, ledger, intake_done))
            for i, token in enumerate(data["reviewers"])
        ]
        for thread in [*submitters, *people]:
            thread.start()
        _wait_for(lambda: len(ledger.stored) >= kill_at * cases, deadline_s, 0.05)
        result.in_flight_at_kill = stats.in_flight
        deliveries_in_flight = receiver.in_flight
        killed = cluster.kill_web("web2")
        result.kills.append(f"web2 (gunicorn master + {len(killed) - 1} workers) SIGKILL")
        killed_worker = cluster.kill_worker("worker1")
        result.kills.append(
            f"worker1 (celery {killed_worker} + pool) SIGKILL, "
            f"{deliveries_in_flight} webhook POSTs in flight"
        )
        log(f"killed web2 {killed} and worker1 {killed_worker}; {stats.in_flight} in flight")
        for thread in submitters:
            thread.join()
        intake_done.set()
        for thread in people:
            thread.join()
        result.seconds = round(time.monotonic() - started, 1)
        restarted = _wait_for(lambda: cluster.celery_of("worker1") not in (None, killed_worker), 30)
        result.checks["worker1 restarted by scripts/worker.sh"] = restarted
        result.status_after = cluster.sh("status", check=False)
        settle_started = time.monotonic()
        _measure(cluster, receiver, ledger, result, data["model"])
        result.delivery_wait_s = round(time.monotonic() - settle_started, 1)
        failed = bool(result.failures())
    finally:
        cluster.down()
        receiver.close()
        if failed:
            saved = ROOT / "test-artifacts" / "cluster-logs"
            saved.mkdir(parents=True, exist_ok=True)
            for path in (workdir / "logs").glob("*.log"):
                shutil.copy(path, saved / path.name)
            log(f"logs of the failed run copied to {saved}")
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _measure(
    cluster: Cluster, receiver: Receiver, ledger: Ledger, result: ClusterResult, model: int
) -> None:
    rows = cluster.sql(
        "SELECT external_id, count(*) FROM reviewapp_case WHERE ml_model_id = %s "
        "GROUP BY external_id",
        (model,),
    )
    in_db = dict(rows)
    result.stored = len(in_db)
    result.duplicate_cases = sum(n - 1 for n in in_db.values() if n > 1)
    result.lost = sum(
        1
        for external_id in ledger.intended
        if external_id not in in_db and external_id not in ledger.refused
    )
    decided = dict(
        cluster.sql(
            "SELECT case_id, count(*) FROM reviewapp_decision WHERE ml_model_id = %s "
            "AND superseded_at IS NULL GROUP BY case_id",
            (model,),
        )
    )
    result.decisions = len(decided)
    result.duplicate_decisions = sum(n - 1 for n in decided.values() if n > 1)
    result.lost += sum(1 for case_id in ledger.decided if case_id not in decided)
    result.lost += len(ledger.unresolved)
    result.duplicate_claims = sum(1 for who in ledger.claims.values() if len(who) > 1)
    # The database's own record: cases whose claim events name more than one reviewer.
    result.duplicate_claims_audited = cluster.sql(
        "SELECT count(*) FROM (SELECT target_id FROM reviewapp_auditevent "
        "WHERE action = 'case.claimed' AND target_type = 'case' GROUP BY target_id "
        "HAVING count(DISTINCT actor_id) > 1) d"
    )[0][0]
    result.checks["cases claimed by two reviewers (audit log)"] = result.duplicate_claims_audited
    result.duplicate_decisions += cluster.sql(
        "SELECT count(*) FROM (SELECT decision_id FROM reviewapp_webhookdelivery "
        "WHERE ml_model_id = %s AND event = 'case.decided' GROUP BY decision_id "
        "HAVING count(*) > 1) d",
        (model,),
    )[0][0]
    result.cut_off = result.stats.dropped
    result.checks["decisions retried after a cut-off (409 already_decided)"] = (
        ledger.retried_decisions
    )

    def settled() -> bool:
        waiting = cluster.sql(
            "SELECT count(*) FROM reviewapp_webhookdelivery WHERE ml_model_id = %s "
            "AND event = 'case.decided' AND status <> 'delivered'",
            (model,),
        )[0][0]
        got = receiver.by_case()
        return not waiting and all(case_id in got for case_id in decided)

    _wait_for(settled, 120, 0.5)
    got = receiver.by_case()
    result.delivered = sum(1 for case_id in decided if case_id in got)
    for case_id in decided:
        receipts = got.get(case_id, [])
        if len(receipts) > 1:
            if len({r.delivery_id for r in receipts}) == 1:
                result.resent_same_id += 1
            else:
                result.published_twice_new_id += 1


# --- the report -------------------------------------------------------------------------------

COLUMNS = (
    "Cases",
    "Reviewers",
    "Seconds",
    "Requests sent",
    "2xx",
    "Kills",
    "In flight at kill",
    "Cut off (502/dropped), retried",
    "Lost",
    "Dup. claims",
    "Dup. cases/decisions",
    "Published twice (new id)",
    "Webhooks delivered/decisions",
)


def report_markdown(result: ClusterResult, *, command: str) -> str:
    r = result
    row = [
        str(r.cases),
        str(r.reviewers),
        f"{r.seconds:.1f}",
        str(r.stats.sent),
        str(r.stats.ok),
        str(len(r.kills)),
        str(r.in_flight_at_kill),
        str(r.cut_off),
        str(r.lost),
        str(r.duplicate_claims),
        f"{r.duplicate_cases}/{r.duplicate_decisions}",
        str(r.published_twice_new_id),
        f"{r.delivered}/{r.decisions}",
    ]
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
        "| " + " | ".join(row) + " |",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        "nginx + 2 gunicorn nodes (2 x 4 gthread) + 2 Celery workers + beat "
        "(scripts/cluster.sh), PostgreSQL, Redis, all on 127.0.0.1 on this 2-core machine.",
        "Requests sent counts every attempt through nginx (retries included). Cut off = "
        "attempts answered 502 by nginx or dropped because their node died under them; the "
        "client retried each (intake idempotent by external_id, a repeated claim returns the "
        "live claim, a repeated decision finds it made). Lost = items meant to be stored and "
        "not stored, or decisions not settled. Webhooks counted at the receiver "
        f"({r.resent_same_id} re-sent under the same delivery id).",
        "",
        "- kills: " + "; ".join(r.kills),
        *(f"- {k}: {v}" for k, v in r.checks.items()),
        f"- webhooks settled {r.delivery_wait_s:.1f} s after the load",
        "- `scripts/cluster.sh status` after the kills:",
        "",
        "```",
        r.status_after.strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--kill-at", type=float, default=0.35, help="share of cases stored")
    parser.add_argument("--pace", type=float, default=0.02, help="seconds between submissions")
    parser.add_argument("--port-base", type=int, default=18160)
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds for the load")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args()
    result = cluster_run(
        cases=args.cases,
        reviewers=args.reviewers,
        kill_at=args.kill_at,
        pace_s=args.pace,
        port_base=args.port_base,
        deadline_s=args.deadline,
    )
    command = "python bench/cluster.py" + ("" if args.cases == 2000 else f" --cases {args.cases}")
    text = report_markdown(result, command=command)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Multi-node run\n\n" + text)
    for failure in result.failures():
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if result.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
