"""Differentially private answers to researchers' questions, with their accuracy stated first.

Plain Python (pandas, numpy, OpenDP; no Django) so it can be tested and benchmarked alone.

A data steward declares public rules per column (`ColumnRules`): bounds and bins for a
numeric column, the list of categories for a categorical one. Nothing here ever reads those
from the data, because anything taken from the data (the range of a column, which values
occur) would itself disclose something. A researcher asks a `Question` with an ε; `accuracy`
says how precise the answer will be without touching the data, and `answer` spends the ε on
the real data. Every mechanism is pure ε-DP (δ = 0) under the symmetric distance: a person
contributes at most `rows_per_person` rows, and OpenDP's privacy map at d_in =
rows_per_person is what the answer reports as spent.

OpenDP does the privacy work: stability, sensitivity, the privacy map, the noise and the
accuracy figures. This module only maps values to integer cell codes and numbers to arrays,
and picks each mechanism's scale from OpenDP's own map (the loss of every mechanism here is
inversely proportional to its scale, so one map at a reference scale gives the scale, and
the map is then checked at that scale).

Released cells are always the full product of the declared categories or bins of each
grouping column, plus one "(other)" cell per column for values outside the declared set and
for missing values. Keys are never taken from the data: a released key set that followed
the data would show which values exist.

Choices, and why:

- Counts and histograms use OpenDP's core API on numpy arrays (fast): each grouping column
  becomes integer codes, the codes combine into one cell index, and
  `make_count_by_categories` counts the cells. The last cell of the product ("(other)" on
  every axis) is OpenDP's own null category. Ungrouped counts use `make_count`.
- A numeric grouping or histogram column is cut into `bins` equal-width bins between its
  declared bounds; values are clamped into [lower, upper] first, so values beyond the
  bounds land in the edge bins. Missing values go to "(other)".
- Sums, means and quantiles leave missing values of the measured column out (OpenDP's
  `make_drop_null`, or `drop_nulls` in Polars), which for a sum is the same as imputing 0
  when 0 lies within the bounds, and which keeps a mean and a quantile from being pulled
  towards an arbitrary imputed value. A mean is the sum of the non-missing values over
  their count.
- Ungrouped sums: `make_clamp` then `make_bounded_float_checked_sum` with a size limit of
  MAX_ROWS, then Laplace noise. (OpenDP's plain `make_sum` on floats of unknown length
  silently sums a random subset of 2**20 rows when there are more.)
- Grouped sums, means and quantiles: OpenDP's core API has no partitioned sum, and one
  measurement per group through sequential composition would split ε across the groups.
  So these use OpenDP's Polars API (`make_private_lazyframe`), grouped by the cell index and
  joined onto the declared cells, where OpenDP itself accounts for a person's rows landing
  in several groups (parallel composition). Polars needs a public bound on the rows per
  group (`max_length` = MAX_ROWS, larger than any table the portal accepts). Its float sums
  widen the sensitivity by a rounding allowance that grows with the square of that bound
  times the number of groups, so grouped sums add integers: values are clamped to the
  bounds and rounded to a fixed-point grid of max(|lower|, |upper|) / 2**31 (an error of at
  most 2**-32 of the larger bound per row), whose integer sums OpenDP proves without any
  rounding allowance. Grouped answers take a few hundred milliseconds on a million rows,
  most of it spent copying the frame into OpenDP's own Polars.
- Means split ε evenly between the sum and the count (both noisy); the answer is their
  ratio clamped into the bounds, or None where the noisy count is below 1.
- Quantiles: OpenDP's exponential-mechanism quantile (`make_private_quantile`, or
  `dp.quantile` in Polars) over QUANTILE_CANDIDATES = 101 values evenly spaced from lower to
  upper: a step of 1% of the declared range, while the accuracy cost grows only with the
  logarithm of the number of candidates. For grouped quantiles OpenDP's accounting grows
  with the square of rows_per_person (a person may move several groups' rankings).

Measured on 1,000,000 rows (two CPUs, shared; the median of 5 runs of `answer`, excluding
reading the data; `accuracy` takes 1-6 ms): a count grouped by two string columns (30 x 2
declared categories) 65 ms, by one 34 ms, ungrouped 6 ms; a count or histogram by a numeric
and a string column 57-82 ms; ungrouped, a sum 11-18 ms, a mean 16-23 ms, a median 35-40 ms;
grouped by two columns, a sum 250-275 ms, a mean 270 ms, a median 350 ms.
"""

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import opendp.prelude as dp
import pandas as pd
import polars as pl
import pyarrow as pa

