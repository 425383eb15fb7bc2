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

from privacy.mechanisms.cells import OTHER
from privacy.mechanisms.measures import accuracy, answer
from privacy.mechanisms.questions import (
    ALPHA,
    KINDS,
    MAX_CELLS,
    MAX_EPSILON,
    MAX_GROUP_COLUMNS,
    MAX_ROWS,
    MEAN_REFERENCE_ROWS,
    QUANTILE_CANDIDATES,
    STATISTICS,
    Accuracy,
    Answer,
    ColumnRules,
    Question,
    QuestionError,
    validate,
)

__all__ = [
    "ALPHA",
    "KINDS",
    "MAX_CELLS",
    "MAX_EPSILON",
    "MAX_GROUP_COLUMNS",
    "MAX_ROWS",
    "MEAN_REFERENCE_ROWS",
    "OTHER",
    "QUANTILE_CANDIDATES",
    "STATISTICS",
    "Accuracy",
    "Answer",
    "ColumnRules",
    "Question",
    "QuestionError",
    "accuracy",
    "answer",
    "validate",
]
