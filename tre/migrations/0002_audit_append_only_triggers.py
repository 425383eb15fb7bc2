"""The database itself refuses to change audit entries, not only the ORM.

PostgreSQL refuses UPDATE and DELETE on the audit table. SQLite (development only)
refuses UPDATE; DELETE stays possible there because Django's test flush empties
tables with DELETE, while on PostgreSQL it uses TRUNCATE, which row triggers ignore.
"""

from django.db import migrations

POSTGRESQL_UP = """
CREATE OR REPLACE FUNCTION tre_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tre_audit_append_only
    BEFORE UPDATE OR DELETE ON tre_auditevent
    FOR EACH ROW EXECUTE FUNCTION tre_audit_append_only();
"""
POSTGRESQL_DOWN = """
DROP TRIGGER IF EXISTS tre_audit_append_only ON tre_auditevent;
DROP FUNCTION IF EXISTS tre_audit_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER tre_audit_append_only BEFORE UPDATE ON tre_auditevent
BEGIN SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS tre_audit_append_only;"


def _run(sql_by_vendor):
    def run(apps, schema_editor):
        sql = sql_by_vendor.get(schema_editor.connection.vendor)
        if sql:
            schema_editor.execute(sql, None)  # None: no placeholders, so % is literal

    return run


class Migration(migrations.Migration):
    dependencies = [("tre", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": POSTGRESQL_DOWN, "sqlite": SQLITE_DOWN}),
        )
    ]
