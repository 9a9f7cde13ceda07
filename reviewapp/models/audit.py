"""The append-only audit log and the seals that chain it."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One recorded action: who, what, on which object, when and from where.
    Rows are never updated or deleted (a PostgreSQL trigger refuses both)."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

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
