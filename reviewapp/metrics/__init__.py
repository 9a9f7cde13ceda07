"""Prometheus metrics (``/metrics``; docs/operations.md, "Metrics").

Two sources, one exposition:

- ``instruments``: what happens inside a process, counted where it happens: request latency
  by route and status (``observability.ObservabilityMiddleware``) and Celery task runs,
  failures and durations (Celery signals). Under gunicorn or Celery's prefork pool these use
  prometheus-client's multiprocess mode: set ``PROMETHEUS_MULTIPROC_DIR`` to a directory
  shared by the processes of one host, emptied at start.
- ``exposition.DatabaseCollector``: the state of the system, read from the database at scrape
  time (``selectors.system.system_snapshot``): queue depth and age, outbox lag, seal lag, open
  alerts, worker heartbeat and periodic jobs, and the business totals (cases received,
  decisions, claims, escalations, SLA breaches, expiries, delivery failures). Counting these
  from the rows instead of in each process makes them exact whichever process or host did the
  work, survive restarts, and agree with the dashboards.
"""
