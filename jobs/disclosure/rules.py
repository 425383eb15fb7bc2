"""The airlock's disclosure rules over an output's content: the SDC parameters
(`Thresholds`), reasons (`Reason`), what the checks know of a run's inputs (`Inputs`),
frequency and statistics tables (threshold, zeros, N-K dominance, p% rule), histogram
counts, JSON metrics (degrees of freedom), text, names and descriptions (`check_label`),
the treatments a table claims (recomputed from the file), and the row-level and
identifier rules. Plain Python, no Django; `jobs.disclosure` dispatches to these by file
type and re-exports what callers need.

What the SDK's manifest claims (`jobs.manifest.Entry`) is used to pick rules and to add
failures; where a verdict would otherwise rest on a claim the file cannot confirm (a
statistics table's cell counts and ratios, a histogram's bar counts, a table's layout),
an "unverified-claims" reason keeps it at review.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from jobs.disclosure.recompute import InputTables, Recomputed, read_layout
from jobs.disclosure.values import RowValues, text_lines
from jobs.manifest import ROUNDED, SUPPRESSED, Entry, Grid

__all__ = [
    "Inputs",
    "Reason",
    "TableResult",
    "Thresholds",
    "check_label",
    "figure_reasons",
    "json_reasons",
    "table_reasons",
    "text_reasons",
]

# What separates words in text, so an identifier inside a sentence or a cell is found.
_SEPARATORS = re.compile(r"[\s,;:()\[\]{}<>\"'|=]+")
_CELLS_SHOWN = 10
_ROW_LEVEL_MIN_INPUT = 20
_MAX_JSON_RECORDS = 200_000


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
    """Why an output failed or needs review: a rule, a message for the output checkers,
    and the 1-based (row, column) cells of the table body it is about. Messages never
    hold a value or a label of the data, but they do say where (cells, lines, counts of
    them), which a script can choose by the data: researchers see only the rule's name
    before release (`Verdict.for_researcher`)."""

    rule: str
    message: str
    cells: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Inputs:
    """What the checks know of the run's real inputs: the largest input's row count, the
    text of every value of the columns that identify people, and (optionally) the inputs'
    rows indexed to find row-level tuples (`RowValues.from_frames`) and the inputs
    themselves, to recompute tables' cells (`InputTables.from_frames`)."""

    input_rows: int
    sensitive_values: frozenset[str]
    thresholds: Thresholds
    row_values: RowValues | None = None
    tables: InputTables | None = None


@dataclass(frozen=True)
class TableResult:
    """A table's reasons, and each treatment it claims with whether the file bears it out
    (True, False, or None when the file cannot say)."""

    reasons: list[Reason]
    treatments: list[dict]


# Names, descriptions and text --------------------------------------------------------


def check_label(
    text: str,
    *,
    sensitive_values: frozenset[str],
    row_values: RowValues | None = None,
    fewer_than: int = 10,
    what: str = "name or description",
) -> list[Reason]:
    """Check a name or description written inside the sandbox for values of the inputs'
    identifying columns and for row-level tuples (three or more columns of one input
    row). Returns the reasons found, naming no value."""
    if not isinstance(text, str) or not text.strip():
        return []
    # Output names join words with _ (a file name with its suffix): read them as words.
    spaced = text.replace("_", " ")
    reasons = []
    if sensitive_values and any(
        _is_identifier(word, sensitive_values)
        for candidate in {text, spaced}
        for word in _SEPARATORS.split(candidate)
    ):
        reasons.append(
            Reason(
                "identifiers",
                f"The output's {what} holds values of the input's identifier columns "
                "(pseudonymised IDs and the like): identifiers cannot leave.",
            )
        )
    if row_values is not None and row_values.find(spaced, fewer_than=fewer_than):
        reasons.append(
            Reason(
                "row-level",
                f"The output's {what} holds the values of {row_values.min_columns} or more "
                "columns of one input row: row-level data cannot leave.",
            )
        )
    return reasons


def text_reasons(text: str, inputs: Inputs) -> list[Reason]:
    """A text output or log: identifiers, row-level tuples, and always a person."""
    reasons = []
    sensitive = inputs.sensitive_values
    hits = (
        sum(1 for word in _SEPARATORS.split(text) if _is_identifier(word, sensitive))
        if sensitive
        else 0
    )
    if hits:
        reasons.append(_identifiers(hits, "words"))
    reasons += _row_tuple_reasons(text_lines(text), inputs, what="lines")
    reasons.append(Reason("human-review", "Text is checked by a person before release."))
    return reasons


