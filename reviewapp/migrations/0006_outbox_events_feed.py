"""Alert notifications in the outbox (WebhookDelivery.alert) and the feed's non-decision
events (FeedEvent, e.g. ``case.expired``).

On PostgreSQL FeedEvent rows are stamped with their writing transaction's id by the same
trigger function as decisions (migration 0003), so the feed orders both by (feed_txid, ...)
without gaps or repeats. SQLite needs no trigger: the service records the model's greatest
decision id instead (writers are serialised there)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # reviewapp_decision_stamp_txid() (0003) sets NEW.feed_txid: it serves any such table.
    schema_editor.execute(
        "CREATE TRIGGER reviewapp_feedevent_txid BEFORE INSERT ON reviewapp_feedevent "
        "FOR EACH ROW EXECUTE FUNCTION reviewapp_decision_stamp_txid()",
        params=None,
    )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS reviewapp_feedevent_txid ON reviewapp_feedevent")


class Migration(migrations.Migration):
    dependencies = [("reviewapp", "0005_case_job_indexes")]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="alert",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="reviewapp.alert",
            ),
        ),
        migrations.CreateModel(
            name="FeedEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("event", models.CharField(max_length=64)),
                ("payload", models.JSONField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "feed_txid",
                    models.BigIntegerField(
                        blank=True,
                        help_text="PostgreSQL transaction id (trigger), as on Decision.",
                        null=True,
                    ),
                ),
                (
                    "feed_after_decision",
                    models.BigIntegerField(
                        blank=True,
                        help_text=(
                            "SQLite: the model's greatest decision id when written "
                            "(the feed's order)."
                        ),
                        null=True,
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="feed_events",
                        to="reviewapp.case",
                    ),
                ),
                (
                    "ml_model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="feed_events",
                        to="reviewapp.mlmodel",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["ml_model", "feed_txid", "id"], name="feedevent_txid_idx"
                    ),
                    models.Index(
                        fields=["ml_model", "feed_after_decision", "id"],
                        name="feedevent_seq_idx",
                    ),
                ],
            },
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
