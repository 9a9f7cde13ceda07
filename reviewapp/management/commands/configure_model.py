"""``manage.py configure_model MODEL [--actor USERNAME] [--segments a,b] [--retention-days N]
[--pii-fields x,y] [--guidelines FILE]``: owner-level settings of a model that are not routing
policy, each change audited under the acting owner's name."""

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from reviewapp.errors import ReviewAppError
from reviewapp.models import MLModel, Role, User
from reviewapp.selectors.guidelines import guidelines_current
from reviewapp.services.access import denial_audit
from reviewapp.services.guidelines import guidelines_save
from reviewapp.services.model_settings import UNSET, model_configure

MAX_GUIDELINES_BYTES = 1024 * 1024


def _guidelines_read(path: str) -> dict[str, Any]:
    """The guidelines FILE (``-``: standard input) as guidelines_save arguments: Markdown text,
    or a .json file {"text", "label_definitions", "reason_definitions"}."""
    try:
        raw = sys.stdin.read() if path == "-" else Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read the guidelines file {path!r}: {exc}") from None
    if len(raw.encode()) > MAX_GUIDELINES_BYTES:
        raise CommandError("The guidelines file is larger than 1 MiB.")
    if not path.endswith(".json"):
        return {"text": raw}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise CommandError(f"The guidelines file is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("text", ""), str):
        raise CommandError('A JSON guidelines file holds {"text": ..., "label_definitions": ...}.')
    return {
        "text": body.get("text", ""),
        "label_definitions": body.get("label_definitions"),
        "reason_definitions": body.get("reason_definitions"),
    }


def _owner_of(ml_model: MLModel) -> User:
    """The person a guidelines version is recorded under when no --actor is given: the
    model's owner, else the first active model owner of its team."""
    owner = ml_model.owner or (
        User.objects.filter(role=Role.MODEL_OWNER, is_active=True, memberships__team=ml_model.team)
        .order_by("pk")
        .first()
    )
    if owner is None:
        raise CommandError("--guidelines records its author: name a model owner with --actor.")
    return owner


class Command(BaseCommand):
    help = (
        "Set a model's owner-level settings that are not routing policy: the segment fields "
        "(keys of input or metadata that define population segments), the retention period in "
        "days (finished cases then lose their input, metadata, explanation and feedback; empty "
        "or 'none': kept), the fields holding personal data (masked everywhere but for the "
        "team's reviewers) and the reviewer guidelines (a Markdown file, or .json with text and "
        "definitions). --actor names the model owner the change is made and audited as "
        "(default: the operator at the command line, audited as system). "
        "Settings not given keep their value."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="The model's slug, for example fraud-screening.")
        parser.add_argument(
            "--actor",
            help="Username of a model owner of the model's team (default: the operator at the "
            "command line, audited as system; --guidelines then records the model's owner).",
        )
        parser.add_argument("--segments", help="Comma-separated field names ('' clears them).")
        parser.add_argument(
            "--retention-days", help="Days (0 or more) after which content is removed; 'none'."
        )
        parser.add_argument("--pii-fields", help="Comma-separated field names ('' clears them).")
        parser.add_argument("--guidelines", help="A Markdown (or .json) file; '-' reads stdin.")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["model"]
        ml_model = MLModel.objects.select_related("team").filter(slug=slug).first()
        if ml_model is None:
            raise CommandError(f"No model '{slug}'.")
        actor = None  # the operator at the command line, audited as "system"
        if options["actor"]:
            actor = User.objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"No user '{options['actor']}'.")
        retention = options["retention_days"]
        if retention is not None and retention.strip().lower() in ("none", "null"):
            retention = None
        elif retention is None:
            retention = UNSET
        settings_given = {
            "segment_fields": UNSET if options["segments"] is None else options["segments"],
            "retention_days": retention,
            "pii_fields": UNSET if options["pii_fields"] is None else options["pii_fields"],
        }
        guidelines = options["guidelines"]
        if guidelines is None and all(v is UNSET for v in settings_given.values()):
            raise CommandError(
                "Nothing to set: give --segments, --retention-days, --pii-fields or --guidelines."
            )
        guideline_args = _guidelines_read(guidelines) if guidelines is not None else None
        try:
            with transaction.atomic():
                changes = model_configure(ml_model=ml_model, actor=actor, **settings_given)
                version = None
                if guideline_args is not None:
                    current = guidelines_current(ml_model)
                    if current is not None:
                        guideline_args.setdefault("label_definitions", None)
                        for name in ("label_definitions", "reason_definitions"):
                            if guideline_args.get(name) is None:
                                guideline_args[name] = getattr(current, name)
                    author = actor or _owner_of(ml_model)
                    version = guidelines_save(ml_model=ml_model, actor=author, **guideline_args)
        except ReviewAppError as exc:
            if exc.denial is not None:  # its record was rolled back with this transaction
                exc.denial.recorded = False
                denial_audit(exc)
            raise CommandError(exc.message) from None
        for name, (old, new) in changes.items():
            self.stdout.write(f"{name}: {old!r} -> {new!r}")
        if version is not None:
            self.stdout.write(f"guidelines: version {version.version} saved")
        if not changes and version is None:
            self.stdout.write("nothing changed")
