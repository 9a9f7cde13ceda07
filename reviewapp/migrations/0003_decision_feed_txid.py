"""On PostgreSQL, stamp each decision with its writing transaction's id.

The decision feed only returns decisions whose transaction is older than every transaction
still running (pg_snapshot_xmin), ordered by (feed_txid, id): a decision that commits late can
never appear behind a cursor a client already holds, so the feed has no gaps or repeats.
SQLite serialises writers, so there the id order alone is enough."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION reviewapp_decision_stamp_txid() RETURNS trigger AS $$
BEGIN
    NEW.feed_txid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    schema_editor.execute(
        "CREATE TRIGGER reviewapp_decision_txid BEFORE INSERT ON reviewapp_decision "
        "FOR EACH ROW EXECUTE FUNCTION reviewapp_decision_stamp_txid()",
        params=None,
    )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS reviewapp_decision_txid ON reviewapp_decision")
    schema_editor.execute("DROP FUNCTION IF EXISTS reviewapp_decision_stamp_txid()")


class Migration(migrations.Migration):
    dependencies = [("reviewapp", "0002_audit_append_only")]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
