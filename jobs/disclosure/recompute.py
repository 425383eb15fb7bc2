"""Tables recomputed from the run's real inputs: what each cell of a CSV table is.

ACRO checks a table as it is made, inside the researcher's session, and must trust that
session. The airlock sees only the file a script wrote, but it also holds the real
inputs the run read, outside the sandbox. So it reads the table's labels as the
categories of input columns ("Female" in a row, "Asian" in a column: `sex == Female and
race == Asian`), and for each cell looks for the statistic of the inputs it equals: the
group's count, or the sum, mean, median, standard deviation or variance of a numeric
column over the group, at the precision the cell is written to. A cell that equals one
is *recomputed*: the checks then know how many records it summarises and how far its
largest contributors dominate it, from the data rather than from a claim, and run
ACRO's rules on that (threshold, N-K dominance, p%). What the table's file shows is all
that leaves; a value equal to a statistic of the inputs says no more than that
statistic, whatever the script meant by it. Where a cell could be more than one
statistic, every rule any of them fails is reported.

A cell that equals no such statistic (a table of a filtered or derived frame, a
proportion, a model's coefficient) is *unexplained*; the rules then rest on what the
file shows (cells that look like counts are checked as counts) and on a person.

The layout of a table (which rows are headers, which columns are labels) is read from
the file as pandas writes it (`to_csv` of a crosstab, pivot table, groupby or
value_counts, with or without margins) or taken from the SDK's record.

The same reading finds *extracts*: a table whose columns are named as input columns and
whose rows hold combinations of those columns' values that fewer than the threshold of
input rows share (a sample, a head, a filtered few), however few its rows.

Plain Python with pandas and numpy, no Django. Work is bounded: at most
`MAX_TABLE_CELLS` cells of a table are recomputed, in at most `MAX_GROUPINGS` readings of
its labels, against at most `MAX_VALUE_COLUMNS` numeric columns, and at most
`MAX_FIGURE_SETS` (grouping, column) summaries in at most `MAX_SECONDS` are computed
per run; a table whose
recomputation hit a limit says so (`Recomputed.capped`) and goes to a person.
`bench/disclosure_tables.py` measures it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "AGGREGATES",
    "Cell",
    "InputTables",
    "Layout",
    "Recomputed",
    "read_layout",
]

# Labels of a margin (pandas' margins=True writes "All"): no restriction on that variable.
WILDCARDS = frozenset({"all", "total", "totals", "overall", "sum"})
# What a header may call a statistic; "0" is what pandas names an unnamed Series (a
# size, or a statistic of each column).
AGGREGATES = {
    "count": "count", "size": "count", "n": "count", "counts": "count", "0": "any",
    "frequency": "count", "freq": "count", "number": "count",
    "sum": "sum", "total": "sum",
    "mean": "mean", "average": "mean", "avg": "mean",
    "median": "median",
    "std": "std", "sd": "std",
    "var": "var", "variance": "var",
    "min": "min", "max": "max",
}  # fmt: skip
QUANTILES = {"50%": "median", "25%": "unknown", "75%": "unknown"}
STATISTICS = ("sum", "mean", "median", "std", "var")
EXTREMES = ("min", "max")
MAX_GROUPINGS = 16
MAX_VALUE_COLUMNS = 40
MAX_TABLE_CELLS = 100_000
MAX_FIGURE_SETS = 200  # per run: each is one pass over an input column, grouped
MAX_SECONDS = 120.0  # per run, from its first table: the worker's time is shared
MAX_LABEL_COLUMNS = 6
MAX_LABELS = 100_000  # distinct values of a column of categories, indexed as labels
MAX_NUMERIC_LABELS = 10_000
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def key(value) -> str:
    """A value as a label compares: numbers as numbers (4 == 4.0), text stripped."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return ""
        return repr(round(number, 9))
    if isinstance(value, pd.Timestamp):
        text = value.isoformat(sep=" ")
        return text.removesuffix(" 00:00:00")
    text = str(value).strip()
    if _NUMBER.fullmatch(text):
        try:
            number = float(text)
        except (ValueError, OverflowError):
            return text
        if math.isfinite(number):
            return repr(round(number, 9))
    return text.removesuffix(" 00:00:00")


