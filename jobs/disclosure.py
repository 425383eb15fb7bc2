"""The airlock's automated statistical disclosure control (SDC) checks of one output.

The rules are ACRO's (the SACRO project's `acro` package) with its defaults, applied to
files rather than to live pandas calls: the SDK (`jobs/sdk/tre_sdk.py`) records in the
output's manifest entry what the rules need and the file cannot say (how many records a
mean summarises, how far its largest contributors dominate it, which treatments were
applied), and `check_output` reads the file and that entry and returns a verdict:

- "fail": the output breaks a rule and cannot be released as it is;
- "review": nothing broke a rule, but a person must look (images, text, zeros...);
- "pass": every rule that applies to it was checked and held.

Researchers see the reasons of their eyes-off outputs, so a reason names a rule and the
cells by position (row 3, column 2 of the table body), never a value or a label of the
data. Plain Python, no Django: the worker adapts it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import stat
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

PASS, REVIEW, FAIL = "pass", "review", "fail"
_SEVERITY = {PASS: 0, REVIEW: 1, FAIL: 2}

ALLOWED_SUFFIXES = (".csv", ".json", ".txt", ".png")
_ALLOWED_TEXT = "outputs must be CSV, JSON, plain text or PNG images"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The PNG chunks that only describe the picture; anything else (text, EXIF, private
# chunks, bytes after the end) could carry data past a reviewer who only sees the image.
_PNG_CHUNKS = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT",
    b"pHYs", b"bKGD", b"tIME",
}  # fmt: skip
_PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
# The one text chunk matplotlib writes: which software made the image.
_PNG_SOFTWARE = b"Software"

# The treatments the SDK records; anything else in a manifest is not shown.
_TREATMENT = re.compile(r"^(suppressed \d+ cells? below \d+|rounded to base \d+)$")
# What separates words in text, so an identifier inside a sentence or a cell is found.
_SEPARATORS = re.compile(r"[\s,;:()\[\]{}<>\"'|=]+")
_CELLS_SHOWN = 10
_ROW_LEVEL_MIN_INPUT = 20


@dataclass(frozen=True)
class Thresholds:
    """The SDC parameters: ACRO's defaults, overridable per workspace."""

    min_cell_count: int = 10  # threshold rule
    min_degrees_of_freedom: int = 10  # for model outputs that report residual dof
    nk_n: int = 2  # N-K dominance: top N contributors...
    nk_k: float = 0.9  # ...must not exceed K of the cell total
    p_ratio: float = 0.10  # p% rule
    zeros_disclosive: bool = True
    rounding_base: int = 5  # default for the SDK's rounding helper
    max_output_bytes: int = 10 * 1024**2
    row_level_share: float = 0.5  # a table with >= this share of the input's rows is row-level

    @classmethod
    def from_dict(cls, values: dict) -> Thresholds:
        """Thresholds from settings or a workspace's overrides; unknown keys and None are
        ignored, numbers given as strings are converted."""
        known = {item.name for item in fields(cls)}
        chosen = {}
        for key, value in (values or {}).items():
            if key not in known or value is None:
                continue
            default = getattr(cls, key)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    value = str(value).strip().lower() in {"1", "true", "yes", "on"}
            else:
                value = type(default)(value)
            chosen[key] = value
        return cls(**chosen)


@dataclass(frozen=True)
class Reason:
    """Why an output failed or needs review: a rule, a message safe to show the
    researcher, and the 1-based (row, column) cells of the table body it is about."""

    rule: str
    message: str
    cells: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    """The outcome of the checks of one output."""

    status: str
    reasons: list[Reason]
    treatments: list[str]

    def as_dict(self) -> dict:
        """The verdict as plain JSON-serialisable data."""
        return {
            "status": self.status,
            "reasons": [
                {**asdict(reason), "cells": [list(cell) for cell in reason.cells]}
                for reason in self.reasons
            ],
            "treatments": list(self.treatments),
        }


_RULE_STATUS = {
    "threshold": FAIL,
    "dominance-nk": FAIL,
    "p-ratio": FAIL,
    "row-level": FAIL,
    "identifiers": FAIL,
    "file-type": FAIL,
    "size": FAIL,
    "degrees-of-freedom": FAIL,
    "zeros": REVIEW,
    "no-cell-data": REVIEW,
    "human-review": REVIEW,
}


