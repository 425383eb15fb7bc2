import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from tre import audit
from tre.models import GENESIS_HASH, AppendOnlyError, AuditChainHead, AuditEvent

pytestmark = pytest.mark.django_db


def _bypass_append_only(sql, params):
    """Tamper as an attacker with database access would: raw SQL, triggers off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE tre_auditevent DISABLE TRIGGER tre_audit_append_only")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS tre_audit_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE tre_auditevent ENABLE TRIGGER tre_audit_append_only")


@pytest.fixture
def trail(workspace, site_admin):
    return [
        audit.record(action="test.first", by=site_admin, target=workspace, details={"n": 1}),
        audit.record(action="test.second", by=site_admin, details={"n": 2}),
        audit.record(action="test.third", by=None, details={"n": 3}),
    ]


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
    assert report.head_hash == trail[-1].entry_hash


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


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL-only behaviour")
def test_postgresql_refuses_a_raw_delete(trail):
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


def test_verify_command_fails_loudly_on_tampering(trail, capsys):
    call_command("verify_audit_chain")
    assert "intact: 3 entries" in capsys.readouterr().out
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
