"""Synthetic samples of private datasets: rows researchers may look at that are not real rows.

An eyes-off environment still needs something eyes-on: researchers write their scripts against a
synthetic sample that has the real dataset's columns, types, value ranges and rough relationships,
and never see a real row. `synthesise` builds that sample and a report of its fidelity and privacy.

Why a Gaussian copula rather than CTGAN, TVAE or a Bayesian network: it fits in seconds on a CPU
(no GPU in a TRE), is deterministic given a seed, reproduces each column's marginal distribution
exactly (up to clipping and category merging) and the pairwise relationships between columns well
enough to write and debug analysis code, and it has no capacity to memorise rows: the fitted model
is one empirical quantile table or frequency table per column, one correlation matrix and, for
the sample's final choice, two-way tables of pairs of columns with their small cells pooled.
Deep generative models are slower, non-deterministic on GPUs and known to reproduce training
rows.

How it works:

- Marginals. Numeric columns (integer, float, date and datetime, the latter two as int64 epoch
  counts: days for dates, the coarsest unit that fits every value for datetimes) use the
  empirical quantiles of the clipped real values, inverted with linear interpolation; integers
  and dates are rounded back. Categorical and boolean columns use the real category frequencies
  after rare categories are merged.
- Dependence. Each column becomes normal scores (numeric: ranks, ties broken at random;
  categorical: a uniform draw inside the category's cumulative-frequency interval), the
  pairwise-complete correlation matrix of those scores is corrected for the attenuation
  discrete columns cause (`_latent_correlation`) and made positive-definite by clipping its
  eigenvalues, and synthetic rows are multivariate normal draws mapped back through each
  column's inverse marginal. Categories are laid out on the normal scale in the order of
  what the other columns predict of them (`_order_categories`), not by frequency, so a
  relationship that is monotone in some order (mild < moderate < severe) is kept.
- Pairs. One correlation per pair still cannot carry what categories do ("husband" and
  "wife" go together for marriage and apart for sex; a category can sit in the middle of a
  number's range), so the sample is chosen from a pool of four draws per row, the copula's
  own and draws with weakened correlations that reach what it underrates. Iterative
  proportional fitting weights the pool until every pair of columns has the training rows'
  two-way table (numbers cut at their deciles, missing as a cell), and rows are drawn by
  systematic sampling with those weights (`pairs.PairTables`, `pairs.choose_rows`). Table cells with
  fewer training rows than the rare-category threshold are matched only as one total per
  table, and not at all when even that total is below the threshold: no small count of a
  combination of two values steers the sample.
- Missing values are modelled outside the copula: each column's draws miss at its real share,
  at random rows, so correlations are estimated on observed values only. Matching the
  pairwise tables, where missing is a cell of its own, then keeps the share and, pair by
  pair, the "missing together" patterns. The copy guard comes first, though: where a row
  with a missing value has little else to tell it apart, making it new can cost some of the
  missing share.
- A "string" column is categorical when it has at most `CATEGORICAL_MAX_DISTINCT` (50) distinct
  values, or at most `CATEGORICAL_MAX_DISTINCT_SHARE` (5%) as many distinct values as observed
  rows; otherwise it is free text (names, notes, identifiers).

Privacy guards, each enforced rather than merely reported:

1. No synthetic row equals a real row, compared against every real row (hold-out included).
   Pool rows equal to a real row are never chosen; if too few others remain, the colliding
   rows are drawn again from the copula, then have one cell at a time redrawn from its
   column's marginal (missing or not), and are dropped if they still collide. A dataset so
   small or coarse that every possible row occurs in it (a single binary column, say) therefore
   yields a small or even empty sample, by design.
2. Categories with fewer than `rare_category_threshold` real rows become "Other" (booleans are
   exempt: their two values are not identifying).
3. Numeric tails are clipped at `clip_quantiles` of the real values, so no extreme real value
   (the oldest patient, the largest bill) can appear; synthetic values lie inside that range.
4. Opaque (pseudonymised) columns get fresh random tokens with the real tokens' length and
   alphabet, never equal to a real token; free-text columns get placeholders `text_0001`,
   `text_0002`, ... in row order. Real values of either are never sampled. Fresh tokens do not
   reproduce repeats: one pseudonymised person on three real rows is three strangers here.

The report carries only aggregate distances and counts, never a value from the data.

Where the pieces are: this module holds the settings, `synthesise`, the copula fit and the
sampler, the matching of pairwise tables and the exact-copy guard; `columns.py` holds the
model of each column (its marginal, normal scores, table cells and output), the correlation
of normal scores and the row hashes the guard compares; `report.py` builds the fidelity and
privacy report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from workspaces.synthesis.columns import (
    build_column,
    is_copy,
    normal_scores,
    pairwise_correlation,
    row_hashes,
)
from workspaces.synthesis.pairs import PairTables, choose_rows
from workspaces.synthesis.report import DCR_MAX_ROWS, build_report

KINDS = frozenset({"integer", "float", "boolean", "date", "datetime", "string"})
COPY_GUARD_ROUNDS = 5
# Eigenvalue floor for the correlation matrix: keeps it invertible without visibly weakening
# strong correlations.
EIGENVALUE_FLOOR = 1e-3
# Limits on undoing the attenuation of correlations by discrete columns (`_latent_correlation`).
MAX_ATTENUATION_CORRECTION = 3.0
NOISE_STANDARD_ERRORS = 3.0
# Rounds of reordering categories by what the other columns predict (`_order_categories`).
ORDERING_ROUNDS = 2
ORDERING_ROWS = 20_000
# The pool the sample is chosen from (`pairs.choose_rows`): this many draws per synthetic
# row, and at most this many cells (rows x columns) in all, so a wide table cannot exhaust
# memory.
POOL_FACTOR = 4
MAX_POOL_CELLS = 20_000_000
POOL_CORRELATION_SHARE = 0.8


@dataclass(frozen=True)
class SynthesisSettings:
    """How to build a synthetic sample; every field has a safe default."""

    n_rows: int = 5000
    rare_category_threshold: int = 10  # categories with fewer real rows than this become "Other"
    clip_quantiles: tuple[float, float] = (0.01, 0.99)  # numeric tails clipped: no extreme leaks
    fit_rows: int = 100_000  # fit on at most this many real rows (random subsample) for speed
    holdout_share: float = 0.2  # real rows kept out of fitting, the privacy report's baseline
    seed: int | None = None

    def __post_init__(self):
        low, high = self.clip_quantiles
        if self.n_rows < 1:
            raise ValueError("n_rows must be at least 1")
        if self.rare_category_threshold < 1:
            raise ValueError("rare_category_threshold must be at least 1")
        if not 0.0 <= low < high <= 1.0:
            raise ValueError("clip_quantiles must satisfy 0 <= low < high <= 1")
        if self.fit_rows < 1:
            raise ValueError("fit_rows must be at least 1")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError("holdout_share must be in [0, 1)")


@dataclass(frozen=True)
class SynthesisResult:
    """The synthetic sample and a JSON-serialisable fidelity and privacy report."""

    sample: pd.DataFrame
    report: dict


def synthesise(
    real: pd.DataFrame,
    kinds: dict[str, str],
    settings: SynthesisSettings,
    *,
    opaque_columns: frozenset[str] = frozenset(),
    progress: Callable[[float], None] | None = None,
) -> SynthesisResult:
    """Build a synthetic sample of `real` with a Gaussian copula, and report on it.

    `kinds` maps every column of `real` to "integer", "float", "boolean", "date", "datetime" or
    "string". `opaque_columns` names string columns holding pseudonymised tokens; they get fresh
    tokens of the same shape. `progress`, if given, is called with fractions from 0 to 1.

    The sample has the columns of `real` in the same order: int64 (Int64 when the real column has
    missing values or is nullable), float64, bool (boolean when nullable), datetime64 (dates at
    midnight; time zones kept) and strings (the real column's string dtype, else object). It has
    `settings.n_rows` rows, fewer if the copy guard had to drop rows equal to a real row.

    Raises ValueError when `kinds` does not match the columns, a kind is unknown, an opaque
    column is not a string column, or `real` has no rows or no columns.
    """
    _check_inputs(real, kinds, opaque_columns)
    report_progress = progress or _ignore_progress
    report_progress(0.0)
    rng = np.random.default_rng(settings.seed)

    split = _split_rows(len(real), settings, rng)
    columns = [
        build_column(real[name], name, kinds[name], name in opaque_columns, split, settings)
        for name in real.columns
    ]
    report_progress(0.3)

    copula_columns = [column for column in columns if column.in_copula]
    real_scores = normal_scores(copula_columns, [c.train_values for c in copula_columns], rng)
    real_correlation, pairs = pairwise_correlation(real_scores)
    for _ in range(ORDERING_ROUNDS):
        if not _order_categories(copula_columns, real_scores, real_correlation):
            break
        real_scores = normal_scores(copula_columns, [c.train_values for c in copula_columns], rng)
        real_correlation, pairs = pairwise_correlation(real_scores)
    attenuation = np.array([column.attenuation() for column in copula_columns])
    latent_correlation = _latent_correlation(real_correlation, pairs, attenuation)
    sampler = _Sampler(columns, _positive_definite_factor(latent_correlation))
    report_progress(0.5)

    real_hashes = np.unique(row_hashes([column.real_key for column in columns]))
    pool = _draw_pool(sampler, columns, latent_correlation, settings.n_rows, rng)
    is_pool_copy = is_copy(columns, pool, np.arange(len(pool[0])), real_hashes)
    tables = PairTables(copula_columns, real_correlation, settings.rare_category_threshold)
    rows = choose_rows(tables, columns, pool, is_pool_copy, settings.n_rows, rng)
    values = [column_values[rows] for column_values in pool]
    report_progress(0.7)
    values, copy_guard = _remove_copies(values, columns, sampler, real_hashes, rng)
    # Counted on the copula's own draws: what sampling it naively would have copied.
    copy_guard["initial_copies"] = int(is_pool_copy[: settings.n_rows].sum())
    report_progress(0.8)

    sample = pd.DataFrame(
        {
            column.name: column.output(column_values)
            for column, column_values in zip(columns, values, strict=True)
        }
    )
    report = build_report(
        columns=columns,
        synthetic=values,
        real_hashes=real_hashes,
        real_correlation=real_correlation,
        copy_guard=copy_guard,
        rows_real=len(real),
        settings=settings,
        rng=rng,
    )
    report_progress(1.0)
    return SynthesisResult(sample=sample, report=report)


def _ignore_progress(fraction: float) -> None:
    return None


def _check_inputs(real: pd.DataFrame, kinds: dict[str, str], opaque_columns: frozenset[str]):
    if not isinstance(real, pd.DataFrame):
        raise TypeError("real must be a pandas DataFrame")
    if real.shape[1] == 0:
        raise ValueError("real has no columns")
    if len(real) == 0:
        raise ValueError("real has no rows: there is nothing to synthesise from")
    if real.columns.has_duplicates:
        raise ValueError("real has duplicate column names")
    missing = [name for name in real.columns if name not in kinds]
    extra = [name for name in kinds if name not in set(real.columns)]
    if missing or extra:
        raise ValueError(f"kinds must name every column exactly: missing {missing}, extra {extra}")
    unknown = {name: kind for name, kind in kinds.items() if kind not in KINDS}
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; expected one of {sorted(KINDS)}")
    for name in opaque_columns:
        if name not in kinds:
            raise ValueError(f"opaque column {name!r} is not a column of real")
        if kinds[name] != "string":
            raise ValueError(f"opaque column {name!r} must be of kind 'string'")


@dataclass(frozen=True)
class _Split:
    """Row positions: the training rows the model is fitted on, and a hold-out sample."""

    train: np.ndarray
    holdout: np.ndarray


def _split_rows(n_rows: int, settings: SynthesisSettings, rng: np.random.Generator) -> _Split:
    shuffled = rng.permutation(n_rows)
    # At least one training row, or there is no model to fit.
    n_holdout = min(int(n_rows * settings.holdout_share), n_rows - 1)
    return _Split(
        train=shuffled[n_holdout : n_holdout + settings.fit_rows],
        holdout=shuffled[: min(n_holdout, DCR_MAX_ROWS)],
    )


def _latent_correlation(observed, pairs, attenuation) -> np.ndarray:
    """Undo the attenuation that discreteness causes, so sampled pairs correlate as real ones.

    A discrete column's normal scores correlate with its latent normal by a factor `a` < 1 (see
    `_attenuation`), and a synthetic discrete column loses that factor again when it is cut
    from the latent normal, so an uncorrected binary-numeric correlation of 0.8 comes back as
    about 0.45. To first order the observed correlation is latent * a_i * a_j; dividing by that
    restores it. The correction is capped and skipped for correlations within sampling noise,
    because for rare categories `a` is small and would blow noise up into spurious dependence.
    """
    factor = np.minimum(1.0 / np.outer(attenuation, attenuation), MAX_ATTENUATION_CORRECTION)
    noise = NOISE_STANDARD_ERRORS / np.sqrt(np.maximum(pairs, 1.0))
    latent = np.where(np.abs(observed) > noise, observed * factor, observed)
    latent = np.clip(latent, -1.0, 1.0)
    np.fill_diagonal(latent, 1.0)
    return latent


def _order_categories(columns, scores, correlation) -> bool:
    """Reorder each categorical column's categories by what the other columns predict of it.

    Ordered by frequency, categories relate to other columns in no particular direction, and a
    correlation sees little of it. Ordered by the mean, within each category, of the column's
    best linear prediction from the other columns' normal scores, the relationship becomes as
    monotone as one order allows (a step of optimal scaling). False when nothing is
    categorical.
    """
    categorical = [index for index, column in enumerate(columns) if column.treatment != "numeric"]
    if not categorical or len(columns) < 2:
        return False
    # The prediction of every column from all others at once, through the precision matrix:
    # z_j - (z P)_j / P_jj. Eigenvalues are floored as for sampling, so P always exists.
    eigenvalues, eigenvectors = np.linalg.eigh(correlation)
    precision = (eigenvectors / np.maximum(eigenvalues, EIGENVALUE_FLOOR)) @ eigenvectors.T
    filled = np.nan_to_num(scores[:ORDERING_ROWS])
    residual = (filled @ precision[:, categorical]) / np.diag(precision)[categorical]
    predicted = filled[:, categorical] - residual
    for position, index in enumerate(categorical):
        column = columns[index]
        codes = column.train_values[:ORDERING_ROWS]
        observed = codes >= 0
        size = column.support_size
        total = np.bincount(codes[observed], weights=predicted[observed, position], minlength=size)
        count = np.bincount(codes[observed], minlength=size)
        column.reorder((total / np.maximum(count, 1))[:size])
    return True


def _draw_pool(sampler, columns, latent_correlation, n_rows, rng) -> list[np.ndarray]:
    """The rows the sample is chosen from: `n_rows` copula draws, then more from a weaker copula.

    Raking restores the pairwise tables whatever the pool, but it can only weight up rows that
    are there: draws with weakened correlations reach the combinations the copula's one
    correlation per pair underrates ("Wife" and "Married", when categories in between are
    mostly male).
    """
    size = max(n_rows, min(POOL_FACTOR * n_rows, MAX_POOL_CELLS // max(len(columns), 1)))
    weakened = POOL_CORRELATION_SHARE * latent_correlation
    np.fill_diagonal(weakened, 1.0)
    broad = _Sampler(columns, _positive_definite_factor(weakened)).draw(size - n_rows, rng)
    first = sampler.draw(n_rows, rng)
    return [np.concatenate(parts) for parts in zip(first, broad, strict=True)]


def _positive_definite_factor(correlation: np.ndarray) -> np.ndarray:
    """A Cholesky factor of the nearest-enough correlation matrix with eigenvalues >= a floor.

    Pairwise-complete estimates need not be positive-definite, and perfectly dependent columns
    make the matrix singular.
    """
    if correlation.size == 0:
        return correlation
    eigenvalues, eigenvectors = np.linalg.eigh(correlation)
    repaired = (eigenvectors * np.maximum(eigenvalues, EIGENVALUE_FLOOR)) @ eigenvectors.T
    scale = np.sqrt(np.diag(repaired))
    return np.linalg.cholesky(repaired / np.outer(scale, scale))


class _Sampler:
    """Draws synthetic rows in the columns' internal representation."""

    def __init__(self, columns, factor):
        self.columns = columns
        self.factor = factor
        self._copula_index = {}
        for column in columns:
            if column.in_copula:
                self._copula_index[id(column)] = len(self._copula_index)

    def _uniforms(self, count: int, rng: np.random.Generator) -> np.ndarray:
        latent = rng.standard_normal((count, self.factor.shape[0])) @ self.factor.T
        return ndtr(latent)

    def _values(self, column, uniforms, count, rng):
        index = self._copula_index.get(id(column))
        uniform = rng.random(count) if index is None else uniforms[:, index]
        return column.from_uniform(uniform, rng)

    def draw(self, count: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Fresh rows, each column missing at exactly its real share of rows."""
        uniforms = self._uniforms(count, rng)
        values = [self._values(column, uniforms, count, rng) for column in self.columns]
        for column, column_values in zip(self.columns, values, strict=True):
            n_missing = round(column.missing_share * count)
            column_values[rng.permutation(count)[:n_missing]] = column.missing_value
        return values

    def redraw(self, values: list[np.ndarray], rows: np.ndarray, rng: np.random.Generator):
        """Draw `rows` again from the copula, keeping which of their cells are missing."""
        uniforms = self._uniforms(rows.size, rng)
        for column, column_values in zip(self.columns, values, strict=True):
            if column.support_size < 2:
                continue
            fresh = self._values(column, uniforms, rows.size, rng)
            keep = column.is_missing(column_values[rows])
            column_values[rows] = np.where(keep, column_values[rows], fresh)

    def perturb(self, values: list[np.ndarray], rows: np.ndarray, rng: np.random.Generator):
        """Redraw one cell of each row from that column's marginal alone, missing included.

        Reaches combinations the copula thinks unlikely, which is what a row that keeps landing
        on a real row needs. Missing cells are fair game: a row whose only continuous value is
        missing is few-valued, and filling it in is often the one way to make it new.
        """
        variable = [
            column.support_size + (0.0 < column.missing_share < 1.0) >= 2 for column in self.columns
        ]
        if not any(variable):
            return
        weights = rng.random((rows.size, len(self.columns))) * np.array(variable)
        choice = weights.argmax(axis=1)
        for index, column in enumerate(self.columns):
            chosen = rows[choice == index]
            if chosen.size:
                fresh = column.from_uniform(rng.random(chosen.size), rng)
                fresh[rng.random(chosen.size) < column.missing_share] = column.missing_value
                values[index][chosen] = fresh


def _remove_copies(values, columns, sampler, real_hashes, rng):
    """The exact-copy guard: redraw, then perturb, then drop rows equal to a real row.

    Hash collisions between different rows only cause needless redraws, never a missed copy.
    """
    all_rows = np.arange(len(values[0]))
    copied = is_copy(columns, values, all_rows, real_hashes)
    guard = {"initial_copies": int(copied.sum()), "rows_perturbed": 0, "rows_dropped": 0}
    for step in ("redraw", "perturb"):
        for _ in range(COPY_GUARD_ROUNDS):
            rows = np.flatnonzero(copied)
            if not rows.size:
                break
            if step == "redraw":
                sampler.redraw(values, rows, rng)
            else:
                sampler.perturb(values, rows, rng)
            copied[rows] = is_copy(columns, values, rows, real_hashes)
        if step == "redraw":
            guard["rows_perturbed"] = int(copied.sum())
    guard["rows_dropped"] = int(copied.sum())
    kept = [column_values[~copied] for column_values in values]
    return kept, guard