# OpenDP refuses its not-yet-vetted constructors (most of those used here) until they are
# switched on, and the switch is per process.
dp.enable_features("contrib")

STATISTICS = ("count", "sum", "mean", "quantile", "histogram")
KINDS = ("numeric", "categorical")
ALPHA = 0.05
MAX_EPSILON = 10.0
MAX_GROUP_COLUMNS = 2
# An answer is a table shown in the portal; past this many cells it is no longer readable
# and each cell's count is mostly noise.
MAX_CELLS = 10_000
OTHER = "(other)"
QUANTILE_CANDIDATES = 101
# The group size for which a mean's accuracy is stated in words.
MEAN_REFERENCE_ROWS = 1_000
# A public upper bound on the rows of any table (and so of any group), which OpenDP needs
# for float sums and for Polars; far beyond what the portal accepts (TRE_MAX_ROWS).
MAX_ROWS = 2**31 - 1
# Grouped sums add integers on a grid of this many steps per max(|lower|, |upper|): with
# MAX_ROWS rows, a sum of such integers can't overflow 64 bits.
FIXED_POINT_STEPS = 2**31

CELL = "cell"
VALUE = "value"


@dataclass(frozen=True)
class ColumnRules:
    """What a steward declares public about one column: never read from the data."""

    name: str
    kind: str  # "numeric" or "categorical"
    lower: float | None = None  # numeric: clamp bounds (required for numeric)
    upper: float | None = None
    # categorical: the declared categories; values are compared as str(value)
    categories: tuple[str, ...] = ()
    # numeric: equal-width bins between lower and upper, for histograms and grouping
    bins: int = 10


@dataclass(frozen=True)
class Question:
    statistic: str  # "count" | "sum" | "mean" | "quantile" | "histogram"
    epsilon: float
    # measured column: required for sum, mean, quantile (numeric) and histogram; empty for count
    column: str = ""
    # 0, 1 or 2 grouping columns; for a histogram at most 1 (its column is the first axis)
    by: tuple[str, ...] = ()
    quantile: float = 0.5  # for "quantile", in (0, 1)


class QuestionError(ValueError):
    """A question that can't be asked, with a message fit for the researcher (it names
    columns and rules, never data values)."""


@dataclass(frozen=True)
class Accuracy:
    """How far a released value may be from the true one, 1 - alpha of the time.

    `half_width` is, per released cell: rows for counts; the column's units for sums; for a
    mean, the error bound for a group of MEAN_REFERENCE_ROWS rows; for a quantile, the
    number of rows (in rank) by which the answer may be further from the asked quantile
    than the closest candidate value. `statement` says the same in words.
    """

    alpha: float
    half_width: float
    statement: str
    mechanism: str


@dataclass(frozen=True)
class Answer:
    columns: list[str]  # the group columns (or the histogram's column), then the statistic
    rows: list[list]  # labels as strings, then the noisy value
    accuracy: Accuracy
    epsilon: float  # the loss OpenDP's map gives for d_in = rows_per_person


