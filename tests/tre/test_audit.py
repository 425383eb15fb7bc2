import importlib
import json
import stat
import threading
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.test import RequestFactory

from tre import audit, crypto, vault
from tre.audit_rewrite import ChainBrokenError, rehash_chain, triggers_lifted
from tre.models import GENESIS_HASH, AppendOnlyError, AuditChainHead, AuditEvent

pytestmark = pytest.mark.django_db

WRONG_KEY = b"\x07" * 32


@contextmanager
def database_writer():
    """A cursor for tampering as an owner of the tables would: the append-only triggers
    dropped first, then raw SQL. (The test's transaction brings the triggers back.)"""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER tre_audit_append_only ON tre_auditevent")
            cursor.execute("DROP TRIGGER tre_audit_no_truncate ON tre_auditevent")
        else:
            cursor.execute("DROP TRIGGER tre_audit_append_only")
            cursor.execute("DROP TRIGGER tre_audit_no_delete")
        yield cursor


def _bypass_append_only(sql, params):
    with database_writer() as cursor:
        cursor.execute(sql, params)


def _rechain(cursor, digest):
    """Recompute every entry's link and hash, and the head, with `digest`: how a writer
    covers their tracks after editing or removing entries."""
    previous, sequence = GENESIS_HASH, 0
    for event in AuditEvent.objects.order_by("sequence"):
        event.prev_hash = previous
        previous, sequence = digest(event), event.sequence
        cursor.execute(
            "UPDATE tre_auditevent SET prev_hash = %s, entry_hash = %s WHERE id = %s",
            [event.prev_hash, previous, event.pk],
        )
    cursor.execute(
        "UPDATE tre_auditchainhead SET sequence = %s, entry_hash = %s", [sequence, previous]
    )


def _forged_with_the_wrong_key(event):
    return audit.compute_hash(event, key=WRONG_KEY)


@pytest.fixture
def trail(workspace, site_admin):
    return [
        audit.record(action="test.first", by=site_admin, target=workspace, details={"n": 1}),
        audit.record(action="test.second", by=site_admin, details={"n": 2}),
        audit.record(action="test.third", by=None, details={"n": 3}),
    ]


@pytest.fixture
def long_trail(db):
    return [audit.record(action="test.long", details={"n": n}) for n in range(40)]


def test_entries_chain_onto_each_other(trail):
    first, second, third = trail
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.entry_hash
    assert third.prev_hash == second.entry_hash
    assert [event.sequence for event in trail] == [1, 2, 3]
    assert AuditChainHead.objects.get().entry_hash == third.entry_hash


def test_entry_records_who_what_which_and_workspace(trail, workspace, site_admin):
    first = AuditEvent.objects.get(sequence=1)
    assert first.actor == site_admin
    assert first.actor_label == "ada"
    assert first.action == "test.first"
    assert (first.target_type, first.target_id) == ("workspaces.workspace", str(workspace.pk))
    assert first.target_label == "Cardiac study"
    assert first.workspace == workspace
    assert first.created_at is not None


def test_origin_comes_from_the_request(db):
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT="Firefox")
    event = audit.record(action="test.origin", request=request)
    assert (event.ip_address, event.user_agent) == ("192.0.2.10", "Firefox")


def test_forwarded_for_is_trusted_only_as_deep_as_configured(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7"
    )
    settings.TRE_TRUSTED_PROXY_COUNT = 0
    assert audit.origin_from_request(request).ip_address == "10.0.0.2"
    settings.TRE_TRUSTED_PROXY_COUNT = 1
    # One proxy of ours: it appended the address it saw; anything left of it is a claim.
    assert audit.origin_from_request(request).ip_address == "198.51.100.7"


def test_middleware_supplies_the_origin_to_services(client, owner, workspace):
    client.force_login(owner)
    user = get_user_model().objects.create_user("newbie", password="x" * 12)
    client.post(
        f"/workspaces/{workspace.slug}/members/",
        {"user": user.username, "roles": ["researcher"]},
        REMOTE_ADDR="192.0.2.44",
    )
    event = AuditEvent.objects.get(action="membership.added")
    assert event.ip_address == "192.0.2.44"


def test_verify_passes_on_an_intact_trail(trail):
    report = audit.verify_chain()
    assert report.is_intact, report.problems
    assert report.checked == 3
    assert (report.head_sequence, report.head_hash) == (3, trail[-1].entry_hash)


def test_each_hash_is_keyed_by_the_audit_key(trail):
    first = AuditEvent.objects.get(sequence=1)
    assert first.entry_hash == audit.compute_hash(first, key=vault.audit_key())
    assert first.entry_hash != audit.compute_hash(first, key=WRONG_KEY)
    assert first.entry_hash != audit.unkeyed_hash(first)


