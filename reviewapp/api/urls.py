from django.urls import include, path

from reviewapp.api import (  # noqa: F401 - registers
    comments,
    documentation,
    feed,
    intake,
    metrics,
    outcomes,
    review,
    schema,
)

urlpatterns = [
    path("cases", intake.CaseListCreateApi.as_view(), name="api-cases"),
    path("cases/batch", intake.CaseBatchApi.as_view(), name="api-cases-batch"),
    path("cases/<int:case_id>", intake.CaseDetailApi.as_view(), name="api-case-detail"),
    path("", include(review.urlpatterns)),
    path("", include(comments.urlpatterns)),
    path("", include(feed.urlpatterns)),
    path("", include(metrics.urlpatterns)),
    path("", include(outcomes.urlpatterns)),
    path("", include(documentation.urlpatterns)),
]
