import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from tests.factories import admissions_csv, census_csv, upload_of
from tre import vault
from tre.models import AuditEvent
from workspaces import services
from workspaces.models import (
    DataKey,
    Dataset,
    DatasetVersion,
    EncryptedFile,
    SyntheticSample,
    Workspace,
)
from workspaces.services.datasets import read_table, suggested_decisions

pytestmark = pytest.mark.django_db


def run_storage_clean_up(callbacks):
    """Run the on-commit callbacks that delete ciphertext; not the one that queues a
    synthetic sample (the integration tests run that against a real worker)."""
    from workspaces.services.datasets import queue_synthesis

    for callback in callbacks:
        if getattr(callback, "func", None) is not queue_synthesis:
            callback()


def stored_files(root):
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def ingest(workspace, checker, content=None, name="admissions", **kwargs):
    return services.ingest_dataset(
        workspace=workspace,
        upload=upload_of(admissions_csv() if content is None else content),
        by=checker,
        name=name,
        **kwargs,
    )


def test_ingest_stages_an_encrypted_version_with_schema_and_findings(
    workspace, checker, private_storage
):
    version = ingest(workspace, checker)

    assert version.status == DatasetVersion.Status.AWAITING_DECISIONS
    assert version.row_count == 300
    kinds = {column["name"]: column["kind"] for column in version.staged_schema}
    assert kinds["age"] == "integer"
    assert kinds["length_of_stay"] == "float"
    assert kinds["readmitted"] == "boolean"
    assert kinds["date_of_birth"] == "date"
    flagged = {finding["column"]: finding["kind"] for finding in version.findings}
    assert flagged["patient_name"] == "name"
    assert flagged["nhs_number"] == "health_id"
    assert flagged["email"] == "email"
    assert flagged["date_of_birth"] == "date_of_birth"
    assert "age" not in flagged
    # On disk: one file, named by an opaque id, holding no plaintext.
    [path] = stored_files(private_storage)
    assert "admissions" not in str(path)
    raw = path.read_bytes()
    assert b"@example.org" not in raw
    assert b"cardiology" not in raw


def test_ingest_is_audited_without_values(workspace, checker):
    ingest(workspace, checker)
    event = AuditEvent.objects.get(action="dataset.uploaded")
    assert event.details["rows"] == 300
    assert "patient_name" in event.details["flagged_columns"]
    assert "@example.org" not in str(event.details)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"a,b\n", "header but no rows"),
        (b"a,b\n1,2\n3\n", "Line 3 has 1 field; the header has 2"),
        (b"a,b\n1,2\n3,4,5\n", "Line 3 has 3 fields; the header has 2"),
        (b"age,age\n1,2\n", 'column name "age" appears twice'),
        (b"a,,c\n1,2,3\n", "Column 2 has no name"),
        ("a,b\n1,caf\xe9\n".encode("latin-1"), "Line 2 is not valid UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b"PK\x03\x04\x14\x00\x00\x00", "archive or a spreadsheet"),
        (b"PAR1\x00\x00garbage", "cannot be read as Parquet"),
    ],
)
def test_bad_input_gets_a_clear_message_and_leaves_nothing(
    workspace, checker, private_storage, content, message
):
    with pytest.raises(ValidationError, match=message):
        ingest(workspace, checker, content)
    assert not Dataset.objects.exists()
    assert not DatasetVersion.objects.exists()
    assert not EncryptedFile.objects.exists()
    assert not DataKey.objects.exists()
    assert stored_files(private_storage) == []


def test_error_messages_never_quote_values(workspace, checker):
    content = "name,secret\nAnn,s3cr3t-value\nBob,other,extra-field-value\n"
    with pytest.raises(ValidationError) as caught:
        ingest(workspace, checker, content)
    assert "s3cr3t" not in str(caught.value)
    assert "extra-field-value" not in str(caught.value)


