"""The append-only audit log and the seals that chain it."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One recorded action: who, what, on which object, when and from where.
    Rows are never updated or deleted (a PostgreSQL trigger refuses both)."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # audit_actor_idx leads with it
    )
    actor_label = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    # Every recorded field, in one order: the digest's canonical form, the verifier's rows
    # and the audit export's columns all read this.
    RECORDED_FIELDS = (
        "id",
        "occurred_at",
        "actor_id",
        "actor_label",
        "actor_role",
        "action",
        "target_type",
        "target_id",
        "changes",
        "ip",
        "user_agent",
        "request_id",
    )

    class Meta:
        # The log is read newest first, one filter at a time: each index ends with the id, so
        # a page of one action, actor or object is a backward range scan of 51 entries
        # however large the log and however rare or common the value.
        indexes = [
            models.Index(fields=["action", "id"], name="audit_action_idx"),
            models.Index(fields=["actor", "id"], name="audit_actor_idx"),
            # People the log no longer knows by id are found by the name recorded then.
            models.Index(fields=["actor_label", "id"], name="audit_actor_label_idx"),
            models.Index(fields=["target_type", "target_id", "id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_label or 'system'}"


class AuditSeal(models.Model):
    """A link of the hash chain: covers audit events first_event_id..last_event_id (a
    contiguous id range) with each event's digest, and the previous seal's hash."""

    sealed_at = models.DateTimeField(default=timezone.now)
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_seal"
    )
    first_event_id = models.BigIntegerField()
    last_event_id = models.BigIntegerField()
    event_digests = models.JSONField(help_text="[[event id, sha256 hex], ...] in id order.")
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            # Two sealers racing cannot fork the chain: a range starts once.
            models.UniqueConstraint(fields=["first_event_id"], name="audit_seal_first_unique"),
        ]
