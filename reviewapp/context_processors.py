"""Navigation links for the signed-in user, decided by the same permission predicates."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from reviewapp import permissions as perms
from reviewapp.models import Alert, Role

ALERT_BANNER_ROLES = frozenset({Role.MANAGER, Role.MODEL_OWNER})


def navigation(request: HttpRequest) -> dict:
    user = request.user
    if not user.is_authenticated:
        return {"nav": []}
    links = []
    if user.role in perms.REVIEWING_ROLES:
        links.append(("Review", "review-home"))
    if perms.user_can_view_queue_overview(user):
        links.append(("Queues", "queue-overview"))
    if perms.user_can_view_dashboards(user):
        links.append(("Adoption", "dashboard-adoption"))
        links.append(("Model health", "dashboard-health"))
    if perms.user_can_manage_model(user) or user.role == "manager":
        links.append(("Models", "model-list"))
    if perms.user_can_view_audit(user):
        links.append(("Audit log", "audit-log"))
    if perms.user_can_administer(user):
        links.append(("Admin", "admin:index"))
    return {"nav": links, **alerts(request)}


def alerts(request: HttpRequest) -> dict:
    """Open model-health alerts of the models of the user's teams, for the banner shown to
    managers and model owners: one query (up to 6 rows), run only if a template reads it."""
    user = request.user
    if not user.is_authenticated or user.role not in ALERT_BANNER_ROLES:
        return {"health_alerts": []}

    def _open() -> list[Alert]:
        return list(
            Alert.objects.filter(resolved_at__isnull=True, ml_model__team__memberships__user=user)
            .select_related("ml_model")
            .order_by("-raised_at")[:6]
        )

    return {"health_alerts": SimpleLazyObject(_open)}
