"""Indexes for a log of 10^8 events and 10^7 cases (issue #11): the audit log's filters end
with the id (newest-first pages are backward range scans), and the retention job finds due
cases through partial indexes on their retention clocks.

On PostgreSQL the indexes are built with CREATE INDEX CONCURRENTLY and the old ones dropped
with DROP INDEX CONCURRENTLY, so an upgrade does not block intake, reviews or the audit log
while a large table is indexed. The migration is not atomic; run again after an
interruption, it keeps the indexes already built and rebuilds a cut-off one. The new indexes
are built before the ones they replace are dropped."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex, RemoveIndex


class AddIndexOnline(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL; a plain CREATE INDEX elsewhere (SQLite).

    A non-atomic migration interrupted midway is run again from its first operation: an
    index already built is kept, and an invalid one (a build cut off) is dropped and built
    again, so the re-run goes through."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
                [self.index.name],
            )
            row = cursor.fetchone()
        if row is not None and row[0]:
            return None
        if row is not None:
            quoted = schema_editor.quote_name(self.index.name)
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quoted}")
        return super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexOnline(RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL; a plain DROP INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def _retention_index(clock: str, name: str, status: str) -> models.Index:
    return models.Index(
        fields=["ml_model", clock, "id"],
        condition=models.Q(("redacted_at__isnull", True), ("status", status)),
        name=f"case_retention_{name}_idx",
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reviewapp", "0014_round3_schema"),
    ]

    operations = [
        AddIndexOnline(
            model_name="auditevent",
            index=models.Index(fields=["action", "id"], name="audit_action_idx"),
        ),
        AddIndexOnline(
            model_name="auditevent",
            index=models.Index(fields=["actor", "id"], name="audit_actor_idx"),
        ),
        AddIndexOnline(
            model_name="auditevent",
            index=models.Index(fields=["actor_label", "id"], name="audit_actor_label_idx"),
        ),
        AddIndexOnline(
            model_name="auditevent",
            index=models.Index(fields=["target_type", "target_id", "id"], name="audit_object_idx"),
        ),
        AddIndexOnline(
            model_name="case", index=_retention_index("decided_at", "decided", "decided")
        ),
        AddIndexOnline(
            model_name="case", index=_retention_index("created_at", "auto", "auto_approved")
        ),
        AddIndexOnline(
            model_name="case", index=_retention_index("expired_at", "expired", "expired")
        ),
        # The indexes the new ones replace (each led the new one's columns).
        RemoveIndexOnline(model_name="auditevent", name="audit_target_idx"),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
