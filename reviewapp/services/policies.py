"""Models and routing policies: register, propose a change, approve or reject it (four eyes)."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from reviewapp.errors import Conflict, InvalidInput
from reviewapp.models import MLModel, PolicyStatus, RoutingPolicy, Team, User
from reviewapp.permissions import Capability, user_can_approve_policy, user_has
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record
from reviewapp.services.routing import SCHEMA_TYPES


def _validate_rules(rules: dict, *, labels: list[str]) -> None:
    errors: dict[str, list[str]] = {}
    for name in ("review_threshold", "qa_sample_rate", "blind_sample_rate"):
        value = rules.get(name)
        if value is not None and not (isinstance(value, int | float) and 0 <= value <= 1):
            errors[name] = ["Must be a number between 0 and 1."]
    unknown = sorted(set(rules.get("always_review_labels") or []) - set(labels))
    if unknown:
        errors["always_review_labels"] = [f"Not in the label set: {', '.join(unknown)}."]
    for name in ("sla_minutes", "availability_minutes", "lease_minutes"):
        value = rules.get(name)
        if value is not None and not (isinstance(value, int) and value > 0):
            errors[name] = ["Must be a positive whole number of minutes."]
    codes = rules.get("reason_codes")
    if codes is not None and (
        not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes)
    ):
        errors["reason_codes"] = ["Must be a non-empty list of codes."]
    unknown_fields = sorted(set(rules) - set(RoutingPolicy.RULE_FIELDS))
    if unknown_fields:
        errors["non_field_errors"] = [f"Unknown rules: {', '.join(unknown_fields)}."]
    if errors:
        raise InvalidInput("The routing policy is not valid.", details=errors)


@transaction.atomic
def model_register(
    *,
    slug: str,
    labels: list[str],
    team: Team,
    name: str = "",
    input_schema: dict | None = None,
    actor: User | None = None,
) -> MLModel:
    """A new model with the default routing policy of DESIGN.md, active at once."""
    labels = [label.strip() for label in labels if label.strip()]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise InvalidInput(
            "A model needs at least two distinct labels.", details={"labels": ["At least two."]}
        )
    if input_schema and not all(kind in SCHEMA_TYPES for kind in input_schema.values()):
        raise InvalidInput(f"Input schema types are: {', '.join(sorted(SCHEMA_TYPES))}.")
    ml_model = MLModel.objects.create(
        slug=slug,
        name=name or slug,
        labels=labels,
        team=team,
        input_schema=input_schema,
        owner=actor,
    )
    policy = RoutingPolicy.objects.create(
        ml_model=ml_model,
        version=1,
        status=PolicyStatus.ACTIVE,
        proposed_by=None,
        decided_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="model.registered",
        target=ml_model,
        changes={"labels": labels, "team": team.slug},
    )
    audit_record(actor=actor, action="policy.activated", target=policy, changes=policy.rules())
    return ml_model


@refusals_audited
@transaction.atomic
def policy_propose(
    *, ml_model: MLModel, proposer: User, changes: dict, note: str = ""
) -> RoutingPolicy:
    """A new policy version with ``changes`` applied to the active rules; it takes effect only
    once a manager approves it."""
    refuse(
        user_has(proposer, Capability.MANAGE_MODEL, ml_model),
        user=proposer,
        action="policy.propose",
        target_type="mlmodel",
        target_id=ml_model.slug,
        message="Only the model's owners may propose routing changes.",
    )
    _validate_rules(changes, labels=ml_model.labels)
    active = RoutingPolicy.objects.select_for_update().get(
        ml_model=ml_model, status=PolicyStatus.ACTIVE
    )
    rules = {**active.rules(), **changes}
    if rules == active.rules():
        raise InvalidInput("The proposal changes nothing.")
    next_version = (
        RoutingPolicy.objects.filter(ml_model=ml_model).aggregate(m=Max("version"))["m"] or 0
    ) + 1
    policy = RoutingPolicy.objects.create(
        ml_model=ml_model,
        version=next_version,
        status=PolicyStatus.PROPOSED,
        proposed_by=proposer,
        note=note,
        **rules,
    )
    diff = {k: [active.rules()[k], v] for k, v in rules.items() if active.rules()[k] != v}
    audit_record(actor=proposer, action="policy.proposed", target=policy, changes=diff)
    return policy


@refusals_audited
@transaction.atomic
def policy_decide(
    *, policy: RoutingPolicy, manager: User, approve: bool, note: str = ""
) -> RoutingPolicy:
    """Approve (the proposal becomes active, the old one superseded) or reject a proposal."""
    policy = RoutingPolicy.objects.select_for_update().select_related("ml_model").get(pk=policy.pk)
    refuse(
        user_can_approve_policy(manager, policy.ml_model, proposed_by_id=policy.proposed_by_id),
        user=manager,
        action="policy.decide",
        target_type="routingpolicy",
        target_id=policy.pk,
        message="A manager of the model's team other than the proposer must approve routing "
        "changes.",
    )
    if policy.status != PolicyStatus.PROPOSED:
        raise Conflict(f"This proposal is already {policy.status}.")
    now = timezone.now()
    if approve:
        previous = RoutingPolicy.objects.select_for_update().get(
            ml_model=policy.ml_model, status=PolicyStatus.ACTIVE
        )
        previous.status = PolicyStatus.SUPERSEDED
        previous.save(update_fields=["status"])
        policy.status = PolicyStatus.ACTIVE
    else:
        policy.status = PolicyStatus.REJECTED
    policy.decided_by, policy.decided_at = manager, now
    if note:
        policy.note = (policy.note + "\n" + note).strip()
    policy.save(update_fields=["status", "decided_by", "decided_at", "note"])
    audit_record(
        actor=manager,
        action="policy.approved" if approve else "policy.rejected",
        target=policy,
        changes={"status": [PolicyStatus.PROPOSED, policy.status], "note": note},
    )
    return policy