def validate(question: Question, rules: Mapping[str, ColumnRules]) -> None:
    """Refuse a question that can't be asked, before anything is computed or spent.

    Raises QuestionError with a message for the researcher; it names columns and the
    steward's (public) rules, never a data value.
    """
    statistic = question.statistic
    if statistic not in STATISTICS:
        raise QuestionError(
            f"Unknown statistic {statistic!r}: ask for one of {', '.join(STATISTICS)}."
        )
    _check_epsilon(question.epsilon)

    by = tuple(question.by)
    if statistic == "count":
        if question.column:
            raise QuestionError(
                "A count takes no column: group it with 'by', or ask for a histogram of the column."
            )
    elif not question.column:
        raise QuestionError(f"A {statistic} needs a column.")
    most = MAX_GROUP_COLUMNS - 1 if statistic == "histogram" else MAX_GROUP_COLUMNS
    if len(by) > most:
        what = "A histogram" if statistic == "histogram" else "A question"
        raise QuestionError(
            f"{what} can be grouped by at most {most} column{'s' if most != 1 else ''}."
        )

    names = ([question.column] if question.column else []) + list(by)
    if any(not isinstance(name, str) or not name for name in names):
        raise QuestionError("Column names must be non-empty text.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise QuestionError(f"Column {repeated[0]!r} appears more than once in the question.")
    for name in names:
        _check_rules(name, rules)

    if statistic in ("sum", "mean", "quantile") and rules[question.column].kind != "numeric":
        raise QuestionError(
            f"A {statistic} needs a numeric column; {question.column!r} is declared "
            "categorical. Ask for a histogram of it instead."
        )
    if statistic == "quantile":
        quantile = question.quantile
        if isinstance(quantile, bool) or not isinstance(quantile, int | float):
            raise QuestionError("The quantile must be a number between 0 and 1.")
        if not 0 < quantile < 1:
            raise QuestionError(
                "The quantile must lie strictly between 0 and 1 (0.5 is the median)."
            )

    cells = math.prod(_Axis(rules[name]).size for name in _axis_names(question))
    if cells > MAX_CELLS:
        raise QuestionError(
            f"This question would release {cells:,} cells; the limit is {MAX_CELLS:,}. "
            "Group by fewer columns."
        )


def accuracy(
    question: Question, rules: Mapping[str, ColumnRules], *, rows_per_person: int = 1
) -> Accuracy:
    """The accuracy of a question's answer, before anything is spent: no data involved."""
    validate(question, rules)
    return _mechanism(question, rules, _check_rows_per_person(rows_per_person)).accuracy


def answer(
    question: Question,
    frame: pd.DataFrame,
    rules: Mapping[str, ColumnRules],
    *,
    rows_per_person: int = 1,
) -> Answer:
    """Answer a question on the real data, spending its ε (at most; see Answer.epsilon).

    `frame` is typed as the project stores it (workspaces.tabular.from_arrow). Each row of
    the answer is one cell of the declared product of categories and bins, whatever the
    data holds.
    """
    validate(question, rules)
    mechanism = _mechanism(question, rules, _check_rows_per_person(rows_per_person))
    _check_frame(question, frame, rules)
    values = mechanism.release(frame)
    axes = [_Axis(rules[name]) for name in _axis_names(question)]
    labels = itertools.product(*(axis.labels for axis in axes))
    value_name = "count" if question.statistic == "histogram" else question.statistic
    return Answer(
        columns=[axis.name for axis in axes] + [value_name],
        rows=[[*cell, value] for cell, value in zip(labels, values, strict=True)],
        accuracy=mechanism.accuracy,
        epsilon=mechanism.epsilon,
    )


# --- Checks ---------------------------------------------------------------------------------


def _check_epsilon(epsilon) -> None:
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
        raise QuestionError("ε must be a number.")
    if not math.isfinite(epsilon) or not 0 < epsilon <= MAX_EPSILON:
        raise QuestionError(f"ε must be more than 0 and at most {MAX_EPSILON:g}.")


def _check_rows_per_person(rows_per_person) -> int:
    # The steward's setting rather than the researcher's, hence a plain ValueError.
    if isinstance(rows_per_person, bool) or not isinstance(rows_per_person, int):
        raise ValueError("rows_per_person must be a whole number.")
    if rows_per_person < 1:
        raise ValueError("rows_per_person must be at least 1.")
    return rows_per_person


def _check_rules(name: str, rules: Mapping[str, ColumnRules]) -> None:
    rule = rules.get(name)
    if rule is None:
        raise QuestionError(
            f"Column {name!r} has no public rules: the data steward has not made it "
            "available for questions."
        )
    if rule.name != name:
        raise ValueError(f"The rules filed under {name!r} are named {rule.name!r}.")
    if rule.kind not in KINDS:
        raise QuestionError(
            f"Column {name!r} is declared as {rule.kind!r}; the data steward must declare it "
            "numeric or categorical."
        )
    if rule.kind == "numeric":
        bounds = (rule.lower, rule.upper)
        if any(isinstance(bound, bool) or not isinstance(bound, int | float) for bound in bounds):
            raise QuestionError(
                f"Column {name!r} is numeric but has no declared bounds; the data steward "
                "must declare a lower and an upper bound."
            )
        if not all(math.isfinite(bound) for bound in bounds) or not rule.lower < rule.upper:
            raise QuestionError(
                f"Column {name!r} has unusable bounds: they must be finite, with lower below upper."
            )
        if isinstance(rule.bins, bool) or not isinstance(rule.bins, int) or rule.bins < 1:
            raise QuestionError(f"Column {name!r} must have at least one bin.")
    else:
        categories = tuple(rule.categories)
        if not categories:
            raise QuestionError(f"Column {name!r} is categorical but has no declared categories.")
        if any(not isinstance(category, str) for category in categories):
            raise QuestionError(f"Column {name!r} has categories that are not text.")
        if len(set(categories)) != len(categories) or OTHER in categories:
            raise QuestionError(
                f"Column {name!r} declares a category twice, or one named {OTHER!r}."
            )


def _check_frame(question: Question, frame: pd.DataFrame, rules: Mapping[str, ColumnRules]) -> None:
    # Only the schema is looked at here, so these messages reveal nothing of the data.
    if len(frame) > MAX_ROWS:
        raise ValueError(f"Tables of more than {MAX_ROWS:,} rows can't be answered.")
    names = ([question.column] if question.column else []) + list(question.by)
    for name in names:
        if name not in frame.columns:
            raise QuestionError(f"Column {name!r} is not in this dataset.")
        # Integers, floats and booleans; not dates, times or text.
        if rules[name].kind == "numeric" and not pd.api.types.is_numeric_dtype(frame[name].dtype):
            raise QuestionError(
                f"Column {name!r} is declared numeric but is not stored as numbers."
            )


# --- Cells ----------------------------------------------------------------------------------


def _axis_names(question: Question) -> list[str]:
    """The columns whose categories or bins make the released cells, in order."""
    if question.statistic == "histogram":
        return [question.column, *question.by]
    return list(question.by)


@dataclass(frozen=True)
class _Axis:
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
        edges = [_format_edge(edge) for edge in self.edges]
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
        values = _numbers(series)
        codes = np.searchsorted(self.edges, values, side="right") - 1
        # Clamping into the bounds: out-of-range values go to the edge bins, and the upper
        # bound itself into the last bin.
        codes = np.clip(codes, 0, self.rules.bins - 1)
        codes[np.isnan(values)] = other
        return codes.astype(np.int64, copy=False)


def _cells(frame: pd.DataFrame, axes: Sequence[_Axis]) -> np.ndarray:
    """One cell index per row, in the row-major order of itertools.product over the axes."""
    cells = np.zeros(len(frame), dtype=np.int64)
    for axis in axes:
        cells *= axis.size
        cells += axis.codes(frame[axis.name])
    return cells


def _numbers(series: pd.Series) -> np.ndarray:
    """A numeric column as float64, missing values as NaN."""
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    # pandas may hand out a read-only view of its own buffer, which OpenDP can't take.
    return values if values.flags.writeable else values.copy()


def _format_edge(edge: float) -> str:
    edge = float(edge)
    if edge.is_integer() and abs(edge) < 1e15:
        return str(int(edge))
    return f"{edge:.10g}"


# --- Mechanisms -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mechanism:
    """A calibrated OpenDP measurement, what it promises, and how to feed and read it."""

    measurement: dp.Measurement
    accuracy: Accuracy
    epsilon: float
    prepare: Callable[[pd.DataFrame], object]
    finish: Callable[[object], list]

    def release(self, frame: pd.DataFrame) -> list:
        return self.finish(self.measurement(self.prepare(frame)))


def _mechanism(
    question: Question, rules: Mapping[str, ColumnRules], rows_per_person: int
) -> _Mechanism:
    if question.statistic in ("count", "histogram"):
        return _counts(question, rules, rows_per_person)
    builders = {"sum": _sums, "mean": _means, "quantile": _quantiles}
    return builders[question.statistic](question, rules, rows_per_person)


def _calibrate(make: Callable[[float], dp.Measurement], d_in: int, epsilon: float) -> float:
    """The scale at which `make(scale)` loses at most ε for d_in, from OpenDP's own map.

    Every mechanism here loses privacy in inverse proportion to its scale, so the map at
    scale 1 gives the scale directly; it's then checked with the map at that scale, and
    nudged up if rounding inside the map tipped it over. Much faster than
    dp.binary_search_param, which builds the measurement dozens of times (a second for a
    Polars plan); that remains the fallback.
    """
    scale = make(1.0).map(d_in) / epsilon
    for _ in range(4):
        spent = make(scale).map(d_in)
        if spent <= epsilon:
            return scale
        scale *= (spent / epsilon) * (1 + 1e-12)
    return dp.binary_search_param(make, d_in=d_in, d_out=epsilon)


def _counts(question: Question, rules, rows_per_person: int) -> _Mechanism:
    axes = [_Axis(rules[name]) for name in _axis_names(question)]
    cells = math.prod(axis.size for axis in axes)
    space = dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.symmetric_distance()
    if axes:
        counter = dp.t.make_count_by_categories(
            *space, categories=list(range(cells - 1)), null_category=True
        )
        name = "make_count_by_categories"

        def prepare(frame):
            return _cells(frame, axes)

        def finish(counts):
            return [int(count) for count in counts]
    else:
        counter = dp.t.make_count(*space)
        name = "make_count"

        def prepare(frame):
            return np.zeros(len(frame), dtype=np.int64)

        def finish(count):
            return [int(count)]

    def make(scale):
        return counter >> dp.m.then_laplace(scale)

    scale = _calibrate(make, rows_per_person, question.epsilon)
    measurement = make(scale)
    half_width = dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA)
    # The noise is a whole number, so "within ±3.4" and "within ±3" are the same promise.
    each = "Each count" if axes else "The count"
    statement = f"{each} is within ±{math.floor(half_width):,} of the true count, {_odds(ALPHA)}."
    return _Mechanism(
        measurement=measurement,
        accuracy=Accuracy(
            ALPHA, half_width, statement, f"discrete Laplace (OpenDP {name} + then_laplace)"
        ),
        epsilon=measurement.map(rows_per_person),
        prepare=prepare,
        finish=finish,
    )


