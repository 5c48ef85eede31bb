"""Migration operations for tables that keep taking writes while they are migrated."""

from django.contrib.postgres import operations as postgres_operations
from django.db import migrations


class AddIndexConcurrently(postgres_operations.AddIndexConcurrently):
    """A migration's index built without locking the table's writes on PostgreSQL (CREATE INDEX
    CONCURRENTLY: the audit log keeps taking events while a million-row index is built); a plain
    CREATE INDEX elsewhere (SQLite in development). The migration must be `atomic = False`."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state,
                                                     to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state,
                                                      to_state)
