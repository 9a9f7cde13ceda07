"""Pages. Each area keeps its own module under reviewapp/views/."""

from django.urls import include, path

from reviewapp.views import (
    audit,
    cases,
    core,
    dashboards,
    documentation,
    golive,
    health,
    history,
    model_settings,
    models,
    queues,
    review,
    system,
    versions,
)

urlpatterns = [
    path("", core.home, name="home"),
    path("review/", include(review.urlpatterns)),
    path("review/", include(history.urlpatterns)),
    path("cases/", include(cases.urlpatterns)),
    path("queues/", include(queues.urlpatterns)),
    path("dashboards/health/", include(health.urlpatterns)),
    path("dashboards/", include(dashboards.urlpatterns)),
    path("models/", include(models.urlpatterns)),
    path("models/", include(versions.urlpatterns)),
    path("models/", include(documentation.urlpatterns)),
    path("models/", include(golive.urlpatterns)),
    path("models/", include(model_settings.urlpatterns)),
    path("audit/", include(audit.urlpatterns)),
    path("system/", include(system.urlpatterns)),
]