def number(text) -> float | None:
    text = str(text).strip()
    if not _NUMBER.fullmatch(text):
        return None
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def is_blank(text) -> bool:
    text = str(text).strip().lower()
    return not text or text in {"nan", "<na>", "none", "null", "nat"}


def _tolerance(text: str, value: float) -> float:
    """How far a statistic may be from a cell written as `text` and still be the cell's
    value: half a unit of its last written digit (a mean printed as 38.6 is any mean
    from 38.55 to 38.65), and never less than floating-point noise."""
    text = text.strip().lower()
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    scale = 10.0 ** (int(exponent) if exponent else 0)
    # A hair over half a unit: 20.55 is 20.550000000000001 in binary, and rounds to 20.6.
    return max(0.5 * 10.0**-decimals * scale * (1 + 1e-9), 1e-9 * max(1.0, abs(value)))


# The table's layout ---------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """A CSV table read as labels and a body. `cells` are the body's texts (row by row,
    without the label columns); `row_labels` each body row's label texts; `header` the
    header rows' texts over each body column (one tuple per header row that labels the
    columns); `row_names` and `header_names` the names of the label columns and of each
    header row, where the file gives them ("" where not)."""

    header_rows: int
    index_columns: int
    cells: list[list[str]]
    row_labels: list[tuple[str, ...]]
    header: list[tuple[str, ...]]
    row_names: tuple[str, ...]
    header_names: tuple[str, ...]


def read_layout(
    rows: list[list[str]],
    *,
    header_rows: int | None = None,
    index_columns: int | None = None,
    inputs: InputTables | None = None,
) -> Layout:
    """The layout of a CSV table's rows: as recorded by the SDK when given, else read as
    pandas writes tables. The inputs' columns, when given, tell a column of labels (age
    groups, as numbers) from a column of figures."""
    rows = [list(row) for row in rows]
    while rows and all(is_blank(cell) for cell in rows[-1]):
        rows.pop()
    width = max((len(row) for row in rows), default=0)
    rows = [row + [""] * (width - len(row)) for row in rows]
    if header_rows is None or index_columns is None:
        found_header, found_index = _pandas_layout(rows, width, inputs)
        header_rows = found_header if header_rows is None else header_rows
        index_columns = found_index if index_columns is None else index_columns
    header_rows = max(0, min(header_rows, len(rows)))
    index_columns = max(0, min(index_columns, max(0, width - 1)))
    body = rows[header_rows:]
    heading = rows[:header_rows]
    # pandas writes the index's names on a row of their own under a column header, empty
    # over the body: it names the label columns and labels no body column.
    names_row = None
    if header_rows >= 2 and _is_names_row(heading[-1], index_columns):
        names_row = heading.pop()
    if names_row is not None:
        row_names = tuple(names_row[:index_columns])
    elif heading:
        row_names = tuple(heading[0][:index_columns])
    else:
        row_names = ("",) * index_columns
    header = [tuple(row[index_columns:]) for row in heading]
    # A column header's name is where pandas writes it: over the label columns.
    header_names = tuple(
        next((cell for cell in row[:index_columns] if not is_blank(cell)), "")
        if names_row is not None
        else ""
        for row in heading
    )
    return Layout(
        header_rows=header_rows,
        index_columns=index_columns,
        cells=[row[index_columns:] for row in body],
        row_labels=[tuple(row[:index_columns]) for row in body],
        header=header,
        row_names=row_names,
        header_names=header_names,
    )


def _is_names_row(row: list[str], index_columns: int) -> bool:
    return (
        0 < index_columns < len(row)
        and not is_blank(row[0])
        and all(is_blank(cell) for cell in row[index_columns:])
    )


def _pandas_layout(rows: list[list[str]], width: int, inputs) -> tuple[int, int]:
    if not rows or width < 2:
        return min(1, len(rows)), 0
    # A row of index names under the column headers ends the header (crosstab and pivot
    # tables with named columns, any groupby with several statistics).
    for position in range(1, min(6, len(rows) - 1)):
        row = rows[position]
        filled = next((i for i, cell in enumerate(row) if is_blank(cell)), width)
        if 0 < filled < width and all(is_blank(cell) for cell in row[filled:]):
            # The rows between are column headers: a level's name (or nothing) over the
            # label columns, labels over the body (not a body row of figures).
            between = rows[1:position]
            if all(
                all(is_blank(cell) for cell in above[1:filled])
                and not all(number(cell) is not None for cell in above[filled:] if cell.strip())
                for above in between
            ):
                return position + 1, filled
    # Otherwise one header row, and leading columns of labels: text, or the values of a
    # column the header names as an input column (age groups as numbers).
    header, body = rows[0], rows[1:]
    index = 0
    seen: set[tuple] = set()
    labels = [() for _ in body]
    for column in range(min(width - 1, MAX_LABEL_COLUMNS)):
        values = [row[column] for row in body if not is_blank(row[column])]
        texty = bool(values) and any(number(value) is None for value in values)
        named = (
            inputs is not None
            and bool(values)
            and {key(value) for value in values} <= inputs.values_of(header[column])
        )
        if not (texty or named):
            break
        index = column + 1
        labels = [(*label, row[column]) for label, row in zip(labels, body, strict=True)]
        seen = set(labels)
        if len(seen) == len(labels) and texty is False:
            break  # named numeric labels already tell the rows apart: what follows is data
    return 1, index


# The inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """What one body cell was recomputed as: the statistic, the input column summarised
    ("" for a count), how many records it summarises, and (for sums and means) its N-K
    share and p-ratio; `empty` for a zero that is an empty group."""

    statistic: str
    column: str
    records: int
    nk: float | None = None
    p: float | None = None


@dataclass
class Recomputed:
    """Per body cell (row, column) (1-based), what it was recomputed as: every statistic
    of the inputs it equals (empty when none). `extract_rows` are the body rows that
    repeat a combination of input columns' values fewer than the threshold share;
    `named_columns` the columns (1-based, labels first) whose headers name input
    columns."""

    cells: dict[tuple[int, int], list[Cell]] = field(default_factory=dict)
    extract_rows: list[int] = field(default_factory=list)
    named_columns: list[int] = field(default_factory=list)
    capped: bool = False


@dataclass(eq=False)
class _Frame:
    frame: pd.DataFrame
    names: dict[str, str]  # stripped name -> column
    values: dict[str, frozenset[str]]  # column -> its values' keys (columns of categories)
    numeric: list[str]
    cache: dict = field(default_factory=dict)
    figure_sets: int = 0
    deadline: float | None = None  # time.monotonic() past which nothing new is computed

    def spend(self) -> None:
        """Before a pass over the input: refuse once the run's budget is spent."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Capped

    def keyed(self, column) -> np.ndarray:
        """The column's values as keys (None where missing), once per run."""
        cached = self.cache.get(("keyed", column))
        if cached is None:
            codes, uniques = pd.factorize(self.frame[column], use_na_sentinel=True)
            keys = np.array([key(value) for value in uniques] + [None], dtype=object)
            cached = keys[codes]  # -1, the missing ones, takes the None at the end
            self.cache[("keyed", column)] = cached
        return cached


