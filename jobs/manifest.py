"""The one parser of the SDK's manifest (`.tre-manifest.json`), which the worker reads
when a run ends.

Why it exists: the manifest says what each output is (its name, type, kind, the counts
and ratios the disclosure checks need, the treatments applied), but it is written inside
the sandbox by code the researcher controls. `tre_sdk` writes it honestly; a script can
write anything there instead, and what it writes is data from the real data until a
checker has released it. So the manifest is a claim, and this module is the only place
that reads it: it never raises on hostile input (missing, huge, not UTF-8, invalid JSON,
deeply nested, a symlink or a FIFO in its place), checks every field against the schema
of what the SDK writes, and keeps only the fields that pass. What it found wrong is said
in a fixed vocabulary that never repeats a value from the file, since the value may be
data.

    manifest = read_manifest(output_dir)
    entry = manifest.entry_for("by_ward.csv")   # an Entry, or None: not written by the SDK
    output_type("by_ward.csv")                  # "table": from the suffix, never the claim

The disclosure checks (`jobs.disclosure`) take an `Entry` and use its claims only to add
failures or to pick the rules; a claim never makes an output pass. Plain Python, no
Django.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jobs.sdk.tre_sdk import TABLE_KINDS

__all__ = [
    "CHECK_KEYS",
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "METHODS",
    "OUTPUT_NAME",
    "SUFFIX_TYPES",
    "TABLE_KINDS",
    "TYPES",
    "Checks",
    "Entry",
    "Manifest",
    "output_type",
    "read_manifest",
    "validate_entry",
]

MANIFEST_NAME = ".tre-manifest.json"
MAX_MANIFEST_BYTES = 1024**2
# The SDK's manifest is an object of entries, an entry may hold `checks`, whose grids are
# lists of lists: four levels of containers. Anything deeper is not the SDK's.
MAX_DEPTH = 6
MAX_ENTRIES = 1000
MAX_DESCRIPTION = 2000
MAX_COLUMNS = 10_000
MAX_COLUMN_LABEL = 200
MAX_LAYOUT = 16  # header rows, index columns
MAX_GRID_CELLS = 200_000
MAX_FILE_NAME = 255

# The SDK's output names (tre_sdk._NAME) and the file each type of output is saved as.
OUTPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
SUFFIX_TYPES = {".csv": "table", ".json": "metric", ".png": "figure", ".txt": "text"}
TYPES = tuple(SUFFIX_TYPES.values())
_TYPE_SUFFIXES = {kind: suffix for suffix, kind in SUFFIX_TYPES.items()}
METHODS = ("crosstab", "pivot_table")
CHECK_KEYS = ("counts", "cell_counts", "nk_ratios", "p_ratios", "nk_n", "degrees_of_freedom")
SUPPRESSED = re.compile(r"suppressed ([0-9]{1,9}) cells? below ([0-9]{1,9})")
ROUNDED = re.compile(r"rounded to base ([0-9]{1,9})")
MAX_TREATMENTS = 20

_COMMON_FIELDS = frozenset({"type", "file", "description"})
_TABLE_FIELDS = ("kind", "rows", "columns", "header_rows", "index_columns", "method", "checks")
_TYPE_FIELDS = {
    "table": frozenset((*_TABLE_FIELDS, "treatments")),
    "metric": frozenset({"checks"}),
    "figure": frozenset({"checks"}),
    "text": frozenset(),
}
_TYPE_CHECKS = {
    "table": frozenset({"counts", "cell_counts", "nk_ratios", "p_ratios", "nk_n"}),
    "metric": frozenset({"degrees_of_freedom"}),
    "figure": frozenset({"counts"}),
    "text": frozenset(),
}
_KNOWN_FIELDS = _COMMON_FIELDS.union(*_TYPE_FIELDS.values())

Grid = tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class Checks:
    """The per-cell figures an entry claims, as the SDK records them. Grids are tuples of
    rows; a histogram's bar counts are one row (`counts_are_bars`)."""

    counts: Grid | None = None
    counts_are_bars: bool = False
    cell_counts: Grid | None = None
    nk_ratios: Grid | None = None
    p_ratios: Grid | None = None
    nk_n: int | None = None
    degrees_of_freedom: float | None = None

    @property
    def is_empty(self) -> bool:
        return all(
            value is None
            for value in (
                self.counts, self.cell_counts, self.nk_ratios, self.p_ratios, self.nk_n,
                self.degrees_of_freedom,
            )
        )  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """What the manifest claims about one output file, holding only the fields that
    passed validation (the others are None or empty), and what was wrong with it.

    `name` is None unless it follows the SDK's pattern and matches the file's name;
    `type` is None unless it is the type of the file's suffix, and then the fields that
    belong to a type (kind, layout, checks, treatments) are dropped too.
    """

    file: str
    name: str | None = None
    type: str | None = None
    kind: str | None = None
    description: str = ""
    rows: int | None = None
    columns: tuple[str, ...] | None = None
    header_rows: int | None = None
    index_columns: int | None = None
    method: str | None = None
    checks: Checks | None = None
    treatments: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """A run's manifest: one validated `Entry` per output file it describes, and what was
    wrong with the manifest as a whole (or with entries that describe no output)."""

    entries: tuple[Entry, ...] = ()
    problems: tuple[str, ...] = ()

    def entry_for(self, filename: str) -> Entry | None:
        """The entry describing this file of the output directory, or None (a file the
        SDK did not write, or whose entry could not be tied to it)."""
        for entry in self.entries:
            if entry.file == filename:
                return entry
        return None


