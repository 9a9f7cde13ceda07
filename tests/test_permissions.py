"""The role -> capability table, walked cell by cell: each role, each capability, on a model of
the person's own team and on a model of another team. The expected table is written out here,
independently of reviewapp/permissions.py, so that a change to either shows up."""

import pytest

from reviewapp.models import Role
from reviewapp.permissions import (
    ROLE_CAPABILITIES,
    Capability,
    models_with,
    roles_with,
    user_has,
    user_may_sign_in_with_password,
)
from tests import factories

# Where each role has each capability: "team" (own team's models), "all", "own" (the service
# account's model), or absent.
EXPECTED: dict[str, dict[str, str]] = {
    Role.REVIEWER: {"view_cases": "team", "review": "team", "view_pii": "team"},
    Role.LEAD: {
        "view_cases": "team",
        "review": "team",
        "lead": "team",
        "view_queue_overview": "team",
        "view_case_record": "team",
        "view_pii": "team",
    },
    Role.MANAGER: {
        "view_cases": "team",
        "view_queue_overview": "team",
        "view_dashboards": "team",
        "refresh_figures": "team",
        "export": "team",
        "view_model_pages": "team",
        "approve_policy": "team",
        "manage_health": "team",
        "halt_automation": "team",
        "view_case_record": "team",
        "reveal_pii": "team",
    },
    Role.MODEL_OWNER: {
        "view_cases": "team",
        "view_dashboards": "team",
        "refresh_figures": "team",
        "export": "team",
        "view_model_pages": "team",
        "manage_model": "team",
        "manage_health": "team",
        "halt_automation": "team",
        "view_case_record": "team",
        "reveal_pii": "team",
        "erase_cases": "team",
    },
    Role.AUDITOR: {
        "view_cases": "all",
        "view_dashboards": "all",
        "export": "all",
        "view_audit": "all",
        "view_case_record": "all",
        "view_system": "all",
        "reveal_pii": "all",
    },
    Role.ADMIN: {"administer": "all", "view_system": "all", "erase_cases": "all"},
    Role.SERVICE_ACCOUNT: {"view_cases": "own", "submit_cases": "own"},
}

CELLS = [
    (role, capability, where)
    for role in Role.values
    for capability in Capability
    for where in ("same_team", "other_team")
]


@pytest.fixture
def models(db):
    """A model of the person's team and a model of another team."""
    home = factories.make_team("home")
    away = factories.make_team("away")
    return {
        "same_team": factories.make_model(team=home, slug="home-model"),
        "other_team": factories.make_model(team=away, slug="away-model"),
    }


def _person(role: str, models: dict):
    home_model = models["same_team"]
    if role == Role.SERVICE_ACCOUNT:
        return factories.make_service_account(home_model)[0]
    return factories.make_user(role, team=home_model.team)


@pytest.mark.parametrize(("role", "capability", "where"), CELLS)
def test_role_capability_cell(models, role, capability, where):
    """One cell of the role x capability x (same team, other team) matrix."""
    user = _person(role, models)
    scope = EXPECTED[role].get(capability.value)
    allowed_here = scope == "all" or (scope in ("team", "own") and where == "same_team")
    assert user_has(user, capability, models[where]) is allowed_here
    assert user_has(user, capability) is (scope is not None)
    assert (models[where] in models_with(user, capability)) is allowed_here


def test_table_has_every_role_and_nothing_else():
    """Every role has a row, and the table names only known capabilities."""
    assert set(ROLE_CAPABILITIES) == set(Role.values)
    assert {c.value for caps in ROLE_CAPABILITIES.values() for c in caps} <= {
        c.value for c in Capability
    }


def test_roles_with_reads_the_table():
    """roles_with answers from the same table (who may take a reassigned claim)."""
    assert roles_with(Capability.REVIEW) == {Role.REVIEWER, Role.LEAD}
    assert roles_with(Capability.ADMINISTER) == {Role.ADMIN}


def test_inactive_and_anonymous_people_have_nothing(models):
    """A deactivated account and an anonymous visitor have no capability anywhere."""
    from django.contrib.auth.models import AnonymousUser

    user = factories.make_user(Role.MANAGER, team=models["same_team"].team)
    user.is_active = False
    for capability in Capability:
        assert not user_has(user, capability, models["same_team"])
        assert not user_has(AnonymousUser(), capability)


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.SERVICE_ACCOUNT])
def test_password_sign_in_is_break_glass_only_while_sso_is_on(db, settings, role):
    """Without SSO everyone signs in with a password; with SSO only the break-glass roles."""
    settings.REVIEWAPP_LOCAL_LOGIN_ROLES = [Role.ADMIN]
    person = factories.make_user(role)
    assert user_may_sign_in_with_password(person, sso_on=False)
    assert user_may_sign_in_with_password(person, sso_on=True) is (role == Role.ADMIN)
