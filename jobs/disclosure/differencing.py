"""Differencing: two count tables whose totals differ by a few people.

Each table may be safe alone (no cell under the threshold) and the pair still disclose:
the count of women by ward, and the same table for those over 17, differ by the one
17-year-old woman; their difference is a table of 1s. So the airlock compares the
margins of count tables (their grand totals, and the total of each row or column label
they share) across the outputs of one run, and, when a release is requested, with the
outputs the researcher already took out on the same data. Two totals of the same label
that differ by 1 to threshold - 1 flag both tables, naming the other; a person judges
whether the two are taken from different populations.

Margins are read from the file alone (`margins_of`), so a released output is compared
without its run's inputs. Plain Python, no Django.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from jobs.disclosure.recompute import WILDCARDS, is_blank, key, number, read_layout
from jobs.disclosure.rules import Reason

__all__ = ["Margins", "differencing", "differencing_reason", "margins_of"]

MAX_TABLE_BYTES = 2 * 1024**2


@dataclass(frozen=True)
class Margins:
    """A count table's grand total and the total of each row and column label (labels
    as keys; a total with a suppressed cell in it is unknown and left out)."""

    total: float | None
    by_label: dict[tuple[str, ...], float]


def margins_of(data: bytes | str, *, header_rows=None, index_columns=None) -> Margins | None:
    """The margins of a CSV table whose body is all counts (whole numbers of 0 or more,
    blanks for suppressed cells), or None for any other file."""
    if isinstance(data, bytes):
        if len(data) > MAX_TABLE_BYTES:
            return None
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
    try:
        rows = list(csv.reader(io.StringIO(data, newline="")))
    except csv.Error:
        return None
    layout = read_layout(rows, header_rows=header_rows, index_columns=index_columns)
    if not layout.cells or not layout.cells[0]:
        return None
    columns = len(layout.cells[0])
    figures: dict[tuple[int, int], float | None] = {}
    for row, values in enumerate(layout.cells):
        for column, text in enumerate(values):
            if is_blank(text):
                figures[(row, column)] = None
                continue
            value = number(text)
            if value is None or value < 0 or value != int(value):
                return None  # not a count table
            figures[(row, column)] = value
    if all(value is None for value in figures.values()):
        return None
    wild_rows = {
        row
        for row, labels in enumerate(layout.row_labels)
        if any(label.strip().lower() in WILDCARDS for label in labels)
    }
    column_labels = [
        tuple(level[column] for level in layout.header if not is_blank(level[column]))
        for column in range(columns)
    ]
    wild_columns = {
        column
        for column, labels in enumerate(column_labels)
        if any(label.strip().lower() in WILDCARDS for label in labels)
    }
    by_label: dict[tuple[str, ...], float] = {}

    def total(positions) -> float | None:
        values = [figures[position] for position in positions]
        return None if any(value is None for value in values) else sum(values)

    inner_columns = [column for column in range(columns) if column not in wild_columns]
    inner_rows = [row for row in range(len(layout.cells)) if row not in wild_rows]
    if layout.index_columns:
        for row in inner_rows:
            label = _label(layout.row_labels[row])
            value = total((row, column) for column in inner_columns)
            if label and value is not None:
                by_label.setdefault(label, value)
    if inner_rows and len(inner_columns) > 1:
        for column in inner_columns:
            label = _label(column_labels[column])
            value = total((row, column) for row in inner_rows)
            if label and value is not None:
                by_label.setdefault(label, value)
    grand = total((row, column) for row in inner_rows for column in inner_columns)
    return Margins(grand, by_label)


def _label(labels: Sequence[str]) -> tuple[str, ...] | None:
    """Labels as a key; labels that are all numbers (ages, codes) are left out, as the
    same number in two tables rarely means the same group."""
    keys = tuple(key(label) for label in labels if not is_blank(label))
    if not keys or all(number(label) is not None for label in labels if not is_blank(label)):
        return None
    return keys


def differencing(tables: Sequence[tuple[str, Margins]], *, fewer_than: int) -> dict[str, list[str]]:
    """For each named table, the names of the others whose grand total or a shared
    label's total differs from its own by 1 to `fewer_than` - 1."""

    def close(first: float | None, second: float | None) -> bool:
        return first is not None and second is not None and 0 < abs(first - second) < fewer_than

    found: dict[str, list[str]] = {}
    for position, (name, margins) in enumerate(tables):
        for other, other_margins in tables[position + 1 :]:
            shared = margins.by_label.keys() & other_margins.by_label.keys()
            if close(margins.total, other_margins.total) or any(
                close(margins.by_label[label], other_margins.by_label[label]) for label in shared
            ):
                found.setdefault(name, []).append(other)
                found.setdefault(other, []).append(name)
    return found


def differencing_reason(
    others: Sequence[str], *, fewer_than: int, released: bool = False
) -> Reason:
    """The reason that flags a table, naming the tables it differs from by a few people."""
    names = ", ".join(f'"{name}"' for name in others)
    where = "already released from the same data" if released else "of this run"
    return Reason(
        "differencing",
        f"A total of this table differs by 1 to {fewer_than - 1} from a total of {names} "
        f"({where}): taken together, their difference counts a few people. A person checks "
        "that the two are not the same population less a few.",
    )
