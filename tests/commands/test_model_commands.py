"""configure_model, apply_retention and erase_case: what they change, what they print, what
they refuse, and that every change is audited under the acting person."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, GuidelineVersion, MLModel, Redaction, Role
from reviewapp.services.decisions import case_decide
from reviewapp.services.queue import case_claim_next
from tests.factories import make_cases, make_user

pytestmark = pytest.mark.django_db


def run(name: str, *args: str) -> list[str]:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_configure_model_sets_every_setting_audited_as_the_owner(ml_model, model_owner, tmp_path):
    """Segments, retention, personal fields and guidelines are set in one run, each change
    audited under the owner; the output names each change."""
    guide = tmp_path / "guide.md"
    guide.write_text("# Fraud\nCheck the **amount** first.\n")
    lines = run(
        "configure_model",
        ml_model.slug,
        "--actor",
        model_owner.username,
        "--segments",
        "region, site",
        "--retention-days",
        "30",
        "--pii-fields",
        "full_name,email",
        "--guidelines",
        str(guide),
    )
    ml_model.refresh_from_db()
    assert ml_model.segment_fields == ["region", "site"]
    assert ml_model.retention_days == 30
    assert ml_model.pii_fields == ["full_name", "email"]
    assert GuidelineVersion.objects.get(ml_model=ml_model).text.startswith("# Fraud")
    assert "retention_days: None -> 30" in lines
    assert lines[-1] == "guidelines: version 1 saved"
    configured = AuditEvent.objects.get(action="model.configured")
    assert configured.actor_id == model_owner.pk
    assert configured.changes["retention_days"] == [None, 30]
    assert AuditEvent.objects.get(action="guidelines.updated").actor_id == model_owner.pk


def test_configure_model_keeps_what_is_not_given_and_clears_with_none(ml_model, model_owner):
    """Options left out keep their value; --retention-days none keeps content for ever."""
    run("configure_model", ml_model.slug, "--actor", model_owner.username, "--retention-days", "7")
    run("configure_model", ml_model.slug, "--actor", model_owner.username, "--pii-fields", "a")
    ml_model.refresh_from_db()
    assert (ml_model.retention_days, ml_model.pii_fields) == (7, ["a"])
    lines = run(
        "configure_model",
        ml_model.slug,
        "--actor",
        model_owner.username,
        "--retention-days",
        "none",
    )
    assert lines == ["retention_days: 7 -> None"]
    again = run(
        "configure_model",
        ml_model.slug,
        "--actor",
        model_owner.username,
        "--retention-days",
        "none",
    )
    assert again == ["nothing changed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--retention-days", "-1"], "retention_days"),
        (["--retention-days", "ten"], "retention_days"),
        (["--pii-fields", "bad name!"], "pii_fields"),
        ([], "Nothing to set"),
        (["--guidelines", "/nonexistent/guide.md"], "Cannot read"),
    ],
)
def test_configure_model_refuses_bad_values(ml_model, model_owner, args, message):
    """Bad values are a CommandError naming the setting; nothing changes."""
    with pytest.raises(CommandError, match=message):
        run("configure_model", ml_model.slug, "--actor", model_owner.username, *args)
    ml_model.refresh_from_db()
    assert (ml_model.retention_days, ml_model.pii_fields) == (None, [])


def test_configure_model_refuses_non_owners_and_unknowns(ml_model, manager, team):
    """A manager (not an owner), an admin, an unknown user or model: CommandError; the
    refusal is audited."""
    admin = make_user(Role.ADMIN, username="the-admin")
    for user in (manager, admin):
        with pytest.raises(CommandError, match="permission"):
            run("configure_model", ml_model.slug, "--actor", user.username, "--pii-fields", "a")
    assert AuditEvent.objects.filter(action="permission.denied").count() == 2
    with pytest.raises(CommandError, match="No user"):
        run("configure_model", ml_model.slug, "--actor", "ghost", "--pii-fields", "a")
    with pytest.raises(CommandError, match="No model"):
        run("configure_model", "ghost-model", "--actor", manager.username, "--pii-fields", "a")
    assert MLModel.objects.get(pk=ml_model.pk).pii_fields == []


def _finished(ml_model, reviewer, n: int = 1, **overrides) -> list[int]:
    ids = make_cases(ml_model, n, **overrides)
    for _ in ids:
        case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
        case_decide(case=case, reviewer=reviewer, action="accept", feedback="seen")
    return ids


def test_apply_retention_dry_run_then_run(ml_model, model_owner, reviewer):
    """--dry-run counts the due cases and changes nothing; the run removes them and says so."""
    run("configure_model", ml_model.slug, "--actor", model_owner.username, "--retention-days", "1")
    ids = _finished(ml_model, reviewer, 2)
    Case.objects.filter(pk__in=ids).update(decided_at=timezone.now() - timedelta(days=2))
    dry = run("apply_retention", "--dry-run")
    assert dry == [f"{ml_model.slug}: 2 cases due", "due 2 cases (dry run: nothing removed)"]
    assert not Case.objects.filter(redacted_at__isnull=False).exists()
    lines = run("apply_retention", "--batch", "1")
    assert lines[0] == f"{ml_model.slug}: 2 cases"
    assert lines[-1].startswith("redacted 2 cases in 2 batches")
    assert set(Case.objects.values_list("redaction", flat=True)) == {Redaction.RETENTION}
    with pytest.raises(CommandError, match="batch"):
        run("apply_retention", "--batch", "0")


def test_erase_case_as_owner_and_as_the_operator(ml_model, model_owner, reviewer):
    """erase_case erases one case as --actor, or as the operator (system); the reason is audited;
    an unknown case, a missing reason or a non-owner actor is refused."""
    first, second = _finished(ml_model, reviewer, 2)
    ext = Case.objects.get(pk=first).external_id
    lines = run(
        "erase_case",
        ml_model.slug,
        ext,
        "--reason",
        "GDPR request 7",
        "--actor",
        model_owner.username,
    )
    assert lines == [f"erased case {first} ({ml_model.slug}:{ext})"]
    assert Case.objects.get(pk=first).input == {}
    event = AuditEvent.objects.get(action="case.erased")
    assert (event.actor_id, event.changes["reason"]) == (model_owner.pk, "GDPR request 7")
    again = run(
        "erase_case", ml_model.slug, ext, "--reason", "again", "--actor", model_owner.username
    )
    assert again == [f"case {first} was already erased: nothing changed"]
    other_ext = Case.objects.get(pk=second).external_id
    with pytest.raises(CommandError, match="permission"):
        run("erase_case", ml_model.slug, other_ext, "--reason", "r", "--actor", reviewer.username)
    assert Case.objects.get(pk=second).redaction == ""
    # As DESIGN.md writes it (no --actor): the operator at the command line, audited as system.
    run("erase_case", ml_model.slug, other_ext, "--reason", "r")
    event = AuditEvent.objects.filter(action="case.erased").latest("pk")
    assert (event.actor_id, event.actor_label, event.changes["reason"]) == (None, "system", "r")
    assert Case.objects.get(pk=second).input == {}
    with pytest.raises(CommandError, match="No case"):
        run("erase_case", ml_model.slug, "nope", "--reason", "r")
    with pytest.raises(CommandError):
        run("erase_case", ml_model.slug, other_ext)  # --reason is required


def test_configure_model_guidelines_json_then_text_keeps_definitions(
    ml_model, model_owner, tmp_path
):
    """A .json file sets text and definitions; a later Markdown file changes the text and
    keeps the definitions of the current version."""
    first = tmp_path / "guide.json"
    first.write_text('{"text": "v1", "label_definitions": {"fraud": "Money taken."}}')
    run(
        "configure_model",
        ml_model.slug,
        "--actor",
        model_owner.username,
        "--guidelines",
        str(first),
    )
    second = tmp_path / "guide.md"
    second.write_text("v2 text")
    lines = run(
        "configure_model",
        ml_model.slug,
        "--actor",
        model_owner.username,
        "--guidelines",
        str(second),
    )
    assert lines == ["guidelines: version 2 saved"]
    latest = GuidelineVersion.objects.filter(ml_model=ml_model).latest("version")
    assert (latest.text, latest.label_definitions) == ("v2 text", {"fraud": "Money taken."})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        run(
            "configure_model",
            ml_model.slug,
            "--actor",
            model_owner.username,
            "--guidelines",
            str(bad),
        )


def test_configure_model_without_actor_is_the_operator(ml_model, model_owner, tmp_path):
    """As DESIGN.md writes the command (no --actor): the settings change is audited as system;
    --guidelines is recorded under the model's owner."""
    guide = tmp_path / "guide.md"
    guide.write_text("# Read the whole input\n")
    lines = run("configure_model", ml_model.slug, "--segments", "site", "--guidelines", str(guide))
    assert "segment_fields: [] -> ['site']" in lines
    assert MLModel.objects.get(pk=ml_model.pk).segment_fields == ["site"]
    configured = AuditEvent.objects.get(action="model.configured")
    assert (configured.actor_id, configured.actor_label) == (None, "system")
    assert AuditEvent.objects.get(action="guidelines.updated").actor_id == model_owner.pk
