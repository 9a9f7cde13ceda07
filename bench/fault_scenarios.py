"""Fault injection against real processes (README, "Failure modes"): the scenarios that
tests/faults/test_faults.py asserts and bench/faults.py prints.

A ``Stack`` is everything a production node runs, started on this machine for the run: a
PostgreSQL database of its own on the shared server (dropped and re-created, migrated), its
own ``redis-server`` on a free 127.0.0.1 port (never the shared one on 6379), gunicorn with the
production settings (DEBUG off, 2 gthread workers), a Celery worker and beat each under
``scripts/worker.sh`` (the supervision of the deployment), and a webhook receiver: a local HTTP
server that records every POST with its ``X-Reviewapp-Delivery`` id. Each scenario injects one
real fault and returns a ``FaultResult``: requests sent, answered 2xx and 503, lost items,
duplicated cases and decisions, and how the decisions' webhooks arrived after recovery.

Clients behave as the README asks callers to: they retry a request that got a 503 or lost
its connection (intake is idempotent by ``external_id``; a retried decision that finds the
case already decided by that same first attempt counts as decided). Every request goes to
127.0.0.1, and each scenario is bounded in requests and in time.

Import it with bench/ on sys.path (``from fault_scenarios import ...``).
"""

from __future__ import annotations

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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from harness import (
    HOST,
    ROOT,
    database_recreate,
    database_url,
    free_port,
    gunicorn_start,
    gunicorn_stop,
    manage,
    server_env,
)

DB_PREFIX = "rv_faults"
WORKER_SH = ROOT / "scripts" / "worker.sh"
PASSWORD = "fault-injection-pw-1"  # throwaway users of a throwaway database
LABELS = ("fraud", "legit")
SWEEP_S = 2.0  # beat's webhooks-due interval in the stack (production: 30 s)
WEBHOOK_TIMEOUT_S = 3.0  # so a delivery's claim lease is 2 * 3 + 30 = 36 s