def worst_status(statuses: Iterable[str]) -> str:
    """Combine statuses: fail beats review beats pass (no status at all is a pass)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=PASS)


def check_output(
    *,
    path: Path,
    entry: dict,
    input_rows: int,
    sensitive_values: frozenset[str],
    thresholds: Thresholds,
) -> Verdict:
    """Check one output file against the SDC rules.

    `entry` is the output's manifest entry written by the SDK ({} for a file saved
    without it; it was written inside the sandbox, so it can add checks but never
    replaces what the file itself shows), `input_rows` the row count of the job's largest
    input, `sensitive_values` the string forms of the values of the inputs' identifier
    columns.
    """
    entry = entry if isinstance(entry, dict) else {}
    path = Path(path)
    treatments = _treatments(entry)
    reasons = _file_reasons(path, thresholds)
    if reasons is None:
        data = path.read_bytes()
        reasons = _content_reasons(
            path.suffix.lower(), data, entry, input_rows, sensitive_values, thresholds
        )
    statuses = [_RULE_STATUS.get(reason.rule, REVIEW) for reason in reasons]
    return Verdict(status=worst_status(statuses), reasons=reasons, treatments=treatments)


def _treatments(entry: dict) -> list[str]:
    recorded = entry.get("treatments")
    if not isinstance(recorded, list):
        return []
    shown = [item for item in recorded if isinstance(item, str) and _TREATMENT.match(item)]
    hidden = len(recorded) - len(shown)
    if hidden:
        shown.append(f"{hidden} unrecognised treatment{'s' if hidden > 1 else ''} (not shown)")
    return shown


# Files: type and size ---------------------------------------------------------------


def _file_reasons(path: Path, thresholds: Thresholds) -> list[Reason] | None:
    """Reasons from the file as a whole, or None when its content is worth reading."""
    try:
        status = path.lstat()
    except OSError:
        return [Reason("file-type", "The file could not be read.")]
    if not stat.S_ISREG(status.st_mode):
        return [Reason("file-type", f"This is not a regular file: {_ALLOWED_TEXT}.")]
    with path.open("rb") as handle:
        head = handle.read(512)
        handle.seek(max(status.st_size - 4, 0))
        tail = handle.read(4)
    reasons = []
    if status.st_size > thresholds.max_output_bytes:
        reasons.append(
            Reason(
                "size",
                f"The file is larger than the limit of {_size(thresholds.max_output_bytes)}.",
            )
        )
    problem = _file_type_problem(path.suffix.lower(), head, tail)
    if problem:
        reasons.append(Reason("file-type", problem))
    return reasons or None


def _size(count: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


def _sniff(head: bytes, tail: bytes) -> str | None:
    """The name of the binary format a file's first bytes (and last four) show, if any."""
    if head.startswith(PNG_SIGNATURE):
        return "a PNG image"
    if head[:1] == b"\x80":
        return "a Python pickle"
    if head.startswith(b"PAR1") and (tail == b"PAR1" or b"\x00" in head):
        return "a Parquet file"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "a ZIP archive"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive"
    if head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        return "a bzip2 archive"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "an xz archive"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "a 7z archive"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "a zstd archive"
    if head[257:262] == b"ustar" and b"\x00" in head:
        return "a tar archive"
    if head.startswith(b"SQLite format 3\x00"):
        return "an SQLite database"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy array file"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "an HDF5 file"
    if head.startswith(b"ARROW1"):
        return "an Arrow file"
    if head.startswith(b"%PDF-"):
        return "a PDF"
    if head.startswith(b"\x7fELF"):
        return "a program"
    return None


def _file_type_problem(suffix: str, head: bytes, tail: bytes) -> str | None:
    sniffed = _sniff(head, tail)
    if suffix not in ALLOWED_SUFFIXES:
        # The name is the researcher's choice and may hold anything: never echo it.
        found = f"The file is {sniffed}, which" if sniffed else "This type of file"
        return f"{found} cannot leave the environment: {_ALLOWED_TEXT}."
    if suffix == ".png":
        if sniffed != "a PNG image":
            return f"The file is named as a PNG image but is not one: {_ALLOWED_TEXT}."
        return None
    if sniffed:
        return f"The file is {sniffed} named as text, which cannot leave: {_ALLOWED_TEXT}."
    return None


