"""The two ways the audit table is rewritten by design: the migration that re-keys the
trail, and the test runner emptying its database between tests.

Everything else finds the table append-only: the ORM refuses, and triggers refuse UPDATE,
DELETE and (PostgreSQL) TRUNCATE in the database itself.
"""

from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from tre.audit import Digest, walk_chain
from tre.models import GENESIS_HASH, AuditChainHead, AuditEvent


class ChainBrokenError(Exception):
    """The trail does not verify, so it must not be rewritten."""


@contextmanager
def triggers_lifted(*, using: str = DEFAULT_DB_ALIAS):
    """The audit table's append-only triggers off, inside a transaction that puts them back
    (a rollback restores them too).

    For the two who rewrite the table by design: the migration that re-keys the trail,
    and the test runner emptying its database between tests. It is DDL and needs what an
    owner of the table has; a writer who has that can drop the triggers anyway, and is
    caught by the keyed chain and the checkpoints, not by the triggers."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE tre_auditevent DISABLE TRIGGER USER")
            yield
            cursor.execute("ALTER TABLE tre_auditevent ENABLE TRIGGER USER")
        elif connection.vendor == "sqlite":
            # SQLite cannot disable a trigger: drop each and recreate it from its own text.
            cursor.execute(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'trigger' AND tbl_name = 'tre_auditevent'"
            )
            triggers = cursor.fetchall()
            for name, _ in triggers:
                cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
            yield
            for _, sql in triggers:
                cursor.execute(sql)
        else:
            yield


def rehash_chain(
    *,
    verify_with: Digest,
    rewrite_with: Digest,
    events=AuditEvent,
    heads=AuditChainHead,
    using: str = DEFAULT_DB_ALIAS,
    batch_size: int = 1000,
) -> int:
    """Rewrite every entry's hash and link, and the head, from one hash function to another:
    what the migration to the keyed chain does (`unkeyed_hash` to `compute_hash`), and its
    reverse. Returns the number of entries rewritten.

    Only a trail intact under `verify_with` is rewritten (ChainBrokenError otherwise):
    rewriting a tampered trail would make its tampering verify. `events` and `heads` may
    be a migration's historical models."""
    with transaction.atomic(using=using):
        # Locked first: nothing is appended while the chain is checked and rewritten.
        heads._default_manager.using(using).select_for_update().filter(pk=1).first()
        report, _ = walk_chain(
            verify_with, events=events, heads=heads, using=using, batch_size=batch_size
        )
        if not report.is_intact:
            raise ChainBrokenError(
                f"The audit trail does not verify under the hash it was written with "
                f"({len(report.problems)} problem(s); the first: {report.problems[0]}). "
                "It was left as it is: rewriting its hashes would make the tampering "
                "verify. Investigate with `manage.py verify_audit_chain` of the release "
                "that wrote it (for the move to the keyed chain, the previous release) "
                "before migrating again."
            )
        with triggers_lifted(using=using):
            previous, last_sequence = GENESIS_HASH, -1
            while page := list(
                events._base_manager.using(using)
                .filter(sequence__gt=last_sequence)
                .order_by("sequence")[:batch_size]
            ):
                for event in page:
                    event.prev_hash = previous
                    event.entry_hash = previous = rewrite_with(event)
                # The base manager: the model's own refuses every update.
                events._base_manager.using(using).bulk_update(page, ["prev_hash", "entry_hash"])
                last_sequence = page[-1].sequence
            heads._base_manager.using(using).filter(pk=1).update(entry_hash=previous)
    return report.checked
