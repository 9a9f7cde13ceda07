"""What the benchmarks share: a fresh PostgreSQL database, Django set-up, gunicorn with the
production settings on 127.0.0.1, percentiles and timestamped output.

The scripts import it as ``from harness import ...``: ``python bench/<name>.py`` puts bench/
first on sys.path.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
HOST = "127.0.0.1"


def database_url(db_name: str) -> str:
    return f"{PG_SERVER}/{db_name}"


def server_env(*, db_name: str, redis_db: int) -> dict[str, str]:
    """The environment of gunicorn and manage.py: production settings, plain HTTP."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database_url(db_name),
        "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        # The benchmarks measure throughput, not the production rate limits (README, "Limits"):
        # the counters still run, with limits no benchmark reaches.
        "REVIEWAPP_RATE_API": "100000000/minute",
        "REVIEWAPP_RATE_SUBMIT_REQUESTS": "100000000/minute",
        "REVIEWAPP_RATE_SUBMIT_BURST": "100000000/second",
        "REVIEWAPP_RATE_SUBMIT_CASES": "1000000000/minute",
        "REVIEWAPP_RATE_REVIEW": "100000000/minute",
    }


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def manage(*args: str, env: dict[str, str]) -> None:
    """Run ``manage.py ARGS`` in the repository with ENV on top of this process's."""
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, check=True
    )


def database_recreate(*, db_name: str, env: dict[str, str]) -> None:
    """Drop and create DB_NAME (closing its connections), then migrate it."""
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db_name}")
    manage("migrate", "--noinput", "-v", "0", env=env)


def django_setup(env: dict[str, str]) -> None:
    """Set Django up in this process against ENV's database and settings."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def gunicorn_start(
    *, env: dict[str, str], port: int, workers: int, threads: int = 1, timeout: int | None = None
) -> subprocess.Popen:
    """Start gunicorn (gthread workers when THREADS > 1) and wait until /healthz answers."""
    cmd = [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    if threads > 1:
        cmd += ["--worker-class", "gthread", "--threads", str(threads)]
    if timeout is not None:
        cmd += ["--timeout", str(timeout)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return proc
            except OSError:
                pass
            if proc.poll() is not None:
                raise SystemExit("gunicorn exited during start-up")
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer /healthz within 60 s")
    except BaseException:
        gunicorn_stop(proc)
        raise


def gunicorn_stop(proc: subprocess.Popen) -> None:
    """SIGTERM gunicorn's process group; SIGKILL it if it has not gone within 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def percentile(values: list[float], p: float) -> float:
    """The P-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
