"""The conversation on a case: comments, mentions of team members, the escalation note as the
first comment, audit and who may comment."""

import pytest

from reviewapp.errors import InvalidInput, NotFound, PermissionDenied
from reviewapp.models import AuditEvent, Case, Comment, Role
from reviewapp.permissions import user_can_comment
from reviewapp.presentation.comments import comment_pieces
from reviewapp.selectors.comments import case_comments
from reviewapp.selectors.queue import escalated_for
from reviewapp.services.access import case_for_user
from reviewapp.services.comments import comment_add
from reviewapp.services.queue import case_claim_next, case_escalate
from tests.factories import make_cases, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(ml_model) -> Case:
    (case_id,) = make_cases(ml_model, 1, confidence=0.62)
    return Case.objects.select_related("ml_model").get(pk=case_id)


def test_escalation_note_becomes_the_first_comment(ml_model, reviewer, lead):
    """Escalating writes the note as the first comment, audited, so a lead can answer it."""
    make_cases(ml_model, 1, confidence=0.62)
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_escalate(case=claimed, actor=reviewer, note="  Ask @leo about this one.  ")
    case = Case.objects.select_related("ml_model").get(pk=claimed.pk)
    comment_add(case=case, author=lead, text="Looked at it: accept.")
    first, answer = case_comments(case)
    assert (first.author, first.text) == (reviewer, "Ask @leo about this one.")
    assert [person.username for person in first.mentions.all()] == ["leo"]
    assert answer.author == lead
    (row,) = escalated_for(ml_model=ml_model)
    assert row.comment_count == 2
    events = AuditEvent.objects.filter(target_id=str(case.pk), action="case.commented")
    assert events.count() == 2


def test_escalation_with_an_unstorable_note_writes_nothing(ml_model, reviewer):
    """A NUL in the escalation note refuses the escalation and its comment together."""
    make_cases(ml_model, 1, confidence=0.62)
    claimed = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    with pytest.raises(InvalidInput):
        case_escalate(case=claimed, actor=reviewer, note="bad \x00 note")
    assert Case.objects.get(pk=claimed.pk).status == "assigned"
    assert not Comment.objects.exists()


def test_mentions_resolve_only_to_members_of_the_models_team(
    case, reviewer, lead, other_team, auditor
):
    """@name mentions link team members only; unknown and outside names stay plain text."""
    make_user(Role.REVIEWER, team=other_team, username="olga")
    text = "@leo and @olga, also @nobody and @audrey; mail rita@example.com @rita."
    comment = comment_add(case=case, author=reviewer, text=text)
    assert sorted(p.username for p in comment.mentions.all()) == ["leo", "rita"]
    pieces = comment_pieces(comment.text, {"leo", "rita"})
    assert [p.text for p in pieces if p.mention] == ["@leo", "@rita"]
    assert "".join(p.text for p in pieces) == text


def test_comment_is_audited_without_its_text(case, reviewer):
    """The audit event records the comment's id, length and mentions, never its text."""
    comment = comment_add(case=case, author=reviewer, text="amount 1200.5 from DE looks odd")
    (event,) = AuditEvent.objects.filter(action="case.commented", target_id=str(case.pk))
    assert event.actor_id == reviewer.pk
    assert event.changes == {"comment_id": comment.pk, "chars": 31, "mentions": []}
    assert "1200" not in str(event.changes)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("   ", "Required."), ("a\x00b", "NUL"), ("\ud800", "surrogates"), ("x" * 5001, "5,000")],
)
def test_bad_text_is_refused(case, reviewer, text, problem):
    """Empty, NUL, lone surrogates and more than 5,000 characters are a 400."""
    with pytest.raises(InvalidInput) as info:
        comment_add(case=case, author=reviewer, text=text)
    assert info.value.status_code == 400
    assert problem in str(info.value.details)
    assert not Comment.objects.exists()


def test_who_may_comment(case, reviewer, lead, manager, model_owner, auditor, other_team):
    """The team's reviewers, leads, managers and owners may; auditors and outsiders may not."""
    outsider = make_user(Role.REVIEWER, team=other_team)
    allowed = [user_can_comment(u, case) for u in (reviewer, lead, manager, model_owner)]
    assert allowed == [True, True, True, True]
    assert not user_can_comment(auditor, case)
    assert not user_can_comment(outsider, case)


def test_auditor_is_refused_and_the_refusal_audited(case, auditor):
    """An auditor's comment is a 403, recorded as a permission denial; nothing is written."""
    with pytest.raises(PermissionDenied):
        comment_add(case=case, author=auditor, text="read-only")
    assert not Comment.objects.exists()
    denied = AuditEvent.objects.get(action="permission.denied", actor=auditor)
    assert denied.changes == {"attempted": "case.comment"}


def test_other_teams_reviewer_gets_404_from_the_gate(case, other_team):
    """A reviewer of another team cannot even reach the case (404, like a missing case)."""
    outsider = make_user(Role.REVIEWER, team=other_team)
    with pytest.raises(NotFound):
        case_for_user(user=outsider, case_id=case.pk, action="case.comment")