def _sums(question: Question, rules, rows_per_person: int) -> _Mechanism:
    rule = rules[question.column]
    each = "Each sum" if question.by else "The sum"
    if question.by:
        sums = _grouped_sum(question, rules, rows_per_person, question.epsilon)
        mechanism = (
            "discrete Laplace on fixed-point sums per group (OpenDP Polars group_by over the "
            "declared cells + dp.sum)"
        )
    else:
        sums = _core_sum(question, rules, rows_per_person, question.epsilon)
        mechanism = (
            "Laplace (OpenDP make_drop_null + make_clamp + make_bounded_float_checked_sum + "
            "then_laplace)"
        )
    statement = (
        f"{each} is within ±{_format_amount(sums.half_width)} of the true sum of "
        f"{rule.name} (values clamped to [{_format_edge(rule.lower)}, "
        f"{_format_edge(rule.upper)}], missing values left out), {_odds(ALPHA)}."
    )
    return _Mechanism(
        measurement=sums.measurement,
        accuracy=Accuracy(ALPHA, sums.half_width, statement, mechanism),
        epsilon=sums.measurement.map(rows_per_person),
        prepare=sums.prepare,
        finish=sums.finish,
    )


@dataclass(frozen=True)
class _Part:
    """One calibrated measurement with its scale and its accuracy at ALPHA and ALPHA / 2."""

    measurement: dp.Measurement
    scale: float
    half_width: float
    half_width_joint: float  # at ALPHA / 2, for statements about two noisy values at once
    prepare: Callable[[pd.DataFrame], object] = lambda frame: None
    finish: Callable[[object], list] = lambda output: []