def test_the_trail_verifies_only_under_its_own_key(trail):
    report = audit.verify_chain(key=WRONG_KEY)
    assert not report.is_intact
    assert "entry #1: its content does not match its hash" in report.problems


def test_verify_passes_on_an_empty_trail(db):
    assert audit.verify_chain().is_intact


def test_the_orm_refuses_to_update_or_delete(trail):
    event = trail[0]
    event.action = "test.rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="test.rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_the_database_refuses_a_raw_update(trail):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE tre_auditevent SET action = %s", ["test.rewritten"])


@pytest.mark.parametrize(
    "sql", ["DELETE FROM tre_auditevent", "DELETE FROM tre_auditevent WHERE sequence = 2"]
)
def test_the_database_refuses_a_raw_delete(trail, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
def test_postgresql_refuses_a_truncate(trail):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE tre_auditevent")


def test_the_triggers_are_back_once_lifted(trail):
    with triggers_lifted(), connection.cursor() as cursor:
        cursor.execute("UPDATE tre_auditevent SET action = 'test.lifted' WHERE sequence = 1")
        cursor.execute("DELETE FROM tre_auditevent WHERE sequence = 3")
    for sql in ["UPDATE tre_auditevent SET action = 'x'", "DELETE FROM tre_auditevent"]:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)


def test_the_triggers_are_back_when_the_work_inside_fails(trail):
    with pytest.raises(RuntimeError), triggers_lifted():
        raise RuntimeError("the rewrite failed")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM tre_auditevent")


def test_an_edited_entry_is_detected(trail):
    _bypass_append_only("UPDATE tre_auditevent SET details = %s WHERE sequence = 2", ['{"n": 999}'])
    report = audit.verify_chain()
    assert not report.is_intact
    assert report.problems == ["entry #2: its content does not match its hash"]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(trail):
    event = AuditEvent.objects.get(sequence=2)
    event.actor_label = "someone-else"
    forged_hash = audit.compute_hash(event)
    _bypass_append_only(
        "UPDATE tre_auditevent SET actor_label = %s, entry_hash = %s WHERE sequence = 2",
        ["someone-else", forged_hash],
    )
    problems = audit.verify_chain().problems
    assert "entry #3: does not link to the entry before it" in problems


def test_a_removed_entry_is_detected(trail):
    _bypass_append_only("DELETE FROM tre_auditevent WHERE sequence = 2", [])
    problems = audit.verify_chain().problems
    assert any("expected #2" in problem for problem in problems)
    assert "entry #3: does not link to the entry before it" in problems


def test_entries_cut_off_the_end_are_detected(trail):
    _bypass_append_only("DELETE FROM tre_auditevent WHERE sequence = 3", [])
    problems = audit.verify_chain().problems
    assert len(problems) == 1
    assert "chain head records #3 but the trail ends at #2" in problems[0]


@pytest.mark.parametrize(
    "forge", [audit.unkeyed_hash, _forged_with_the_wrong_key], ids=["unkeyed", "wrong-key"]
)
def test_an_edit_rechained_without_the_key_is_detected(trail, forge):
    with database_writer() as cursor:
        cursor.execute("UPDATE tre_auditevent SET actor_label = 'eve' WHERE sequence = 2")
        _rechain(cursor, forge)
    report = audit.verify_chain()
    # Every link and the head agree; only the key gives the forgery away, on every entry.
    assert report.problems == [
        f"entry #{n}: its content does not match its hash" for n in (1, 2, 3)
    ]


def test_the_old_attack_is_detected(long_trail):
    # What went unnoticed with the unkeyed chain: 15 entries removed from the middle,
    # the rest renumbered and rechained, and the head set to match.
    with database_writer() as cursor:
        cursor.execute("DELETE FROM tre_auditevent WHERE sequence BETWEEN 11 AND 25")
        cursor.execute("UPDATE tre_auditevent SET sequence = sequence - 15 WHERE sequence > 25")
        _rechain(cursor, audit.unkeyed_hash)
    assert audit.walk_chain(audit.unkeyed_hash)[0].is_intact  # what the old check saw
    report = audit.verify_chain()
    assert report.checked == 25
    assert len(report.problems) == 25
    assert all("its content does not match its hash" in problem for problem in report.problems)


