"""workspaces.tabular's limits: a table too wide, too long or too large once decoded is
refused before its data is read where the format allows, and never built to be measured.

Plain Python, no database: the service's tests (test_dataset_services) check that a refused
upload leaves nothing stored, and the views' that the steward sees why.
"""

import contextlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workspaces import tabular
from workspaces.tabular import TableLimits, TabularError, inspect_table


def opener(data: bytes):
    return lambda: io.BytesIO(data)


def parquet_of(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", **options)
    return buffer.getvalue()


@pytest.fixture
def no_data_read(monkeypatch):
    """Fail the test if any Parquet data page is read: only the footer may be."""

    def refuse(*args, **kwargs):
        raise AssertionError("the data was read")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", refuse)


def test_defaults_are_the_settings_defaults(settings):
    limits = TableLimits()
    assert limits.max_columns == settings.TRE_MAX_COLUMNS
    assert limits.max_rows == settings.TRE_MAX_ROWS
    assert limits.max_expanded_bytes == settings.TRE_MAX_EXPANDED_BYTES


# --- columns ---------------------------------------------------------------------------


def test_a_csv_wider_than_the_limit_is_refused_at_its_header():
    header = ",".join(f"c{index}" for index in range(5_000))
    # The rows would be refused too (ragged); the header is refused first.
    content = f"{header}\n1,2\n".encode()
    with pytest.raises(TabularError, match=r"5,000 columns; the limit is 1,000 \(TRE_MAX"):
        inspect_table(opener(content), limits=TableLimits(max_columns=1_000))


def test_a_parquet_file_wider_than_the_limit_is_refused_from_its_footer(no_data_read):
    table = pa.table({f"c{index}": [1] for index in range(12)})
    with pytest.raises(TabularError, match="12 columns; the limit is 10"):
        inspect_table(opener(parquet_of(table)), limits=TableLimits(max_columns=10))


def test_the_widest_table_allowed_is_accepted():
    header = ",".join(f"c{index}" for index in range(10))
    source = inspect_table(opener(f"{header}\n{','.join('1' * 10)}\n".encode()),
                           limits=TableLimits(max_columns=10))  # fmt: skip
    assert len(source.columns) == 10


# --- rows ------------------------------------------------------------------------------


def test_a_csv_longer_than_the_limit_is_refused_as_it_streams(monkeypatch):
    content = b"a,b\n" + b"1,2\n" * 1_000
    calls = []
    real_batches = tabular._csv_string_batches
    monkeypatch.setattr(
        tabular, "_csv_string_batches", lambda source: calls.append(1) or real_batches(source)
    )
    with pytest.raises(TabularError, match="more than 100 rows; the limit is 100"):
        inspect_table(opener(content), limits=TableLimits(max_rows=100))
    assert calls == []  # refused in the structure pass, before any typing pass
    assert inspect_table(opener(content), limits=TableLimits(max_rows=1_000)).row_count == 1_000


def test_a_parquet_file_longer_than_the_limit_is_refused_from_its_footer(no_data_read):
    table = pa.table({"a": pa.array([7] * 5_000, pa.int64())})
    with pytest.raises(TabularError, match="5,000 rows; the limit is 4,999"):
        inspect_table(opener(parquet_of(table)), limits=TableLimits(max_rows=4_999))


# --- decoded size ----------------------------------------------------------------------


def test_numbers_that_decode_past_the_limit_are_refused_from_the_footer(no_data_read):
    # One value on every row: run-length encoded, a million rows are a few hundred bytes.
    table = pa.table({"a": pa.array([0] * 1_000_000, pa.int64())})
    data = parquet_of(table)
    assert len(data) < 10_000
    with pytest.raises(TabularError, match=r"at least 7\.6 MiB of memory; the limit is 1\.0 MiB"):
        inspect_table(opener(data), limits=TableLimits(max_expanded_bytes=1024**2))


@contextlib.contextmanager
def fresh_arrow_pool():
    """Arrow's allocations within the block alone: an Arrow memory pool nothing else in
    the process has used is made the default, so its `max_memory()` is the block's peak."""
    default = pa.default_memory_pool()
    for make in (pa.system_memory_pool, pa.mimalloc_memory_pool, pa.jemalloc_memory_pool):
        try:
            pool = make()
        except NotImplementedError:
            continue
        if pool.backend_name != default.backend_name and pool.max_memory() == 0:
            break
    else:
        pytest.skip("no unused Arrow memory pool to measure with")
    pa.set_memory_pool(pool)
    try:
        yield pool
    finally:
        pa.set_memory_pool(default)


def test_a_repeated_string_is_measured_without_being_built():
    """The shape of the 73 KB file that became 10 million rows: one long value, dictionary
    encoded, on every row. Decoded it is 100 MB of text; the count reads it as a
    dictionary (the value once, an index a row), so its memory stays small."""
    rows = 100_000
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "note": ["x" * 1_000] * rows})
    data = parquet_of(table)
    assert len(data) < 1024**2
    refused = pytest.raises(TabularError, match=r"take 96\.9 MiB of memory; the limit is 16\.0 MiB")
    with fresh_arrow_pool() as pool, refused:
        inspect_table(opener(data), limits=TableLimits(max_expanded_bytes=16 * 1024**2))
    assert pool.max_memory() < 4 * 1024**2  # reading it whole takes over 100 MiB
    # Under a limit it fits, the same file is accepted.
    source = inspect_table(opener(data), limits=TableLimits(max_expanded_bytes=128 * 1024**2))
    assert source.kinds == {"id": "integer", "note": "string"}


def test_the_text_count_stops_once_past_the_limit(monkeypatch):
    counted = []
    real_text_bytes = tabular._text_bytes
    monkeypatch.setattr(
        tabular, "_text_bytes", lambda values: counted.append(1) or real_text_bytes(values)
    )
    rows = 10 * tabular.CHUNK_ROWS
    data = parquet_of(pa.table({"note": ["x" * 100] * rows}))
    # 7.6 MiB of cells (offsets), 9.5 MiB of text a batch: over after the first.
    with pytest.raises(TabularError, match="TRE_MAX_EXPANDED_BYTES"):
        inspect_table(opener(data), limits=TableLimits(max_expanded_bytes=10 * 1024**2))
    assert len(counted) == 1  # the first batch is already over: the other nine are not read


def test_a_csv_that_decodes_past_the_limit_is_refused():
    # A byte of text and a delimiter per cell, 8 bytes a cell once decoded.
    content = b"a,b,c,d\n" + b"1,2,3,4\n" * 50_000
    with pytest.raises(TabularError, match=r"take 1\.5 MiB of memory; the limit is 1\.0 MiB"):
        inspect_table(opener(content), limits=TableLimits(max_expanded_bytes=1024**2))


def test_the_decoded_size_counts_cells_and_text():
    kinds = {"n": "integer", "flag": "boolean", "name": "string"}
    assert tabular.expanded_bytes(10, kinds, text_bytes=123) == 10 * (8 + 1 + 8) + 123
    content = b"n,flag,name\n1,true,ab\n2,false,cde\n"
    source = inspect_table(opener(content), limits=TableLimits(max_expanded_bytes=2 * 17 + 5))
    assert source.kinds == kinds
    with pytest.raises(TabularError, match="39 bytes of memory; the limit is 38 bytes"):
        inspect_table(opener(content), limits=TableLimits(max_expanded_bytes=2 * 17 + 4))
