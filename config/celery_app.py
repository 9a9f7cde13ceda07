"""Celery application. Settings come from Django settings under the CELERY_ namespace.

Broker outages (README, "Failure modes"): a worker keeps retrying the broker forever, at
start-up and after a drop, instead of exiting after 100 attempts; Redis sockets have
timeouts and health checks so that a Redis that hangs (rather than refusing) is noticed; a
web process that publishes while Redis is down gives up after about a second
(``reviewapp.jobs`` then stops trying for a few seconds). Workers run under
``scripts/worker.sh``, which also restarts them should one exit anyway.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Redis sockets (added when the broker is Redis; the settings may override each): connect
# and read timeouts (a hung Redis is an error, not a hang), a PING on connections idle for
# health_check_interval seconds, TCP keepalive. visibility_timeout: how long a message taken
# by a worker that died without acknowledging it stays invisible (the webhook sweep re-sends
# due deliveries long before that; every task is safe to run twice).
REDIS_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    "socket_keepalive": True,
    "health_check_interval": 10,
    "retry_on_timeout": True,
    "visibility_timeout": 3600,
}

# Every task is a reviewapp.jobs.JobTask: a periodic run sent by beat claims its period first,
# so that two beats never run a job twice in one period (README, "Cluster").
app = Celery("reviewapp", task_cls="reviewapp.jobs:JobTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    broker_connection_retry=True,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,  # never give up on the broker
    broker_connection_timeout=2,
    # Publishing from a request: three quick tries (about 0.6 s when Redis refuses), then
    # the error goes to reviewapp.jobs, which degrades (README, "Failure modes").
    task_publish_retry=True,
    task_publish_retry_policy={
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.3,
    },
    # A task running when the broker drops finishes; its acknowledgement is lost, so the
    # message comes back after visibility_timeout and finds nothing left to do (tasks claim
    # their rows in the database). Set explicitly: Celery 6 changes the default.
    worker_cancel_long_running_tasks_on_connection_loss=False,
)
app.autodiscover_tasks()


@app.on_after_configure.connect
def _redis_transport_options(sender: Celery, **kwargs: object) -> None:
    """Add the Redis socket options (settings may override each) when the broker is Redis."""
    if str(sender.conf.broker_url or "").startswith(("redis://", "rediss://")):
        sender.conf.broker_transport_options = {
            **REDIS_TRANSPORT_OPTIONS,
            **(sender.conf.broker_transport_options or {}),
        }