def _row_tuple_reasons(lines: list[str], inputs: Inputs, *, what: str) -> list[Reason]:
    if inputs.row_values is None:
        return []
    found = inputs.row_values.find_in_lines(lines, fewer_than=inputs.thresholds.min_cell_count)
    reasons = []
    if found.lines:
        count = len(found.lines)
        where = (
            _positions_text(found.lines, "Line", "Lines")
            if what == "lines"
            else f"{count} {'line or record' if count == 1 else 'lines or records'}"
        )
        reasons.append(
            Reason(
                "row-level",
                f"{where} of this output {'holds' if count == 1 else 'hold'} the values of "
                f"{inputs.row_values.min_columns} or more columns of one input row, which few "
                "people share: row-level data cannot leave.",
            )
        )
    if found.capped:
        reasons.append(
            Reason(
                "human-review",
                "The search for input rows in this output stopped at its limits before the "
                "end: a person reads the rest.",
            )
        )
    return reasons


# JSON metrics -----------------------------------------------------------------------


def json_reasons(text: str, entry: Entry | None, inputs: Inputs) -> list[Reason]:
    """A JSON output: row-level lists and records, identifiers, degrees of freedom."""
    thresholds = inputs.thresholds
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return [Reason("file-type", "The file is not valid JSON.")]
    reasons = []
    scalars, longest, records = [], 0, []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            children = list(item.values()) if isinstance(item, dict) else item
            longest = max(longest, len(children))
            if isinstance(item, dict):
                scalars.extend(str(key) for key in item)
            values = [
                _json_scalar(child)
                for child in children
                if child is not None and not isinstance(child, dict | list)
            ]
            scalars.extend(values)
            if len(values) > 1 and len(records) < _MAX_JSON_RECORDS:
                # A record (or a list of values), however it is indented: one line.
                records.append(" ".join(values))
            stack.extend(child for child in children if isinstance(child, dict | list))
        elif item is not None:
            scalars.append(_json_scalar(item))
    if _is_row_level(longest, inputs.input_rows, thresholds):
        reasons.append(
            Reason(
                "row-level",
                f"The file holds a list as long as {thresholds.row_level_share:.0%} or more "
                "of the input's rows: row-level data cannot leave.",
            )
        )
    sensitive = inputs.sensitive_values
    hits = sum(1 for value in scalars if _is_identifier(value, sensitive)) if sensitive else 0
    if hits:
        reasons.append(_identifiers(hits, "values"))
    reasons += _row_tuple_reasons(text_lines(text) + records, inputs, what="records")
    checks = entry.checks if entry is not None and entry.type == "metric" else None
    dof = checks.degrees_of_freedom if checks is not None else None
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


# Figures ----------------------------------------------------------------------------


def figure_reasons(entry: Entry | None, thresholds: Thresholds) -> list[Reason]:
    """A PNG: a histogram's recorded bar counts can fail it; they are claims, so a
    histogram whose counts hold goes to a person all the same."""
    checks = entry.checks if entry is not None and entry.type == "figure" else None
    grid = checks.counts if checks is not None else None
    if not grid:
        return [Reason("human-review", "Images are checked by a person before release.")]
    bars = checks.counts_are_bars
    counts = [
        ((row, column), value)
        for row, values in enumerate(grid, 1)
        for column, value in enumerate(values, 1)
    ]
    reasons = _count_reasons(counts, thresholds, what="bars" if bars else "cells")
    reasons.append(
        Reason(
            "unverified-claims",
            f"The {'bar' if bars else 'cell'} counts were recorded inside the sandbox and "
            "cannot be checked from the image: a checker confirms from the script that the "
            "figure is the tre_sdk.hist it claims to be.",
        )
    )
    return reasons


# Tables -----------------------------------------------------------------------------


_STATISTICS_CHECKS = ("cell_counts", "nk_ratios", "p_ratios")


