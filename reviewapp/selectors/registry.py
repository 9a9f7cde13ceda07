"""Reading the model registry for the pages: the models a person may see (with their team),
the model list with what needs attention, versions, routing policies and webhook
deliveries."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q

from reviewapp.models import (
    DeliveryStatus,
    MLModel,
    ModelVersion,
    PolicyStatus,
    RoutingPolicy,
    User,
    WebhookAttempt,
    WebhookDelivery,
)
from reviewapp.permissions import Capability, models_with

DELIVERIES_SHOWN = 50


def models_with_team(
    user: User, capability: Capability, *, order_by: tuple[str, ...] = ()
) -> list[MLModel]:
    """The models on which USER has CAPABILITY, each with its team loaded."""
    qs = models_with(user, capability).select_related("team")
    return list(qs.order_by(*order_by) if order_by else qs)


def model_list_rows(user: User, capability: Capability) -> list[MLModel]:
    """The models on which USER has CAPABILITY, by slug, each annotated with ``n_versions``,
    ``n_proposals`` (waiting for approval) and ``n_dead`` (deliveries that gave up)."""
    return list(
        models_with(user, capability)
        .select_related("team")
        .annotate(
            n_versions=Count("versions", distinct=True),
            n_proposals=Count(
                "policies", filter=Q(policies__status=PolicyStatus.PROPOSED), distinct=True
            ),
            n_dead=Count(
                "deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD), distinct=True
            ),
        )
        .order_by("slug")
    )


def model_versions(ml_model: MLModel) -> list[ModelVersion]:
    """The model's versions, newest first."""
    return list(ModelVersion.objects.filter(ml_model=ml_model).order_by("-created_at", "-id"))


def model_policies(ml_model: MLModel) -> list[RoutingPolicy]:
    """Every routing policy of the model (active, proposed and past), newest version first,
    with who proposed and who decided it."""
    return list(
        RoutingPolicy.objects.filter(ml_model=ml_model)
        .select_related("proposed_by", "decided_by")
        .order_by("-version")
    )


def webhook_deliveries(
    ml_model: MLModel, status: str = "", *, limit: int = DELIVERIES_SHOWN
) -> list[WebhookDelivery]:
    """The model's latest webhook deliveries (of one status when STATUS is one), each with
    its decision and its attempts in order."""
    qs = WebhookDelivery.objects.filter(ml_model=ml_model)
    if status in DeliveryStatus.values:
        qs = qs.filter(status=status)
    return list(
        qs.select_related("decision")
        .prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("attempted_at", "id"))
        )
        .order_by("-created_at", "-id")[:limit]
    )


def delivery_current(delivery: WebhookDelivery) -> WebhookDelivery:
    """The delivery as stored now (a re-send may have changed it in a task)."""
    delivery.refresh_from_db()
    return delivery
