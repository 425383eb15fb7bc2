"""Reading uploaded tables: validation, type inference and typed chunks.

Plain Python (pandas, pyarrow; no Django) so it can be tested and benchmarked alone.

A CSV is read three times, streaming, never whole: once with the csv module to check its
structure (encoding, field counts, header), once with pandas to infer each column's
kind, and once to yield typed chunks. Both pandas passes read every field as a string
and apply the same rules, so a type that held in the inference pass cannot fail later.
Error messages name a line or a column, never a value: they are shown in the portal and
the values are private.

Limits (`TableLimits`) on columns, rows and the decoded size are checked before anything
is stored, and as early as each format allows: a Parquet file's footer says how many rows
and columns it has, and how large its pages are once decompressed, before a byte of data
is read; a CSV's columns are counted at its header and its rows as they stream past. A
small file can decode into a huge table (a million copies of one value are a few bytes
of Parquet), so the size that counts is the decoded one, never the file's.
"""

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

KINDS = ("integer", "float", "boolean", "date", "datetime", "string")
CHUNK_ROWS = 100_000
CSV_BLOCK_BYTES = 8 << 20
BOOLEAN_WORDS = pa.array(["true", "false"])
FLOAT_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
ENCODINGS = {"utf-8": "UTF-8", "cp1252": "Windows-1252", "latin-1": "ISO-8859-1 (Latin-1)"}
ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
ARROW_TYPES = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "string": pa.large_string(),
}

# Bytes per cell of each kind once decoded, as pandas holds it (numpy's 8-byte numbers and
# timestamps, 1-byte booleans); a string cell's 8 are the pointer or offset, and its text
# comes on top.
CELL_BYTES = {"integer": 8, "float": 8, "boolean": 1, "date": 8, "datetime": 8, "string": 8}

Opener = Callable[[], BinaryIO]


class TabularError(ValueError):
    """Input that cannot be ingested; the message is safe to show (no data values)."""


@dataclass(frozen=True)
class TableLimits:
    """How large a table may be: columns, rows, and bytes once decoded (`expanded_bytes`).

    The defaults are those of the portal's settings TRE_MAX_COLUMNS, TRE_MAX_ROWS and
    TRE_MAX_EXPANDED_BYTES, which say why they are what they are.
    """

    max_columns: int = 1_000
    max_rows: int = 10_000_000
    max_expanded_bytes: int = 2 * 1024**3

    def check_columns(self, count: int) -> None:
        if count > self.max_columns:
            raise TabularError(
                f"The file has {count:,} columns; the limit is {self.max_columns:,} "
                "(TRE_MAX_COLUMNS). Split it into datasets of fewer columns that share a "
                "key column: a job can join them."
            )

    def check_rows(self, count: int, *, more: bool = False) -> None:
        if count > self.max_rows:
            rows = f"more than {self.max_rows:,}" if more else f"{count:,}"
            raise TabularError(
                f"The file has {rows} rows; the limit is {self.max_rows:,} (TRE_MAX_ROWS). "
                "Upload a subset, or split it into several datasets."
            )

    def check_expanded(self, size: int, *, at_least: bool = False) -> None:
        if size > self.max_expanded_bytes:
            about = "at least " if at_least else ""
            raise TabularError(
                f"Decoded, this table would take {about}{format_bytes(size)} of memory; the "
                f"limit is {format_bytes(self.max_expanded_bytes)} (TRE_MAX_EXPANDED_BYTES). "
                "Upload fewer rows or columns."
            )


def format_bytes(size: int) -> str:
    """A size for people: 1.5 GiB, 12.0 MiB, 300 bytes."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:,} bytes"


def expanded_bytes(rows: int, kinds: dict[str, str], text_bytes: int = 0) -> int:
    """About how much memory the table takes decoded: CELL_BYTES per cell, plus the
    `text_bytes` of its string cells (UTF-8)."""
    return rows * sum(CELL_BYTES[kind] for kind in kinds.values()) + text_bytes


@dataclass
class TableSource:
    """A validated table: its format, columns and their kinds; `chunks()` yields data."""

    open_binary: Opener
    format: str
    columns: list[str]
    kinds: dict[str, str]
    row_count: int
    delimiter: str = ""
    encoding: str = ""
    notes: list[str] = field(default_factory=list)

    def batches(self) -> Iterator[pa.Table]:
        """The data as Arrow tables in the storage schema of `kinds`, block by block."""
        if self.format == "parquet":
            yield from _parquet_batches(self)
        else:
            for strings in _csv_string_batches(self):
                yield convert_strings(strings, self.kinds)

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The data as typed pandas DataFrames, block by block."""
        for batch in self.batches():
            yield from_arrow(batch, self.kinds)