def _core_sum(question, rules, rows_per_person, epsilon) -> _Part:
    rule = rules[question.column]
    bounds = (float(rule.lower), float(rule.upper))

    def make(scale):
        return (
            _float_space()
            >> dp.t.then_drop_null()
            >> dp.t.then_clamp(bounds)
            >> dp.t.make_bounded_float_checked_sum(MAX_ROWS, bounds)
            >> dp.m.then_laplace(scale)
        )

    scale = _calibrate(make, rows_per_person, epsilon)
    return _Part(
        measurement=make(scale),
        scale=scale,
        half_width=dp.laplacian_scale_to_accuracy(scale, ALPHA),
        half_width_joint=dp.laplacian_scale_to_accuracy(scale, ALPHA / 2),
        prepare=lambda frame: _numbers(frame[question.column]),
        finish=lambda total: [float(total)],
    )


def _core_count(question, rows_per_person, epsilon) -> _Part:
    """The count of the measured column's non-missing values (for an ungrouped mean)."""

    def make(scale):
        return (
            _float_space() >> dp.t.then_drop_null() >> dp.t.then_count() >> dp.m.then_laplace(scale)
        )

    scale = _calibrate(make, rows_per_person, epsilon)
    return _Part(
        measurement=make(scale),
        scale=scale,
        half_width=dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA),
        half_width_joint=dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA / 2),
    )