def test_entries_cut_off_the_end_with_the_head_moved_back_need_a_checkpoint(long_trail):
    checkpoint = audit.make_checkpoint()
    # No key needed: every entry left is genuine, and so is the head's new value.
    with database_writer() as cursor:
        cursor.execute("DELETE FROM tre_auditevent WHERE sequence > 25")
        cursor.execute(
            "UPDATE tre_auditchainhead SET sequence = 25, entry_hash = %s",
            [long_trail[24].entry_hash],
        )
    assert audit.verify_chain().is_intact
    assert audit.verify_chain(checkpoints=[checkpoint]).problems == [
        f"checkpoint of #40 taken {checkpoint.taken_at}: entry #40 is gone; the trail now "
        "ends at #25 (entries were cut off its end and the head moved back)"
    ]


def test_a_holder_of_the_key_cannot_rewrite_what_a_checkpoint_covers(trail):
    checkpoint = audit.make_checkpoint()
    with database_writer() as cursor:
        cursor.execute("UPDATE tre_auditevent SET actor_label = 'eve' WHERE sequence = 2")
        _rechain(cursor, audit.compute_hash)
    assert audit.verify_chain().is_intact
    assert audit.verify_chain(checkpoints=[checkpoint]).problems == [
        f"checkpoint of #3 taken {checkpoint.taken_at}: entry #3 no longer has the hash it "
        "had then (the trail up to it was rewritten)"
    ]


def test_checkpoints_of_earlier_entries_and_of_the_empty_trail_hold(db):
    empty = audit.make_checkpoint()
    assert (empty.sequence, empty.entry_hash) == (0, GENESIS_HASH)
    audit.record(action="test.one")
    one = audit.make_checkpoint()
    audit.record(action="test.two")
    report = audit.verify_chain(checkpoints=[empty, one, audit.make_checkpoint()])
    assert report.is_intact, report.problems


def test_a_checkpoint_round_trips_and_names_its_key(trail):
    checkpoint = audit.make_checkpoint()
    assert audit.parse_checkpoint(checkpoint.to_json()) == checkpoint
    fields = json.loads(checkpoint.to_json())
    assert fields["sequence"] == 3
    assert fields["entry_hash"] == trail[-1].entry_hash
    assert fields["key_id"] == crypto.key_id(vault.audit_key())
    assert set(fields) == {"format", "sequence", "entry_hash", "taken_at", "key_id", "mac"}


def _tampered(checkpoint, **changes):
    fields = json.loads(checkpoint.to_json())
    fields.update(changes)
    return json.dumps(fields)


def test_a_forged_checkpoint_is_refused(long_trail):
    genuine = audit.make_checkpoint()
    moved_back = _tampered(genuine, sequence=25, entry_hash=long_trail[24].entry_hash)
    with pytest.raises(audit.CheckpointError, match="MAC does not match: it was altered or forged"):
        audit.parse_checkpoint(moved_back)
    made_with_another_key = audit.make_checkpoint(key=WRONG_KEY).to_json()
    with pytest.raises(audit.CheckpointError, match="not made with this installation's audit key"):
        audit.parse_checkpoint(made_with_another_key)
    claiming_our_key = _tampered(audit.make_checkpoint(key=WRONG_KEY), key_id=genuine.key_id)
    with pytest.raises(audit.CheckpointError, match="MAC does not match"):
        audit.parse_checkpoint(claiming_our_key)


@pytest.mark.parametrize(
    "text",
    ["", "[]", "{}", '{"format": "tre-audit-checkpoint-1"}', '{"sequence": 1}', "not json"],
)
def test_what_is_not_a_checkpoint_is_refused(db, text):
    with pytest.raises(audit.CheckpointError, match="not an audit checkpoint"):
        audit.parse_checkpoint(text)


def test_checkpoint_command_prints_a_checkpoint(trail, capsys):
    call_command("audit_checkpoint")
    checkpoint = audit.parse_checkpoint(capsys.readouterr().out)
    assert (checkpoint.sequence, checkpoint.entry_hash) == (3, trail[-1].entry_hash)


def test_checkpoint_command_writes_a_private_file_and_never_overwrites(trail, tmp_path, capsys):
    path = tmp_path / "audit-checkpoint.json"
    call_command("audit_checkpoint", "-o", str(path))
    assert f"Checkpoint of #3 written to {path}." in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = path.read_text()
    assert audit.read_checkpoint(path).sequence == 3
    audit.record(action="test.fourth")
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("audit_checkpoint", "-o", str(path))
    assert path.read_text() == written
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("audit_checkpoint", "-o", str(tmp_path / "no-such-directory" / "x.json"))