@dataclass(eq=False)
class InputTables:
    """The run's real inputs, kept to recompute tables' cells. Build it once per run
    with `from_frames`; `recompute` answers for one table."""

    frames: list[_Frame] = field(default_factory=list)
    nk_n: int = 2
    seconds: float = MAX_SECONDS

    @classmethod
    def from_frames(cls, frames: Iterable[pd.DataFrame], *, nk_n: int = 2) -> InputTables:
        """Index each input's columns of categories (their values' keys) and list its
        numeric columns. The frames are kept by reference, not copied."""
        kept = []
        for frame in frames:
            names, values, numeric = {}, {}, []
            for column in frame.columns:
                names.setdefault(str(column).strip(), column)
                series = frame[column]
                if pd.api.types.is_bool_dtype(series.dtype):
                    continue
                is_number = pd.api.types.is_numeric_dtype(series.dtype)
                if is_number:
                    numeric.append(column)
                distinct = series.dropna().unique()
                # Numbers of few values (ages, years, codes) can label a table's rows;
                # a column of almost all different values labels no aggregate.
                if len(distinct) <= (MAX_NUMERIC_LABELS if is_number else MAX_LABELS):
                    values[column] = frozenset(key(value) for value in distinct)
            kept.append(_Frame(frame, names, values, numeric))
        return cls(kept, nk_n)

    def values_of(self, name: str) -> frozenset[str]:
        """The keys of the values of the input columns of this name (as labels)."""
        found = set()
        for frame in self.frames:
            column = frame.names.get(name.strip())
            found |= frame.values.get(column, frozenset()) if column is not None else set()
        return frozenset(found)

    def recompute(self, layout: Layout, *, fewer_than: int) -> Recomputed:
        """What each numeric body cell of the table equals among the statistics of the
        inputs' groups its labels name, and which rows are extracts."""
        result = Recomputed()
        for frame in self.frames:
            if frame.deadline is None:  # the run's budget starts with its first table
                frame.deadline = time.monotonic() + self.seconds
        if sum(len(row) for row in layout.cells) > MAX_TABLE_CELLS:
            result.capped = True
            return result
        for frame in self.frames:
            try:
                _recompute_in(frame, layout, result, self.nk_n)
            except _Capped:
                result.capped = True
            try:
                _extracts_in(frame, layout, result, fewer_than)
            except _Capped:
                result.capped = True
        result.extract_rows = sorted(set(result.extract_rows))
        return result


