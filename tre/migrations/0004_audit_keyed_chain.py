"""Re-key an existing audit trail: every entry's hash becomes an HMAC under the audit key.

Only a trail that still verifies under the unkeyed SHA-256 of earlier releases is
rewritten; a broken one stops the migration with a message, so that tampering done
before the move is not laundered into a chain that verifies. Stop the web server and
the workers first: an old process appending an unkeyed entry afterwards breaks the chain.
"""

from django.db import migrations

from tre.audit import compute_hash, unkeyed_hash
from tre.audit_rewrite import rehash_chain


def _rehash(verify_with, rewrite_with):
    def run(apps, schema_editor):
        rehash_chain(
            verify_with=verify_with,
            rewrite_with=rewrite_with,
            events=apps.get_model("tre", "AuditEvent"),
            heads=apps.get_model("tre", "AuditChainHead"),
            using=schema_editor.connection.alias,
        )

    return run


class Migration(migrations.Migration):
    dependencies = [("tre", "0003_audit_refuse_delete_and_truncate")]

    operations = [
        migrations.RunPython(
            _rehash(unkeyed_hash, compute_hash),
            # Back to the unkeyed chain the previous release verifies.
            _rehash(compute_hash, unkeyed_hash),
        )
    ]
