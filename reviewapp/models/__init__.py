from reviewapp.models.accounts import (
    TOKEN_PREFIX,
    ApiToken,
    Membership,
    Role,
    Team,
    User,
    token_digest,
)
from reviewapp.models.audit import AuditEvent, AuditSeal
from reviewapp.models.cases import (
    PRIORITY_BY_NAME,
    Case,
    CaseStatus,
    Decision,
    DecisionAction,
    EscalationSource,
    Priority,
    RoutingReason,
)
from reviewapp.models.registry import (
    DEFAULT_REASON_CODES,
    FallbackAction,
    MLModel,
    ModelVersion,
    PolicyStatus,
    RoutingPolicy,
)
from reviewapp.models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery

__all__ = [
    "DEFAULT_REASON_CODES",
    "PRIORITY_BY_NAME",
    "TOKEN_PREFIX",
    "ApiToken",
    "AuditEvent",
    "AuditSeal",
    "Case",
    "CaseStatus",
    "Decision",
    "DecisionAction",
    "DeliveryStatus",
    "EscalationSource",
    "FallbackAction",
    "MLModel",
    "Membership",
    "ModelVersion",
    "PolicyStatus",
    "Priority",
    "Role",
    "RoutingPolicy",
    "RoutingReason",
    "Team",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "token_digest",
]
