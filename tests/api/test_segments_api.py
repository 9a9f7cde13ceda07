"""Segments over HTTP: ``by_segment`` of GET /api/v1/metrics/adoption and /metrics/quality
(documented, validated against /api/schema/), the "By segment" table of the adoption
dashboard with the flag in words, and the owners' settings form on the model page."""

import pytest
from django.core.cache import cache
from django.test import Client

from reviewapp.models import AuditEvent, MLModel
from reviewapp.services.accounts import token_create
from reviewapp.services.model_settings import model_configure
from reviewapp.services.rollups import rollups_refresh
from tests.api.openapi import Contract, fetch_openapi
from tests.conftest import bearer_client
from tests.metrics_data import DAY
from tests.services.test_segments import plant

pytestmark = pytest.mark.django_db
PERIOD = {"from": DAY.isoformat(), "to": DAY.isoformat()}


@pytest.fixture(scope="module")
def contract(django_db_setup, django_db_blocker) -> Contract:
    with django_db_blocker.unblock():
        return Contract(fetch_openapi())


@pytest.fixture
def gap(ml_model, model_owner, reviewer):
    """Sites north and east at 90% accuracy, south at 75% (a 15-point gap), 300 cases each."""
    model_configure(ml_model=ml_model, actor=model_owner, segment_fields=["site", "region"])
    plant(ml_model, reviewer, site="north", n=300, right=270)
    plant(ml_model, reviewer, site="east", n=300, right=270)
    plant(ml_model, reviewer, site="south", n=300, right=225)
    rollups_refresh(days=[DAY], ml_model=ml_model)
    cache.clear()
    return ml_model


def test_adoption_and_quality_break_down_by_segment(contract, gap, manager):
    """Both endpoints answer by_segment per declared field, south flagged, documented."""
    client = bearer_client(token_create(user=manager)[1])
    params = {"model": gap.slug, **PERIOD}
    adoption = contract.check(client.get("/api/v1/metrics/adoption", params), "metrics_adoption")
    quality = contract.check(client.get("/api/v1/metrics/quality", params), "metrics_quality")
    for body in (adoption, quality):
        assert list(body["by_segment"]) == ["site", "region"]
        sites = {row["value"]: row for row in body["by_segment"]["site"]}
        assert sites["south"]["disparity"] is True
        assert sites["south"]["live_accuracy"] == 0.75
        assert sites["south"]["outcome_accuracy_ci"][1] < sites["south"]["rest_outcome_accuracy"]
        assert [v for v, row in sites.items() if row["disparity"]] == ["south"]
        assert not any(row["disparity"] for row in body["by_segment"]["region"])
    # The adoption filters narrow the headline figures, not the segments (whole model).
    filtered = client.get("/api/v1/metrics/adoption", {**params, "label": "legit"})
    body = contract.check(filtered, "metrics_adoption")
    assert body["decided"] == 0
    assert body["by_segment"] == adoption["by_segment"]


def test_models_without_segments_answer_an_empty_object(contract, ml_model, manager):
    client = bearer_client(token_create(user=manager)[1])
    params = {"model": ml_model.slug, **PERIOD}
    for path, operation in (
        ("/api/v1/metrics/adoption", "metrics_adoption"),
        ("/api/v1/metrics/quality", "metrics_quality"),
    ):
        assert contract.check(client.get(path, params), operation)["by_segment"] == {}


def test_dashboard_shows_the_segment_table_with_the_flag_in_words(gap, manager):
    """The "By segment" card names the flagged segment in text, not by colour alone."""
    client = Client()
    client.force_login(manager)
    response = client.get("/dashboards/", {"model": gap.slug, **PERIOD})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="segments-card"' in html
    assert "By site" in html
    assert "By region" in html
    assert "Worse than the rest: live accuracy 75% vs 90%; outcome accuracy 75% vs 90%" in html
    assert "1 segment flagged." in html


def test_owner_sets_segment_fields_on_the_model_page(ml_model, model_owner, manager):
    """The owner's form saves the fields (audited); bad names are refused with a message;
    a manager sees the fields but no form."""
    client = Client()
    client.force_login(model_owner)
    page = client.get(f"/models/{ml_model.slug}/").content.decode()
    assert 'action="/models/fraud-screening/settings"' in page
    response = client.post(f"/models/{ml_model.slug}/settings", {"segment_fields": "site, region"})
    assert response.status_code == 302
    assert response["Location"].endswith("#settings")
    assert MLModel.objects.get(pk=ml_model.pk).segment_fields == ["site", "region"]
    event = AuditEvent.objects.get(action="model.configured")
    assert event.changes == {"segment_fields": [[], ["site", "region"]]}
    bad = client.post(f"/models/{ml_model.slug}/settings", {"segment_fields": "site; drop"})
    assert bad.status_code == 302
    assert MLModel.objects.get(pk=ml_model.pk).segment_fields == ["site", "region"]
    shown = client.get(bad["Location"]).content.decode()
    assert "The settings were not saved." in shown
    other = Client()
    other.force_login(manager)
    as_manager = other.get(f"/models/{ml_model.slug}/").content.decode()
    assert "<code>site</code>, <code>region</code>" in as_manager
    assert 'action="/models/fraud-screening/settings"' not in as_manager
    assert (
        other.post(f"/models/{ml_model.slug}/settings", {"segment_fields": "x"}).status_code == 403
    )
