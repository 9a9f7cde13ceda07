"""The conversation on the pages: the comment form on the reviewer's case page and on the
read-only case page (htmx and plain form), escaping, mentions highlighted, who may post, and
the comment count on the lead's queue overview."""

import pytest
from django.urls import reverse

from reviewapp.models import Case, Comment, Role
from reviewapp.services.comments import comment_add
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-comments"}
SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def client_for(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def case(ml_model) -> Case:
    (case_id,) = factories.make_cases(ml_model, 1, confidence=0.62)
    return Case.objects.select_related("ml_model").get(pk=case_id)


def _claim(client, ml_model) -> Case:
    response = client.post(reverse("review-claim-next", args=[ml_model.slug]))
    assert response.status_code == 302
    return Case.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def test_comment_without_javascript_redirects_back(client_for, reviewer, ml_model, case):
    """The plain form saves the comment and returns to the page it was posted from."""
    client = client_for(reviewer)
    claimed = _claim(client, ml_model)
    page = reverse("review-case", args=[claimed.pk])
    url = reverse("case-comment-add", args=[claimed.pk])
    response = client.post(url, {"text": "Odd amount.", "back": page})
    assert response.status_code == 302
    assert response["Location"] == page
    assert Comment.objects.get(case=claimed).text == "Odd amount."
    html = client.get(page).content.decode()
    assert 'data-testid="comments"' in html
    assert "Odd amount." in html


def test_comment_back_must_be_a_local_path(client_for, lead, case):
    """An outside address in ``back`` is ignored: the redirect stays on this site."""
    url = reverse("case-comment-add", args=[case.pk])
    response = client_for(lead).post(url, {"text": "Hi", "back": "https://evil.example/"})
    assert response["Location"] == reverse("case-detail", args=[case.pk])


def test_comment_with_htmx_returns_the_escaped_list(client_for, lead, reviewer, case):
    """With htmx the comment list comes back alone; HTML in a comment is shown as text and a
    mention of a team member is marked."""
    url = reverse("case-comment-add", args=[case.pk])
    response = client_for(lead).post(url, {"text": f"{SCRIPT} @rita @ghost"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card rv-comments" id="case-comments"')
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert '<strong class="rv-mention">@rita</strong>' in html
    assert "@ghost" in html
    assert '<strong class="rv-mention">@ghost' not in html


def test_read_only_page_shows_comments_and_highlights_mentions(client_for, lead, manager, case):
    """The record page shows the conversation; the person mentioned sees it highlighted."""
    comment_add(case=case, author=manager, text=f"@leo please look {SCRIPT}")
    html = client_for(lead).get(reverse("case-detail", args=[case.pk])).content.decode()
    assert 'data-testid="comment-mentions-me"' in html
    assert SCRIPT not in html
    assert "please look" in html
    assert 'name="text"' in html  # the lead may answer


def test_auditor_reads_comments_but_cannot_post(client_for, auditor, manager, case):
    """Auditors see the conversation without a form; posting is a 403."""
    comment_add(case=case, author=manager, text="For the record.")
    client = client_for(auditor)
    html = client.get(reverse("case-detail", args=[case.pk])).content.decode()
    assert "For the record." in html
    assert 'name="text"' not in html
    response = client.post(reverse("case-comment-add", args=[case.pk]), {"text": "mine"})
    assert response.status_code == 403
    assert Comment.objects.count() == 1


def test_other_teams_reviewer_gets_404(client_for, other_team, case):
    """A reviewer of another team gets 404, as for a missing case."""
    outsider = factories.make_user(Role.REVIEWER, team=other_team)
    client = client_for(outsider)
    assert client.post(reverse("case-comment-add", args=[case.pk]), {"text": "x"}).status_code == (
        404
    )
    assert client.post(reverse("case-comment-add", args=[999999]), {"text": "x"}).status_code == (
        404
    )
    assert not Comment.objects.exists()


def test_nul_in_a_comment_is_a_400(client_for, lead, case):
    """A NUL character is refused with 400 (htmx); the plain form goes back with the message
    (the pages' rule for a refused form); nothing is stored either way."""
    client = client_for(lead)
    url = reverse("case-comment-add", args=[case.pk])
    response = client.post(url, {"text": "a\x00b"}, **HTMX)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    response = client.post(url, {"text": "a\x00b"}, follow=True)
    assert response.redirect_chain[0][1] == 302
    assert "NUL" in response.content.decode()
    assert not Comment.objects.exists()


def test_too_long_comment_is_a_400(client_for, reviewer, case):
    """More than 5,000 characters is refused with 400."""
    url = reverse("case-comment-add", args=[case.pk])
    response = client_for(reviewer).post(url, {"text": "x" * 5001}, **HTMX)
    assert response.status_code == 400
    assert not Comment.objects.exists()


def test_blind_case_page_with_comments_keeps_the_answer_hidden(client_for, reviewer, team):
    """A blind case's conversation shows people's text, never the model's answer."""
    blind = factories.make_model(team=team, slug="blind-screening", blind_sample_rate=1.0)
    factories.make_cases(blind, 1, confidence=0.62, label="fraud")
    client = client_for(reviewer)
    claimed = _claim(client, blind)
    assert claimed.is_blind
    client.post(reverse("case-comment-add", args=[claimed.pk]), {"text": "Not sure here."})
    html = client.get(reverse("review-case", args=[claimed.pk])).content.decode()
    assert "Not sure here." in html
    assert "62%" not in html
    assert 'data-testid="model-answer"' not in html


def test_queue_overview_counts_comments_on_escalated_cases(client_for, reviewer, lead, ml_model):
    """The lead's escalated list shows how many comments each case has."""
    factories.make_cases(ml_model, 1, confidence=0.62)
    client = client_for(reviewer)
    claimed = _claim(client, ml_model)
    client.post(reverse("review-escalate", args=[claimed.pk]), {"note": "Policy call?"})
    comment_add(case=Case.objects.get(pk=claimed.pk), author=reviewer, text="More context.")
    html = client_for(lead).get(reverse("queue-overview")).content.decode()
    assert 'data-testid="comment-count"' in html
    assert ">2</a>" in html