@dataclass(frozen=True)
class _Dimension:
    """A way the table's labels read: a row's label column or a header row (`where`,
    `position`), whose labels are the values of input `columns` ("group": several when
    the labels fit more than one), the names of statistics ("statistic") or the names
    of numeric input columns ("value")."""

    where: str  # "row" or "header"
    position: int
    kind: str  # "group", "statistic" or "value"
    columns: tuple = ()

    def label(self, layout: Layout, row: int, column: int) -> str:
        if self.where == "row":
            return layout.row_labels[row - 1][self.position]
        return layout.header[self.position][column - 1]


def _read_dimension(frame: _Frame, where: str, position: int, name: str, labels) -> _Dimension:
    texts = [label.strip() for label in labels if not is_blank(label)]
    if not texts:
        return _Dimension(where, position, "none")
    if all(text.lower() in AGGREGATES or text in QUANTILES for text in texts):
        return _Dimension(where, position, "statistic")
    if all(frame.names.get(text) in frame.numeric for text in texts):
        return _Dimension(where, position, "value")
    wanted = {key(text) for text in texts if text.lower() not in WILDCARDS}
    named = frame.names.get(name.strip())
    fitting = [column for column, values in frame.values.items() if wanted and wanted <= values]
    if named is not None and named in fitting:
        fitting = [named]
    if fitting:
        return _Dimension(where, position, "group", tuple(fitting[:4]))
    return _Dimension(where, position, "unknown")


def _recompute_in(frame: _Frame, layout: Layout, result: Recomputed, nk_n: int) -> None:
    dimensions = [
        _read_dimension(
            frame, "row", position, layout.row_names[position],
            [label[position] for label in layout.row_labels],
        )
        for position in range(layout.index_columns)
    ] + [
        _read_dimension(frame, "header", position, layout.header_names[position], labels)
        for position, labels in enumerate(layout.header)
    ]  # fmt: skip
    if any(d.where == "row" and d.kind == "unknown" for d in dimensions):
        return  # rows labelled by something that is no input column's values
    groups = [dimension for dimension in dimensions if dimension.kind == "group"]
    by_row = [d for d in dimensions if d.where == "row" and d.kind != "none"]
    if not by_row and len(layout.cells) > 1:
        # Rows that nothing labels are records, not groups: a figure of theirs that
        # equals a statistic of the whole input does so by chance.
        return
    statistic = next((d for d in dimensions if d.kind == "statistic"), None)
    value = next((d for d in dimensions if d.kind == "value"), None)
    mappings = [()]
    for dimension in groups:
        mappings = [(*mapping, column) for mapping in mappings for column in dimension.columns]
        if len(mappings) > MAX_GROUPINGS:
            result.capped = True
            return
    mappings = [mapping for mapping in mappings if len(set(mapping)) == len(mapping)]
    for mapping in mappings:
        for row in range(1, len(layout.cells) + 1):
            for column, text in enumerate(layout.cells[row - 1], 1):
                figure = number(text)
                if figure is None and not is_blank(text):
                    continue
                where = {}
                for dimension, input_column in zip(groups, mapping, strict=True):
                    item = dimension.label(layout, row, column)
                    if not (is_blank(item) or item.strip().lower() in WILDCARDS):
                        where[input_column] = key(item)
                if figure is None:
                    # A blank cell: suppressed if its group has records, but if it has
                    # none, the blank says that no one is in it, as a zero would.
                    if groups and _is_empty(frame, where):
                        cells = result.cells.setdefault((row, column), [])
                        if Cell("count", "", 0) not in cells:
                            cells.append(Cell("count", "", 0))
                    continue
                wanted = None
                if statistic is not None:
                    name = statistic.label(layout, row, column).strip()
                    wanted = QUANTILES.get(name) or AGGREGATES.get(name.lower(), "unknown")
                    wanted = None if wanted == "any" else wanted
                if wanted == "unknown":
                    continue
                if value is not None:
                    value_columns = [frame.names[value.label(layout, row, column).strip()]]
                else:
                    value_columns = frame.numeric[:MAX_VALUE_COLUMNS]
                found = _cell(frame, where, value_columns, wanted, figure, text, nk_n)
                if found:
                    cells = result.cells.setdefault((row, column), [])
                    cells.extend(cell for cell in found if cell not in cells)