def sniff_format(head: bytes) -> str:
    """Tell the format from the bytes, not the file name; refuse what is neither."""
    if not head.strip():
        raise TabularError("The file is empty.")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf")):
        raise TabularError(
            "This is an archive or a spreadsheet workbook, not a CSV or Parquet file. "
            "Export the sheet as CSV, or unpack the archive, and upload that."
        )
    if b"\x00" in head:
        raise TabularError(
            "This looks like a binary file (or UTF-16 text), not a CSV file. "
            "Save it as CSV in UTF-8 and upload it again."
        )
    return "csv"


def inspect_table(
    open_binary: Opener, *, encoding: str = "utf-8", limits: TableLimits | None = None
) -> TableSource:
    """Validate a CSV or Parquet file, infer its columns' kinds and hold it to `limits`.

    `open_binary` returns a fresh binary file object each time it is called: the
    file is read in several streaming passes.
    """
    limits = limits or TableLimits()
    with open_binary() as handle:
        head = handle.read(SNIFF_BYTES)
    if sniff_format(head) == "parquet":
        return _inspect_parquet(open_binary, limits)
    if encoding not in ENCODINGS:
        raise TabularError(f"Unknown encoding {encoding!r}.")
    return _inspect_csv(open_binary, head, encoding, limits)


# --- CSV -------------------------------------------------------------------------------


def _python_encoding(encoding: str) -> str:
    # utf-8-sig also accepts a file without a byte-order mark, and drops one if present.
    return "utf-8-sig" if encoding == "utf-8" else encoding