def _float_space():
    return dp.vector_domain(dp.atom_domain(T=dp.f64, nan=True)), dp.symmetric_distance()


def _grouped_sum(question, rules, rows_per_person, epsilon) -> _Part:
    rule = rules[question.column]
    resolution = _resolution(rule)
    bounds = _fixed_point_bounds(rule)
    cells = _group_cells(question, rules)

    def make(scale):
        total = pl.col(VALUE).drop_nulls().dp.sum(bounds, scale=scale).alias("sum")
        return _polars_measurement(cells, dp.i64, [total])

    scale = _calibrate(make, rows_per_person, epsilon)
    return _Part(
        measurement=make(scale),
        scale=scale,
        half_width=dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA) * resolution,
        half_width_joint=dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA / 2) * resolution,
        prepare=lambda frame: _fixed_point_frame(frame, question, rules),
        finish=lambda output: [float(total) * resolution for total in _collect(output)["sum"]],
    )


def _means(question: Question, rules, rows_per_person: int) -> _Mechanism:
    rule = rules[question.column]
    half = question.epsilon / 2
    if question.by:
        sum_part = _grouped_sum(question, rules, rows_per_person, half)
        count_scale = _calibrate(
            lambda scale: _polars_measurement(
                _group_cells(question, rules), dp.i64, [_polars_count(scale)]
            ),
            rows_per_person,
            half,
        )
        measurement = _polars_measurement(
            _group_cells(question, rules),
            dp.i64,
            [
                pl.col(VALUE)
                .drop_nulls()
                .dp.sum(_fixed_point_bounds(rule), scale=sum_part.scale)
                .alias("sum"),
                _polars_count(count_scale),
            ],
        )
        resolution = _resolution(rule)

        def prepare(frame):
            return _fixed_point_frame(frame, question, rules)

        def finish(output):
            table = _collect(output)
            return [
                _ratio(float(total) * resolution, count, rule)
                for total, count in zip(table["sum"], table["count"], strict=True)
            ]

        mechanism = (
            "discrete Laplace on fixed-point sums and on counts per group, ε split evenly "
            "(OpenDP Polars group_by over the declared cells + dp.sum + len)"
        )
    else:
        sum_part = _core_sum(question, rules, rows_per_person, half)
        count_part = _core_count(question, rows_per_person, half)
        count_scale = count_part.scale
        measurement = dp.c.make_composition([sum_part.measurement, count_part.measurement])

        def prepare(frame):
            return _numbers(frame[question.column])

        def finish(output):
            total, count = output
            return [_ratio(float(total), count, rule)]

        mechanism = (
            "Laplace sum and discrete Laplace count, ε split evenly (OpenDP make_composition "
            "of make_clamp + make_bounded_float_checked_sum and make_count, each after "
            "make_drop_null)"
        )
    count_half_width = dp.discrete_laplacian_scale_to_accuracy(count_scale, ALPHA)
    count_joint = dp.discrete_laplacian_scale_to_accuracy(count_scale, ALPHA / 2)
    largest = max(abs(rule.lower), abs(rule.upper))
    each = "Each mean" if question.by else "The mean"
    intro = (
        f"{each} is a noisy sum of {rule.name} (values clamped to "
        f"[{_format_edge(rule.lower)}, {_format_edge(rule.upper)}], missing values left out) "
        f"divided by a noisy count of its values, with ε split evenly between the two. "
        f"The sum is within ±{_format_amount(sum_part.half_width)} and the count within "
        f"±{math.floor(count_half_width):,} rows, each {_odds(ALPHA)}."
    )
    # Noise e_s on the sum and e_c on the count move a mean m of n rows by
    # (e_s - m e_c) / (n + e_c), and |m| <= largest. Both bounds at ALPHA / 2 hold together
    # at least 1 - ALPHA of the time.
    if count_joint < MEAN_REFERENCE_ROWS / 2:
        half_width = (sum_part.half_width_joint + largest * count_joint) / (
            MEAN_REFERENCE_ROWS - count_joint
        )
        detail = (
            f" For a group of {MEAN_REFERENCE_ROWS:,} rows that puts the mean within "
            f"±{_format_amount(half_width)} of the true mean, {_odds(ALPHA)}; smaller groups "
            "fare worse and larger ones better."
        )
    else:
        # A released mean is clamped into the bounds, so it is never further off than this.
        half_width = float(rule.upper - rule.lower)
        detail = f" At this ε even a group of {MEAN_REFERENCE_ROWS:,} rows gets no useful mean."
    return _Mechanism(
        measurement=measurement,
        accuracy=Accuracy(ALPHA, half_width, intro + detail, mechanism),
        epsilon=measurement.map(rows_per_person),
        prepare=prepare,
        finish=finish,
    )


