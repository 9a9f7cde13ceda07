"""Navigation links for the signed-in user, decided by the same permission predicates."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from reviewapp.models import Alert
from reviewapp.permissions import Capability, user_has

NAV_LINKS = (
    (Capability.REVIEW, "Review", "review-home"),
    (Capability.REVIEW, "My decisions", "my-decisions"),
    (Capability.REVIEW, "My stats", "my-stats"),
    (Capability.VIEW_QUEUE_OVERVIEW, "Queues", "queue-overview"),
    (Capability.VIEW_DASHBOARDS, "Adoption", "dashboard-adoption"),
    (Capability.VIEW_DASHBOARDS, "Model health", "dashboard-health"),
    (Capability.VIEW_MODEL_PAGES, "Models", "model-list"),
    (Capability.VIEW_AUDIT, "Audit log", "audit-log"),
    (Capability.VIEW_SYSTEM, "System", "system"),
    (Capability.ADMINISTER, "Admin", "admin:index"),
)


def navigation(request: HttpRequest) -> dict:
    """The pages the signed-in user's role has (the permissions table decides)."""
    user = request.user
    if not user.is_authenticated:
        return {"nav": []}
    links = [(label, url_name) for cap, label, url_name in NAV_LINKS if user_has(user, cap)]
    return {"nav": links, **alerts(request)}


def alerts(request: HttpRequest) -> dict:
    """Open model-health alerts of the models of the user's teams, for the banner shown to
    managers and model owners: one query (up to 6 rows), run only if a template reads it."""
    user = request.user
    if not user_has(user, Capability.MANAGE_HEALTH):
        return {"health_alerts": []}

    def _open() -> list[Alert]:
        return list(
            Alert.objects.filter(resolved_at__isnull=True, ml_model__team__memberships__user=user)
            .select_related("ml_model")
            .order_by("-raised_at")[:6]
        )

    return {"health_alerts": SimpleLazyObject(_open)}
