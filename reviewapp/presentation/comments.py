"""The conversation on a case, shaped for the pages: each comment as pieces of text, where a
``@username`` that named a team member is marked as a mention (the template escapes every
piece: no HTML from a comment ever reaches the page), and whether it mentions the viewer."""

from dataclasses import dataclass
from datetime import datetime

from reviewapp.models import Comment, User
from reviewapp.models.comments import MAX_COMMENT_CHARS, MENTION_RE


@dataclass(frozen=True)
class Piece:
    text: str
    mention: bool = False


@dataclass(frozen=True)
class CommentRow:
    pk: int
    author: str
    created_at: datetime
    pieces: list[Piece]
    mentions_me: bool
    is_mine: bool


def comment_pieces(text: str, mentioned: set[str]) -> list[Piece]:
    """TEXT split into plain pieces and mentions of the usernames in MENTIONED."""
    pieces: list[Piece] = []
    at = 0
    for match in MENTION_RE.finditer(text):
        if match.group(1) not in mentioned:
            continue
        if match.start() > at:
            pieces.append(Piece(text[at : match.start()]))
        pieces.append(Piece(match.group(0), mention=True))
        at = match.end()
    if at < len(text):
        pieces.append(Piece(text[at:]))
    return pieces


def comment_rows(comments: list[Comment], *, user: User) -> list[CommentRow]:
    """The comments (with ``author`` and ``mentions`` fetched) as the page shows them."""
    rows = []
    for comment in comments:
        mentioned = list(comment.mentions.all())
        rows.append(
            CommentRow(
                pk=comment.pk,
                author=comment.author.get_full_name() or comment.author.username,
                created_at=comment.created_at,
                pieces=comment_pieces(comment.text, {person.username for person in mentioned}),
                mentions_me=any(person.pk == user.pk for person in mentioned),
                is_mine=comment.author_id == user.pk,
            )
        )
    return rows


def comments_context(
    comments: list[Comment], *, user: User, case_id: int, can_comment: bool, back: str
) -> dict:
    """What the comments partial needs (``templates/reviewapp/cases/_comments.html``)."""
    return {
        "comment_rows": comment_rows(comments, user=user),
        "comment_case_id": case_id,
        "can_comment": can_comment,
        "comment_back": back,
        "comment_max_chars": MAX_COMMENT_CHARS,
    }