def _png_problem(data: bytes) -> str | None:
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            break
        body = data[position + 8 : position + 8 + length]
        if kind in _PNG_TEXT_CHUNKS:
            keyword, _, text = body.partition(b"\x00")
            if keyword != _PNG_SOFTWARE or len(text) > 100:
                return "The PNG image carries text besides the picture; save it without metadata."
        elif kind not in _PNG_CHUNKS:
            return "The PNG image carries data besides the picture; save it again as a plain PNG."
        if kind == b"IEND":
            if end != len(data):
                return "The PNG image has data after its end; save it again as a plain PNG."
            return None
        position = end
    return "The PNG image is damaged or incomplete."


# Content ----------------------------------------------------------------------------


def _content_reasons(
    suffix: str,
    data: bytes,
    entry: dict,
    input_rows: int,
    sensitive: frozenset[str],
    thresholds: Thresholds,
) -> list[Reason]:
    if suffix == ".png":
        problem = _png_problem(data)
        if problem:
            return [Reason("file-type", problem)]
        return _figure_reasons(entry, thresholds)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return [Reason("file-type", f"The file is not plain UTF-8 text: {_ALLOWED_TEXT}.")]
    if suffix == ".csv":
        return _table_reasons(text, entry, input_rows, sensitive, thresholds)
    if suffix == ".json":
        return _json_reasons(text, entry, input_rows, sensitive, thresholds)
    return _text_reasons(text, sensitive)


def _text_reasons(text: str, sensitive: frozenset[str]) -> list[Reason]:
    reasons = []
    hits = (
        sum(1 for word in _SEPARATORS.split(text) if _is_identifier(word, sensitive))
        if sensitive
        else 0
    )
    if hits:
        reasons.append(_identifiers(hits, "words"))
    reasons.append(Reason("human-review", "Text is checked by a person before release."))
    return reasons


