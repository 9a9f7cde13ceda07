from django.apps import AppConfig


class ReviewappConfig(AppConfig):
    name = "reviewapp"
    verbose_name = "reviewapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # signals: the audit receivers. tasks: register the Celery tasks in every process,
        # since services queue them by name (reviewapp.jobs) rather than importing them.
        from reviewapp import signals, tasks  # noqa: F401