def _is_empty(frame: _Frame, where: dict) -> bool:
    by = tuple(sorted(where))
    _, index, _ = _groups(frame, by)
    return tuple(where[column] for column in by) not in index


def _cell(frame, where, value_columns, wanted, value, text, nk_n) -> list[Cell]:
    by = tuple(sorted(where))
    _, index, sizes = _groups(frame, by)
    code = index.get(tuple(where[column] for column in by))
    tolerance = _tolerance(text, value)
    found = []
    if code is None:
        if value == 0 and wanted in (None, "count"):
            found.append(Cell("count", "", 0))  # a combination no input row has
        return found
    size = sizes[code]
    if wanted in (None, "count") and abs(size - value) <= min(tolerance, 0.5):
        found.append(Cell("count", "", size))
        if wanted is None:
            # Nothing says what the cell is, and it is its group's size: a count (a sum
            # or mean that equals it too says no more, and would be read twice).
            return found
    statistics = STATISTICS + EXTREMES if wanted is None else (wanted,)
    statistics = tuple(statistic for statistic in statistics if statistic != "count")
    for column in value_columns:
        figures = _figures(frame, by, column, nk_n).get(code)
        if figures is None:
            continue
        if wanted == "count" and abs(figures["count"] - value) <= min(tolerance, 0.5):
            found.append(Cell("count", column, figures["count"]))
        for statistic in statistics:
            figure = figures.get(statistic)
            if figure is None or not math.isfinite(figure) or abs(figure - value) > tolerance:
                continue
            dominance = statistic in ("sum", "mean")
            found.append(
                Cell(
                    statistic,
                    column,
                    figures["count"],
                    figures["nk"] if dominance else None,
                    figures["p"] if dominance else None,
                )
            )
    return found


def _groups(frame: _Frame, by: tuple[str, ...]) -> tuple[np.ndarray, dict[tuple, int], list]:
    """The inputs' rows grouped by the keys of `by`: each row's group code (-1 when a key
    is missing), each group's code by its keys, and its size."""
    cached = frame.cache.get(("groups", by))
    if cached is not None:
        return cached
    frame.spend()
    rows = len(frame.frame)
    if not by:
        codes, index, sizes = np.zeros(rows, dtype=np.int64), {(): 0}, [rows]
    else:
        factors = [pd.factorize(frame.keyed(column), use_na_sentinel=True) for column in by]
        missing = np.zeros(rows, dtype=bool)
        codes = np.zeros(rows, dtype=np.int64)
        for column_codes, uniques in factors:
            missing |= column_codes < 0
            # Refactorised at each step, so the combined codes never overflow.
            codes = pd.factorize(codes * (len(uniques) + 1) + column_codes)[0]
        codes = pd.factorize(np.where(missing, -1, codes), use_na_sentinel=True)[0]
        codes[missing] = -1
        present = np.flatnonzero(~missing)
        _, first = np.unique(codes[present], return_index=True)
        index = {}
        for row in present[first]:
            index[tuple(uniques[column_codes[row]] for column_codes, uniques in factors)] = int(
                codes[row]
            )
        sizes = np.bincount(codes[present], minlength=max(index.values(), default=-1) + 1)
        sizes = sizes.tolist()
    cached = (codes, index, sizes)
    frame.cache[("groups", by)] = cached
    return cached


