"""Cells: the declared product of categories and bins that every answer is laid out on.

Each grouping column (or a histogram's column) is an `Axis`: its labels are the declared
categories, or the declared bins of a numeric column, then OTHER; its codes map each value
to a label's index, undeclared and missing values to OTHER. A row's cell is the row-major
index over the axes, so OpenDP counts one integer array. Nothing here reads labels from
the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from privacy.mechanisms.questions import ColumnRules, Question

OTHER = "(other)"


def axis_names(question: Question) -> list[str]:
    """The columns whose categories or bins make the released cells, in order."""
    if question.statistic == "histogram":
        return [question.column, *question.by]
    return list(question.by)


@dataclass(frozen=True)
class Axis:
    """One grouping column: its labels (declared, then OTHER) and the codes of its values."""

    rules: ColumnRules

    @property
    def name(self) -> str:
        return self.rules.name

    @property
    def size(self) -> int:
        """How many labels, OTHER included (without making them)."""
        if self.rules.kind == "categorical":
            return len(self.rules.categories) + 1
        return self.rules.bins + 1

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.rules.lower, self.rules.upper, self.rules.bins + 1)

    @property
    def labels(self) -> tuple[str, ...]:
        if self.rules.kind == "categorical":
            return (*(str(category) for category in self.rules.categories), OTHER)
        edges = [format_edge(edge) for edge in self.edges]
        bins = [f"[{low}, {high})" for low, high in itertools.pairwise(edges)]
        bins[-1] = bins[-1][:-1] + "]"  # the last bin holds the upper bound too
        return (*bins, OTHER)

    def codes(self, series: pd.Series) -> np.ndarray:
        """Each value's label index (int64); OTHER, the last, for undeclared and missing."""
        other = self.size - 1
        if self.rules.kind == "categorical":
            # Factorising first means str() runs once per distinct value, not once per row.
            codes, uniques = pd.factorize(series)
            index = {category: position for position, category in enumerate(self.rules.categories)}
            lookup = np.fromiter(
                (index.get(str(unique), other) for unique in uniques),
                dtype=np.int64,
                count=len(uniques),
            )
            # factorize codes a missing value -1, which picks this last entry.
            return np.append(lookup, other)[codes]
        values = numbers(series)
        codes = np.searchsorted(self.edges, values, side="right") - 1
        # Clamping into the bounds: out-of-range values go to the edge bins, and the upper
        # bound itself into the last bin.
        codes = np.clip(codes, 0, self.rules.bins - 1)
        codes[np.isnan(values)] = other
        return codes.astype(np.int64, copy=False)


def cell_codes(frame: pd.DataFrame, axes: Sequence[Axis]) -> np.ndarray:
    """One cell index per row, in the row-major order of itertools.product over the axes."""
    cells = np.zeros(len(frame), dtype=np.int64)
    for axis in axes:
        cells *= axis.size
        cells += axis.codes(frame[axis.name])
    return cells


def numbers(series: pd.Series) -> np.ndarray:
    """A numeric column as float64, missing values as NaN."""
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    # pandas may hand out a read-only view of its own buffer, which OpenDP can't take.
    return values if values.flags.writeable else values.copy()


def format_edge(edge: float) -> str:
    edge = float(edge)
    if edge.is_integer() and abs(edge) < 1e15:
        return str(int(edge))
    return f"{edge:.10g}"
