"""Who may do what. The only module that knows roles.

``ROLE_CAPABILITIES`` is the whole rule set as data: each role maps the capabilities it has to
the scope it has them in (the models of the person's own teams, every model, or the one model a
service account belongs to). Every view, endpoint, service and the navigation ask
``user_has`` (or a named predicate below that reads it); nothing else compares roles.
Object-level rules that also depend on a case's state (only the claimant decides, escalated
cases need a lead, four eyes on policies) are named predicates built on the table.
"""

from collections.abc import Mapping
from enum import Enum, StrEnum
from types import MappingProxyType

from django.conf import settings
from django.db.models import QuerySet

from reviewapp.models import Case, CaseStatus, Membership, MLModel, Role, User
from reviewapp.selectors.rows import row_values

UNDECIDED_STATUSES = frozenset({CaseStatus.QUEUED, CaseStatus.ASSIGNED, CaseStatus.ESCALATED})


class Capability(StrEnum):
    VIEW_CASES = "view_cases"  # read a model's cases and decisions (API, pages, feed)
    SUBMIT_CASES = "submit_cases"  # submit cases over the API
    REVIEW = "review"  # claim from and decide in a model's queue
    LEAD = "lead"  # decide escalated cases, release/reassign others' claims, reopen
    VIEW_QUEUE_OVERVIEW = "view_queue_overview"  # the queues page
    VIEW_DASHBOARDS = "view_dashboards"  # adoption and model-health dashboards
    REFRESH_FIGURES = "refresh_figures"  # ask for a rollup refresh (a POST)
    EXPORT = "export"  # label export and metrics downloads
    VIEW_MODEL_PAGES = "view_model_pages"  # label set, versions, policy, webhook deliveries
    MANAGE_MODEL = "manage_model"  # versions, policy proposals, webhook, drift baseline
    APPROVE_POLICY = "approve_policy"  # approve or reject another person's proposal
    MANAGE_HEALTH = "manage_health"  # tripwires and alerts
    HALT_AUTOMATION = "halt_automation"  # suspend automation, retire or roll back a version
    VIEW_AUDIT = "view_audit"  # the audit log, its export and chain verification
    VIEW_CASE_RECORD = "view_case_record"  # any case's read-only page (history, audit trail)
    ADMINISTER = "administer"  # users, teams, roles, service accounts (Django admin)
    VIEW_SYSTEM = "view_system"  # the system page: worker, jobs, outbox, seal lag, queues
    VIEW_PII = "view_pii"  # see a case's personal-data fields unmasked (those who decide)
    REVEAL_PII = "reveal_pii"  # reveal one masked field on a case record (audited)
    ERASE_CASES = "erase_cases"  # erase one case's data on request (audited with the reason)


class Scope(Enum):
    TEAM = "the models of the person's teams"
    ALL = "every model"
    OWN_MODEL = "the service account's own model"


C, T, A = Capability, Scope.TEAM, Scope.ALL
ROLE_CAPABILITIES: Mapping[str, Mapping[Capability, Scope]] = MappingProxyType(
    {
        Role.REVIEWER: {C.VIEW_CASES: T, C.REVIEW: T, C.VIEW_PII: T},
        Role.LEAD: {
            C.VIEW_CASES: T,
            C.REVIEW: T,
            C.LEAD: T,
            C.VIEW_QUEUE_OVERVIEW: T,
            C.VIEW_CASE_RECORD: T,
            C.VIEW_PII: T,
        },
        Role.MANAGER: {
            C.VIEW_CASES: T,
            C.VIEW_QUEUE_OVERVIEW: T,
            C.VIEW_DASHBOARDS: T,
            C.REFRESH_FIGURES: T,
            C.EXPORT: T,
            C.VIEW_MODEL_PAGES: T,
            C.APPROVE_POLICY: T,
            C.MANAGE_HEALTH: T,
            C.HALT_AUTOMATION: T,
            C.VIEW_CASE_RECORD: T,
            C.REVEAL_PII: T,
        },
        Role.MODEL_OWNER: {
            C.VIEW_CASES: T,
            C.VIEW_DASHBOARDS: T,
            C.REFRESH_FIGURES: T,
            C.EXPORT: T,
            C.VIEW_MODEL_PAGES: T,
            C.MANAGE_MODEL: T,
            C.MANAGE_HEALTH: T,
            C.HALT_AUTOMATION: T,
            C.VIEW_CASE_RECORD: T,
            C.REVEAL_PII: T,
            C.ERASE_CASES: T,
        },
        Role.AUDITOR: {
            C.VIEW_CASES: A,
            C.VIEW_DASHBOARDS: A,
            C.EXPORT: A,
            C.VIEW_AUDIT: A,
            C.VIEW_CASE_RECORD: A,
            C.VIEW_SYSTEM: A,
            C.REVEAL_PII: A,
        },
        Role.ADMIN: {C.ADMINISTER: A, C.VIEW_SYSTEM: A, C.ERASE_CASES: A},
        Role.SERVICE_ACCOUNT: {C.VIEW_CASES: Scope.OWN_MODEL, C.SUBMIT_CASES: Scope.OWN_MODEL},
    }
)
del C, T, A


