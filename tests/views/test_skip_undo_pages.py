"""The reviewer's page: skip that skips (s), undo within the window (z), the decide form bound
to its case, and skip counts on the queue overview."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import AuditEvent, Case, CaseSkip, CaseStatus, Decision, Role
from tests import factories

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-panel"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def queued(ml_model):
    return sorted(factories.make_cases(ml_model, 2, confidence=0.62))


@pytest.fixture
def window(settings):
    settings.REVIEWAPP_UNDO_WINDOW_S = 10
    return settings


def _next(client, ml_model, **extra):
    return client.post(reverse("review-claim-next", args=[ml_model.slug]), **extra)


def test_skip_then_next_gives_another_case(client_for, reviewer, ml_model, queued):
    """The page's skip goes through the skip service: the next claim is another case."""
    client = client_for(reviewer)
    assert _next(client, ml_model).url == reverse("review-case", args=[queued[0]])
    page = client.get(reverse("review-case", args=[queued[0]])).content.decode()
    assert f'action="{reverse("review-skip", args=[queued[0]])}"' in page
    response = client.post(reverse("review-skip", args=[queued[0]]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review-home")
    assert f"Skipped case #{queued[0]}" in response.content.decode()
    assert CaseSkip.objects.filter(case_id=queued[0], reviewer=reviewer).count() == 1
    assert AuditEvent.objects.filter(action="case.skipped", target_id=str(queued[0])).exists()
    assert _next(client, ml_model).url == reverse("review-case", args=[queued[1]])


def test_htmx_skip_shows_the_queues_and_next_brings_another_case(
    client_for, reviewer, ml_model, queued
):
    """With htmx, skip swaps in the queue list; n then swaps in the other case."""
    client = client_for(reviewer)
    _next(client, ml_model)
    response = client.post(reverse("review-skip", args=[queued[0]]), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="case-panel" class="rv-panel rv-home"')
    assert response["HX-Push-Url"] == reverse("review-home")
    html = _next(client, ml_model, **HTMX).content.decode()
    assert f'data-case-id="{queued[1]}"' in html


def test_skip_of_a_case_you_do_not_hold_is_not_found(client_for, reviewer, ml_model, queued):
    """Skipping a case that is not yours answers "not yours" (404), never a 500."""
    response = client_for(reviewer).post(reverse("review-skip", args=[queued[0]]))
    assert response.status_code == 404
    assert not CaseSkip.objects.exists()


def test_decide_form_posts_to_the_case_it_shows(client_for, reviewer, ml_model, queued):
    """The decide form names its case in its URL, so a stale submit cannot decide another."""
    client = client_for(reviewer)
    _next(client, ml_model)
    html = client.get(reverse("review-case", args=[queued[0]])).content.decode()
    form = re.search(r'<form id="decide-form"[^>]*>', html).group(0)
    decide = reverse("review-decide", args=[queued[0]])
    assert f'action="{decide}"' in form
    assert f'hx-post="{decide}"' in form
    # A stale post for the first case after it was decided decides nothing else.
    client.post(decide, {"action": "accept"})
    assert client.post(decide, {"action": "accept"}).status_code in (404, 409)
    assert Decision.objects.filter(case_id=queued[1]).count() == 0


def test_outcome_offers_undo_within_the_window(client_for, reviewer, ml_model, queued, window):
    """After a decision the outcome line has Undo (z) with the time left in the window."""
    client = client_for(reviewer)
    _next(client, ml_model)
    html = client.post(
        reverse("review-decide", args=[queued[0]]), {"action": "accept"}, **HTMX
    ).content.decode()
    assert f'data-case-id="{queued[1]}"' in html
    undo = reverse("review-undo", args=[queued[0]])
    assert f'hx-post="{undo}"' in html
    assert 'data-key="z"' in html
    left = int(re.search(r'data-undo-ms="(\d+)"', html).group(1))
    assert 9000 < left <= 10_000


def test_no_undo_button_without_a_window(client_for, reviewer, ml_model, queued, settings):
    """With no undo window the outcome line offers no undo."""
    settings.REVIEWAPP_UNDO_WINDOW_S = 0
    client = client_for(reviewer)
    _next(client, ml_model)
    html = client.post(
        reverse("review-decide", args=[queued[0]]), {"action": "accept"}, **HTMX
    ).content.decode()
    assert "data-undo-ms" not in html
    assert 'data-key="z"' not in html


def test_no_undo_button_after_a_blind_decision(client_for, reviewer, ml_model, queued, window):
    """A blind decision is final at once: its outcome line offers no undo."""
    Case.objects.filter(pk=queued[0]).update(is_blind=True)
    client = client_for(reviewer)
    _next(client, ml_model)
    html = client.post(
        reverse("review-decide", args=[queued[0]]),
        {"action": "label", "final_label": "legit", "reason_code": "wrong_label"},
        **HTMX,
    ).content.decode()
    assert f'data-case-id="{queued[1]}"' in html
    assert "you said" in html
    assert 'data-key="z"' not in html


def test_htmx_undo_shows_the_case_again(client_for, reviewer, ml_model, queued, window):
    """Undo swaps the undone case back in, claimed by the reviewer again."""
    client = client_for(reviewer)
    _next(client, ml_model)
    client.post(reverse("review-decide", args=[queued[0]]), {"action": "accept"}, **HTMX)
    response = client.post(reverse("review-undo", args=[queued[0]]), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-case-id="{queued[0]}"' in html
    assert "was withdrawn" in html
    assert response["HX-Push-Url"] == reverse("review-case", args=[queued[0]])
    case = Case.objects.get(pk=queued[0])
    assert (case.status, case.assigned_to_id) == (CaseStatus.ASSIGNED, reviewer.pk)
    assert Decision.objects.get(case_id=queued[0]).undone_at is not None


def test_undo_as_a_plain_form_and_after_the_window(client_for, reviewer, ml_model, queued, window):
    """Without htmx undo redirects to the case; after the window it is a 409 page."""
    client = client_for(reviewer)
    _next(client, ml_model)
    client.post(reverse("review-decide", args=[queued[0]]), {"action": "accept"})
    response = client.post(reverse("review-undo", args=[queued[0]]))
    assert response.url == reverse("review-case", args=[queued[0]])
    client.post(reverse("review-decide", args=[queued[0]]), {"action": "accept"})
    Decision.objects.update(decided_at=timezone.now() - timedelta(seconds=30))
    late = client.post(reverse("review-undo", args=[queued[0]]), **HTMX)
    assert late.status_code == 409
    assert Case.objects.get(pk=queued[0]).status == CaseStatus.DECIDED


def test_overview_shows_skip_counts(client_for, reviewer, lead, ml_model, queued):
    """The queue overview shows skips per waiting case and per reviewer (24 h)."""
    other = factories.make_user(Role.REVIEWER, team=ml_model.team, username="otis")
    for person in (reviewer, other):
        client = client_for(person)
        _next(client, ml_model)
        client.post(reverse("review-skip", args=[queued[0]]))
    html = client_for(lead).get(reverse("queue-overview")).content.decode()
    badge = re.search(rf'<span class="([^"]*)" data-testid="skips-{queued[0]}"[^>]*>([^<]*)<', html)
    assert badge.group(1) == "badge warn"  # skipped by two people
    assert badge.group(2) == "skipped 2 times"
    assert f'data-testid="skips-{queued[1]}"' not in html  # never skipped
    assert re.search(r'data-testid="reviewer-skips-rita">1</td>', html)
    assert re.search(r'data-testid="reviewer-skips-otis">1</td>', html)