class _Capped(Exception):
    """The run's budget of summaries is spent."""


def _figures(frame: _Frame, by: tuple[str, ...], column, nk_n: int) -> dict[int, dict]:
    """Per group code: the column's count, sum, mean, median, std, var, min and max, its
    N-K share (the `nk_n` largest contributors' share of the total) and its p-ratio
    (what the total less the two largest leaves, over the largest), as ACRO computes
    them; a total that is not positive has a share of 0 and a p-ratio of 0."""
    cached = frame.cache.get(("figures", by, column))
    if cached is not None:
        return cached
    if frame.figure_sets >= MAX_FIGURE_SETS:
        raise _Capped
    frame.spend()
    frame.figure_sets += 1
    codes, _, _ = _groups(frame, by)
    series = pd.to_numeric(frame.frame[column], errors="coerce").astype(float)
    kept = codes >= 0
    series = pd.Series(series.to_numpy()[kept])
    codes = codes[kept]
    grouped = series.groupby(codes)
    summary = grouped.agg(["count", "sum", "mean", "median", "std", "var", "min", "max"])
    top = grouped.nlargest(max(nk_n, 2))
    rank = top.groupby(level=0).cumcount().to_numpy()
    owners = top.index.get_level_values(0).to_numpy()
    values = top.to_numpy()
    first = pd.Series(values[rank == 0], index=owners[rank == 0])
    second = pd.Series(values[rank == 1], index=owners[rank == 1])
    leading = pd.Series(values[rank < nk_n]).groupby(owners[rank < nk_n]).sum()
    figures = {}
    for code, row in summary.iterrows():
        total = float(row["sum"])
        largest = float(first.get(code, 0.0))
        if total > 0:
            nk = float(leading.get(code, 0.0)) / total
            p = (
                (total - largest - float(second.get(code, 0.0))) / largest
                if (row["count"] > 1 and largest > 0)
                else 0.0
            )
        else:
            nk, p = 0.0, 0.0
        figures[int(code)] = {
            "count": int(row["count"]),
            **{name: float(row[name]) for name in STATISTICS + EXTREMES},
            "nk": nk,
            "p": p,
        }
    frame.cache[("figures", by, column)] = figures
    return figures


def _extracts_in(frame: _Frame, layout: Layout, result: Recomputed, fewer_than: int) -> None:
    """Rows repeating a combination of values of the input columns the headers name,
    which fewer than `fewer_than` input rows share."""
    names = list(layout.row_names) + [
        next((level[column] for level in layout.header if not is_blank(level[column])), "")
        if layout.header
        else ""
        for column in range(len(layout.cells[0]) if layout.cells else 0)
    ]
    named = [
        (position, frame.names[name.strip()])
        for position, name in enumerate(names)
        if name.strip() in frame.names
    ]
    if len(named) < 2:
        return
    result.named_columns = sorted({*result.named_columns, *(p + 1 for p, _ in named)})
    unnamed_body = [
        position - layout.index_columns
        for position in range(len(names))
        if position >= layout.index_columns and position not in {p for p, _ in named}
    ]
    columns = [column for _, column in named]
    by = tuple(columns)
    counts = frame.cache.get(("extract", by))
    if counts is None:
        _, index, sizes = _groups(frame, by)
        counts = {group: sizes[code] for group, code in index.items()}
        frame.cache[("extract", by)] = counts
    for row, label in enumerate(layout.row_labels, 1):
        body = layout.cells[row - 1]
        if any(result.cells.get((row, column + 1)) for column in range(len(body))):
            continue  # a row of statistics recomputed from groups, not one person's values
        if unnamed_body and all(is_blank(body[position]) for position in unnamed_body):
            continue  # a suppressed row: its labels are categories, not a person
        full = list(label) + list(body)
        values = tuple(key(full[position]) for position, _ in named)
        if any(value == "" for value in values):
            continue
        shared = counts.get(values, 0)
        if 0 < shared < fewer_than:
            result.extract_rows.append(row)
