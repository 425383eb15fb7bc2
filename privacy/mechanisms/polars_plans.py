"""OpenDP's Polars plans, for the statistics its core API can't group: sums, means and
quantiles per declared cell, which OpenDP then treats as a partition (each group gets the
whole ε). Grouped sums add integers on a fixed-point grid, so that OpenDP's proof needs no
allowance for float rounding (the package docstring says why)."""

import math

import numpy as np
import opendp.prelude as dp
import pandas as pd
import polars as pl
import pyarrow as pa

from privacy.mechanisms.cells import Axis, cell_codes, numbers
from privacy.mechanisms.questions import (
    CELL,
    FIXED_POINT_STEPS,
    MAX_ROWS,
    VALUE,
    ColumnRules,
    Question,
)


def group_cells(question: Question, rules) -> int:
    return math.prod(Axis(rules[name]).size for name in question.by)


def polars_measurement(cells: int, value_type, aggregations: list) -> dp.Measurement:
    """An OpenDP Polars measurement over (cell, value) rows, grouped by cell and joined onto
    all `cells` declared cells, so the released keys never depend on the data."""
    atom = (
        dp.atom_domain(T=value_type, nan=False)
        if value_type == dp.f64
        else dp.atom_domain(T=value_type)
    )
    domain = dp.lazyframe_domain(
        [
            dp.series_domain(CELL, dp.atom_domain(T=dp.i64)),
            dp.series_domain(VALUE, dp.option_domain(atom)),
        ]
    )
    # Both bounds are true of every frame answered: rows are capped at MAX_ROWS, and cell
    # codes are made in range(cells).
    domain = dp.with_margin(
        domain, dp.polars.Margin(by=[pl.col(CELL)], max_length=MAX_ROWS, max_groups=cells)
    )
    schema = {CELL: pl.Int64, VALUE: pl.Int64 if value_type == dp.i64 else pl.Float64}
    keys = pl.LazyFrame({CELL: np.arange(cells, dtype=np.int64)})
    plan = keys.join(
        pl.LazyFrame(schema=schema).group_by(CELL).agg(*aggregations), on=CELL, how="left"
    )
    return dp.m.make_private_lazyframe(domain, dp.symmetric_distance(), dp.max_divergence(), plan)


def polars_count(scale: float):
    return pl.col(VALUE).drop_nulls().len().dp.noise(scale=scale).alias("count")


def collect(output) -> pl.DataFrame:
    # Polars doesn't keep the keys' order through the join.
    return output.collect().sort(CELL)


def grid_step(rule: ColumnRules) -> float:
    return max(abs(rule.lower), abs(rule.upper)) / FIXED_POINT_STEPS


def fixed_point_bounds(rule: ColumnRules) -> tuple[int, int]:
    resolution = grid_step(rule)
    return round(rule.lower / resolution), round(rule.upper / resolution)


def fixed_point_frame(frame: pd.DataFrame, question: Question, rules) -> pl.LazyFrame:
    """The (cell, value) rows for a grouped sum: values as whole multiples of the resolution.

    The clamp here only keeps the conversion to integers in range; the clamp the privacy
    proof rests on is OpenDP's, inside dp.sum.
    """
    rule = rules[question.column]
    values = numbers(frame[question.column])
    missing = np.isnan(values)
    clamped = np.clip(np.where(missing, 0.0, values), rule.lower, rule.upper)
    steps = np.rint(clamped / grid_step(rule)).astype(np.int64)
    cells = cell_codes(frame, [Axis(rules[name]) for name in question.by])
    return pl.DataFrame({CELL: cells, VALUE: pl.from_arrow(pa.array(steps, mask=missing))}).lazy()