def test_verify_command_checks_checkpoints(long_trail, tmp_path, capsys):
    early, late = tmp_path / "early.json", tmp_path / "late.json"
    call_command("audit_checkpoint", "-o", str(early))
    audit.record(action="test.later")
    call_command("audit_checkpoint", "-o", str(late))
    call_command("verify_audit_chain", "--checkpoint", str(early), "--checkpoint", str(late))
    output = capsys.readouterr().out
    assert "intact: 41 entries, head #41" in output
    assert "2 checkpoint(s) hold" in output

    with database_writer() as cursor:
        cursor.execute("DELETE FROM tre_auditevent WHERE sequence > 30")
        cursor.execute(
            "UPDATE tre_auditchainhead SET sequence = 30, entry_hash = %s",
            [long_trail[29].entry_hash],
        )
    call_command("verify_audit_chain")  # the chain alone cannot tell
    with pytest.raises(CommandError, match="tampered with: 2 problem"):
        call_command("verify_audit_chain", "--checkpoint", str(early), str(late))
    errors = capsys.readouterr().err
    assert "checkpoint of #40" in errors
    assert "checkpoint of #41" in errors


def test_verify_command_refuses_a_forged_checkpoint(trail, tmp_path):
    forged = tmp_path / "forged.json"
    forged.write_text(_tampered(audit.make_checkpoint(), sequence=2))
    with pytest.raises(CommandError, match=r"forged.json: refused: its MAC does not match"):
        call_command("verify_audit_chain", "--checkpoint", str(forged))
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("verify_audit_chain", "--checkpoint", str(tmp_path / "missing.json"))


def test_the_migration_keys_an_intact_unkeyed_trail(trail):
    keyed = [event.entry_hash for event in trail]
    # The trail as the previous release left it: chained with plain SHA-256.
    rehash_chain(verify_with=audit.compute_hash, rewrite_with=audit.unkeyed_hash)
    assert audit.walk_chain(audit.unkeyed_hash)[0].is_intact
    assert not audit.verify_chain().is_intact

    _run_migration_0004_forwards()

    assert audit.verify_chain().is_intact
    assert list(AuditEvent.objects.order_by("sequence").values_list("entry_hash", flat=True)) == (
        keyed
    )
    assert AuditChainHead.objects.get().entry_hash == keyed[-1]
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE tre_auditevent SET action = 'x'")


def test_the_migration_refuses_to_key_a_tampered_trail(trail):
    rehash_chain(verify_with=audit.compute_hash, rewrite_with=audit.unkeyed_hash)
    _bypass_append_only("UPDATE tre_auditevent SET actor_label = 'eve' WHERE sequence = 2", [])
    before = list(AuditEvent.objects.order_by("sequence").values_list("entry_hash", flat=True))

    with pytest.raises(ChainBrokenError) as refusal:
        _run_migration_0004_forwards()

    message = str(refusal.value)
    assert "entry #2: its content does not match its hash" in message
    assert "verify_audit_chain` of the release that wrote it" in message
    assert "the previous release" in message
    after = list(AuditEvent.objects.order_by("sequence").values_list("entry_hash", flat=True))
    assert after == before


def test_the_migration_keys_an_empty_trail(db):
    _run_migration_0004_forwards()
    assert audit.verify_chain().is_intact


def _run_migration_0004_forwards():
    """The migration's own code, with the historical models it gets from `migrate`."""
    migration = importlib.import_module("tre.migrations.0004_audit_keyed_chain")
    state = MigrationLoader(connection).project_state(("tre", "0004_audit_keyed_chain"))
    forwards = migration.Migration.operations[0].code
    forwards(state.apps, SimpleNamespace(connection=connection))


def test_verify_command_fails_loudly_on_tampering(trail, capsys):
    call_command("verify_audit_chain")
    assert "intact: 3 entries, head #3" in capsys.readouterr().out
    _bypass_append_only("UPDATE tre_auditevent SET action = 'x' WHERE sequence = 1", [])
    with pytest.raises(CommandError, match="tampered"):
        call_command("verify_audit_chain")


def test_an_entry_rolls_back_with_its_transaction(db):
    def failing_action():
        with transaction.atomic():
            audit.record(action="test.doomed")
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        failing_action()
    assert not AuditEvent.objects.exists()
    audit.record(action="test.after")
    assert audit.verify_chain().is_intact


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL-only behaviour")
def test_concurrent_writers_never_fork_the_chain():
    errors = []

    def write(worker):
        try:
            for n in range(15):
                audit.record(action="test.concurrent", details={"worker": worker, "n": n})
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    report = audit.verify_chain()
    assert report.is_intact, report.problems
    assert report.checked == 60
