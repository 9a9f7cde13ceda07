"""gunicorn settings for reviewapp (docs/operations.md, "Deploy"):
``gunicorn config.wsgi -c ops/gunicorn.conf.py``. Everything can be overridden on the command
line or with GUNICORN_CMD_ARGS.

PROMETHEUS_MULTIPROC_DIR is not emptied here: the host's Celery processes write there too.
Empty it when every process of the host is stopped (a tmpfs under /run is emptied at boot)."""

import multiprocessing
import os

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count()))
graceful_timeout = 30
timeout = 60
# The proxy's address (REVIEWAPP_TRUSTED_PROXIES decides what the app believes).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server: object, worker: object) -> None:
    """Drop a dead worker's live gauges from the multiprocess files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
