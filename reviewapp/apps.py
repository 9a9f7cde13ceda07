from django.apps import AppConfig


class ReviewappConfig(AppConfig):
    name = "reviewapp"
    verbose_name = "reviewapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # signals: the audit receivers. tasks: register the Celery tasks in every process,
        # since services queue them by name (reviewapp.jobs) rather than importing them.
        # observability: the Celery signal receivers (request id into tasks, task metrics,
        # last runs of periodic jobs); structlog shares the standard logging's format.
        from config.logconfig import structlog_configure
        from reviewapp import observability, signals, tasks  # noqa: F401

        structlog_configure()
