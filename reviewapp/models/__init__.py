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
    CaseSkip,
    CaseStatus,
    Decision,
    DecisionAction,
    EscalationSource,
    Priority,
    RoutingReason,
)
from reviewapp.models.comments import Comment
from reviewapp.models.guidelines import GuidelineVersion
from reviewapp.models.metrics import (
    Alert,
    CaseDailyRollup,
    DecisionDailyRollup,
    DriftBaseline,
    Tripwire,
    TripwireAction,
    TripwireKind,
)
from reviewapp.models.ops import JobRun
from reviewapp.models.outcomes import Outcome
from reviewapp.models.registry import (
    DEFAULT_REASON_CODES,
    AutomationSuspension,
    FallbackAction,
    MLModel,
    ModelVersion,
    PolicyStatus,
    RoutingPolicy,
    VersionStatus,
)
from reviewapp.models.webhooks import (
    DeliveryStatus,
    FeedEvent,
    WebhookAttempt,
    WebhookDelivery,
)

__all__ = [
    "DEFAULT_REASON_CODES",
    "PRIORITY_BY_NAME",
    "TOKEN_PREFIX",
    "Alert",
    "ApiToken",
    "AuditEvent",
    "AuditSeal",
    "AutomationSuspension",
    "Case",
    "CaseDailyRollup",
    "CaseSkip",
    "CaseStatus",
    "Comment",
    "Decision",
    "DecisionAction",
    "DecisionDailyRollup",
    "DeliveryStatus",
    "DriftBaseline",
    "EscalationSource",
    "FallbackAction",
    "FeedEvent",
    "GuidelineVersion",
    "JobRun",
    "MLModel",
    "Membership",
    "ModelVersion",
    "Outcome",
    "PolicyStatus",
    "Priority",
    "Role",
    "RoutingPolicy",
    "RoutingReason",
    "Team",
    "Tripwire",
    "TripwireAction",
    "TripwireKind",
    "User",
    "VersionStatus",
    "WebhookAttempt",
    "WebhookDelivery",
    "token_digest",
]
