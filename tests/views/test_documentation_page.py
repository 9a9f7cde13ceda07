"""The documentation page of a model version (/models/<slug>/versions/<version>/documentation),
its status on the model page and the "About this model" link on the case pages."""

import pytest
from django.test import Client

from reviewapp.models import ModelDocumentation, ModelVersion, Role
from reviewapp.services.queue import case_claim_next
from tests.factories import make_cases, make_documentation, make_team, make_user

pytestmark = pytest.mark.django_db

FORM = {
    "intended_use": "Screen card payments before capture.",
    "limitations": "Weak on accounts younger than a day.",
    "training_data": "Chargebacks 2023-2024.",
    "owner_contact": "Otto <otto@example.com>",
    "oncall_contact": "#fraud-oncall",
}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def candidate(ml_model):
    make_cases(ml_model, 1, model_version="1.0.0")
    make_cases(ml_model, 1, model_version="2.0.0")
    return ModelVersion.objects.get(ml_model=ml_model, version="2.0.0")


def url(version: ModelVersion) -> str:
    return f"/models/{version.ml_model.slug}/versions/{version.version}/documentation"


def test_owner_writes_it_and_the_model_page_shows_the_revision(candidate, model_owner):
    """Missing at first (page and model page); the owner's POST saves revision 1, shown on
    both pages; a second POST makes revision 2 with the first kept as history."""
    owner = logged_in(model_owner)
    page = owner.get(url(candidate)).content.decode()
    assert 'data-testid="doc-missing"' in page
    assert "Save revision 1" in page
    model_page = owner.get(f"/models/{candidate.ml_model.slug}/").content.decode()
    assert "documentation missing" in model_page
    response = owner.post(url(candidate), FORM)
    assert response.status_code == 302
    assert response["Location"] == url(candidate)
    page = owner.get(url(candidate)).content.decode()
    assert "Revision 1, written by otto" in page
    assert "Weak on accounts younger than a day." in page
    assert "#fraud-oncall" in page
    model_page = owner.get(f"/models/{candidate.ml_model.slug}/").content.decode()
    assert "documented (revision 1)" in model_page
    owner.post(url(candidate), {**FORM, "oncall_contact": "pager 555"})
    page = owner.get(url(candidate)).content.decode()
    assert "Revision 2" in page
    assert "Earlier revisions (1)" in page
    assert ModelDocumentation.objects.filter(model_version=candidate).count() == 2


def test_incomplete_form_is_a_400_and_saves_nothing(candidate, model_owner):
    """An empty field or a NUL redraws the form with the field's error."""
    owner = logged_in(model_owner)
    response = owner.post(url(candidate), {**FORM, "limitations": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert owner.post(url(candidate), {**FORM, "training_data": "a\x00b"}).status_code == 400
    assert not ModelDocumentation.objects.exists()


def test_reviewers_read_it_but_cannot_write_it(candidate, reviewer, model_owner):
    """A reviewer of the team reads the card without the form; their POST is a 403."""
    make_documentation(candidate, model_owner)
    client = logged_in(reviewer)
    page = client.get(url(candidate)).content.decode()
    assert "Revision 1" in page
    assert "Save revision" not in page
    assert client.post(url(candidate), FORM).status_code == 403
    assert ModelDocumentation.objects.count() == 1


def test_other_teams_and_unknown_versions_are_not_found(candidate):
    """A reviewer of another team and an unknown version get 404 alike."""
    stranger = logged_in(make_user(Role.REVIEWER, team=make_team("elsewhere")))
    assert stranger.get(url(candidate)).status_code == 404
    owner = logged_in(make_user(Role.MODEL_OWNER, team=candidate.ml_model.team))
    missing = f"/models/{candidate.ml_model.slug}/versions/9.9.9/documentation"
    assert owner.get(missing).status_code == 404
    assert owner.get(missing.replace("9.9.9", "9%009")).status_code == 404


def test_case_pages_link_to_the_case_version_documentation(ml_model, reviewer, lead):
    """The claimant's review page and the read-only case page say "About this model" with a
    link to the documentation of the case's version."""
    [pk] = make_cases(ml_model, 1, model_version="3.1.4", confidence=0.5)
    link = f'href="/models/{ml_model.slug}/versions/3.1.4/documentation"'
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    review = logged_in(reviewer).get(f"/review/case/{case.pk}/").content.decode()
    assert "About this model" in review
    assert link in review
    record = logged_in(lead).get(f"/cases/{pk}/").content.decode()
    assert "About this model" in record
    assert link in record