def table_reasons(text: str, entry: Entry | None, inputs: Inputs) -> TableResult:
    """A CSV table: row-level (length, tuples, extracts), identifiers, then every rule
    that can apply to its cells whatever kind it is declared.

    A declared frequency table (`tre_sdk.crosstab`) is checked from the counts in the
    file. Any other table's cells are first recomputed from the inputs
    (`jobs.disclosure.recompute`): a cell equal to a statistic of the group its labels
    name is checked by what it summarises (threshold, N-K dominance, p%, zeros, and one
    person's value for a minimum or maximum); the cells left over are checked as counts
    when they are all whole numbers ("cells look like counts"), from the cell counts the
    SDK recorded for a statistics table (claims: they can fail it, not pass it), and
    otherwise by a person. A table passes alone only when every rule was checked from
    the file and the inputs and held."""
    thresholds = inputs.thresholds
    claimed = list(entry.treatments) if entry is not None else []
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return TableResult(
            [Reason("file-type", "The file is not a well-formed CSV table.")],
            [{"claim": claim, "verified": None} for claim in claimed],
        )
    is_table = entry is not None and entry.type == "table"
    declared_header = (
        _bounded(entry.header_rows, default=1, highest=len(rows))
        if is_table and entry.header_rows is not None
        else None
    )
    declared_index = (
        _bounded(entry.index_columns, default=0, highest=64)
        if is_table and entry.index_columns is not None
        else None
    )
    layout = read_layout(
        rows, header_rows=declared_header, index_columns=declared_index, inputs=inputs.tables
    )
    header_rows, index_columns = layout.header_rows, layout.index_columns
    cells = layout.cells
    recomputed = Recomputed()
    if inputs.tables is not None and cells:
        try:
            recomputed = inputs.tables.recompute(layout, fewer_than=thresholds.min_cell_count)
        except Exception:  # fail closed: a table the recomputation trips on goes to a person
            recomputed = Recomputed(capped=True)
    reasons = []
    if _is_row_level(len(cells), inputs.input_rows, thresholds):
        reasons.append(
            Reason(
                "row-level",
                f"The table has as many rows as {thresholds.row_level_share:.0%} or more of "
                "the input's: row-level data cannot leave; tabulate or summarise it.",
            )
        )
    if recomputed.extract_rows:
        reasons.append(
            Reason(
                "row-level",
                f"{_positions_text(recomputed.extract_rows, 'Row', 'Rows')} of the table "
                f"{_plural(recomputed.extract_rows, 'repeats', 'repeat')} the values of input "
                "rows in the columns its header names as the input's, a combination fewer "
                f"than {thresholds.min_cell_count} people share: an extract of records "
                "cannot leave, however few its rows.",
            )
        )
    sensitive = inputs.sensitive_values
    if sensitive:
        hits = sum(1 for row in rows for cell in row if _is_identifier(cell, sensitive))
        if hits:
            reasons.append(_identifiers(hits, "cells"))
    reasons += _row_tuple_reasons(
        _unexplained_lines(text, rows, layout, recomputed), inputs, what="lines"
    )

    kind = entry.kind if is_table else None
    method = entry.method if is_table else None
    checks = entry.checks if is_table else None
    frequency = kind == "frequency" or method == "crosstab"
    statistics = kind == "statistics" or (
        checks is not None and any(getattr(checks, key) is not None for key in _STATISTICS_CHECKS)
    )
    if recomputed.capped:
        reasons.append(
            Reason(
                "human-review",
                "The recomputation of this table from the inputs stopped at its limits: the "
                "cells it did not reach are checked as the file shows them, and by a person.",
            )
        )
    count_like = False
    if frequency:
        reasons += _frequency_reasons(cells, checks, thresholds)
        reasons += _layout_reasons(rows, header_rows, index_columns, thresholds)
    else:
        reasons += _recomputed_reasons(recomputed, thresholds)
        figures = [
            (position, value)
            for position, value in _figures(cells)
            if position not in recomputed.cells
        ]
        if statistics:
            reasons += _statistics_reasons(
                cells, checks, thresholds, unexplained={position for position, _ in figures}
            )
        elif figures and all(value >= 0 and value == int(value) for _, value in figures):
            count_like = True
            reasons += _count_like_reasons(figures, thresholds)
        elif figures:
            reasons.append(
                Reason(
                    "human-review",
                    f"{_cells_text([position for position, _ in figures], 'cells')} "
                    f"{_plural(figures, 'is', 'are')} no count or statistic the checks could "
                    "recompute from the inputs (a model, a proportion, a table of a filtered "
                    "or derived frame): a person checks "
                    f"{_plural(figures, 'it', 'them')}.",
                    [position for position, _ in figures[:_CELLS_SHOWN]],
                )
            )
        elif not recomputed.cells and not any(reason.rule == "row-level" for reason in reasons):
            reasons.append(
                Reason("human-review", "The table holds no figure the checks could read.")
            )
    treatments = _verify_treatments(claimed, cells, frequency=frequency or count_like)
    if any(item["verified"] is False for item in treatments):
        reasons.append(
            Reason(
                "treatments",
                "A treatment recorded for this table is not borne out by the file (fewer blank "
                "cells than it says were suppressed, counts still under the suppression "
                "threshold, or figures that are not multiples of the rounding base): a person "
                "checks the table against the script.",
            )
        )
    return TableResult(reasons, treatments)


