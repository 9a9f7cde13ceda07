"""Who may do what: one predicate per capability. Every view and endpoint asks one of these
on the server; object-level checks take the object."""

from django.db.models import QuerySet

from reviewapp.models import Case, MLModel, Role, User

REVIEWING_ROLES = frozenset({Role.REVIEWER, Role.LEAD})
ALL_TEAMS_ROLES = frozenset({Role.AUDITOR})


def _is_person(user: User) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def user_team_ids(user: User) -> set[int]:
    """The ids of the teams a person belongs to (cached on the user object per request)."""
    if not _is_person(user):
        return set()
    cached = getattr(user, "_team_ids_cache", None)
    if cached is None:
        cached = set(user.memberships.values_list("team_id", flat=True))
        user._team_ids_cache = cached
    return cached


def _in_team(user: User, ml_model: MLModel) -> bool:
    return ml_model.team_id in user_team_ids(user)


def models_visible_to(user: User) -> QuerySet[MLModel]:
    """The models whose cases a user may see at all."""
    if not _is_person(user):
        return MLModel.objects.none()
    if user.role == Role.SERVICE_ACCOUNT:
        return MLModel.objects.filter(pk=user.service_model_id)
    if user.role in ALL_TEAMS_ROLES:
        return MLModel.objects.all()
    if user.role == Role.ADMIN:
        return MLModel.objects.none()
    return MLModel.objects.filter(team_id__in=user_team_ids(user))


def user_can_view_model(user: User, ml_model: MLModel) -> bool:
    if not _is_person(user):
        return False
    if user.role == Role.SERVICE_ACCOUNT:
        return user.service_model_id == ml_model.pk
    if user.role in ALL_TEAMS_ROLES:
        return True
    if user.role == Role.ADMIN:
        return False
    return _in_team(user, ml_model)


def user_can_view_case(user: User, case: Case) -> bool:
    if not _is_person(user):
        return False
    if user.role == Role.SERVICE_ACCOUNT:
        return user.service_model_id == case.ml_model_id
    if user.role in ALL_TEAMS_ROLES:
        return True
    if user.role == Role.ADMIN:
        return False
    return case.ml_model.team_id in user_team_ids(user)


def user_can_submit_cases(user: User, ml_model: MLModel) -> bool:
    return (
        _is_person(user)
        and user.role == Role.SERVICE_ACCOUNT
        and user.service_model_id == ml_model.pk
    )


def user_can_review(user: User, ml_model: MLModel) -> bool:
    """Claim from and decide in the model's queue."""
    return _is_person(user) and user.role in REVIEWING_ROLES and _in_team(user, ml_model)


def user_can_review_any(user: User) -> bool:
    """Use the reviewer's pages at all (a reviewer or lead); per-model checks still apply."""
    return _is_person(user) and user.role in REVIEWING_ROLES


def user_can_lead(user: User, ml_model: MLModel) -> bool:
    """Decide escalated cases, reassign/release others' claims, reopen decisions."""
    return _is_person(user) and user.role == Role.LEAD and _in_team(user, ml_model)


def user_can_decide(user: User, *, case: Case) -> bool:
    """Only the case's claimant may decide it; escalated cases only by a lead."""
    if not user_can_review(user, case.ml_model):
        return False
    if case.assigned_to_id != user.pk:
        return False
    return not (case.escalated_at and user.role != Role.LEAD)


def user_can_view_dashboards(user: User, ml_model: MLModel | None = None) -> bool:
    """Adoption and model-health dashboards."""
    if not _is_person(user):
        return False
    if user.role == Role.AUDITOR:
        return True
    if user.role not in (Role.MANAGER, Role.MODEL_OWNER):
        return False
    return ml_model is None or _in_team(user, ml_model)


def user_can_export(user: User, ml_model: MLModel) -> bool:
    if not _is_person(user):
        return False
    if user.role == Role.AUDITOR:
        return True
    return user.role in (Role.MANAGER, Role.MODEL_OWNER) and _in_team(user, ml_model)


def user_can_view_queue_overview(user: User, ml_model: MLModel | None = None) -> bool:
    if not _is_person(user) or user.role not in (Role.LEAD, Role.MANAGER):
        return False
    return ml_model is None or _in_team(user, ml_model)


def user_can_manage_model(user: User, ml_model: MLModel | None = None) -> bool:
    """Register versions, propose routing policy changes, manage the webhook."""
    if not _is_person(user) or user.role != Role.MODEL_OWNER:
        return False
    return ml_model is None or _in_team(user, ml_model)


def user_can_approve_policy(user: User, ml_model: MLModel, *, proposed_by_id: int | None) -> bool:
    """A manager of the model's team who did not propose the change (four eyes)."""
    return (
        _is_person(user)
        and user.role == Role.MANAGER
        and _in_team(user, ml_model)
        and user.pk != proposed_by_id
    )


def user_can_view_audit(user: User) -> bool:
    return _is_person(user) and user.role == Role.AUDITOR


def user_can_administer(user: User) -> bool:
    """Users, teams, roles and service accounts (the Django admin)."""
    return _is_person(user) and (user.role == Role.ADMIN or user.is_superuser)


def user_can_manage_health(user: User, ml_model: MLModel | None = None) -> bool:
    """Set and disable tripwires, resolve alerts: managers and model owners of the team."""
    if not _is_person(user) or user.role not in (Role.MANAGER, Role.MODEL_OWNER):
        return False
    return ml_model is None or _in_team(user, ml_model)


def user_can_view_model_pages(user: User, ml_model: MLModel | None = None) -> bool:
    """The model pages (label set, versions, routing policy and proposals, webhook and its
    deliveries): model owners and managers of the model's team."""
    if not _is_person(user) or user.role not in (Role.MODEL_OWNER, Role.MANAGER):
        return False
    return ml_model is None or _in_team(user, ml_model)
