"""The airlock's disclosure rules over an output's content: the SDC parameters
(`Thresholds`) and reasons (`Reason`), frequency and statistics tables (threshold, zeros,
N-K dominance, p% rule), histogram counts, JSON metrics (degrees of freedom), text, and
the row-level and identifier rules. Plain Python, no Django; `jobs.disclosure` re-exports
`Thresholds` and `Reason` and dispatches to these by file type.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field, fields

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


# Content ----------------------------------------------------------------------------


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
