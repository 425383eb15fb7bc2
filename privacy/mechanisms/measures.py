"""The mechanisms: each question as one calibrated OpenDP measurement, its accuracy, and
the answer read back onto the declared cells (the package docstring says why each)."""

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import opendp.prelude as dp
import pandas as pd
import polars as pl

from privacy.mechanisms.cells import Axis, axis_names, cell_codes, format_edge, numbers
from privacy.mechanisms.polars_plans import (
    collect,
    fixed_point_bounds,
    fixed_point_frame,
    grid_step,
    group_cells,
    polars_count,
    polars_measurement,
)
from privacy.mechanisms.questions import (
    ALPHA,
    CELL,
    MAX_ROWS,
    MEAN_REFERENCE_ROWS,
    QUANTILE_CANDIDATES,
    VALUE,
    Accuracy,
    Answer,
    ColumnRules,
    Question,
    check_frame,
    check_rows_per_person,
    validate,
)

# OpenDP refuses its not-yet-vetted constructors (most of those used here) until they are
# switched on, and the switch is per process.
dp.enable_features("contrib")


def accuracy(
    question: Question, rules: Mapping[str, ColumnRules], *, rows_per_person: int = 1
) -> Accuracy:
    """The accuracy of a question's answer, before anything is spent: no data involved."""
    validate(question, rules)
    return _mechanism(question, rules, check_rows_per_person(rows_per_person)).accuracy


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
    mechanism = _mechanism(question, rules, check_rows_per_person(rows_per_person))
    check_frame(question, frame, rules)
    values = mechanism.release(frame)
    axes = [Axis(rules[name]) for name in axis_names(question)]
    labels = itertools.product(*(axis.labels for axis in axes))
    value_name = "count" if question.statistic == "histogram" else question.statistic
    return Answer(
        columns=[axis.name for axis in axes] + [value_name],
        rows=[[*cell, value] for cell, value in zip(labels, values, strict=True)],
        accuracy=mechanism.accuracy,
        epsilon=mechanism.epsilon,
    )


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
    axes = [Axis(rules[name]) for name in axis_names(question)]
    cells = math.prod(axis.size for axis in axes)
    space = dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.symmetric_distance()
    if axes:
        counter = dp.t.make_count_by_categories(
            *space, categories=list(range(cells - 1)), null_category=True
        )
        name = "make_count_by_categories"

        def prepare(frame):
            return cell_codes(frame, axes)

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
        f"{rule.name} (values clamped to [{format_edge(rule.lower)}, "
        f"{format_edge(rule.upper)}], missing values left out), {_odds(ALPHA)}."
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
        prepare=lambda frame: numbers(frame[question.column]),
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
    resolution = grid_step(rule)
    bounds = fixed_point_bounds(rule)
    cells = group_cells(question, rules)

    def make(scale):
        total = pl.col(VALUE).drop_nulls().dp.sum(bounds, scale=scale).alias("sum")
        return polars_measurement(cells, dp.i64, [total])

    scale = _calibrate(make, rows_per_person, epsilon)
    return _Part(
        measurement=make(scale),
        scale=scale,
        half_width=dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA) * resolution,
        half_width_joint=dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA / 2) * resolution,
        prepare=lambda frame: fixed_point_frame(frame, question, rules),
        finish=lambda output: [float(total) * resolution for total in collect(output)["sum"]],
    )


def _means(question: Question, rules, rows_per_person: int) -> _Mechanism:
    rule = rules[question.column]
    half = question.epsilon / 2
    if question.by:
        sum_part = _grouped_sum(question, rules, rows_per_person, half)
        count_scale = _calibrate(
            lambda scale: polars_measurement(
                group_cells(question, rules), dp.i64, [polars_count(scale)]
            ),
            rows_per_person,
            half,
        )
        measurement = polars_measurement(
            group_cells(question, rules),
            dp.i64,
            [
                pl.col(VALUE)
                .drop_nulls()
                .dp.sum(fixed_point_bounds(rule), scale=sum_part.scale)
                .alias("sum"),
                polars_count(count_scale),
            ],
        )
        resolution = grid_step(rule)

        def prepare(frame):
            return fixed_point_frame(frame, question, rules)

        def finish(output):
            table = collect(output)
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
            return numbers(frame[question.column])

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
        f"[{format_edge(rule.lower)}, {format_edge(rule.upper)}], missing values left out) "
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
        cells = group_cells(question, rules)

        def make(scale):
            chosen = pl.col(VALUE).drop_nulls().dp.quantile(quantile, candidates, scale=scale)
            return polars_measurement(cells, dp.f64, [chosen.alias("quantile")])

        scale = _calibrate(make, rows_per_person, question.epsilon)
        measurement = make(scale)
        # Polars scores candidates in whole units of 1 / d of a row, with d set by the bound
        # on a group's rows; OpenDP's sized score transformation uses the same constants, and
        # its map at d_in = 2 is exactly d. The rank-unit scale is the Polars scale over d.
        rank_scale = scale / _score_denominator(candidates, quantile)

        def prepare(frame):
            return pl.DataFrame(
                {
                    CELL: cell_codes(frame, [Axis(rules[name]) for name in question.by]),
                    VALUE: pl.Series(VALUE, numbers(frame[question.column]), nan_to_null=True),
                }
            ).lazy()

        def finish(output):
            return [float(value) for value in collect(output)["quantile"]]

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
            return numbers(frame[question.column])

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
        f"from {format_edge(rule.lower)} to {format_edge(rule.upper)}. "
        f"{_odds(ALPHA).capitalize()}, "
        f"the number of rows lying between it and the true {format_edge(quantile)} quantile of "
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


# --- Words ----------------------------------------------------------------------------------


def _odds(alpha: float) -> str:
    return f"{round((1 - alpha) * 100)} times in 100"


def _format_amount(amount: float) -> str:
    """Three significant figures without scientific notation: 300, 3.38, 0.0123."""
    if not math.isfinite(amount) or amount == 0:
        return f"{amount:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(amount))))
    return f"{amount:,.{digits}f}"
