"""Guidelines on the pages: the owner edits them on the model page (versions, 403 for others),
the review page shows them (panel, reason definitions in the drawer); a blind disagreement
asks for its reason instead of presetting one."""

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from reviewapp.models import AuditEvent, Decision, GuidelineVersion
from reviewapp.services.guidelines import guidelines_save
from reviewapp.views.review import BLIND_REASON_NEEDED
from tests import factories

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-panel"}


@pytest.fixture
def client_for(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


def _claim(client, ml_model) -> int:
    response = client.post(reverse("review-claim-next", args=[ml_model.slug]))
    assert response.status_code == 302, response.content[:300]
    return int(response.url.rstrip("/").rsplit("/", 1)[-1])


def test_owner_saves_a_new_version_from_the_model_page(client_for, model_owner, ml_model):
    """The form posts the text and definitions; the page shows them rendered, safely."""
    client = client_for(model_owner)
    url = reverse("model-guidelines", args=[ml_model.slug])
    response = client.post(
        url,
        {
            "text": "## Card testing\n\n<script>alert(1)</script> [x](javascript:alert(1))",
            "label:fraud": "Stolen or tested card.",
            "reason:policy": "A written rule decides.",
        },
    )
    assert response.status_code == 302
    client.post(url, {"text": "Second"})
    assert list(GuidelineVersion.objects.values_list("version", flat=True).order_by("version")) == [
        1,
        2,
    ]
    first = GuidelineVersion.objects.get(version=1)
    assert first.label_definitions == {"fraud": "Stolen or tested card."}
    assert AuditEvent.objects.filter(action="guidelines.updated").count() == 2
    GuidelineVersion.objects.filter(version=2).delete()  # show v1 on the page
    html = client.get(reverse("model-detail", args=[ml_model.slug])).content.decode()
    assert "<h2>Card testing</h2>" in html
    assert "<script>alert(1)" not in html
    assert "javascript:alert" not in html
    assert "Stolen or tested card." in html


@pytest.mark.parametrize("role", ["manager", "reviewer"])
def test_others_may_not_save_guidelines(request, client_for, ml_model, role):
    """A manager or reviewer posting the form gets 403 and nothing is stored."""
    client = client_for(request.getfixturevalue(role))
    response = client.post(reverse("model-guidelines", args=[ml_model.slug]), {"text": "x"})
    assert response.status_code == 403
    assert not GuidelineVersion.objects.exists()


def test_manager_sees_guidelines_but_no_form(client_for, manager, model_owner, ml_model):
    """Managers read the guidelines on the model page; only owners get the edit form."""
    guidelines_save(ml_model=ml_model, actor=model_owner, text="Read **me**")
    html = client_for(manager).get(reverse("model-detail", args=[ml_model.slug])).content
    assert b"<strong>me</strong>" in html
    assert reverse("model-guidelines", args=[ml_model.slug]).encode() not in html


def test_overlong_definition_is_a_400_with_the_form(client_for, model_owner, ml_model):
    """A definition over 500 characters re-renders the page with the error, stores nothing."""
    response = client_for(model_owner).post(
        reverse("model-guidelines", args=[ml_model.slug]), {"text": "", "label:fraud": "x" * 501}
    )
    assert response.status_code == 400
    assert "at most 500 characters" in response.content.decode()
    assert not GuidelineVersion.objects.exists()


def test_review_page_shows_the_guidelines_panel_and_reason_definitions(
    client_for, reviewer, model_owner, ml_model
):
    """The case page has the panel (key g) and the reason definitions in the drawer."""
    guidelines_save(
        ml_model=ml_model,
        actor=model_owner,
        text="Look at **account age** first.",
        label_definitions={"legit": "A real customer."},
        reason_definitions={"missing_context": "The input lacks what you needed."},
    )
    factories.make_cases(ml_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case_id = _claim(client, ml_model)
    html = client.get(reverse("review-case", args=[case_id])).content.decode()
    panel = re.search(r'<details[^>]*id="guidelines-panel"[^>]*>', html).group(0)
    assert 'data-key="g"' in panel
    assert "<strong>account age</strong>" in html
    assert "A real customer." in html
    drawer = html[html.index('id="override-drawer"') :]
    assert "The input lacks what you needed." in drawer
    assert "<kbd>g</kbd> guidelines" in html
    for key in "fyu":
        assert f'data-key="{key}"' in html


def test_decision_from_the_page_records_the_guidelines_version(
    client_for, reviewer, model_owner, ml_model
):
    """Accepting on the page stores the version in force."""
    guidelines_save(ml_model=ml_model, actor=model_owner, text="v1")
    factories.make_cases(ml_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case_id = _claim(client, ml_model)
    client.post(reverse("review-decide", args=[case_id]), {"action": "accept"})
    assert Decision.objects.get(case_id=case_id).guidelines_version == 1


@pytest.fixture
def blind_model(team):
    return factories.make_model(team=team, slug="blind-screening", blind_sample_rate=1.0)


def test_blind_reason_select_starts_empty(client_for, reviewer, blind_model):
    """No reason is preselected on a blind case: the empty choice comes first, none selected."""
    factories.make_cases(blind_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case_id = _claim(client, blind_model)
    html = client.get(reverse("review-case", args=[case_id])).content.decode()
    select = re.search(r'<select id="id_reason_code".*?</select>', html, re.S).group(0)
    assert '<option value="">Choose a reason…</option>' in select
    assert "selected" not in select


def test_blind_disagreement_without_reason_asks_for_it(client_for, reviewer, blind_model):
    """A blind label that differs, sent with no reason: 400, drawer open, a message asking for
    the reason that names no model label, and no decision."""
    factories.make_cases(blind_model, 1, confidence=0.62)  # the model says "fraud"
    client = client_for(reviewer)
    case_id = _claim(client, blind_model)
    response = client.post(
        reverse("review-decide", args=[case_id]),
        {"action": "label", "final_label": "legit", "reason_code": ""},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert escape(BLIND_REASON_NEEDED) in html
    assert "fraud" not in BLIND_REASON_NEEDED
    assert re.search(r'<details[^>]*id="override-drawer"[^>]*\bopen\b', html)
    assert 'data-testid="predicted-label"' not in html
    assert '<option value="legit" selected>' in html
    assert not Decision.objects.exists()


def test_blind_agreement_needs_no_reason(client_for, reviewer, blind_model):
    """A blind label equal to the model's is an accept without a reason."""
    factories.make_cases(blind_model, 1, confidence=0.62)
    client = client_for(reviewer)
    case_id = _claim(client, blind_model)
    response = client.post(
        reverse("review-decide", args=[case_id]),
        {"action": "label", "final_label": "fraud", "reason_code": ""},
    )
    assert response.status_code == 302
    assert Decision.objects.get(case_id=case_id).action == "accept"
