"""Blind is blind everywhere: while a blind case is undecided, a reviewer or lead who may decide it
reads no trace of the model's answer through any route they have (review page, queue overview,
case by id, look-up, claim, feed, export, webhook outbox); once decided, it is shown."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from reviewapp.models import Case, Role, WebhookDelivery
from reviewapp.services.accounts import token_create
from tests import factories

ANSWER = "malignant"
# Text that would give the answer away: the label, its confidence and scores, the explanation,
# and the routing sentences derived from them.
LEAKS = (
    ANSWER,
    "0.62",
    "62%",
    "0.38",
    "38%",
    "Mostly because",
    "irregular border",
    "always reviewed",
    "always_review",
    "Confidence",
    "low_confidence",
    "threshold",
)


@pytest.fixture
def blind(team):
    """A model whose every queued case is blind, with an always-review label: the routing text
    would say "the predicted label is always reviewed" and so name the answer."""
    ml_model = factories.make_model(
        team=team,
        slug="lesion-triage",
        labels=("benign", ANSWER),
        blind_sample_rate=1.0,
        always_review_labels=[ANSWER],
    )
    factories.make_cases(
        ml_model,
        2,
        prediction={"label": ANSWER, "confidence": 0.62, "scores": {ANSWER: 0.62, "benign": 0.38}},
        explanation={
            "method": "shap",
            "base_value": 0.1,
            "contributions": [{"feature": "diameter_mm", "value": 7, "weight": 0.31}],
            "summary": "Large lesion with irregular border.",
        },
        input={"diameter_mm": 7, "site": "arm"},
    )
    assert set(Case.objects.filter(ml_model=ml_model).values_list("is_blind", flat=True)) == {True}
    return ml_model


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)[1]}")
    return client


def _assert_no_leak(text: str, where: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{where} shows {leak!r}"


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.LEAD])
def test_no_route_shows_the_answer_before_the_decision(client, blind, team, role):
    """Page, overview, by id, look-up, claim, feed, export and outbox: no label, confidence,
    scores, explanation or answer-revealing routing text."""
    person = factories.make_user(role, team=team)
    api = _api(person)

    claimed = api.post(f"/api/v1/queues/{blind.slug}/claim")
    assert claimed.status_code == 200
    body = claimed.json()
    assert (body["prediction"], body["explanation"]) == (None, None)
    assert body["routing_reason"] == "Picked for blind review"
    assert body["routing_reasons"] == ["blind_review"]
    _assert_no_leak(json.dumps(body), "claim")
    case = Case.objects.get(pk=body["id"])

    _assert_no_leak(api.get(f"/api/v1/cases/{case.pk}").content.decode(), "case by id")
    lookup = api.get("/api/v1/cases", {"external_id": case.external_id})
    assert len(lookup.json()["results"]) == 1
    _assert_no_leak(lookup.content.decode(), "look-up")

    feed = api.get("/api/v1/decisions", {"model": blind.slug})
    assert feed.status_code == 200
    assert feed.json()["results"] == []

    client.force_login(person)
    page = client.get(reverse("review-case", args=[case.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Picked for blind review" in html
    # The label picker lists the model's labels, the answer among them: drop that one element.
    html_without_picker = html.split('<select id="id_final_label"')[0] + html.split("</select>")[-1]
    _assert_no_leak(html_without_picker, "review page")
    if role == Role.LEAD:
        overview = client.get(reverse("queue-overview"), {"model": blind.slug})
        assert overview.status_code == 200
        _assert_no_leak(overview.content.decode(), "queue overview")

    assert not WebhookDelivery.objects.filter(ml_model=blind).exists()


def test_the_answer_is_shown_once_decided_and_to_those_who_cannot_decide(blind, team, reviewer):
    """Managers (who never decide) see the answer; the reviewer sees it after deciding."""
    manager = factories.make_user(Role.MANAGER, team=team)
    reviewer_api = _api(reviewer)
    case_id = reviewer_api.post(f"/api/v1/queues/{blind.slug}/claim").json()["id"]
    as_manager = _api(manager).get(f"/api/v1/cases/{case_id}").json()
    assert as_manager["prediction"]["label"] == ANSWER
    assert "always reviewed" in as_manager["routing_reason"]

    decided = reviewer_api.post(
        f"/api/v1/cases/{case_id}/decision",
        {"action": "override", "final_label": "benign", "reason_code": "wrong_label"},
        format="json",
    )
    assert decided.status_code == 200
    after = reviewer_api.get(f"/api/v1/cases/{case_id}").json()
    assert after["prediction"]["label"] == ANSWER
    assert after["decision"]["was_blind"] is True
