"""The database refuses to remove audit entries, on SQLite too, and on PostgreSQL by
TRUNCATE as well (row triggers never see a TRUNCATE).

0002 let SQLite delete, and PostgreSQL truncate, because Django's test flush empties
tables that way. The test runner now lifts the triggers for its flush with
`tre.audit_rewrite.triggers_lifted`: DDL, which needs an owner of the table, as dropping
the triggers does. No setting or session flag lets a DELETE through: anything a test
runner could set, an attacker with the same connection could set too.
"""

from django.db import migrations

POSTGRESQL_UP = """
CREATE TRIGGER tre_audit_no_truncate
    BEFORE TRUNCATE ON tre_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION tre_audit_append_only();
"""
POSTGRESQL_DOWN = "DROP TRIGGER IF EXISTS tre_audit_no_truncate ON tre_auditevent;"
SQLITE_UP = """
CREATE TRIGGER tre_audit_no_delete BEFORE DELETE ON tre_auditevent
BEGIN SELECT RAISE(ABORT, 'audit events are append-only (DELETE refused)'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS tre_audit_no_delete;"


def _run(sql_by_vendor):
    def run(apps, schema_editor):
        sql = sql_by_vendor.get(schema_editor.connection.vendor)
        if sql:
            schema_editor.execute(sql, None)

    return run


class Migration(migrations.Migration):
    dependencies = [("tre", "0002_audit_append_only_triggers")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": POSTGRESQL_DOWN, "sqlite": SQLITE_DOWN}),
        )
    ]