def _ratio(total: float, count, rule: ColumnRules) -> float | None:
    """A mean from its noisy parts: None when the count says too little, else clamped into
    the bounds (where the true mean of clamped values lies; this only removes error)."""
    if count is None or count < 1:
        return None
    return min(max(total / float(count), float(rule.lower)), float(rule.upper))


def _quantiles(question: Question, rules, rows_per_person: int) -> _Mechanism:
    rule = rules[question.column]
    candidates = [
        float(value) for value in np.linspace(rule.lower, rule.upper, QUANTILE_CANDIDATES)
    ]
    quantile = float(question.quantile)
    if question.by:
        cells = _group_cells(question, rules)

        def make(scale):
            chosen = pl.col(VALUE).drop_nulls().dp.quantile(quantile, candidates, scale=scale)
            return _polars_measurement(cells, dp.f64, [chosen.alias("quantile")])

        scale = _calibrate(make, rows_per_person, question.epsilon)
        measurement = make(scale)
        # Polars scores candidates in whole units of 1 / d of a row, with d set by the bound
        # on a group's rows; OpenDP's sized score transformation uses the same constants, and
        # its map at d_in = 2 is exactly d. The rank-unit scale is the Polars scale over d.
        rank_scale = scale / _score_denominator(candidates, quantile)

        def prepare(frame):
            return pl.DataFrame(
                {
                    CELL: _cells(frame, [_Axis(rules[name]) for name in question.by]),
                    VALUE: pl.Series(VALUE, _numbers(frame[question.column]), nan_to_null=True),
                }
            ).lazy()

        def finish(output):
            return [float(value) for value in _collect(output)["quantile"]]

        mechanism = (
            f"exponential mechanism over {QUANTILE_CANDIDATES} candidates per group (OpenDP "
            "Polars group_by over the declared cells + dp.quantile)"
        )
    else:

        def make(scale):
            return (
                _float_space()
                >> dp.t.then_drop_null()
                >> dp.m.then_private_quantile(dp.max_divergence(), candidates, quantile, scale)
            )

        # make_private_quantile's scale is in rows of rank: it scales the noise up by the
        # denominator it uses to make the scores whole numbers.
        rank_scale = scale = _calibrate(make, rows_per_person, question.epsilon)
        measurement = make(scale)

        def prepare(frame):
            return _numbers(frame[question.column])

        def finish(value):
            return [float(value)]

        mechanism = (
            f"exponential mechanism over {QUANTILE_CANDIDATES} candidates (OpenDP "
            "make_drop_null + make_private_quantile)"
        )
    # OpenDP picks the candidate whose noisy score (its distance in rank from the asked
    # quantile) is best. A candidate worse than the best by t rows beats it with probability
    # at most exp(-t / scale), so none of the other K - 1 does with probability at least
    # 1 - ALPHA once t = scale * ln((K - 1) / ALPHA).
    half_width = rank_scale * math.log((QUANTILE_CANDIDATES - 1) / ALPHA)
    step = (rule.upper - rule.lower) / (QUANTILE_CANDIDATES - 1)
    each = "Each answer" if question.by else "The answer"
    statement = (
        f"{each} is one of {QUANTILE_CANDIDATES} values spaced every {_format_amount(step)} "
        f"from {_format_edge(rule.lower)} to {_format_edge(rule.upper)}. "
        f"{_odds(ALPHA).capitalize()}, "
        f"the number of rows lying between it and the true {_format_edge(quantile)} quantile of "
        f"{rule.name} (missing values left out) is at most {math.ceil(half_width):,} more than "
        "for the closest of those values."
    )
    return _Mechanism(
        measurement=measurement,
        accuracy=Accuracy(ALPHA, half_width, statement, mechanism),
        epsilon=measurement.map(rows_per_person),
        prepare=prepare,
        finish=finish,
    )


