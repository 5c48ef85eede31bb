from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION tenants_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % of tenants_auditevent rejected', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenants_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON tenants_auditevent
    FOR EACH ROW EXECUTE FUNCTION tenants_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS tenants_auditevent_no_update_delete ON tenants_auditevent;
DROP FUNCTION IF EXISTS tenants_auditevent_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    """On PostgreSQL, the database itself refuses to change or delete an audit event.

    TRUNCATE is left to the table owner on purpose (test databases are flushed with it); the
    portal's own database role should not own the table in production (see docs/operations.md).
    """

    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
