"""``manage.py set_webhook MODEL URL``."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from reviewapp.models import AuditEvent

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("set_webhook", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_sets_url_and_prints_secret_last(ml_model, settings):
    """The URL is registered and the new secret is printed alone on the last line."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
    lines = run("fraud-screening", "https://93.184.216.34/hooks/reviewapp")
    ml_model.refresh_from_db()
    assert ml_model.webhook_url == "https://93.184.216.34/hooks/reviewapp"
    assert lines[-1] == ml_model.webhook_secret
    assert len(lines[-1]) == 64
    assert "shown once" in lines[0]
    event = AuditEvent.objects.get(action="webhook.set")
    assert event.actor_label == "system"
    assert event.changes["webhook_url"] == ["", "https://93.184.216.34/hooks/reviewapp"]
    assert ml_model.webhook_secret not in str(event.changes)


def test_running_again_rotates_the_secret(ml_model, settings):
    """Each run issues a new secret."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = True
    first = run("fraud-screening", "http://127.0.0.1:9000/hook")[-1]
    second = run("fraud-screening", "http://127.0.0.1:9000/hook")[-1]
    assert first != second


def test_unknown_model_is_a_command_error(db):
    """An unknown slug is a clear CommandError."""
    with pytest.raises(CommandError, match="No model 'nope'"):
        run("nope", "https://93.184.216.34/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8000/hook", "a loopback address"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("http://169.254.169.254/", "a link-local address"),
    ],
)
def test_refused_url_is_a_command_error(ml_model, settings, url, message):
    """A refused URL is a CommandError naming why; nothing changes."""
    settings.REVIEWAPP_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(CommandError, match=message):
        run("fraud-screening", url)
    ml_model.refresh_from_db()
    assert ml_model.webhook_url == ""