def _unexplained_lines(text: str, rows, layout, recomputed: Recomputed) -> list[str]:
    """The table's lines for the search for input rows, less those whose every figure was
    recomputed as a statistic of a group (blanked, so lines keep their numbers): their
    labels name groups, and a group of fewer than the threshold fails that rule. This
    is what keeps a long table of statistics from costing the search minutes."""
    lines = text_lines(text)
    if len(lines) != len(rows):
        return lines  # a quoted newline: rows and lines do not align
    for row, values in enumerate(layout.cells, 1):
        figures = [column for column, value in enumerate(values, 1) if _number(value) is not None]
        if figures and all((row, column) in recomputed.cells for column in figures):
            lines[layout.header_rows + row - 1] = ""
    return lines


def _figures(cells: list[list[str]]) -> list[tuple[tuple[int, int], float]]:
    return [
        ((row, column), value)
        for row, values in enumerate(cells, 1)
        for column, text in enumerate(values, 1)
        if (value := _number(text)) is not None
    ]


def _recomputed_reasons(recomputed: Recomputed, thresholds: Thresholds) -> list[Reason]:
    """ACRO's rules on the cells recomputed from the inputs: every rule any reading of a
    cell fails (a cell that could be a count or a mean is checked as both)."""
    small, zeros, dominated, estimable, extremes = [], [], [], [], []
    for position, readings in sorted(recomputed.cells.items()):
        safe = [cell for cell in readings if cell.statistic not in ("min", "max")]
        if not safe:
            extremes.append(position)
            continue
        if any(0 < cell.records < thresholds.min_cell_count for cell in safe):
            small.append(position)
        if thresholds.zeros_disclosive and any(
            cell.records == 0 and cell.statistic == "count" for cell in safe
        ):
            zeros.append(position)
        if any(cell.nk is not None and cell.nk > thresholds.nk_k for cell in safe):
            dominated.append(position)
        if any(cell.p is not None and cell.p < thresholds.p_ratio for cell in safe):
            estimable.append(position)
    reasons = []
    if small:
        reasons.append(
            Reason(
                "threshold",
                f"{_cells_text(small, 'cells')} "
                f"{_plural(small, 'counts or summarises', 'count or summarise')} 1 to "
                f"{thresholds.min_cell_count - 1} records of the inputs (recomputed from the "
                f"real data), below the minimum of {thresholds.min_cell_count}: suppress "
                f"{_plural(small, 'it', 'them')} (tre_sdk.suppress_small_cells) or group "
                "categories.",
                small,
            )
        )
    if zeros:
        reasons.append(
            Reason(
                "zeros",
                f"{_cells_text(zeros, 'cells')} {_plural(zeros, 'counts', 'count')} no record "
                "of the inputs, which can disclose that everyone in a group shares (or lacks) "
                f"a trait: a person checks {_plural(zeros, 'it', 'them')}.",
                zeros,
            )
        )
    reasons += _dominance_reasons(
        dominated, estimable, thresholds, " (recomputed from the real data)"
    )
    if extremes:
        reasons.append(
            Reason(
                "extremes",
                f"{_cells_text(extremes, 'cells')} {_plural(extremes, 'is', 'are')} the "
                "smallest or largest value of a group of the inputs: one person's value "
                "cannot leave.",
                extremes,
            )
        )
    return reasons


