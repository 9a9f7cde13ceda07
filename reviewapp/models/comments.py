"""The conversation on a case: comments by the people of the model's team (reviewers, leads,
managers, model owners), with ``@username`` mentions of team members. An escalation note is
the first comment of its case."""

import re

from django.conf import settings
from django.db import models
from django.utils import timezone

MAX_COMMENT_CHARS = 5_000


class Comment(models.Model):
    """One comment on a case, as its author wrote it (stored raw, rendered escaped).
    ``mentions`` are the team members its ``@username`` words named when it was written."""

    case = models.ForeignKey("reviewapp.Case", on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="case_comments"
    )
    text = models.TextField()
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="case_comment_mentions"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["case", "created_at", "id"]
        indexes = [models.Index(fields=["case", "created_at"], name="comment_case_time_idx")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(text=""), name="comment_text_not_empty"),
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} on case {self.case_id}"


# ``@username`` where the @ starts a word (not an e-mail address); a trailing dot is
# punctuation, not part of the name (Django usernames may hold letters, digits and .+-_@).
MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.+-]*\w)")
