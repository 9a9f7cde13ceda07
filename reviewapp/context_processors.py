"""Navigation links for the signed-in user, decided by the same permission predicates."""

from django.http import HttpRequest

from reviewapp import permissions as perms


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
    return {"nav": links}