def _score_denominator(candidates: list[float], quantile: float) -> float:
    sized = dp.vector_domain(dp.atom_domain(T=dp.f64, nan=False), size=MAX_ROWS)
    scores = dp.t.make_quantile_score_candidates(
        sized, dp.symmetric_distance(), candidates, quantile
    )
    return float(scores.map(2))


# --- Polars plans ---------------------------------------------------------------------------


def _group_cells(question: Question, rules) -> int:
    return math.prod(_Axis(rules[name]).size for name in question.by)


def _polars_measurement(cells: int, value_type, aggregations: list) -> dp.Measurement:
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


def _polars_count(scale: float):
    return pl.col(VALUE).drop_nulls().len().dp.noise(scale=scale).alias("count")


def _collect(output) -> pl.DataFrame:
    # Polars doesn't keep the keys' order through the join.
    return output.collect().sort(CELL)


def _resolution(rule: ColumnRules) -> float:
    return max(abs(rule.lower), abs(rule.upper)) / FIXED_POINT_STEPS


def _fixed_point_bounds(rule: ColumnRules) -> tuple[int, int]:
    resolution = _resolution(rule)
    return round(rule.lower / resolution), round(rule.upper / resolution)


def _fixed_point_frame(frame: pd.DataFrame, question: Question, rules) -> pl.LazyFrame:
    """The (cell, value) rows for a grouped sum: values as whole multiples of the resolution.

    The clamp here only keeps the conversion to integers in range; the clamp the privacy
    proof rests on is OpenDP's, inside dp.sum.
    """
    rule = rules[question.column]
    values = _numbers(frame[question.column])
    missing = np.isnan(values)
    clamped = np.clip(np.where(missing, 0.0, values), rule.lower, rule.upper)
    steps = np.rint(clamped / _resolution(rule)).astype(np.int64)
    cells = _cells(frame, [_Axis(rules[name]) for name in question.by])
    return pl.DataFrame({CELL: cells, VALUE: pl.from_arrow(pa.array(steps, mask=missing))}).lazy()


# --- Words ----------------------------------------------------------------------------------


def _odds(alpha: float) -> str:
    return f"{round((1 - alpha) * 100)} times in 100"


def _format_amount(amount: float) -> str:
    """Three significant figures without scientific notation: 300, 3.38, 0.0123."""
    if not math.isfinite(amount) or amount == 0:
        return f"{amount:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(amount))))
    return f"{amount:,.{digits}f}"
