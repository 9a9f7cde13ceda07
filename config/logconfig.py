"""Log format (``REVIEWAPP_LOG_FORMAT``): ``json`` writes one JSON object per line, ``text``
one readable line; both through structlog's ``ProcessorFormatter`` on the standard logging
module, so every logger (Django, Celery, reviewapp) gets the same fields:

``timestamp`` (ISO 8601, UTC), ``level``, ``logger``, ``event`` (the message), ``request_id``
(the server's id of the request being served, or of the request that queued the running
Celery task), and what the code bound or passed as ``extra``: ``route``, ``status``,
``duration_ms``, ``user`` (a person's pseudonym, never a username), ``task``, ``task_id``...

Imported by the settings, so it imports nothing of Django or the app's layers.
"""

from __future__ import annotations

from typing import Any

import structlog

from reviewapp.request_context import request_context_current

LOG_FORMATS = ("json", "text")


def add_request_id(logger: Any, method_name: str, event_dict: dict) -> dict:
    """The bound request id (reviewapp.request_context), unless the record carries one."""
    if not event_dict.get("request_id"):
        request_id = request_context_current().request_id
        if request_id:
            event_dict["request_id"] = request_id
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        add_request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def log_formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter for FORMAT ("json" or "text")."""
    if log_format == "json":
        renderer: Any = structlog.processors.JSONRenderer()
        final = [structlog.processors.format_exc_info, renderer]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=False)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )


def logging_settings(log_format: str, *, level: str = "INFO") -> dict:
    """Django's LOGGING for FORMAT: one console handler on the root logger."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"REVIEWAPP_LOG_FORMAT must be one of {LOG_FORMATS}, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": log_formatter, "log_format": log_format}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main"}},
        "root": {"handlers": ["console"], "level": level},
        # Django's own request log repeats the access line of reviewapp.access.
        "loggers": {"django.server": {"level": "WARNING"}},
    }


def structlog_configure() -> None:
    """Route ``structlog.get_logger()`` through the standard logging module, so code that
    prefers structlog's API gets the same handlers, fields and format."""
    native = [p for p in _shared_processors() if not isinstance(p, structlog.stdlib.ExtraAdder)]
    structlog.configure(
        processors=[*native, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
