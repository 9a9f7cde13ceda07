"""add_user, create_token and create_service_account: what they create and print."""

import pytest
from django.core.management import CommandError, call_command

from reviewapp.models import (
    ApiToken,
    AuditEvent,
    Membership,
    MLModel,
    Role,
    Team,
    User,
    token_digest,
)
from tests.factories import make_model, make_team, make_user

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "a-long-enough-passphrase-42"


def _run(*args: str) -> list[str]:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().rstrip("\n").split("\n")


def test_add_user_creates_person_team_and_audits(monkeypatch):
    """add_user creates the team if new, the person with the role, and audits both."""
    monkeypatch.setenv("REVIEWAPP_PASSWORD", GOOD_PASSWORD)
    lines = _run("add_user", "nina", "--role", "reviewer", "--team", "claims", "--team", "fraud")
    user = User.objects.get(username="nina")
    assert user.role == Role.REVIEWER
    assert user.check_password(GOOD_PASSWORD)
    assert sorted(user.teams.values_list("slug", flat=True)) == ["claims", "fraud"]
    assert "nina" in lines[-1]
    assert AuditEvent.objects.filter(action="user.created", target_id=str(user.pk)).exists()
    assert AuditEvent.objects.filter(action="team.created").count() == 2


def test_add_user_auditor_needs_no_team(monkeypatch):
    """Auditors and admins may be added without a team; an admin gets Django admin access."""
    monkeypatch.setenv("REVIEWAPP_PASSWORD", GOOD_PASSWORD)
    _run("add_user", "aud", "--role", "auditor")
    _run("add_user", "root", "--role", "admin")
    assert not Membership.objects.exists()
    assert User.objects.get(username="root").is_staff


def test_add_user_refuses_unknown_role_duplicate_and_missing_team(monkeypatch):
    """Unknown roles, existing usernames and team roles without a team are clear errors."""
    monkeypatch.setenv("REVIEWAPP_PASSWORD", GOOD_PASSWORD)
    with pytest.raises(CommandError, match="Unknown role 'wizard'"):
        _run("add_user", "x", "--role", "wizard", "--team", "t")
    with pytest.raises(CommandError, match="needs at least one --team"):
        _run("add_user", "x", "--role", "lead")
    make_user(Role.REVIEWER, username="dup")
    with pytest.raises(CommandError, match="already exists"):
        _run("add_user", "dup", "--role", "reviewer", "--team", "t")
    assert not Team.objects.filter(slug="t").exists()


def test_add_user_refuses_weak_password_at_the_prompt(monkeypatch):
    """A password the validators refuse, typed at the prompt, is an error; no user is made."""
    monkeypatch.delenv("REVIEWAPP_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "123")
    with pytest.raises(CommandError, match="Password refused"):
        _run("add_user", "weak", "--role", "auditor")
    assert not User.objects.filter(username="weak").exists()


def test_add_user_refuses_weak_password_from_env(monkeypatch):
    """A provisioning script's weak password is refused and nobody is created."""
    monkeypatch.setenv("REVIEWAPP_PASSWORD", "123")
    with pytest.raises(CommandError, match=r"Password refused: .*--allow-weak-password") as exc:
        _run("add_user", "scripted", "--role", "auditor", "--team", "ops")
    assert exc.value.returncode == 1  # manage.py exits with this status
    assert not User.objects.filter(username="scripted").exists()
    assert not Team.objects.filter(slug="ops").exists()


def test_add_user_allow_weak_password_warns_and_creates(monkeypatch):
    """With --allow-weak-password the weak password is warned about on stderr and used."""
    from io import StringIO

    monkeypatch.setenv("REVIEWAPP_PASSWORD", "123")
    err = StringIO()
    call_command(
        "add_user",
        "scripted",
        "--role",
        "auditor",
        "--allow-weak-password",
        stdout=StringIO(),
        stderr=err,
    )
    assert "weak password" in err.getvalue()
    assert User.objects.get(username="scripted").check_password("123")


def test_add_user_prompts_twice_when_no_env(monkeypatch):
    """Without the environment variable the password is asked twice; a mismatch is refused."""
    monkeypatch.delenv("REVIEWAPP_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter([GOOD_PASSWORD, GOOD_PASSWORD, GOOD_PASSWORD, "other"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    _run("add_user", "typed", "--role", "auditor")
    assert User.objects.get(username="typed").check_password(GOOD_PASSWORD)
    with pytest.raises(CommandError, match="do not match"):
        _run("add_user", "typed2", "--role", "auditor")


def test_create_token_prints_token_alone_on_last_line():
    """The raw token is the whole last line, works as a digest lookup, and is audited."""
    user = make_user(Role.MANAGER, team=make_team())
    lines = _run("create_token", user.username, "--name", "ci")
    raw = lines[-1]
    assert raw.startswith("rva_")
    assert " " not in raw
    token = ApiToken.objects.get(digest=token_digest(raw))
    assert (token.user, token.name) == (user, "ci")
    assert AuditEvent.objects.filter(action="token.created", target_id=str(token.pk)).exists()


def test_create_token_unknown_user_is_an_error():
    """An unknown username is a CommandError."""
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        _run("create_token", "ghost")


def test_create_service_account_registers_new_model():
    """A new model is registered (team named after it) and its token is the last line."""
    lines = _run("create_service_account", "churn-risk", "--labels", "stay, leave")
    ml_model = MLModel.objects.get(slug="churn-risk")
    assert ml_model.labels == ["stay", "leave"]
    assert ml_model.team.slug == "churn-risk"
    account = User.objects.get(service_model=ml_model)
    assert account.role == Role.SERVICE_ACCOUNT
    assert ApiToken.objects.get(digest=token_digest(lines[-1])).user == account
    assert AuditEvent.objects.filter(action="model.registered").count() == 1
    assert AuditEvent.objects.filter(action="service_account.created").count() == 1


def test_create_service_account_existing_model_and_team_option():
    """For an existing model a second account is added; --team applies to new models."""
    team = make_team("payments-risk")
    _run("create_service_account", "fraud", "--labels", "fraud,legit", "--team", "payments-risk")
    lines = _run("create_service_account", "fraud")
    assert MLModel.objects.get(slug="fraud").team == team
    assert User.objects.filter(service_model__slug="fraud").count() == 2
    assert lines[-1].startswith("rva_")


def test_create_service_account_refuses_different_labels():
    """An existing model with a different label set is refused and nothing is created."""
    make_model(slug="fraud", labels=("fraud", "legit"))
    with pytest.raises(CommandError, match="differ"):
        _run("create_service_account", "fraud", "--labels", "fraud,ok")
    with pytest.raises(CommandError, match="give its labels"):
        _run("create_service_account", "brand-new")
    assert not User.objects.filter(role=Role.SERVICE_ACCOUNT).exists()
    assert not MLModel.objects.filter(slug="brand-new").exists()