def test_other_encodings_are_accepted_when_chosen(workspace, checker):
    content = "ward,count\ncafé,1\nnaïve,2\n".encode("cp1252")
    version = ingest(workspace, checker, content, encoding="cp1252")
    assert version.row_count == 2


def test_semicolon_and_tab_delimiters_are_detected(workspace, checker):
    for name, content in [("semi", "a;b;c\n1;2;3\n4;5;6\n"), ("tabs", "a\tb\n1\t2\n")]:
        version = ingest(workspace, checker, content, name=name)
        assert version.source_delimiter in {";", "\t"}
        assert [column["kind"] for column in version.staged_schema][:2] == ["integer", "integer"]


def test_parquet_is_ingested(workspace, checker):
    import io

    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame({"age": [40, 50, None], "ward": ["a", "b", "a"]}).to_parquet(buffer)
    version = ingest(workspace, checker, buffer.getvalue(), name="from_parquet")
    assert version.source_format == "parquet"
    assert {c["name"]: c["kind"] for c in version.staged_schema} == {
        "age": "float",
        "ward": "string",
    }


def test_size_limit(workspace, checker, settings):
    settings.TRE_MAX_UPLOAD_BYTES = 10
    with pytest.raises(ValidationError, match="limit"):
        ingest(workspace, checker, "a,b\n1,2\n3,4\n")


def parquet_bytes(table) -> bytes:
    import io

    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def nothing_was_stored(private_storage) -> bool:
    return (
        not Dataset.objects.exists()
        and not DatasetVersion.objects.exists()
        and not EncryptedFile.objects.exists()
        and not DataKey.objects.exists()
        and stored_files(private_storage) == []
    )


def test_a_table_wider_than_the_limit_is_refused_and_leaves_nothing(
    workspace, checker, private_storage, settings
):
    settings.TRE_MAX_COLUMNS = 3
    with pytest.raises(ValidationError, match=r"4 columns; the limit is 3 \(TRE_MAX_COLUMNS\)"):
        ingest(workspace, checker, "a,b,c,d\n1,2,3,4\n")
    assert nothing_was_stored(private_storage)
    assert ingest(workspace, checker, "a,b,c\n1,2,3\n").row_count == 1


def test_a_table_longer_than_the_limit_is_refused_and_leaves_nothing(
    workspace, checker, private_storage, settings
):
    import pyarrow as pa

    settings.TRE_MAX_ROWS = 100
    with pytest.raises(ValidationError, match="more than 100 rows; the limit is 100"):
        ingest(workspace, checker, "a,b\n" + "1,2\n" * 101)
    table = pa.table({"a": pa.array([1] * 101, pa.int64())})
    with pytest.raises(ValidationError, match=r"101 rows; the limit is 100 \(TRE_MAX_ROWS\)"):
        ingest(workspace, checker, parquet_bytes(table))
    assert nothing_was_stored(private_storage)


def test_a_small_parquet_file_that_decodes_huge_is_refused_and_leaves_nothing(
    workspace, checker, private_storage, settings
):
    """The issue's case: a few KB of Parquet, one value repeated on every row, that
    decodes into far more than the file. Limits are set low to keep the test small."""
    import pyarrow as pa

    settings.TRE_MAX_EXPANDED_BYTES = 8 * 1024**2
    rows = 200_000
    table = pa.table({"visit": pa.array([1] * rows, pa.int64()), "note": ["x" * 200] * rows})
    content = parquet_bytes(table)
    assert len(content) < 64 * 1024
    with pytest.raises(ValidationError, match=r"the limit is 8\.0 MiB \(TRE_MAX_EXPANDED_BYTES\)"):
        ingest(workspace, checker, content)
    assert nothing_was_stored(private_storage)
    settings.TRE_MAX_EXPANDED_BYTES = 64 * 1024**2
    assert ingest(workspace, checker, content).row_count == rows


