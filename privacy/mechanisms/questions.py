"""Questions, the steward's column rules, and the checks that refuse a question before
anything is computed or spent (their messages name columns and rules, never data)."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from privacy.mechanisms.cells import OTHER, Axis, axis_names

STATISTICS = ("count", "sum", "mean", "quantile", "histogram")
KINDS = ("numeric", "categorical")
ALPHA = 0.05
MAX_EPSILON = 10.0
MAX_GROUP_COLUMNS = 2
# An answer is a table shown in the portal; past this many cells it is no longer readable
# and each cell's count is mostly noise.
MAX_CELLS = 10_000
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
    check_epsilon(question.epsilon)

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
        check_rules(name, rules)

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

    cells = math.prod(Axis(rules[name]).size for name in axis_names(question))
    if cells > MAX_CELLS:
        raise QuestionError(
            f"This question would release {cells:,} cells; the limit is {MAX_CELLS:,}. "
            "Group by fewer columns."
        )


def check_epsilon(epsilon) -> None:
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
        raise QuestionError("ε must be a number.")
    if not math.isfinite(epsilon) or not 0 < epsilon <= MAX_EPSILON:
        raise QuestionError(f"ε must be more than 0 and at most {MAX_EPSILON:g}.")


def check_rows_per_person(rows_per_person) -> int:
    # The steward's setting rather than the researcher's, hence a plain ValueError.
    if isinstance(rows_per_person, bool) or not isinstance(rows_per_person, int):
        raise ValueError("rows_per_person must be a whole number.")
    if rows_per_person < 1:
        raise ValueError("rows_per_person must be at least 1.")
    return rows_per_person


def check_rules(name: str, rules: Mapping[str, ColumnRules]) -> None:
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


def check_frame(question: Question, frame: pd.DataFrame, rules: Mapping[str, ColumnRules]) -> None:
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