def _dominance_reasons(dominated, estimable, thresholds: Thresholds, source: str) -> list[Reason]:
    """The N-K and p% rules' reasons for the cells that fail them; `source` says where
    the ratios come from."""
    reasons = []
    if dominated:
        reasons.append(
            Reason(
                "dominance-nk",
                f"{_cells_text(dominated, 'cells')} {_plural(dominated, 'is', 'are')} dominated "
                f"by {_plural(dominated, 'its', 'their')} {thresholds.nk_n} largest "
                f"contributors, who hold more than {thresholds.nk_k:.0%} of the total (the N-K "
                f"rule{source}).",
                dominated,
            )
        )
    if estimable:
        reasons.append(
            Reason(
                "p-ratio",
                f"{_cells_text(estimable, 'cells')} {_plural(estimable, 'fails', 'fail')} the p% "
                f"rule{source}: the second largest contributor could estimate the largest "
                f"one's value to within {thresholds.p_ratio:.0%}.",
                estimable,
            )
        )
    return reasons


def _count_like_reasons(
    figures: list[tuple[tuple[int, int], float]], thresholds: Thresholds
) -> list[Reason]:
    """Cells the inputs do not explain, all whole numbers: counts, as far as the checks
    can tell, so the threshold and zeros rules apply; and since nothing confirms they
    are counts, a person does even when they hold."""
    small = sorted(position for position, value in figures if 0 < value < thresholds.min_cell_count)
    zeros = sorted(
        position for position, value in figures if value == 0 and thresholds.zeros_disclosive
    )
    reasons = []
    if small:
        reasons.append(
            Reason(
                "threshold",
                f"The cells look like counts: {len(small)} below {thresholds.min_cell_count} "
                f"({_cells_text(small, 'cells').lower()}): suppress "
                f"{_plural(small, 'it', 'them')} (tre_sdk.suppress_small_cells) or group "
                "categories; if they are not counts, tell the checkers what they are.",
                small,
            )
        )
    if zeros:
        reasons.append(
            Reason(
                "zeros",
                f"The cells look like counts: {len(zeros)} {_plural(zeros, 'is', 'are')} zero "
                f"({_cells_text(zeros, 'cells').lower()}), which can disclose that everyone "
                "in a group shares (or lacks) a trait: a person checks them.",
                zeros,
            )
        )
    reasons.append(
        Reason(
            "human-review",
            f"The cells look like counts ({len(small)} below {thresholds.min_cell_count}), but "
            "the checks could not recompute them from the inputs: a person confirms what "
            "they are (tre_sdk.crosstab records a frequency table as one).",
        )
    )
    return reasons


def _frequency_reasons(cells: list[list[str]], checks, thresholds: Thresholds) -> list[Reason]:
    counts = [
        ((row, column), _number(value))
        for row, values in enumerate(cells, 1)
        for column, value in enumerate(values, 1)
    ]
    # Counts the SDK recorded can only add to what the file shows; a cell blank in the
    # file (suppressed) is not counted.
    recorded = _grid(checks.counts if checks is not None else None, cells)
    if recorded is not None:
        counts += [
            (position, value)
            for position, value in recorded.items()
            if not _is_blank(cells[position[0] - 1][position[1] - 1])
        ]
    if all(count is None for _, count in counts):
        return [Reason("no-cell-data", "The checks found no counts in this frequency table.")]
    return _count_reasons(counts, thresholds, what="cells")


def _layout_reasons(
    rows: list[list[str]], header_rows: int, index_columns: int, thresholds: Thresholds
) -> list[Reason]:
    """Which rows and columns are labels is the SDK's record (header_rows,
    index_columns): if the label area holds numbers that would fail the threshold were
    they counts, the frequency rules' pass rests on that claim."""
    label_cells = [cell for row in rows[1:header_rows] for cell in row]
    label_cells += [cell for row in rows[header_rows:] for cell in row[:index_columns]]
    small = [
        number
        for number in map(_number, label_cells)
        if number is not None and 0 < number < thresholds.min_cell_count
    ]
    if not small:
        return []
    return [
        Reason(
            "unverified-claims",
            "Some of the table's label rows or columns, as recorded inside the sandbox, hold "
            f"numbers from 1 to {thresholds.min_cell_count - 1}: a checker confirms they are "
            "labels, not counts.",
        )
    ]


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