def test_dataset_names_are_checked(workspace, checker):
    with pytest.raises(ValidationError):
        ingest(workspace, checker, name="Not a name!")
    ingest(workspace, checker, name="admissions")
    with pytest.raises(ValidationError, match="already has a dataset"):
        ingest(workspace, checker, name="admissions")


@pytest.mark.parametrize("member", ["researcher", "owner", "outsider"])
def test_only_stewards_ingest(request, workspace, member):
    with pytest.raises(PermissionDenied):
        ingest(workspace, request.getfixturevalue(member))


def decide(version, checker, **overrides):
    decisions = suggested_decisions(version)
    decisions.update(overrides)
    return services.decide_columns(version=version, decisions=decisions, by=checker)


def test_decisions_apply_and_are_recorded(
    workspace, checker, private_storage, django_capture_on_commit_callbacks
):
    version = ingest(workspace, checker)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        version = decide(version, checker)
    assert [callback.func.__name__ for callback in queued if hasattr(callback, "func")] == [
        "queue_synthesis"
    ]  # the synthetic sample's task is sent once the version has committed
    run_storage_clean_up(queued)

    assert version.status == DatasetVersion.Status.READY
    names = [column["name"] for column in version.schema]
    assert "patient_name" not in names
    assert "email" not in names
    kinds = {column["name"]: column["kind"] for column in version.schema}
    frame = read_table(version.data_file, kinds)
    assert frame["nhs_number"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert frame["date_of_birth"].between(1900, 2010).all()  # generalised to the year
    assert not frame["postcode"].str.contains(" ").any()  # district only
    recorded = {d["column"]: d["action"] for d in version.decisions}
    assert recorded["patient_name"] == "drop"
    assert recorded["age"] == "keep"
    # The staged upload is gone: key and file.
    assert version.staged_file is None
    assert len(stored_files(private_storage)) == 1
    assert SyntheticSample.objects.get(version=version).status == "queued"
    event = AuditEvent.objects.get(action="dataset_version.decided")
    assert event.details["decisions"] == version.decisions


def test_a_table_with_nothing_to_pseudonymise_decides_and_becomes_ready(
    workspace, checker, django_capture_on_commit_callbacks
):
    """The Adult census data has no direct identifier: every column is kept. Deciding it
    used to fail on the pseudonymisation secret, which no column needed."""
    version = ingest(workspace, checker, census_csv(), name="census")
    assert version.findings == []
    keep_all = {column["name"]: {"action": "keep"} for column in version.staged_schema}
    with django_capture_on_commit_callbacks():
        version = services.decide_columns(version=version, decisions=keep_all, by=checker)
    assert version.status == DatasetVersion.Status.READY
    assert [column["name"] for column in version.schema] == list(keep_all)
    assert {decision["action"] for decision in version.decisions} == {"keep"}
    kinds = {column["name"]: column["kind"] for column in version.schema}
    assert len(read_table(version.data_file, kinds)) == 200
    # No secret was made for it, since none was used.
    assert Workspace.objects.get(pk=workspace.pk).pseudonym_key_id is None


def test_dropping_and_generalising_without_pseudonymising_decides(workspace, checker):
    version = ingest(workspace, checker)
    flagged = {finding["column"] for finding in version.findings}
    decisions = {column: {"action": "drop"} for column in flagged}
    decisions["date_of_birth"] = {"action": "generalise", "generalise_to": "year"}
    version = services.decide_columns(version=version, decisions=decisions, by=checker)
    assert version.status == DatasetVersion.Status.READY
    assert "pseudonymise" not in {decision["action"] for decision in version.decisions}


def test_an_unknown_action_is_refused_by_name(workspace, checker):
    version = ingest(workspace, checker)
    with pytest.raises(ValidationError, match="Column 'age': choose keep, drop"):
        decide(version, checker, age={"action": "shred"})
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.AWAITING_DECISIONS


def test_pseudonyms_are_stable_across_versions_so_joins_work(workspace, checker):
    content = admissions_csv(rows=50)
    first = decide(ingest(workspace, checker, content), checker)
    dataset = first.dataset
    second = services.ingest_dataset(
        workspace=workspace, upload=upload_of(content), by=checker, dataset=dataset
    )
    second = decide(second, checker)
    assert second.number == 2
    kinds = {column["name"]: column["kind"] for column in first.schema}
    tokens_first = read_table(first.data_file, kinds)["nhs_number"]
    tokens_second = read_table(second.data_file, kinds)["nhs_number"]
    assert tokens_first.tolist() == tokens_second.tolist()


def test_deciding_twice_is_refused(workspace, checker):
    version = decide(ingest(workspace, checker), checker)
    with pytest.raises(ValidationError, match="already been decided"):
        decide(version, checker)


def test_impossible_decisions_are_refused_and_change_nothing(workspace, checker):
    version = ingest(workspace, checker)
    with pytest.raises(ValidationError):
        decide(version, checker, ward={"action": "generalise", "generalise_to": "year"})
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.AWAITING_DECISIONS
    assert version.data_file is None


def test_a_flipped_byte_in_storage_is_detected(workspace, checker, private_storage):
    from tre.crypto import IntegrityError

    version = decide(ingest(workspace, checker), checker)
    path = private_storage / version.data_file.storage_name
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        vault.verify_encrypted(version.data_file)
    kinds = {column["name"]: column["kind"] for column in version.schema}
    with pytest.raises(IntegrityError):
        read_table(version.data_file, kinds)


def test_erasing_a_version_destroys_the_key_before_the_files(
    workspace, checker, private_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        version = decide(ingest(workspace, checker), checker)
    run_storage_clean_up(callbacks)
    data_file = version.data_file
    key_id = data_file.data_key_id
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.erase_version(version=version, by=checker, reason="consent withdrawn")
        # Inside the transaction the key is already gone; the ciphertext waits for commit.
        assert not DataKey.objects.filter(pk=key_id).exists()
        assert stored_files(private_storage) != []
    run_storage_clean_up(callbacks)
    assert stored_files(private_storage) == []
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.ERASED
    assert version.data_file is None
    event = AuditEvent.objects.get(action="dataset_version.erased")
    assert event.actor == checker
    assert event.details["reason"] == "consent withdrawn"


def test_erasing_a_dataset_erases_every_version(
    workspace, checker, private_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        version = decide(ingest(workspace, checker), checker)
        services.ingest_dataset(
            workspace=workspace,
            upload=upload_of(admissions_csv(20)),
            by=checker,
            dataset=version.dataset,
        )
        services.erase_dataset(dataset=version.dataset, by=checker, reason="study closed")
    run_storage_clean_up(callbacks)
    assert not DataKey.objects.exclude(purpose="pseudonym").exists()
    assert stored_files(private_storage) == []
    assert set(DatasetVersion.objects.values_list("status", flat=True)) == {"erased"}
    assert AuditEvent.objects.filter(action="dataset.erased").exists()
    # The name is free again for a new dataset.
    ingest(workspace, checker, name=version.dataset.name)


def test_the_master_key_never_lands_in_the_database(workspace, checker):
    from tre import crypto

    decide(ingest(workspace, checker), checker)
    master = vault.master_key()
    for data_key in DataKey.objects.all():
        assert master not in bytes(data_key.wrapped_key)
        assert data_key.master_key_id == crypto.key_id(master)


def test_a_wrong_master_key_is_a_clear_error(workspace, checker, monkeypatch):
    from tre import crypto

    version = decide(ingest(workspace, checker), checker)
    monkeypatch.setenv("TRE_MASTER_KEY", vault.generate_master_key())
    vault.master_key.cache_clear()
    with pytest.raises(crypto.IntegrityError, match="wrapped by master key"):
        vault.open_encrypted(version.data_file)