def _is_person(user: User | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def _scope(user: User | None, capability: Capability) -> Scope | None:
    if not _is_person(user):
        return None
    if user.is_superuser and capability == Capability.ADMINISTER:
        return Scope.ALL
    return ROLE_CAPABILITIES.get(user.role, {}).get(capability)


def _team_ids_of(user_id: int) -> QuerySet:
    return Membership.objects.filter(user_id=user_id).values_list("team_id")


def user_team_ids(user: User) -> set[int]:
    """The ids of the teams a person belongs to (cached on the user object per request)."""
    if not _is_person(user):
        return set()
    cached = getattr(user, "_team_ids_cache", None)
    if cached is None:
        cached = {team_id for (team_id,) in row_values(_team_ids_of, user.pk)}
        user._team_ids_cache = cached
    return cached


def user_has(user: User | None, capability: Capability, ml_model: MLModel | None = None) -> bool:
    """Whether USER has CAPABILITY: on ML_MODEL when given, else anywhere (the role has it)."""
    scope = _scope(user, capability)
    if scope is None:
        return False
    if ml_model is None or scope is Scope.ALL:
        return True
    if scope is Scope.OWN_MODEL:
        return user.service_model_id == ml_model.pk
    return ml_model.team_id in user_team_ids(user)


def models_with(user: User | None, capability: Capability) -> QuerySet[MLModel]:
    """The models on which USER has CAPABILITY."""
    scope = _scope(user, capability)
    if scope is None:
        return MLModel.objects.none()
    if scope is Scope.ALL:
        return MLModel.objects.all()
    if scope is Scope.OWN_MODEL:
        return MLModel.objects.filter(pk=user.service_model_id)
    return MLModel.objects.filter(team_id__in=user_team_ids(user))


def roles_with(capability: Capability) -> frozenset[str]:
    """The roles that have CAPABILITY (for queries over people, e.g. who may take a claim)."""
    return frozenset(role for role, caps in ROLE_CAPABILITIES.items() if capability in caps)


def models_visible_to(user: User | None) -> QuerySet[MLModel]:
    """The models whose cases a user may see at all."""
    return models_with(user, Capability.VIEW_CASES)


# --- object-level rules built on the table -------------------------------------------------


def user_can_view_case(user: User | None, case: Case) -> bool:
    return user_has(user, Capability.VIEW_CASES, case.ml_model)


def user_can_decide(user: User | None, *, case: Case) -> bool:
    """Only the case's claimant may decide it; escalated cases only by a lead."""
    if not user_has(user, Capability.REVIEW, case.ml_model):
        return False
    if case.assigned_to_id != user.pk:
        return False
    return not case.escalated_at or user_has(user, Capability.LEAD, case.ml_model)


def user_can_take_escalated(user: User | None, ml_model: MLModel) -> bool:
    """Escalated cases go to leads (a claim serves them first; a reassignment needs a lead)."""
    return user_has(user, Capability.LEAD, ml_model)


def user_can_release(user: User | None, *, case: Case) -> bool:
    """The claimant gives a case back, or a lead of the team releases anyone's claim."""
    is_claimant = user is not None and case.assigned_to_id == user.pk
    return (is_claimant and user_has(user, Capability.REVIEW, case.ml_model)) or user_has(
        user, Capability.LEAD, case.ml_model
    )


def user_can_read_case_record(user: User | None, case: Case, *, decided_it: bool) -> bool:
    """The read-only case page: leads, managers and model owners of the team and auditors
    (VIEW_CASE_RECORD); a reviewer for a case they decided themselves."""
    return user_has(user, Capability.VIEW_CASE_RECORD, case.ml_model) or (
        decided_it and user_has(user, Capability.REVIEW, case.ml_model)
    )


def user_can_comment(user: User | None, case: Case) -> bool:
    """The conversation on a case is for the people of the model's team who work its cases
    (REVIEW) or read their records (VIEW_CASE_RECORD in their teams' scope). Who reads every
    model's records (auditors) reads the comments but does not write them (read-only)."""
    if user_has(user, Capability.REVIEW, case.ml_model):
        return True
    return _scope(user, Capability.VIEW_CASE_RECORD) is Scope.TEAM and user_has(
        user, Capability.VIEW_CASE_RECORD, case.ml_model
    )


def user_may_sign_in_with_password(user: User | None, *, sso_on: bool) -> bool:
    """Local password sign-in: everyone while SSO is off; with SSO on only the break-glass
    roles of ``REVIEWAPP_LOCAL_LOGIN_ROLES`` (admins by default)."""
    if not sso_on:
        return True
    return getattr(user, "role", None) in getattr(settings, "REVIEWAPP_LOCAL_LOGIN_ROLES", [])


def user_can_approve_policy(
    user: User | None, ml_model: MLModel, *, proposed_by_id: int | None
) -> bool:
    """A manager of the model's team who did not propose the change (four eyes)."""
    return user_has(user, Capability.APPROVE_POLICY, ml_model) and user.pk != proposed_by_id


def user_may_see_model_answer(user: User | None, case: Case) -> bool:
    """Whether USER may see the model's answer on CASE (label, confidence, scores, explanation
    and routing text derived from them). A blind case hides it from everyone who may decide
    it until it is decided; everyone else who may see the case sees it."""
    if not case.is_blind or case.status not in UNDECIDED_STATUSES:
        return True
    return not user_has(user, Capability.REVIEW, case.ml_model)


def user_may_see_opinions(user: User | None, case: Case) -> bool:
    """Whether USER may read the independent opinions given on CASE (second opinions). While
    the case is undecided, whoever may still be asked for an opinion does not see the others'
    (independence); a lead sees them once the case is escalated (a disagreement, or an
    escalation before all opinions came in), since the lead decides it. Everyone else who may
    see the case (managers, model owners, auditors) sees them, and everyone once decided."""
    if case.status not in UNDECIDED_STATUSES:
        return True
    if not user_has(user, Capability.REVIEW, case.ml_model):
        return True
    return case.escalated_at is not None and user_has(user, Capability.LEAD, case.ml_model)


def user_sees_pii(user: User | None, ml_model: MLModel) -> bool:
    """Whether USER sees the personal-data fields (``MLModel.pii_fields``) of ML_MODEL's cases
    unmasked: the reviewers and leads of the team, who decide its cases. Everyone else
    (managers, model owners, auditors, service accounts, exports, the feed and webhooks) gets
    them masked; ``user_can_reveal_pii`` says who may unmask one field of one case, audited."""
    return user_has(user, Capability.VIEW_PII, ml_model)


def user_can_reveal_pii(user: User | None, case: Case) -> bool:
    """Managers and model owners of the team and auditors reveal a masked field of a case
    record, one field at a time, each reveal audited (``case.pii_revealed``)."""
    return user_has(user, Capability.REVEAL_PII, case.ml_model)


def user_can_erase_case(user: User | None, ml_model: MLModel) -> bool:
    """A model owner of the team, or an admin, erases one case's data on request."""
    return user_has(user, Capability.ERASE_CASES, ml_model)