def output_type(filename: str) -> str:
    """The type of an output from its file name's suffix: table, metric, figure, text, or
    "file" for anything else. The worker decides types this way, never from the claim."""
    return SUFFIX_TYPES.get(Path(filename).suffix.lower(), "file")


# Reading ----------------------------------------------------------------------------


class _Rejected(Exception):
    """The manifest as a whole is not usable: the message says why."""


def read_manifest(output_dir: Path, *, max_bytes: int = MAX_MANIFEST_BYTES) -> Manifest:
    """Read and validate the manifest in a run's output directory. Never raises.

    A missing manifest is an empty one. One that is not a regular file (a symlink is not
    followed), larger than `max_bytes` (not read), not UTF-8, not JSON, nested deeper than
    the SDK nests, or not an object of entries is ignored as a whole, with a problem
    saying which. Each entry must name a file of `output_dir` by a plain name; the entries
    that do not, or that name the same file as another, are dropped with a problem.
    """
    output_dir = Path(output_dir)
    try:
        document, problems = _load(output_dir / MANIFEST_NAME, max_bytes)
    except FileNotFoundError:
        return Manifest()
    except _Rejected as rejected:
        return Manifest(problems=(str(rejected),))
    try:
        return _validate(output_dir, document, problems)
    except Exception:
        # Not expected (every field is checked before use), but the worker must finish
        # the run whatever the script wrote: without the manifest, the checks are stricter.
        return Manifest(problems=("The manifest could not be checked; it was ignored.",))


def _validate(output_dir: Path, document: dict, problems: list[str]) -> Manifest:
    problems = list(problems)
    items = list(document.items())
    if len(items) > MAX_ENTRIES:
        problems.append(f"The manifest has more than {MAX_ENTRIES} entries; the rest were ignored.")
        items = items[:MAX_ENTRIES]
    by_file: dict[str, list[Entry]] = {}
    for name, raw in items:
        if not isinstance(raw, dict):
            problems.append("An entry of the manifest is not a JSON object.")
            continue
        file = raw.get("file")
        if not isinstance(file, str):
            problems.append("An entry of the manifest names no file.")
            continue
        if not _is_plain_file_name(file):
            problems.append("An entry of the manifest names a file outside the output directory.")
            continue
        try:
            mode = (output_dir / file).lstat().st_mode
        except (OSError, ValueError):
            problems.append("An entry of the manifest names a file that does not exist.")
            continue
        if not stat.S_ISREG(mode):
            problems.append("An entry of the manifest names something that is not a regular file.")
            continue
        by_file.setdefault(file, []).append(validate_entry(name, raw, filename=file))
    entries = []
    for same_file in by_file.values():
        if len(same_file) > 1:
            problems.append("Several entries of the manifest name the same file; none was used.")
            continue
        entries.append(same_file[0])
    return Manifest(entries=tuple(entries), problems=tuple(dict.fromkeys(problems)))


