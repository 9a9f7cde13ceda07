"""The model page's settings form: retention period and personal-data fields, beside the
segment fields (owners only, through model_configure, audited)."""

import pytest
from django.test import Client

from reviewapp.models import AuditEvent

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_owner_sets_retention_and_personal_fields_from_the_model_page(ml_model, model_owner):
    """The form shows the current values; a post saves both, audited as the owner."""
    client = _client(model_owner)
    page = client.get(f"/models/{ml_model.slug}/").content.decode()
    assert 'name="retention_days"' in page
    assert 'name="pii_fields"' in page
    response = client.post(
        f"/models/{ml_model.slug}/settings",
        {"segment_fields": "", "retention_days": "90", "pii_fields": "full_name, email"},
    )
    assert response.status_code == 302
    ml_model.refresh_from_db()
    assert (ml_model.retention_days, ml_model.pii_fields) == (90, ["full_name", "email"])
    event = AuditEvent.objects.get(action="model.configured")
    assert event.actor_id == model_owner.pk
    assert event.changes["retention_days"] == [None, 90]
    page = client.get(f"/models/{ml_model.slug}/").content.decode()
    assert 'value="90"' in page
    assert "<code>full_name</code>" in page


def test_a_post_without_them_keeps_them_and_a_bad_value_is_refused(ml_model, model_owner):
    """Leaving the fields out keeps their values; a negative period changes nothing."""
    client = _client(model_owner)
    client.post(f"/models/{ml_model.slug}/settings", {"retention_days": "30", "pii_fields": "a"})
    client.post(f"/models/{ml_model.slug}/settings", {"segment_fields": "site"})
    ml_model.refresh_from_db()
    assert (ml_model.retention_days, ml_model.pii_fields) == (30, ["a"])
    response = client.post(f"/models/{ml_model.slug}/settings", {"retention_days": "-3"})
    assert response.status_code == 302
    ml_model.refresh_from_db()
    assert ml_model.retention_days == 30


def test_a_manager_cannot_change_them(ml_model, manager):
    """Managers are not owners: 403, nothing saved."""
    response = _client(manager).post(f"/models/{ml_model.slug}/settings", {"retention_days": "1"})
    assert response.status_code == 403
    ml_model.refresh_from_db()
    assert ml_model.retention_days is None
