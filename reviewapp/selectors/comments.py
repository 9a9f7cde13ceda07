"""Reads for the conversation on a case."""

from collections.abc import Iterable

from reviewapp.models import Case, Comment, User


def case_comments(case: Case) -> list[Comment]:
    """The case's comments, oldest first, with their authors and mentioned people (three
    queries whatever the number of comments)."""
    return list(
        Comment.objects.filter(case=case)
        .select_related("author")
        .prefetch_related("mentions")
        .order_by("created_at", "id")
    )


def team_members_named(*, team_id: int, usernames: Iterable[str]) -> list[User]:
    """The active members of the team among USERNAMES (exact, case-sensitive names)."""
    names = set(usernames)
    if not names:
        return []
    return list(
        User.objects.filter(
            memberships__team_id=team_id, username__in=names, is_active=True
        ).distinct()
    )