def log(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def missing_prerequisites() -> list[str]:
    """What this machine lacks for the scenarios (empty when they can run)."""
    missing = []
    if not shutil.which("redis-server"):
        missing.append("redis-server is not installed")
    if not (ROOT / ".venv/bin/gunicorn").exists() or not (ROOT / ".venv/bin/celery").exists():
        missing.append("gunicorn/celery are not in .venv")
    try:
        psycopg.connect(database_url("postgres"), connect_timeout=3).close()
    except Exception as exc:
        missing.append(f"PostgreSQL does not answer at {database_url('postgres')}: {exc}")
    return missing


# --- processes ----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Direct children of PID (from /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry.name))
    return kids


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for kid in _children(todo.pop()):
            found.append(kid)
            todo.append(kid)
    return found


def _kill(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_for(check: Callable[[], bool], timeout_s: float, step_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step_s)
    return check()


@contextlib.contextmanager
def _stdio_to(path: Path) -> Iterator[None]:
    """Processes started inside write their stdout and stderr to PATH (file descriptors 1 and
    2 are pointed there meanwhile; the harness starts gunicorn with inherited ones)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


class RedisServer:
    """A redis-server of our own on a free loopback port, no persistence."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        cmd = [shutil.which("redis-server") or "redis-server", "--port", str(self.port)]
        cmd += ["--bind", HOST, "--save", "", "--appendonly", "no", "--protected-mode", "yes"]
        cmd += ["--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")]
        self.proc = subprocess.Popen(cmd, start_new_session=True)
        if not _wait_for(self.answers, 10):
            raise RuntimeError(f"redis-server did not start on port {self.port}")

    def answers(self) -> bool:
        import redis

        try:
            redis.Redis(host=HOST, port=self.port, socket_connect_timeout=0.5).ping()
        except Exception:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL: the server vanishes (connections reset, queued messages gone)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class Supervised:
    """A Celery worker or beat under scripts/worker.sh (which restarts it when it exits)."""

    def __init__(self, role: str, env: dict[str, str], workdir: Path) -> None:
        self.role, self.env, self.workdir = role, env, workdir
        self.logfile = open(workdir / f"{role}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["bash", str(WORKER_SH), role],
            cwd=ROOT,
            env={
                **os.environ,
                **env,
                "REVIEWAPP_WORKER_BACKOFF_S": "1",
                "CELERY_BEAT_SCHEDULE_FILE": str(workdir / "celerybeat-schedule"),
            },
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def celery_pid(self) -> int | None:
        """The celery process the supervisor runs now (None between restarts)."""
        for kid in _children(self.proc.pid):
            try:
                if b"celery" in Path(f"/proc/{kid}/cmdline").read_bytes():
                    return kid
            except OSError:
                continue
        return None

    def log_size(self) -> int:
        self.logfile.flush()
        return (self.workdir / f"{self.role}.log").stat().st_size

    def log_text(self, since: int = 0) -> str:
        with open(self.workdir / f"{self.role}.log", "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def kill_celery(self) -> int:
        """SIGKILL the celery process and its pool children (not the supervisor)."""
        pid = self.celery_pid()
        if pid is None:
            raise RuntimeError(f"no celery {self.role} process to kill")
        _kill([pid, *_descendants(pid)])
        return pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.logfile.close()


@dataclass
class Receipt:
    delivery_id: str
    event: str
    case_id: int | None
    at: float


class Receiver:
    """The webhook receiver: records every POST (at receipt, before it answers) with its
    delivery id; ``delay_s`` makes it slow so that a kill lands mid-delivery."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.in_flight = 0
        self.delay_s = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver.lock:
                    receiver.receipts.append(
                        Receipt(
                            delivery_id=self.headers.get("X-Reviewapp-Delivery", ""),
                            event=self.headers.get("X-Reviewapp-Event", ""),
                            case_id=body.get("case_id"),
                            at=time.monotonic(),
                        )
                    )
                    receiver.in_flight += 1
                try:
                    time.sleep(receiver.delay_s)
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{HOST}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def by_case(self, event: str = "case.decided") -> dict[int, list[Receipt]]:
        with self.lock:
            found: dict[int, list[Receipt]] = defaultdict(list)
            for receipt in self.receipts:
                if receipt.event == event and receipt.case_id is not None:
                    found[receipt.case_id].append(receipt)
            return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- HTTP clients ---------------------------------------------------------------------------


@dataclass
class Stats:
    """What the clients of one scenario sent and got back (every attempt counts)."""

    sent: int = 0
    ok: int = 0
    unavailable: int = 0  # 503
    server_errors: int = 0  # 500 and other 5xx but 503: must stay 0
    dropped: int = 0  # connection refused, reset or closed without an answer
    other: Counter = field(default_factory=Counter)  # other statuses (409, 204, ...)
    in_flight: int = 0  # requests sent and not yet answered, now
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: int | None) -> None:
        with self.lock:
            self.sent += 1
            if status is None:
                self.dropped += 1
            elif 200 <= status < 300:
                self.ok += 1
            elif status == 503:
                self.unavailable += 1
            elif status >= 500:
                self.server_errors += 1
            else:
                self.other[status] += 1


class Api:
    """HTTP/1.1 to gunicorn on 127.0.0.1, one connection per request (a dropped connection
    never poisons the next request). Retries: 503, 5xx and dropped connections."""

    def __init__(self, port: int, stats: Stats, *, deadline_s: float = 90.0) -> None:
        self.port, self.stats = port, stats
        self.deadline = time.monotonic() + deadline_s

    def once(
        self, method: str, path: str, *, token: str = "", body: object = None, timeout: float = 20
    ) -> tuple[int | None, dict, dict[str, str]]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        with self.stats.lock:
            self.stats.in_flight += 1
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            status, head = response.status, dict(response.getheaders())
        except (OSError, http.client.HTTPException):
            self.stats.note(None)
            return None, {}, {}
        finally:
            conn.close()
            with self.stats.lock:
                self.stats.in_flight -= 1
        self.stats.note(status)
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"raw": raw[:200].decode(errors="replace")}
        return status, payload, head

    def retrying(
        self, method: str, path: str, *, token: str, body: object = None, attempts: int = 25
    ) -> tuple[int | None, dict, int]:
        """(last status, body, tries): retried on 503/5xx/dropped with capped backoff."""
        status, payload = None, {}
        for attempt in range(attempts):
            status, payload, head = self.once(method, path, token=token, body=body)
            if status is not None and status < 500:
                return status, payload, attempt + 1
            if time.monotonic() > self.deadline:
                break
            wait = min(2.0, 0.1 * 2**attempt)
            if status == 503 and head.get("Retry-After", "").isdigit():
                wait = min(wait, float(head["Retry-After"]))
            time.sleep(wait * random.uniform(0.7, 1.0))
        return status, payload, attempts


def case_body(external_id: str, rng: random.Random) -> dict:
    """A case that goes to people (confidence below the 0.80 review threshold)."""
    confidence = round(rng.uniform(0.5, 0.7), 3)
    label = rng.choice(LABELS)
    other = LABELS[1] if label == LABELS[0] else LABELS[0]
    return {
        "external_id": external_id,
        "model_version": "1.0.0",
        "input": {"amount": round(rng.uniform(1, 5000), 2), "country": "DE"},
        "prediction": {
            "label": label,
            "confidence": confidence,
            "scores": {label: confidence, other: round(1 - confidence, 3)},
        },
        "priority": "normal",
    }


@dataclass
class Outcomes:
    """Per item: how the client's story ended."""

    intended: set[str] = field(default_factory=set)  # every external id the client sends
    stored: set[str] = field(default_factory=set)  # cases answered 200/201 (or duplicate)
    refused: dict[str, int] = field(default_factory=dict)  # a clear 4xx error
    gave_up: dict[str, int | None] = field(default_factory=dict)  # last 503/dropped
    decided: set[int] = field(default_factory=set)  # case ids the client saw decided
    decide_unresolved: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def submit_singles(api: Api, token: str, ids: list[str], out: Outcomes, pace_s: float) -> None:
    rng = random.Random(ids[0] if ids else 0)
    for external_id in ids:
        status, _, _ = api.retrying(
            "POST", "/api/v1/cases", token=token, body=case_body(external_id, rng)
        )
        with out.lock:
            if status in (200, 201):
                out.stored.add(external_id)
            elif status is not None and status < 500:
                out.refused[external_id] = status
            else:
                out.gave_up[external_id] = status
        time.sleep(pace_s)


def submit_batches(api: Api, token: str, batches: list[list[str]], out: Outcomes) -> None:
    rng = random.Random(len(batches))
    for ids in batches:
        body = [case_body(external_id, rng) for external_id in ids]
        status, payload, _ = api.retrying("POST", "/api/v1/cases/batch", token=token, body=body)
        with out.lock:
            if status == 200:
                for external_id, result in zip(ids, payload.get("results", []), strict=False):
                    if result.get("status") in ("created", "duplicate"):
                        out.stored.add(external_id)
                    else:
                        out.refused[external_id] = 400
            else:
                for external_id in ids:
                    out.gave_up[external_id] = status


def review_loop(api: Api, token: str, slug: str, out: Outcomes, done: threading.Event) -> None:
    """Claim -> accept until the intake is done and the queue stays empty."""
    empty_since: float | None = None
    while time.monotonic() < api.deadline:
        status, case, _ = api.retrying("POST", f"/api/v1/queues/{slug}/claim", token=token)
        if status == 204 or status is None or status >= 500:
            if done.is_set():
                empty_since = empty_since or time.monotonic()
                if time.monotonic() - empty_since > 1.5:
                    return
            time.sleep(0.15)
            continue
        empty_since = None
        if status != 200:
            time.sleep(0.2)
            continue
        case_id = case["id"]
        status, payload, tries = api.retrying(
            "POST", f"/api/v1/cases/{case_id}/decision", token=token, body={"action": "accept"}
        )
        code = (payload.get("error") or {}).get("code", "")
        with out.lock:
            if status is not None and 200 <= status < 300:
                out.decided.add(case_id)
            elif status == 409 and code == "already_decided" and tries > 1:
                out.decided.add(case_id)  # our first attempt committed, its answer was lost
            else:
                out.decide_unresolved[case_id] = f"{status} {code}"


# --- the stack --------------------------------------------------------------------------------


@dataclass
class Fixture:
    slug: str
    model_id: int
    service_token: str


SETUP = """
import json
from reviewapp.models import MLModel, RoutingPolicy, Role
from reviewapp.services.accounts import (
    service_account_create, team_get_or_create, token_create, user_create)
from reviewapp.services.policies import model_register
from reviewapp.services.webhooks import webhook_set
team = team_get_or_create(slug="faults")
out = {"models": {}}
for slug in SLUGS:
    m = model_register(slug=slug, labels=["fraud", "legit"], team=team)
    RoutingPolicy.objects.filter(ml_model=m, status="active").update(
        blind_sample_rate=0, qa_sample_rate=0, lease_minutes=30)
    webhook_set(ml_model=m, url=HOOK, actor=None)
    _, raw = service_account_create(ml_model=m)
    out["models"][slug] = {"id": m.pk, "token": raw}
reviewer = user_create(username="f-reviewer", role=Role.REVIEWER, teams=[team], password=PW)
manager = user_create(username="f-manager", role=Role.MANAGER, teams=[team], password=PW)
out["reviewer"] = token_create(user=reviewer, name="faults")[1]
out["manager"] = token_create(user=manager, name="faults")[1]
print(json.dumps(out))
"""


class Stack:
    """Database, Redis, gunicorn, supervised worker and beat, and the receiver."""

    SLUGS = ("fault-redis", "fault-worker", "fault-gunicorn", "fault-postgres")

    def __init__(self, *, keep_logs: bool = False) -> None:
        self.db_name = f"{DB_PREFIX}_{os.getpid()}"
        self.workdir = Path(tempfile.mkdtemp(prefix="rv-faults-"))
        self.keep_logs = keep_logs
        self.failed = False  # set when a scenario broke an invariant: its logs are kept
        self.redis = RedisServer(self.workdir)
        self.receiver = Receiver()
        self.gunicorn: subprocess.Popen | None = None
        self.worker: Supervised | None = None
        self.beat: Supervised | None = None
        self.port = free_port()
        self.env = {
            **server_env(db_name=self.db_name, redis_db=0),
            "REDIS_URL": self.redis.url,
            "REVIEWAPP_WEBHOOK_ALLOW_PRIVATE": "true",
            "REVIEWAPP_WEBHOOK_SWEEP_S": str(SWEEP_S),
            "REVIEWAPP_WEBHOOK_TIMEOUT_S": str(WEBHOOK_TIMEOUT_S),
            "REVIEWAPP_BROKER_RETRY_S": "2",
            "REVIEWAPP_UNDO_WINDOW_S": "2",  # webhooks are due 2 s after a decision
            "REVIEWAPP_AUDIT_ANCHOR_FILE": str(self.workdir / "audit-anchor.jsonl"),
            "PYTHONWARNINGS": "ignore",
        }
        self.fixtures: dict[str, Fixture] = {}
        self.reviewer_token = self.manager_token = ""

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        started = time.monotonic()
        self.redis.start()
        database_recreate(db_name=self.db_name, env=self.env)
        log(f"database migrated ({time.monotonic() - started:.1f} s)")
        # The pages need the hashed static files of the production storage (staticfiles/).
        manage("collectstatic", "--noinput", "-v", "0", env=self.env)
        log(f"static files collected ({time.monotonic() - started:.1f} s)")
        setup = SETUP.replace("SLUGS", repr(self.SLUGS)).replace("HOOK", repr(self.receiver.url))
        setup = setup.replace("PW", repr(PASSWORD))
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", setup],
            cwd=ROOT,
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        data = json.loads(out.splitlines()[-1])
        for slug, row in data["models"].items():
            self.fixtures[slug] = Fixture(slug, row["id"], row["token"])
        self.reviewer_token, self.manager_token = data["reviewer"], data["manager"]
        log(f"fixtures made ({time.monotonic() - started:.1f} s)")
        with _stdio_to(self.workdir / "gunicorn.log"):  # its output (and tracebacks) there
            self.gunicorn = gunicorn_start(env=self.env, port=self.port, workers=2, threads=4)
        log(f"gunicorn up ({time.monotonic() - started:.1f} s)")
        self.worker = Supervised("worker", self.env, self.workdir)
        self.beat = Supervised("beat", self.env, self.workdir)
        if not _wait_for(self.worker_ready, 60, 0.5):
            raise RuntimeError(f"the celery worker did not start; see {self.workdir}")
        log(f"stack up in {time.monotonic() - started:.1f} s (work dir {self.workdir})")

    def worker_ready(self) -> bool:
        """The worker answers a ping over the broker."""
        from celery import Celery

        probe = Celery("faults-probe", broker=self.redis.url)
        try:
            replies = probe.control.ping(timeout=1.0)
        except Exception:
            return False
        finally:
            probe.close()
        return bool(replies)

    def gunicorn_workers(self) -> list[int]:
        return _children(self.gunicorn.pid) if self.gunicorn else []

    def close(self) -> None:
        for proc in (self.worker, self.beat):
            if proc is not None:
                proc.stop()
        if self.gunicorn is not None:
            gunicorn_stop(self.gunicorn)
        self.redis.stop()
        self.receiver.close()
        with (
            contextlib.suppress(Exception),
            psycopg.connect(database_url("postgres"), autocommit=True) as conn,
        ):
            conn.execute(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        if self.failed:  # keep the processes' logs where CI keeps its artifacts
            saved = ROOT / "test-artifacts" / "fault-logs"
            saved.mkdir(parents=True, exist_ok=True)
            for path in self.workdir.glob("*.log"):
                shutil.copy(path, saved / path.name)
            log(f"logs of the failed run copied to {saved}")
        if not self.keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(database_url(self.db_name), autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def api(self, stats: Stats, deadline_s: float = 90.0) -> Api:
        return Api(self.port, stats, deadline_s=deadline_s)


# --- measuring ------------------------------------------------------------------------------


@dataclass
class FaultResult:
    fault: str
    stats: Stats
    items: int = 0  # cases the clients meant to submit
    stored: int = 0
    lost: int = 0
    duplicated_cases: int = 0
    duplicated_decisions: int = 0
    decisions: int = 0
    delivered: int = 0  # decisions whose webhook the receiver got
    receipts: int = 0  # POSTs the receiver got for them (repeats included)
    repeated_with_same_id: int = 0
    repeated_with_new_id: int = 0
    recovery_s: float | None = None  # fault over -> last webhook received
    checks: dict[str, object] = field(default_factory=dict)  # scenario-specific observations
    problems: list[str] = field(default_factory=list)

    @property
    def semantics(self) -> str:
        if self.delivered < self.decisions:
            return f"MISSING {self.decisions - self.delivered}"
        if self.repeated_with_new_id:
            return f"duplicates with new ids: {self.repeated_with_new_id}"
        if self.repeated_with_same_id:
            return f"at-least-once ({self.repeated_with_same_id} re-sent, same delivery id)"
        return "exactly once"


def _measure(
    stack: Stack, fixture: Fixture, result: FaultResult, out: Outcomes, fault_over: float
) -> FaultResult:
    """Fill RESULT from the database and the receiver, waiting (bounded) for webhooks."""
    model = fixture.model_id
    stored_rows = stack.sql(
        "SELECT external_id, count(*) FROM reviewapp_case WHERE ml_model_id = %s "
        "GROUP BY external_id",
        (model,),
    )
    in_db = {row[0]: row[1] for row in stored_rows}
    result.stored = len(in_db)
    result.duplicated_cases = sum(n - 1 for n in in_db.values() if n > 1)
    # Lost: meant to be stored, not stored, and not ended by a clear error to the client (a
    # 4xx refusal, or a 503 it could retry later); a dropped connection is no answer.
    result.lost = sum(
        1
        for external_id in out.intended
        if external_id not in in_db
        and external_id not in out.refused
        and out.gave_up.get(external_id) != 503
    )
    decisions = stack.sql(
        "SELECT case_id, count(*) FROM reviewapp_decision WHERE ml_model_id = %s "
        "AND superseded_at IS NULL GROUP BY case_id",
        (model,),
    )
    decided = {row[0]: row[1] for row in decisions}
    result.decisions = len(decided)
    result.duplicated_decisions = sum(n - 1 for n in decided.values() if n > 1)
    # A decision the client saw made must be stored; one it could not settle counts as lost.
    result.lost += sum(1 for case_id in out.decided if case_id not in decided)
    result.lost += len(out.decide_unresolved)
    outbox_dupes = stack.sql(
        "SELECT count(*) FROM (SELECT decision_id FROM reviewapp_webhookdelivery "
        "WHERE ml_model_id = %s AND event = 'case.decided' GROUP BY decision_id "
        "HAVING count(*) > 1) d",
        (model,),
    )[0][0]
    result.duplicated_decisions += outbox_dupes

    def all_delivered() -> bool:
        # Settled: every outbox row of the decisions delivered (a row whose POST was cut off
        # by a kill is re-sent after its lease) and the receiver holds each decision.
        waiting = stack.sql(
            "SELECT count(*) FROM reviewapp_webhookdelivery WHERE ml_model_id = %s "
            "AND event = 'case.decided' AND status <> 'delivered'",
            (model,),
        )[0][0]
        got = stack.receiver.by_case()
        return not waiting and all(case_id in got for case_id in decided)

    _wait_for(all_delivered, 120, 0.5)
    got = stack.receiver.by_case()
    result.delivered = sum(1 for case_id in decided if case_id in got)
    result.receipts = sum(len(got[case_id]) for case_id in decided if case_id in got)
    for case_id in decided:
        receipts = got.get(case_id, [])
        if len(receipts) > 1:
            if len({r.delivery_id for r in receipts}) == 1:
                result.repeated_with_same_id += 1
            else:
                result.repeated_with_new_id += 1
    if got and decided:
        last = max(r.at for case_id in decided for r in got.get(case_id, []))
        result.recovery_s = round(max(0.0, last - fault_over), 1)
    if out.refused:
        result.problems.append(f"refused items: {sorted(out.refused.items())[:5]}")
    if out.decide_unresolved:
        result.problems.append(f"unsettled decisions: {list(out.decide_unresolved.items())[:5]}")
    stack.failed = stack.failed or bool(result_failures(result))
    return result


def _run_load(
    stack: Stack, fixture: Fixture, stats: Stats, ids: list[str], *, pace_s: float
) -> tuple[Outcomes, threading.Event, list[threading.Thread]]:
    """Two intake threads (single POSTs) and one reviewer, started now."""
    out, done = Outcomes(intended=set(ids)), threading.Event()
    api = stack.api(stats)
    halves = [ids[0::2], ids[1::2]]
    intake = [
        threading.Thread(
            target=submit_singles, args=(api, fixture.service_token, half, out, pace_s)
        )
        for half in halves
    ]
    reviewer = threading.Thread(
        target=review_loop, args=(api, stack.reviewer_token, fixture.slug, out, done)
    )
    for thread in [*intake, reviewer]:
        thread.start()

    def finisher() -> None:
        for thread in intake:
            thread.join()
        done.set()

    closer = threading.Thread(target=finisher)
    closer.start()
    return out, done, [*intake, reviewer, closer]


# --- the scenarios --------------------------------------------------------------------------


def scenario_redis(stack: Stack, *, n: int = 120, down_s: float = 6.0) -> FaultResult:
    """(a) Redis killed during intake and decisions, restarted DOWN_S later: intake, claims,
    decisions and reads keep answering; the decisions' webhooks go out after the restart
    through the beat sweep (their enqueue failed), with the same worker process."""
    fixture = stack.fixtures["fault-redis"]
    stats = Stats()
    result = FaultResult(f"a. Redis killed, restarted after {down_s:.0f} s", stats, items=n)
    worker_before = stack.worker.celery_pid()
    log_mark = stack.worker.log_size()
    out, _, threads = _run_load(stack, fixture, stats, [f"a-{i}" for i in range(n)], pace_s=0.1)
    time.sleep(1.5)
    stack.redis.kill()
    log("a: redis killed")
    time.sleep(1.0)
    probe = stack.api(Stats())
    status, ready, _ = probe.once("GET", "/readyz")
    result.checks["readyz while Redis is down"] = f"{status} {ready.get('status')}"
    query = urlencode({"model": fixture.slug})
    status, _, _ = probe.once("GET", f"/api/v1/metrics/adoption?{query}", token=stack.manager_token)
    result.checks["adoption metrics (cache) while down"] = status
    status, _, _ = probe.once("GET", "/api/v1/decisions", token=fixture.service_token)
    result.checks["decision feed while down"] = status
    result.checks["pages while down"] = pages = pages_check(stack, fixture.slug)
    if any(status != 200 for status in pages.values()):
        result.problems.append(f"pages while Redis was down: {pages} ({stack.workdir})")
    time.sleep(max(0.0, down_s - 2.0))
    stack.redis.start()
    fault_over = time.monotonic()
    log("a: redis restarted")
    for thread in threads:
        thread.join()
    status, ready, _ = probe.once("GET", "/readyz")
    result.checks["readyz after restart"] = f"{status} {ready.get('status')}"
    _measure(stack, fixture, result, out, fault_over)
    result.checks["webhooks received after the restart"] = sum(
        1 for receipts in stack.receiver.by_case().values() for r in receipts if r.at > fault_over
    )
    worker_after = stack.worker.celery_pid()
    crashed = "Unrecoverable error" in stack.worker.log_text(since=log_mark)
    result.checks["worker exited (celery/kombu 'Unrecoverable error')"] = crashed
    result.checks["worker processing after the restart"] = (
        "same process" if worker_before == worker_after else "restarted by scripts/worker.sh"
    )
    return result


def scenario_worker(stack: Stack, *, n: int = 10, delay_s: float = 1.5) -> FaultResult:
    """(b) The Celery worker (and its pool) SIGKILLed while the receiver is answering its
    POSTs slowly; scripts/worker.sh starts a new worker; every decision is delivered."""
    fixture = stack.fixtures["fault-worker"]
    stats = Stats()
    result = FaultResult("b. Celery worker SIGKILL mid-delivery", stats, items=n)
    stack.receiver.delay_s = delay_s
    try:
        out, _, threads = _run_load(stack, fixture, stats, [f"b-{i}" for i in range(n)], pace_s=0.0)
        landed = _wait_for(lambda: stack.receiver.in_flight > 0, 30, 0.05)
        result.checks["kill landed mid-delivery"] = landed
        killed = stack.worker.kill_celery()
        fault_over = time.monotonic()
        log(f"b: worker {killed} killed with {stack.receiver.in_flight} delivery in flight")
        for thread in threads:
            thread.join()
        restarted = _wait_for(lambda: stack.worker.celery_pid() not in (None, killed), 30)
        result.checks["worker restarted by scripts/worker.sh"] = restarted
        _measure(stack, fixture, result, out, fault_over)
    finally:
        stack.receiver.delay_s = 0.0
    return result


def scenario_gunicorn(stack: Stack, *, batches: int = 32, size: int = 100) -> FaultResult:
    """(c) The gunicorn worker processes (not the master) SIGKILLed while both clients have a
    batch in flight, again (at most 5 rounds) until a kill has dropped a request: the client
    retries the dropped batches; idempotency by external_id means no duplicates. Every worker
    is killed in a round, so a round cannot miss the worker that holds the requests."""
    fixture = stack.fixtures["fault-gunicorn"]
    stats = Stats()
    result = FaultResult("c. gunicorn worker SIGKILL mid-batch", stats, items=batches * size)
    ids = [[f"c-{b}-{i}" for i in range(size)] for b in range(batches)]
    out = Outcomes(intended={external_id for batch in ids for external_id in batch})
    api = stack.api(stats)
    threads = [
        threading.Thread(target=submit_batches, args=(api, fixture.service_token, ids[k::2], out))
        for k in range(2)
    ]
    for thread in threads:
        thread.start()
    killed: list[int] = []
    rounds = 0
    time.sleep(0.3)
    while rounds < 5 and not stats.dropped and any(t.is_alive() for t in threads):
        if not _wait_for(lambda: stats.in_flight >= 2, 5, 0.01):
            break
        workers = [pid for pid in stack.gunicorn_workers() if pid not in killed]
        if workers:
            time.sleep(0.05)  # let the in-flight batches reach a worker
            _kill(workers)
            killed.extend(workers)
            rounds += 1
        _wait_for(lambda: stats.dropped > 0, 1.0, 0.02)
    fault_over = time.monotonic()
    log(f"c: gunicorn workers {killed} killed")
    for thread in threads:
        thread.join()
    result.checks["gunicorn workers killed"] = len(killed)
    result.checks["kill rounds"] = rounds
    result.checks["requests dropped by the kills"] = stats.dropped
    result.checks["master respawned workers"] = _wait_for(
        lambda: len(stack.gunicorn_workers()) == 2, 20
    )
    # Decide a few of them too, so that the row's webhook column means something.
    done = threading.Event()
    done.set()
    review_loop(Api(stack.port, stats, deadline_s=5), stack.reviewer_token, fixture.slug, out, done)
    _measure(stack, fixture, result, out, fault_over)
    return result


def scenario_postgres(stack: Stack, *, n: int = 100, kill_for_s: float = 4.0) -> FaultResult:
    """(d) Every backend of the database terminated (pg_terminate_backend) every 0.3 s for
    KILL_FOR_S seconds during intake and decisions: 503 + Retry-After, retried, no 500."""
    fixture = stack.fixtures["fault-postgres"]
    stats = Stats()
    result = FaultResult("d. PostgreSQL backends terminated", stats, items=n)
    out, _, threads = _run_load(stack, fixture, stats, [f"d-{i}" for i in range(n)], pace_s=0.02)
    time.sleep(0.5)
    terminated = 0
    deadline = time.monotonic() + kill_for_s
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (stack.db_name,),
            ).fetchall()
            terminated += sum(1 for row in rows if row[0])
            time.sleep(0.3)
    fault_over = time.monotonic()
    log(f"d: {terminated} backends terminated")
    result.checks["backends terminated"] = terminated
    for thread in threads:
        thread.join()
    _measure(stack, fixture, result, out, fault_over)
    return result


# --- pages (a session, as a browser has) ------------------------------------------------------


def _login(port: int, username: str) -> dict[str, str] | None:
    """A signed-in session's cookies (None when sign-in fails)."""
    cookies: dict[str, str] = {}

    def call(method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection(HOST, port, timeout=20)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                cookies[key.strip()] = rest.split(";", 1)[0]
        conn.close()
        return response.status, text

    status, text = call("GET", "/accounts/login/")
    marker = 'name="csrfmiddlewaretoken" value="'
    if status != 200 or marker not in text:
        return None
    token = text.split(marker, 1)[1].split('"', 1)[0]
    form = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD})
    status, _ = call("POST", "/accounts/login/", form.encode())
    return cookies if status == 302 and "sessionid" in cookies else None


def page_status(port: int, cookies: dict[str, str], path: str) -> int | None:
    conn = http.client.HTTPConnection(HOST, port, timeout=20)
    try:
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


_sessions: dict[str, dict[str, str] | None] = {}


def pages_login(stack: Stack) -> None:
    """Sign the reviewer and the manager in (before a fault: sessions live in PostgreSQL)."""
    for username in ("f-reviewer", "f-manager"):
        _sessions[username] = _login(stack.port, username)


def pages_check(stack: Stack, slug: str) -> dict[str, int | None]:
    """Status of the reviewer's and the manager's main pages."""
    paths = {
        "f-reviewer": ["/review/"],
        "f-manager": ["/dashboards/", f"/models/{slug}/", "/dashboards/health/", "/queues/"],
    }
    found: dict[str, int | None] = {}
    for username, urls in paths.items():
        cookies = _sessions.get(username)
        for path in urls:
            found[path] = page_status(stack.port, cookies, path) if cookies else None
    return found


SCENARIOS: dict[str, Callable[[Stack], FaultResult]] = {
    "redis": scenario_redis,
    "worker": scenario_worker,
    "gunicorn": scenario_gunicorn,
    "postgres": scenario_postgres,
}


@contextlib.contextmanager
def stack_running(*, keep_logs: bool = False) -> Iterator[Stack]:
    with Stack(keep_logs=keep_logs) as stack:
        pages_login(stack)
        yield stack


# --- the report -----------------------------------------------------------------------------

COLUMNS = (
    "Fault",
    "Requests sent",
    "2xx",
    "503",
    "Dropped conn.",
    "Other 5xx",
    "Items",
    "Lost",
    "Dup. cases/decisions",
    "Decisions",
    "Webhooks got/decisions",
    "Delivery",
    "Recovery s",
)


def report_rows(results: list[FaultResult]) -> list[list[str]]:
    rows = []
    for r in results:
        rows.append(
            [
                r.fault,
                str(r.stats.sent),
                str(r.stats.ok),
                str(r.stats.unavailable),
                str(r.stats.dropped),
                str(r.stats.server_errors),
                str(r.items),
                str(r.lost),
                f"{r.duplicated_cases}/{r.duplicated_decisions}",
                str(r.decisions),
                f"{r.delivered}/{r.decisions} ({r.receipts} POSTs)",
                r.semantics,
                "" if r.recovery_s is None else f"{r.recovery_s:.1f}",
            ]
        )
    return rows


def report_markdown(results: list[FaultResult], *, command: str) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
        *("| " + " | ".join(row) + " |" for row in report_rows(results)),
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "Requests sent counts every attempt (retries included); Lost = items meant to be "
        "stored that are neither stored nor refused with a clear error; webhooks are counted "
        "at the receiver (every POST, with its X-Reviewapp-Delivery id).",
        "",
    ]
    for r in results:
        notes = "; ".join(f"{k}: {v}" for k, v in r.checks.items())
        if r.problems:
            notes += "; PROBLEMS: " + "; ".join(r.problems)
        lines.append(f"- {r.fault}: {notes}")
    return "\n".join(lines) + "\n"


def result_failures(result: FaultResult) -> list[str]:
    """What must hold after every fault (empty when all do)."""
    failures = []
    if result.lost:
        failures.append(f"{result.lost} items lost")
    if result.duplicated_cases or result.duplicated_decisions:
        failures.append(
            f"duplicates: {result.duplicated_cases} cases, {result.duplicated_decisions} decisions"
        )
    if result.stats.server_errors:
        failures.append(f"{result.stats.server_errors} answers were 5xx other than 503")
    if result.stored != result.items:
        failures.append(f"{result.stored} of {result.items} cases stored")
    if result.decisions == 0:
        failures.append("no decisions were made")
    if result.delivered != result.decisions:
        failures.append(f"webhooks for {result.delivered} of {result.decisions} decisions")
    if result.repeated_with_new_id:
        failures.append(f"{result.repeated_with_new_id} decisions re-sent under a new id")
    failures.extend(result.problems)
    return failures