def _json_reasons(
    text: str, entry: dict, input_rows: int, sensitive: frozenset[str], thresholds: Thresholds
) -> list[Reason]:
    try:
        document = json.loads(text)
    except ValueError:
        return [Reason("file-type", "The file is not valid JSON.")]
    reasons = []
    scalars, longest = [], 0
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            longest = max(longest, len(item))
            scalars.extend(str(key) for key in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            longest = max(longest, len(item))
            stack.extend(item)
        elif item is not None:
            scalars.append(_json_scalar(item))
    if _is_row_level(longest, input_rows, thresholds):
        reasons.append(
            Reason(
                "row-level",
                f"The file holds a list as long as {thresholds.row_level_share:.0%} or more "
                "of the input's rows: row-level data cannot leave.",
            )
        )
    hits = sum(1 for value in scalars if _is_identifier(value, sensitive)) if sensitive else 0
    if hits:
        reasons.append(_identifiers(hits, "values"))
    checks = entry.get("checks") if isinstance(entry.get("checks"), dict) else {}
    dof = _number(checks.get("degrees_of_freedom"))
    if dof is not None and dof < thresholds.min_degrees_of_freedom:
        reasons.append(
            Reason(
                "degrees-of-freedom",
                f"The model has fewer than {thresholds.min_degrees_of_freedom} residual "
                "degrees of freedom: too few observations for its parameters.",
            )
        )
    else:
        reasons.append(Reason("human-review", "Metrics are checked by a person before release."))
    return reasons


def _json_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _figure_reasons(entry: dict, thresholds: Thresholds) -> list[Reason]:
    checks = entry.get("checks") if isinstance(entry.get("checks"), dict) else {}
    counts = checks.get("counts") if entry.get("type") == "figure" else None
    if isinstance(counts, list) and counts:
        grid = counts if all(isinstance(row, list) for row in counts) else [counts]
        counts = [
            ((row, column), _number(value))
            for row, values in enumerate(grid, 1)
            for column, value in enumerate(values, 1)
        ]
        return _count_reasons(counts, thresholds, what="bars" if len(grid) == 1 else "cells")
    return [Reason("human-review", "Images are checked by a person before release.")]


# Tables -----------------------------------------------------------------------------


def _table_reasons(
    text: str, entry: dict, input_rows: int, sensitive: frozenset[str], thresholds: Thresholds
) -> list[Reason]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return [Reason("file-type", "The file is not a well-formed CSV table.")]
    header_rows = _whole(entry.get("header_rows"), default=1, highest=len(rows))
    index_columns = _whole(entry.get("index_columns"), default=0, highest=64)
    body = rows[header_rows:]
    cells = [row[index_columns:] for row in body]
    reasons = []
    if _is_row_level(len(body), input_rows, thresholds):
        reasons.append(
            Reason(
                "row-level",
                f"The table has as many rows as {thresholds.row_level_share:.0%} or more of "
                "the input's: row-level data cannot leave; tabulate or summarise it.",
            )
        )
    if sensitive:
        hits = sum(1 for row in rows for cell in row if _is_identifier(cell, sensitive))
        if hits:
            reasons.append(_identifiers(hits, "cells"))

    kind = entry.get("kind") if entry.get("type", "table") == "table" else None
    checks = entry.get("checks") if isinstance(entry.get("checks"), dict) else {}
    checked = False
    if kind == "frequency" or entry.get("method") == "crosstab":
        reasons += _frequency_reasons(cells, checks, thresholds)
        checked = True
    if kind == "statistics" or any(key in checks for key in _STATISTICS_CHECKS):
        reasons += _statistics_reasons(cells, checks, thresholds)
        checked = True
    if not checked:
        reasons.append(
            Reason("human-review", "Tables of models and other results are checked by a person.")
        )
    return reasons


def _frequency_reasons(
    cells: list[list[str]], checks: dict, thresholds: Thresholds
) -> list[Reason]:
    counts = [
        ((row, column), _number(value))
        for row, values in enumerate(cells, 1)
        for column, value in enumerate(values, 1)
    ]
    # Counts the SDK recorded can only add to what the file shows; a cell blank in the
    # file (suppressed) is not counted.
    recorded = _grid(checks.get("counts"), cells)
    if recorded is not None:
        counts += [
            (position, _number(value))
            for position, value in recorded.items()
            if not _is_blank(cells[position[0] - 1][position[1] - 1])
        ]
    if all(count is None for _, count in counts):
        return [Reason("no-cell-data", "The checks found no counts in this frequency table.")]
    return _count_reasons(counts, thresholds, what="cells")


def _count_reasons(
    counts: list[tuple[tuple[int, int], float | None]], thresholds: Thresholds, *, what: str
) -> list[Reason]:
    """The threshold and zeros rules over (position, count) pairs."""
    small = sorted(
        {
            position
            for position, count in counts
            if count is not None and 0 < count < thresholds.min_cell_count
        }
    )
    zeros = sorted(
        {position for position, count in counts if count == 0 and thresholds.zeros_disclosive}
    )
    advice = (
        "use wider bins"
        if what == "bars"
        else f"suppress {_plural(small, 'it', 'them')} (tre_sdk.suppress_small_cells) or "
        "group categories"
    )
    reasons = []
    if small:
        reasons.append(
            Reason(
                "threshold",
                f"{_cells_text(small, what)} {_plural(small, 'has a count', 'have counts')} of 1 "
                f"to {thresholds.min_cell_count - 1}, below the minimum of "
                f"{thresholds.min_cell_count}: {advice}.",
                small,
            )
        )
    if zeros:
        reasons.append(
            Reason(
                "zeros",
                f"{_cells_text(zeros, what)} {_plural(zeros, 'is', 'are')} zero, which can "
                "disclose that everyone in a group shares (or lacks) a trait: a person checks "
                f"{_plural(zeros, 'it', 'them')}.",
                zeros,
            )
        )
    return reasons


_STATISTICS_CHECKS = ("cell_counts", "nk_ratios", "p_ratios")


def _statistics_reasons(
    cells: list[list[str]], checks: dict, thresholds: Thresholds
) -> list[Reason]:
    grids = [_grid(checks.get(key), cells) for key in _STATISTICS_CHECKS]
    if all(grid is None for grid in grids):
        return [
            Reason(
                "no-cell-data",
                "The checks cannot see how many records each cell summarises: use "
                "tre_sdk.pivot_table so the checks can see cell counts.",
            )
        ]
    small, dominated, estimable, unknown = [], [], [], []
    for row, values in enumerate(cells, 1):
        for column, value in enumerate(values, 1):
            if _is_blank(value):
                continue  # an empty or suppressed cell discloses nothing
            position = (row, column)
            count, nk, p = (None if grid is None else _number(grid[position]) for grid in grids)
            if count is None and nk is None and p is None:
                unknown.append(position)
            if count is not None and count < thresholds.min_cell_count:
                small.append(position)
            if nk is not None and nk > thresholds.nk_k:
                dominated.append(position)
            if p is not None and p < thresholds.p_ratio:
                estimable.append(position)
    reasons = []
    if small:
        reasons.append(
            Reason(
                "threshold",
                f"{_cells_text(small, 'cells')} {_plural(small, 'summarises', 'summarise')} "
                f"fewer than {thresholds.min_cell_count} records, the minimum: suppress "
                f"{_plural(small, 'it', 'them')} (tre_sdk.suppress_small_cells) or group "
                "categories.",
                small,
            )
        )
    if dominated:
        reasons.append(
            Reason(
                "dominance-nk",
                f"{_cells_text(dominated, 'cells')} {_plural(dominated, 'is', 'are')} dominated "
                f"by {_plural(dominated, 'its', 'their')} {thresholds.nk_n} largest "
                f"contributors, who hold more than {thresholds.nk_k:.0%} of the total (the N-K "
                "rule).",
                dominated,
            )
        )
    if estimable:
        reasons.append(
            Reason(
                "p-ratio",
                f"{_cells_text(estimable, 'cells')} {_plural(estimable, 'fails', 'fail')} the p% "
                "rule: the second largest contributor could estimate the largest one's value "
                f"to within {thresholds.p_ratio:.0%}.",
                estimable,
            )
        )
    if unknown:
        reasons.append(
            Reason(
                "no-cell-data",
                f"{_cells_text(unknown, 'cells')} {_plural(unknown, 'has', 'have')} no recorded "
                "cell counts: use tre_sdk.pivot_table so the checks can see cell counts.",
                unknown,
            )
        )
    recorded_n = checks.get("nk_n")
    if grids[1] is not None and recorded_n is not None and recorded_n != thresholds.nk_n:
        reasons.append(
            Reason(
                "no-cell-data",
                "Dominance was recorded for a different number of largest contributors than "
                f"the {thresholds.nk_n} this workspace checks: a person checks it.",
            )
        )
    return reasons


def _grid(value, cells: list[list[str]]) -> dict[tuple[int, int], object] | None:
    """Per-cell metadata keyed by position, if it has exactly the table's shape."""
    if not isinstance(value, list) or len(value) != len(cells):
        return None
    grid = {}
    for row, (recorded, values) in enumerate(zip(value, cells, strict=True), 1):
        if not isinstance(recorded, list) or len(recorded) != len(values):
            return None
        for column, item in enumerate(recorded, 1):
            grid[(row, column)] = item
    return grid


# Helpers ----------------------------------------------------------------------------


def _is_row_level(rows: int, input_rows: int, thresholds: Thresholds) -> bool:
    return input_rows >= _ROW_LEVEL_MIN_INPUT and rows >= thresholds.row_level_share * input_rows


def _identifiers(count: int, what: str) -> Reason:
    noun = what if count > 1 else what[:-1]
    return Reason(
        "identifiers",
        f"{count} {noun} of this output {'are' if count > 1 else 'is'} equal to values of the "
        "input's identifier columns (pseudonymised IDs and the like): identifiers cannot leave.",
    )


def _forms(text: str) -> tuple[str, ...]:
    """A value's string forms: 42 and 42.0 are the same identifier."""
    if re.fullmatch(r"-?\d+", text):
        return (text, f"{text}.0")
    if re.fullmatch(r"-?\d+\.0+", text):
        return (text, text.split(".")[0])
    return (text,)


def _is_identifier(text: str, sensitive: frozenset[str]) -> bool:
    text = text.strip()
    if not text:
        return False
    if any(form in sensitive for form in _forms(text)):
        return True
    if _SEPARATORS.search(text) or text[-1] in ".!?":
        for word in _SEPARATORS.split(text):
            word = word.rstrip(".!?")
            if word and word != text and any(form in sensitive for form in _forms(word)):
                return True
    return False


def _plural(items: list, singular: str, plural: str) -> str:
    return singular if len(items) == 1 else plural


def _cells_text(cells: list[tuple[int, int]], what: str) -> str:
    """Cells by position only: "Cells (row 3, column 2), (row 5, column 2)"."""
    if what == "bars":
        subject = _plural(cells, "Bar", "Bars")
        shown = ", ".join(str(column) for _, column in cells[:_CELLS_SHOWN])
    else:
        subject = _plural(cells, "Cell", "Cells")
        shown = ", ".join(f"(row {row}, column {column})" for row, column in cells[:_CELLS_SHOWN])
    more = len(cells) - _CELLS_SHOWN
    return f"{subject} {shown}" + (f" and {more} more" if more > 0 else "")


def _is_blank(value) -> bool:
    return not str(value).strip() or str(value).strip().lower() in {"nan", "<na>", "none", "null"}


def _number(value) -> float | None:
    """A finite number from a cell or a manifest value, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _whole(value, *, default: int, highest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return min(default, highest)
    return max(0, min(value, highest))