def _statistics_reasons(
    cells: list[list[str]], checks, thresholds: Thresholds, *, unexplained=None
) -> list[Reason]:
    """The rules over the per-cell counts and ratios the SDK recorded: claims, so they
    add failures; the cells the inputs did not explain (`unexplained`, every cell when
    None) rest on them, which a person confirms."""
    unexplained = (
        {(r, c) for r, values in enumerate(cells, 1) for c in range(1, len(values) + 1)}
        if unexplained is None
        else set(unexplained)
    )
    grids = [
        _grid(getattr(checks, key) if checks is not None else None, cells)
        for key in _STATISTICS_CHECKS
    ]
    unexplained = {
        position
        for position in unexplained
        if not _is_blank(cells[position[0] - 1][position[1] - 1])
    }
    if all(grid is None for grid in grids):
        if not unexplained:
            return []  # every cell was recomputed from the inputs
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
            count, nk, p = (None if grid is None else grid[position] for grid in grids)
            if count is None and nk is None and p is None and position in unexplained:
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
    reasons += _dominance_reasons(dominated, estimable, thresholds, "")
    if unknown:
        reasons.append(
            Reason(
                "no-cell-data",
                f"{_cells_text(unknown, 'cells')} {_plural(unknown, 'has', 'have')} no recorded "
                "cell counts: use tre_sdk.pivot_table so the checks can see cell counts.",
                unknown,
            )
        )
    if grids[1] is not None and checks.nk_n is not None and checks.nk_n != thresholds.nk_n:
        reasons.append(
            Reason(
                "no-cell-data",
                "Dominance was recorded for a different number of largest contributors than "
                f"the {thresholds.nk_n} this workspace checks: a person checks it.",
            )
        )
    if unexplained:
        reasons.append(
            Reason(
                "unverified-claims",
                f"{_cells_text(sorted(unexplained), 'cells')} of this statistics table could "
                "not be recomputed from the inputs (a filtered or derived frame), so their "
                "cell counts, N-K and p-ratios rest on what was recorded inside the sandbox: "
                "a checker confirms from the script that they come from tre_sdk.pivot_table "
                "on these data.",
            )
        )
    return reasons


def _grid(value: Grid | None, cells: list[list[str]]) -> dict[tuple[int, int], object] | None:
    """Per-cell figures keyed by position, if they have exactly the table's shape."""
    if value is None or len(value) != len(cells):
        return None
    grid = {}
    for row, (recorded, values) in enumerate(zip(value, cells, strict=True), 1):
        if len(recorded) != len(values):
            return None
        for column, item in enumerate(recorded, 1):
            grid[(row, column)] = item
    return grid


def _verify_treatments(
    claimed: Iterable[str], cells: list[list[str]], *, frequency: bool
) -> list[dict]:
    """Each claimed treatment with whether the table's body bears it out.

    "suppressed N cells below T": the body has at least as many blank cells as all the
    suppression claims together, and (in a frequency table, whose cells are counts) no
    count from 1 to T - 1 is left. "rounded to base B": every number of the body is a
    multiple of B (None when there is no number to look at)."""
    claimed = list(claimed)
    body = [cell for row in cells for cell in row]
    blanks = sum(1 for cell in body if _is_blank(cell))
    numbers = [number for number in map(_number, body) if number is not None]
    suppressed_total = sum(
        int(match.group(1)) for claim in claimed if (match := SUPPRESSED.fullmatch(claim))
    )
    results = []
    for claim in claimed:
        verified = None
        if match := SUPPRESSED.fullmatch(claim):
            below = int(match.group(2))
            verified = blanks >= suppressed_total and not (
                frequency and any(0 < number < below for number in numbers)
            )
        elif match := ROUNDED.fullmatch(claim):
            base = int(match.group(1))
            if numbers:
                verified = all(_is_multiple(number, base) for number in numbers)
        results.append({"claim": claim, "verified": verified})
    return results


def _is_multiple(number: float, base: int) -> bool:
    quotient = number / base
    return abs(quotient - round(quotient)) <= 1e-9 * max(1.0, abs(quotient))


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


def _positions_text(numbers: Iterable[int], singular: str, plural: str) -> str:
    numbers = list(numbers)
    shown = ", ".join(str(number) for number in numbers[:_CELLS_SHOWN])
    more = len(numbers) - _CELLS_SHOWN
    return f"{_plural(numbers, singular, plural)} {shown}" + (
        f" and {more} more" if more > 0 else ""
    )


def _is_blank(value) -> bool:
    return not str(value).strip() or str(value).strip().lower() in {"nan", "<na>", "none", "null"}


def _number(value) -> float | None:
    """A finite number from a cell or a recorded figure, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        try:
            number = float(str(value).strip())
        except (ValueError, OverflowError):
            return None
    return number if math.isfinite(number) else None


def _bounded(value: int | None, *, default: int, highest: int) -> int:
    if value is None:
        return min(default, highest)
    return max(0, min(value, highest))