def _sniff_delimiter(text: str) -> str:
    lines = text.splitlines()
    sample = "\n".join(lines[:-1] if len(lines) > 1 else lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def check_column_names(names: list) -> list[str]:
    """Strip column names and refuse empty or repeated ones, naming them."""
    cleaned = [str(name).strip() for name in names]
    seen: dict[str, int] = {}
    for position, name in enumerate(cleaned, start=1):
        if not name:
            raise TabularError(f"Column {position} has no name in the header.")
        key = name.casefold()
        if key in seen:
            raise TabularError(
                f'The column name "{name}" appears twice (columns {seen[key]} and {position}). '
                "Column names must be unique."
            )
        seen[key] = position
    return cleaned


def _line_of_bad_bytes(open_binary: Opener, encoding: str) -> int:
    """The line holding the first byte sequence that does not decode (text buffers
    decode ahead, so the csv reader's own line count is only near it)."""
    decoder = codecs.getincrementaldecoder(_python_encoding(encoding))()
    line = 1
    with open_binary() as handle:
        while block := handle.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                # Bytes held back from the previous block are never newlines, so
                # counting up to error.start within this block is exact enough.
                return line + block[: error.start].count(b"\n")
            line += block.count(b"\n")
    return line


def _decode_error(encoding: str, line: int) -> TabularError:
    return TabularError(
        f"Line {line} is not valid {ENCODINGS[encoding]} text. Choose the file's encoding "
        "in the upload form (for example Windows-1252), or save it as UTF-8."
    )


def _inspect_csv(
    open_binary: Opener, head: bytes, encoding: str, limits: TableLimits
) -> TableSource:
    python_encoding = _python_encoding(encoding)
    decoder = codecs.getincrementaldecoder(python_encoding)(errors="replace")
    delimiter = _sniff_delimiter(decoder.decode(head))

    rows = 0
    with open_binary() as handle:
        text = io.TextIOWrapper(handle, encoding=python_encoding, errors="strict", newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
            if not header or all(not name.strip() for name in header):
                raise TabularError("The file has no header line with column names.")
            limits.check_columns(len(header))
            columns = check_column_names(header)
            width = len(columns)
            for row in reader:
                if not row:
                    continue  # blank lines carry nothing; pandas skips them too
                if len(row) != width:
                    raise TabularError(
                        f"Line {reader.line_num} has {len(row)} field"
                        f"{'s' if len(row) != 1 else ''}; the header has {width}. "
                        "Every row needs one value per column (quote values that contain "
                        f"the delimiter {_delimiter_name(delimiter)})."
                    )
                rows += 1
                if rows > limits.max_rows:
                    limits.check_rows(rows, more=True)  # stop reading: the rest is moot
        except UnicodeDecodeError:
            raise _decode_error(encoding, _line_of_bad_bytes(open_binary, encoding)) from None
        except csv.Error as error:
            raise TabularError(f"Line {reader.line_num}: {error}.") from None
    if rows == 0:
        raise TabularError("The file has a header but no rows of data.")

    source = TableSource(
        open_binary=open_binary,
        format="csv",
        columns=columns,
        kinds={},
        row_count=rows,
        delimiter=delimiter,
        encoding=encoding,
    )
    kinds: dict[str, str | None] = dict.fromkeys(columns)
    text_bytes = dict.fromkeys(columns, 0)
    for batch in _csv_string_batches(source):
        for column in columns:
            values = batch.column(column)
            text_bytes[column] += pc.sum(pc.binary_length(values)).as_py() or 0
            if kinds[column] != "string":  # nothing is wider: stop looking
                kinds[column] = unify_kinds(kinds[column], infer_kind(values))
    source.kinds = {column: kind or "string" for column, kind in kinds.items()}
    # Strings are stored as they were written; other kinds become fixed-size cells.
    strings = sum(text_bytes[column] for column, kind in source.kinds.items() if kind == "string")
    limits.check_expanded(expanded_bytes(rows, source.kinds, strings))
    return source


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delimiter, delimiter)


def _csv_string_batches(source: TableSource) -> Iterator[pa.Table]:
    """The CSV as Arrow tables of strings (missing values as nulls), block by block.

    The structure pass has already proved every row well formed, so Arrow's fast
    multithreaded reader meets no ragged row here (its messages would quote rows).
    """
    read_options = pacsv.ReadOptions(
        column_names=source.columns,
        skip_rows=1,
        block_size=CSV_BLOCK_BYTES,
        encoding="utf8" if source.encoding == "utf-8" else source.encoding,
    )
    parse_options = pacsv.ParseOptions(delimiter=source.delimiter, newlines_in_values=True)
    convert_options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(source.columns, pa.large_string()),
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    with source.open_binary() as handle:
        reader = pacsv.open_csv(handle, read_options, parse_options, convert_options)
        for batch in reader:
            if batch.num_rows:
                yield pa.Table.from_batches([batch])


def _is_all(values: pa.Array, pattern: str) -> bool:
    return bool(pc.all(pc.match_substring_regex(values, pattern)).as_py())


def infer_kind(values: pa.Array | pa.ChunkedArray) -> str | None:
    """The narrowest kind that every non-missing string in `values` fits; None if all missing."""
    present = pc.utf8_trim_whitespace(pc.drop_null(values))
    if len(present) == 0:
        return None
    if bool(pc.all(pc.is_in(pc.utf8_lower(present), value_set=BOOLEAN_WORDS)).as_py()):
        return "boolean"
    if _is_all(present, r"^[+-]?\d+$"):
        # Leading zeros mark codes and identifiers (07700900123, 00123): keep them as text.
        if bool(pc.any(pc.match_substring_regex(present, r"^[+-]?0\d")).as_py()):
            return "string"
        try:
            pc.cast(present, pa.int64())
        except pa.ArrowInvalid:
            return "float"  # too large for 64-bit integers
        return "integer"
    if _is_all(present, FLOAT_PATTERN):
        return "float"
    if _is_all(present, ISO_DATE):
        try:
            _parse_timestamps(present)
        except (ValueError, pa.ArrowInvalid):
            return "string"
        return "datetime" if pc.max(pc.utf8_length(present)).as_py() > 10 else "date"
    return "string"


def _parse_timestamps(values) -> pa.Array:
    parsed = pd.to_datetime(
        pd.Series(values.to_pandas(), dtype="string"), format="ISO8601", utc=True
    )
    return pa.array(parsed.dt.tz_localize(None), type=pa.timestamp("us"), from_pandas=True)


_WIDENING = {
    frozenset({"integer", "float"}): "float",
    frozenset({"date", "datetime"}): "datetime",
}


def unify_kinds(first: str | None, second: str | None) -> str | None:
    """The kind that holds values of both kinds (chunks of one column can differ)."""
    if first is None or first == second:
        return second if first is None else first
    if second is None:
        return first
    return _WIDENING.get(frozenset({first, second}), "string")


def convert_strings(table: pa.Table, kinds: dict[str, str]) -> pa.Table:
    """Type a table of strings by the kinds inferred for the file (into the storage schema)."""
    arrays = []
    for column, kind in kinds.items():
        values = table.column(column)
        trimmed = pc.utf8_trim_whitespace(values)
        if kind == "boolean":
            arrays.append(pc.equal(pc.utf8_lower(trimmed), "true"))
        elif kind in ("integer", "float"):
            arrays.append(pc.cast(trimmed, ARROW_TYPES[kind]))
        elif kind in ("date", "datetime"):
            stamps = _parse_timestamps(trimmed)
            arrays.append(pc.cast(stamps, pa.date32()) if kind == "date" else stamps)
        else:
            arrays.append(values)
    return pa.Table.from_arrays(arrays, schema=arrow_schema(kinds))


# --- Parquet ---------------------------------------------------------------------------


def arrow_kind(data_type: pa.DataType) -> str | None:
    """Our kind for an Arrow type, or None when the type cannot be ingested."""
    if pa.types.is_dictionary(data_type):
        return arrow_kind(data_type.value_type)
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "float"
    if pa.types.is_date(data_type):
        return "date"
    if pa.types.is_timestamp(data_type):
        return "datetime"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    return None


def _damaged_parquet() -> TabularError:
    return TabularError(
        "This file starts like Parquet but cannot be read as Parquet "
        "(it may be truncated or damaged)."
    )


def _inspect_parquet(open_binary: Opener, limits: TableLimits) -> TableSource:
    # The footer alone, first: no page of data is read before the limits are checked.
    with open_binary() as handle:
        try:
            parquet = pq.ParquetFile(handle)
            metadata = parquet.metadata
            # Leaf columns, counted before the schema is converted (nested ones count
            # each leaf, and are refused below anyway).
            limits.check_columns(metadata.num_columns)
            schema = parquet.schema_arrow
            rows = metadata.num_rows
            limits.check_rows(rows)
            # What the pages take once decompressed, before they are decoded: the reader
            # holds a page whole, and a dictionary page may hold values no row uses.
            decompressed = sum(
                metadata.row_group(index).total_byte_size
                for index in range(metadata.num_row_groups)
            )
        except (pa.ArrowException, OSError):
            raise _damaged_parquet() from None
    columns = check_column_names(schema.names)
    kinds = {}
    for column, arrow_field in zip(columns, schema, strict=True):
        kind = arrow_kind(arrow_field.type)
        if kind is None:
            raise TabularError(
                f'Column "{column}" has the Parquet type {arrow_field.type}, which cannot be '
                "ingested: use numbers, booleans, dates, timestamps or text."
            )
        kinds[column] = kind
    if rows == 0:
        raise TabularError("The file has columns but no rows of data.")
    cells = expanded_bytes(rows, kinds)
    limits.check_expanded(max(cells, decompressed), at_least=True)
    strings = [
        name
        for name, column in zip(schema.names, columns, strict=True)
        if kinds[column] == "string"
    ]
    if strings:
        text = _parquet_text_bytes(open_binary, strings, limits.max_expanded_bytes - cells)
        limits.check_expanded(cells + text)
    return TableSource(
        open_binary=open_binary, format="parquet", columns=columns, kinds=kinds, row_count=rows
    )


def _parquet_text_bytes(open_binary: Opener, names: list[str], budget: int) -> int:
    """The UTF-8 bytes of the string columns `names` once decoded, counted batch by batch
    and no further than just past `budget`.

    The columns are read as dictionaries, so a value repeated on every row costs memory
    once, plus an index per row: the count never builds what it is measuring.
    """
    total = 0
    with open_binary() as handle:
        try:
            parquet = pq.ParquetFile(handle, read_dictionary=names)
            for batch in parquet.iter_batches(batch_size=CHUNK_ROWS, columns=names):
                total += sum(_text_bytes(column) for column in batch.columns)
                if total > budget:
                    break
        except (pa.ArrowException, OSError):
            raise _damaged_parquet() from None
    return total


def _text_bytes(values: pa.Array) -> int:
    if pa.types.is_dictionary(values.type):
        lengths = pc.binary_length(values.dictionary)
        return pc.sum(pc.take(lengths, values.indices)).as_py() or 0
    return pc.sum(pc.binary_length(values)).as_py() or 0


def _parquet_batches(source: TableSource) -> Iterator[pa.Table]:
    schema = arrow_schema(source.kinds)
    with source.open_binary() as handle:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            table = pa.Table.from_batches([batch]).rename_columns(source.columns)
            arrays = []
            for column, arrow_field in zip(table.columns, schema, strict=True):
                if pa.types.is_dictionary(column.type):
                    column = pc.cast(column, column.type.value_type)
                if pa.types.is_timestamp(column.type) and column.type.tz:
                    column = pc.cast(column, pa.timestamp("us", tz="UTC"))
                    column = pa.chunked_array(
                        [chunk.view(pa.timestamp("us")) for chunk in column.chunks],
                        type=pa.timestamp("us"),
                    )
                arrays.append(pc.cast(column, arrow_field.type))
            yield pa.Table.from_arrays(arrays, schema=schema)


# --- Arrow, for storage ----------------------------------------------------------------


def arrow_schema(kinds: dict[str, str]) -> pa.Schema:
    return pa.schema([pa.field(column, ARROW_TYPES[kind]) for column, kind in kinds.items()])


def to_arrow(frame: pd.DataFrame, kinds: dict[str, str]) -> pa.Table:
    """A typed chunk as an Arrow table with exactly the storage schema of `kinds`."""
    arrays = []
    for column, kind in kinds.items():
        values = frame[column]
        if kind in ("date", "datetime"):
            array = pa.array(pd.to_datetime(values), type=pa.timestamp("us"), from_pandas=True)
            arrays.append(pc.cast(array, pa.date32()) if kind == "date" else array)
        else:
            arrays.append(pa.array(values, type=ARROW_TYPES[kind], from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(kinds))


def from_arrow(table: pa.Table, kinds: dict[str, str]) -> pd.DataFrame:
    """An Arrow table (stored, or read from Parquet) as typed pandas columns."""
    columns = {}
    for column, kind in kinds.items():
        array = table.column(column)
        if pa.types.is_dictionary(array.type):
            array = pc.cast(array, array.type.value_type)
        if kind == "integer":
            columns[column] = pd.Series(array.to_pandas(), dtype="Int64")
        elif kind == "float":
            columns[column] = pd.Series(pc.cast(array, pa.float64()).to_pandas(), dtype="float64")
        elif kind == "boolean":
            columns[column] = pd.Series(array.to_pandas(), dtype="boolean")
        elif kind in ("date", "datetime"):
            timestamps = pc.cast(array, pa.timestamp("us")) if kind == "date" else array
            if getattr(timestamps.type, "tz", None):
                timestamps = pc.cast(timestamps, pa.timestamp("us"))
            columns[column] = pd.Series(timestamps.to_pandas(), dtype="datetime64[us]")
        else:
            columns[column] = pd.Series(array.to_pandas(), dtype="string")
    return pd.DataFrame(columns)


class ColumnProfiler:
    """Per-column missing share and distinct count, accumulated over batches.

    Distinct values are counted by 64-bit hashes, so memory grows with the number of
    distinct values (8 bytes each), never with their size.
    """

    def __init__(self, kinds: dict[str, str]):
        self.kinds = dict(kinds)
        self.rows = 0
        self._missing = dict.fromkeys(kinds, 0)
        self._hashes = {column: np.empty(0, dtype=np.uint64) for column in kinds}

    def update(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        for column in self.kinds:
            values = table.column(column)
            self._missing[column] += values.null_count
            present = pc.drop_null(values)
            if len(present):
                hashes = pd.util.hash_array(np.asarray(pc.unique(present).to_pandas()))
                self._hashes[column] = np.union1d(self._hashes[column], hashes)

    def schema(self) -> list[dict]:
        """[{name, kind, missing_share, distinct_count}]: shapes and counts, no values."""
        return [
            {
                "name": column,
                "kind": kind,
                "missing_share": round(self._missing[column] / self.rows, 4) if self.rows else 0,
                "distinct_count": len(self._hashes[column]),
            }
            for column, kind in self.kinds.items()
        ]