def _load(path: Path, max_bytes: int) -> tuple[dict, list[str]]:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _Rejected(
                "The manifest is not a regular file (a link); it was ignored."
            ) from None
        raise _Rejected("The manifest could not be read; it was ignored.") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise _Rejected("The manifest is not a regular file; it was ignored.")
        if status.st_size > max_bytes:
            raise _Rejected(
                f"The manifest is larger than the limit of {max_bytes:,} bytes; it was ignored."
            )
        # A regular file can still grow while it is read: never hold more than the limit.
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(descriptor, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise _Rejected(
                f"The manifest is larger than the limit of {max_bytes:,} bytes; it was ignored."
            )
    except OSError:
        raise _Rejected("The manifest could not be read; it was ignored.") from None
    finally:
        os.close(descriptor)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Rejected("The manifest is not UTF-8 text; it was ignored.") from None
    repeated = []

    def pairs(items):
        keys = [key for key, _ in items]
        if len(set(keys)) != len(keys):
            repeated.append(True)
        return dict(items)

    try:
        document = json.loads(text, object_pairs_hook=pairs, parse_constant=_not_a_number)
    except RecursionError:
        raise _Rejected(_TOO_DEEP) from None
    except (ValueError, MemoryError):  # also integers too long to convert
        raise _Rejected("The manifest is not valid JSON; it was ignored.") from None
    if _depth_exceeds(document, MAX_DEPTH):
        raise _Rejected(_TOO_DEEP)
    if not isinstance(document, dict):
        raise _Rejected("The manifest is not a JSON object of outputs; it was ignored.")
    problems = ["The manifest repeats a key; the last one was used."] if repeated else []
    return document, problems


_TOO_DEEP = "The manifest is nested more deeply than the SDK writes it; it was ignored."


class _NotANumber:
    """What JSON's NaN, Infinity and -Infinity become: not a number, so every number
    field refuses it."""


def _not_a_number(_constant: str) -> _NotANumber:
    return _NotANumber()


def _depth_exceeds(document, limit: int) -> bool:
    stack = [(document, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _is_plain_file_name(name: str) -> bool:
    return (
        0 < len(name) <= MAX_FILE_NAME
        and name not in (".", "..")
        and not name.startswith(".")
        and not any(character in name for character in "/\\\x00")
        and name.isprintable()
    )


# Validating one entry ----------------------------------------------------------------


def validate_entry(name, raw: Mapping, *, filename: str) -> Entry:
    """Validate one manifest entry (`raw`, under key `name`) describing `filename`.

    Returns an `Entry` holding only the fields that passed, and the problems found, in
    words that never repeat a value of the entry. Never raises on what `raw` holds.
    """
    problems: list[str] = []
    values: dict = {}
    if not isinstance(raw, Mapping):
        return Entry(file=filename, problems=("The manifest's entry is not a JSON object.",))
    suffix = Path(filename).suffix.lower()
    file_type = SUFFIX_TYPES.get(suffix)

    if isinstance(raw.get("file"), str) and raw["file"] != filename:
        problems.append("The manifest's file is not this output's file.")
    if not (isinstance(name, str) and OUTPUT_NAME.fullmatch(name)):
        problems.append("The manifest's output name does not follow the SDK's pattern.")
    elif file_type is None or filename != f"{name}{_TYPE_SUFFIXES[file_type]}":
        problems.append("The manifest's output name does not match its file's name.")
    else:
        values["name"] = name

    if set(raw) - _KNOWN_FIELDS:
        problems.append("The manifest's entry has fields the SDK does not write.")

    description = raw.get("description", "")
    if isinstance(description, str):
        if len(description) > MAX_DESCRIPTION:
            problems.append(
                f"The manifest's description was cut to {MAX_DESCRIPTION:,} characters."
            )
        values["description"] = description[:MAX_DESCRIPTION]
    else:
        problems.append("The manifest's description is not text.")

    claimed = raw.get("type")
    if claimed not in TYPES:
        problems.append(f"The manifest's type is not one of {', '.join(TYPES)}.")
        claimed = None
    elif claimed != file_type:
        problems.append("The manifest's type does not match its file's suffix.")
        claimed = None
    if claimed is None:
        if set(raw) & (_KNOWN_FIELDS - _COMMON_FIELDS):
            problems.append("The manifest's fields for the output's type were ignored.")
        return Entry(file=filename, problems=tuple(dict.fromkeys(problems)), **values)
    values["type"] = claimed

    if set(raw) & (_KNOWN_FIELDS - _COMMON_FIELDS - _TYPE_FIELDS[claimed]):
        problems.append("The manifest's entry has fields its type does not have.")
    present = _TYPE_FIELDS[claimed] & set(raw)
    for field_name in sorted(present):
        value, problem = _FIELD_VALIDATORS[field_name](raw[field_name], claimed)
        if problem:
            problems.extend(problem if isinstance(problem, list) else [problem])
        if value is not None:
            values[field_name] = value
    return Entry(file=filename, problems=tuple(dict.fromkeys(problems)), **values)


def _kind(value, _type):
    if value in TABLE_KINDS:
        return value, None
    return None, f"The manifest's kind is not one of {', '.join(TABLE_KINDS)}."


def _method(value, _type):
    if value in METHODS:
        return value, None
    return None, f"The manifest's method is not one of {', '.join(METHODS)}."


def _rows(value, _type):
    if _is_whole(value) and 0 <= value < 2**53:
        return value, None
    return None, "The manifest's rows is not a whole number."


def _layout(label):
    def validate(value, _type):
        if _is_whole(value) and 0 <= value <= MAX_LAYOUT:
            return value, None
        return None, f"The manifest's {label} is not a whole number from 0 to {MAX_LAYOUT}."

    return validate


def _columns(value, _type):
    if (
        isinstance(value, list)
        and len(value) <= MAX_COLUMNS
        and all(isinstance(item, str) and len(item) <= MAX_COLUMN_LABEL for item in value)
    ):
        return tuple(value), None
    return None, "The manifest's columns is not a list of short texts."


def _treatments(value, _type):
    if not isinstance(value, list):
        return None, "The manifest's treatments are not a list."
    kept, problems = [], []
    for item in value[:MAX_TREATMENTS]:
        if not isinstance(item, str):
            problems.append("A treatment in the manifest is not text.")
            continue
        if _is_sdk_treatment(item):
            kept.append(item)
        else:
            problems.append("A treatment in the manifest is not one the SDK records.")
    if len(value) > MAX_TREATMENTS:
        problems.append(
            f"The manifest has more than {MAX_TREATMENTS} treatments; the rest were ignored."
        )
    return tuple(kept), problems or None


def _is_sdk_treatment(text: str) -> bool:
    """As tre_sdk words them: "suppressed 1 cell below 10", "suppressed 3 cells below
    10", "rounded to base 5" (a base of at least 1)."""
    if suppressed := SUPPRESSED.fullmatch(text):
        return (" cell " in text) == (int(suppressed.group(1)) == 1)
    if rounded := ROUNDED.fullmatch(text):
        return int(rounded.group(1)) >= 1
    return False


def _checks(value, output_type_: str):
    if not isinstance(value, dict):
        return None, "The manifest's checks are not a JSON object."
    problems = []
    allowed = _TYPE_CHECKS[output_type_]
    if set(value) - set(CHECK_KEYS):
        problems.append("The manifest's checks have keys the SDK does not write.")
    if set(value) & (set(CHECK_KEYS) - allowed):
        problems.append("The manifest's checks have keys its type does not have.")
    found: dict = {}
    for key in sorted(allowed & set(value)):
        item = value[key]
        if key == "counts":
            grid, bars = _grid(item, whole=True, flat_allowed=output_type_ == "figure")
            if grid is None:
                problems.append("The manifest's checks.counts is not a list of counts.")
            else:
                found["counts"], found["counts_are_bars"] = grid, bars
        elif key in ("cell_counts", "nk_ratios", "p_ratios"):
            grid, _ = _grid(item, whole=key == "cell_counts", flat_allowed=False)
            if grid is None:
                problems.append(f"The manifest's checks.{key} is not a grid of numbers.")
            else:
                found[key] = grid
        elif key == "nk_n":
            if _is_whole(item) and 1 <= item <= 100:
                found["nk_n"] = item
            else:
                problems.append("The manifest's checks.nk_n is not a whole number from 1 to 100.")
        elif key == "degrees_of_freedom":
            number = _real(item)
            if number is None:
                problems.append("The manifest's checks.degrees_of_freedom is not a number.")
            else:
                found["degrees_of_freedom"] = number
    checks = Checks(**found)
    return (None if checks.is_empty else checks), problems or None


def _grid(value, *, whole: bool, flat_allowed: bool) -> tuple[Grid | None, bool]:
    """A rectangular list of lists of numbers or None (a flat list of numbers too, where
    allowed: a histogram's bars), bounded in size; counts must be whole and not negative."""
    if not isinstance(value, list) or not value:
        return None, False
    bars = flat_allowed and not any(isinstance(row, list) for row in value)
    rows = [value] if bars else value
    if not all(isinstance(row, list) for row in rows):
        return None, False
    width = len(rows[0])
    if any(len(row) != width for row in rows) or len(rows) * width > MAX_GRID_CELLS:
        return None, False
    grid = []
    for row in rows:
        cells = []
        for cell in row:
            if cell is None and not bars:
                cells.append(None)
                continue
            number = _real(cell)
            if number is None or (whole and (number < 0 or not number.is_integer())):
                return None, False
            cells.append(number)
        grid.append(tuple(cells))
    return tuple(grid), bars


def _real(value) -> float | None:
    """A finite real number (an int or a float, never a bool, NaN or an infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_FIELD_VALIDATORS = {
    "kind": _kind,
    "method": _method,
    "rows": _rows,
    "columns": _columns,
    "header_rows": _layout("header_rows"),
    "index_columns": _layout("index_columns"),
    "checks": _checks,
    "treatments": _treatments,
}
