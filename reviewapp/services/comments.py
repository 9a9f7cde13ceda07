"""The conversation on a case: people of the model's team write comments, and mention each
other with ``@username`` (resolved against the team's members; other names stay plain text).
An escalation note is the case's first comment (``services.queue.case_escalate`` writes it in
its own transaction through ``escalation_comment_write``), so that a lead can answer it.

Every comment is audited (``case.commented``) with its id, length and the people it
mentions, never its text: a comment may quote the case's input."""

from django.db import transaction

from reviewapp.errors import InvalidInput
from reviewapp.models import Case, Comment, User
from reviewapp.models.comments import MAX_COMMENT_CHARS, MENTION_RE
from reviewapp.permissions import user_can_comment
from reviewapp.selectors.comments import team_members_named
from reviewapp.services.access import refusals_audited, refuse
from reviewapp.services.audit import audit_record
from reviewapp.validation import text_problem


def comment_text_clean(text: str) -> str:
    """The comment's text, stripped; 400 when empty, too long, or not storable text."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Write a comment first.", details={"text": ["Required."]})
    if problem := text_problem(text):
        raise InvalidInput(f"text: {problem}", details={"text": [problem]})
    if len(text) > MAX_COMMENT_CHARS:
        message = f"At most {MAX_COMMENT_CHARS:,} characters."
        raise InvalidInput(f"text: {message}", details={"text": [message]})
    return text


def _comment_write(*, case: Case, author: User, text: str) -> Comment:
    """Write the comment, its mentions and its audit event (in the caller's transaction)."""
    comment = Comment.objects.create(case=case, author=author, text=text)
    names = {match.group(1) for match in MENTION_RE.finditer(text)}
    mentioned = team_members_named(team_id=case.ml_model.team_id, usernames=names)
    if mentioned:
        comment.mentions.add(*mentioned)
    comment.mentioned = mentioned  # for the caller's response, without another query
    audit_record(
        actor=author,
        action="case.commented",
        target=case,
        changes={
            "comment_id": comment.pk,
            "chars": len(text),
            "mentions": sorted(user.username for user in mentioned),
        },
    )
    return comment


@refusals_audited
@transaction.atomic
def comment_add(*, case: Case, author: User, text: str) -> Comment:
    """AUTHOR comments on CASE (403 unless they may: ``permissions.user_can_comment``)."""
    refuse(
        user_can_comment(author, case),
        user=author,
        action="case.comment",
        target_type="case",
        target_id=case.pk,
    )
    return _comment_write(case=case, author=author, text=comment_text_clean(text))


def escalation_comment_write(*, case: Case, author: User, note: str) -> Comment:
    """The escalation note as the case's first comment: call inside ``case_escalate``'s
    transaction, which has already checked who escalates."""
    return _comment_write(case=case, author=author, text=comment_text_clean(note))
