"""The synthesiser's model of each column: its marginal, normal scores and output.

Part of the synthesiser; the method, and why, are in the docstring of `synthesis.py`.
Each column of the real table becomes one model: `_NumericColumn` (an empirical quantile
table), `_CategoricalColumn` (category frequencies, rare ones merged into "Other"),
`_OpaqueColumn` (fresh tokens shaped like pseudonymised ones) or `_FreeTextColumn`
(placeholders). Each turns uniforms into synthetic values and values into normal scores,
into cells of the pairwise tables the sample is matched to, and into the keys the
exact-copy guard hashes; for the report, each measures its marginal
distance and encodes its values for the distance to the closest record. The helpers that
work across columns (normal scores, their correlation, row hashes) are here too, since
both the fit and the report use them. Plain Python, no Django.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri

OTHER = "Other"
CATEGORICAL_MAX_DISTINCT = 50
CATEGORICAL_MAX_DISTINCT_SHARE = 0.05
FREE_TEXT_PREFIX = "text_"
# Categories beyond the most frequent few share one one-hot column, so a column with thousands of
# categories cannot blow up the encoding (or dominate the distance).
DCR_MAX_ONE_HOT = 20
TOKEN_ROUNDS = 20
# Enough pseudonymised tokens to learn their shape; more only costs time.
TOKEN_SHAPE_ROWS = 10_000
# Below this many tokens, a character shared by all of them may be chance, not structure.
TOKEN_SHAPE_MIN_ROWS = 10
MAX_DECIMALS = 6
# Numeric columns enter the pairwise tables the sample is matched to (see `synthesis.py`) cut
# at their training deciles; fewer bins lose shape, more spread the rows over small cells.
PAIR_TABLE_BINS = 10

_RESOLUTIONS = ("D", "h", "m", "s", "ms", "us", "ns")


def build_column(series, name, kind, is_opaque, split, settings):
    if kind in ("integer", "float", "date", "datetime"):
        return _NumericColumn(series, name, kind, split, settings)
    if kind == "boolean":
        is_nullable = pd.api.types.is_extension_array_dtype(series.dtype) or series.isna().any()
        try:
            series = series.astype("boolean")
        except (TypeError, ValueError) as error:
            raise ValueError(f"column {name!r} is not boolean") from error
        return _CategoricalColumn(
            series, name, kind, split, settings, is_nullable=bool(is_nullable)
        )
    series = _as_strings(series)
    missing = series.isna().to_numpy()
    if is_opaque:
        return _OpaqueColumn(series, name, missing, split)
    codes, uniques = pd.factorize(series)
    n_observed = int((codes >= 0).sum())
    is_categorical = (
        len(uniques) <= CATEGORICAL_MAX_DISTINCT
        or len(uniques) <= CATEGORICAL_MAX_DISTINCT_SHARE * n_observed
    )
    if is_categorical:
        return _CategoricalColumn(series, name, kind, split, settings, factorized=(codes, uniques))
    return _FreeTextColumn(series, name, missing, uniques, split)


def _as_strings(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.StringDtype):
        return series
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return series
    # Mixed objects (numbers among strings) compare and hash as their text.
    return series.where(series.isna(), series.astype(str))


def _string_dtype(series: pd.Series):
    return series.dtype if isinstance(series.dtype, pd.StringDtype) else object


class _NumericColumn:
    """Integer, float, date or datetime: an empirical quantile table of the clipped values.

    Values are held as float64: integers as themselves, dates as days since the epoch and
    datetimes as multiples of their coarsest resolution (a minute, a second...), so synthetic
    datetimes keep the real ones' granularity.
    """

    treatment = "numeric"
    metric = "ks"

    def __init__(self, series, name, kind, split, settings):
        self.name = name
        self.kind = kind
        self.missing_value = np.nan
        self.is_nullable = pd.api.types.is_extension_array_dtype(series.dtype)
        if kind in ("date", "datetime"):
            full = self._time_counts(series, split)
        else:
            full = pd.to_numeric(series, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            # Infinities are not values a researcher can use: treat them as missing.
            full = np.where(np.isfinite(full), full, np.nan)
        observed = full[~np.isnan(full)]
        self.has_missing = observed.size < full.size
        self.is_nullable = self.is_nullable or self.has_missing
        self.real_key = full
        self.train_values = full[split.train]
        self.holdout_values = full[split.holdout]
        self.missing_share = float(np.isnan(self.train_values).mean())
        self.low, self.high = self._clip_range(observed, settings.clip_quantiles)
        train_observed = self.train_values[~np.isnan(self.train_values)]
        self._sorted = np.sort(np.clip(train_observed, self.low, self.high))
        self.in_copula = bool(self._sorted.size > 1 and self._sorted[0] < self._sorted[-1])
        inner = np.linspace(0.0, 1.0, PAIR_TABLE_BINS + 1)[1:-1]
        self._cuts = np.unique(np.quantile(self._sorted, inner)) if self._sorted.size else inner[:0]
        # One decimal finer than the real data: values read like real ones, yet rarely
        # coincide with a real value (which would push rows into the exact-copy guard).
        self.decimals = min(_decimals(train_observed) + 1, MAX_DECIMALS) if kind == "float" else 0
        if kind == "float" and observed.size:
            # Rounded inwards, so a rounded synthetic value cannot step outside the range.
            scale = 10.0**self.decimals
            self.low = math.ceil(self.low * scale - 1e-9) / scale
            self.high = max(self.low, math.floor(self.high * scale + 1e-9) / scale)

    def _time_counts(self, series, split):
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            series = pd.to_datetime(series, errors="coerce")
        self.tz = series.dt.tz
        if self.tz is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        self.unit = series.dt.unit
        missing = series.isna().to_numpy()
        raw = series.to_numpy(dtype=f"datetime64[{self.unit}]").view(np.int64)
        one_unit = np.timedelta64(1, self.unit)
        steps = [int(np.timedelta64(1, resolution) // one_unit) for resolution in _RESOLUTIONS]
        steps = [step for step in steps if step >= 1]
        if self.kind == "date":
            self.step = steps[0]
        else:
            train_raw = raw[split.train][~missing[split.train]]
            self.step = next(step for step in [*steps, 1] if np.all(train_raw % step == 0))
        counts = np.floor_divide(raw, self.step).astype(np.float64)
        counts[missing] = np.nan
        return counts

    def _clip_range(self, observed, clip_quantiles):
        if observed.size == 0:
            return np.nan, np.nan
        low, high = np.quantile(observed, clip_quantiles)
        if self.kind == "float":
            return float(low), float(high)
        # Rounded inwards, so rounding a synthetic integer can never step outside the range.
        low_whole, high_whole = math.ceil(low), math.floor(high)
        if low_whole > high_whole:
            # Both quantiles lie between the same two integers, which needs two or fewer rows;
            # no integer is inside the range, so take the one nearest its middle.
            low_whole = high_whole = round((low + high) / 2)
        return float(low_whole), float(high_whole)

    @property
    def support_size(self) -> int:
        return 2 if self.in_copula else int(self._sorted.size > 0)

    def attenuation(self) -> float:
        """How much the ties among the training values weaken their normal scores."""
        _, counts = np.unique(self._sorted, return_counts=True)
        return _attenuation(counts.astype(np.float64))

    @property
    def cell_count(self) -> int:
        return self._cuts.size + 2

    def cells(self, values: np.ndarray) -> np.ndarray:
        """Each value's cell in the pairwise tables: its decile bin, or the last cell if missing."""
        cells = np.searchsorted(self._cuts, values, side="right")
        cells[np.isnan(values)] = self._cuts.size + 1
        return cells

    def from_uniform(self, uniform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        count = self._sorted.size
        if count == 0:
            return np.full(uniform.shape, np.nan)
        values = np.interp(uniform * count - 0.5, np.arange(count), self._sorted)
        # Interpolated values keep (about) the real data's precision: a length of stay
        # recorded to 0.1 days shows as 14.31, not 14.306956...
        values = np.round(values, self.decimals) if self.kind == "float" else np.rint(values)
        return np.clip(values, self.low, self.high)

    def normal_scores(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        scores = np.full(values.shape, np.nan)
        observed = ~np.isnan(values)
        clipped = np.clip(values[observed], self.low, self.high)
        if clipped.size:
            # Random tie-breaking spreads tied values over their rank interval, as categories
            # are spread over theirs; average ranks would understate correlations.
            order = np.lexsort((rng.random(clipped.size), clipped))
            ranks = np.empty(clipped.size)
            ranks[order] = np.arange(clipped.size)
            scores[observed] = ndtri((ranks + 0.5) / clipped.size)
        return scores

    def is_missing(self, values: np.ndarray) -> np.ndarray:
        return np.isnan(values)

    def key(self, values: np.ndarray) -> np.ndarray:
        return values

    def distance(self, real_values: np.ndarray, synthetic_values: np.ndarray) -> float:
        return _ks_statistic(real_values, synthetic_values)

    def encode(self, values: np.ndarray, reference: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        parts = [missing.astype(np.float64)] if self.has_missing else []
        if self._sorted.size:
            reference = np.clip(reference[~np.isnan(reference)], self.low, self.high)
            centre = reference.mean() if reference.size else 0.0
            spread = reference.std() if reference.size else 0.0
            standardised = (np.clip(values, self.low, self.high) - centre) / (spread or 1.0)
            parts.append(np.where(missing, 0.0, standardised))
        if not parts:
            return np.zeros((values.size, 0))
        return np.column_stack(parts)

    def output(self, values: np.ndarray) -> pd.Series:
        if self.kind == "float":
            return pd.Series(values, dtype=np.float64, name=self.name)
        missing = np.isnan(values)
        whole = np.where(missing, 0.0, values).astype(np.int64)
        if self.kind == "integer":
            if self.is_nullable:
                return pd.Series(pd.arrays.IntegerArray(whole, missing), name=self.name)
            return pd.Series(whole, dtype=np.int64, name=self.name)
        stamps = (whole * self.step).view(f"datetime64[{self.unit}]")
        stamps[missing] = np.datetime64("NaT")
        series = pd.Series(stamps, name=self.name)
        if self.tz is not None:
            series = series.dt.tz_localize("UTC").dt.tz_convert(self.tz)
        return series


class _CategoricalColumn:
    """Boolean or categorical string: category frequencies, rare categories merged into "Other".

    Values are held as int codes into `vocabulary`, ordered by training frequency; -1 is missing.
    """

    metric = "tvd"

    def __init__(self, series, name, kind, split, settings, *, is_nullable=False, factorized=None):
        self.name = name
        self.kind = kind
        self.treatment = "boolean" if kind == "boolean" else "categorical"
        self.missing_value = -1
        self.is_nullable = is_nullable
        self._dtype = _string_dtype(series) if kind == "string" else None
        codes, uniques = factorized if factorized is not None else pd.factorize(series)
        labels = np.asarray(uniques, dtype=object)
        counts = np.bincount(codes[codes >= 0], minlength=labels.size)
        # Two boolean values identify nobody, and turning one into "Other" would break the type.
        if kind == "boolean":
            is_rare = np.zeros(labels.size, dtype=bool)
        else:
            is_rare = counts < settings.rare_category_threshold
        merged = list(labels[~is_rare])
        if is_rare.any() and OTHER not in merged:
            merged.append(OTHER)
        position = {label: index for index, label in enumerate(merged)}
        to_merged = np.array(
            [
                position[OTHER if rare else label]
                for label, rare in zip(labels, is_rare, strict=True)
            ],
            dtype=np.int64,
        )
        train_merged = _lookup(to_merged, codes[split.train])
        frequency = np.bincount(train_merged[train_merged >= 0], minlength=len(merged))
        order = np.argsort(-frequency, kind="stable")
        rank = np.empty(len(merged), dtype=np.int64)
        rank[order] = np.arange(len(merged))
        self.vocabulary = np.empty(len(merged), dtype=object)
        self.vocabulary[:] = [merged[index] for index in order]
        fit_lookup = rank[to_merged] if labels.size else np.zeros(0, dtype=np.int64)
        # A rare real value can never equal a synthetic one, unless it is literally "Other".
        is_literal = ~is_rare | np.array([label == OTHER for label in labels], dtype=bool)
        key_lookup = np.where(is_literal, fit_lookup, -2)

        self.real_key = _lookup(key_lookup, codes).astype(np.float64)
        self.train_values = _lookup(fit_lookup, codes[split.train])
        self.holdout_values = _lookup(fit_lookup, codes[split.holdout])
        self.missing_share = float((self.train_values < 0).mean())
        self.has_missing = bool((codes < 0).any())
        probabilities = frequency[order] / max(frequency.sum(), 1)
        self._probabilities = probabilities
        self._positive = int((probabilities > 0).sum())
        self.in_copula = self._positive > 1
        self.reorder(-probabilities[: self._positive])

    def reorder(self, keys: np.ndarray) -> None:
        """Lay the observed categories out on the copula's normal scale in increasing `keys`.

        `keys` has one number per observed category (code order). By default the categories
        are in order of frequency; `synthesise` reorders them by their relationship with the
        other columns, so that the one correlation the copula keeps says as much as it can.
        """
        order = np.argsort(keys, kind="stable")
        self._order = np.concatenate([order, np.arange(self._positive, self.vocabulary.size)])
        self._upper = np.cumsum(self._probabilities[self._order])
        if self._positive:
            self._upper[self._positive - 1 :] = 1.0

    @property
    def support_size(self) -> int:
        return self._positive

    def attenuation(self) -> float:
        """How much discreteness weakens this column's normal scores."""
        return _attenuation(self._probabilities[self._order])

    @property
    def cell_count(self) -> int:
        return self.vocabulary.size + 1

    def cells(self, values: np.ndarray) -> np.ndarray:
        """Each value's cell in the pairwise tables: its category, or the last cell if missing."""
        return np.where(values < 0, self.vocabulary.size, values)

    def from_uniform(self, uniform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._positive == 0:
            return np.full(uniform.shape, -1, dtype=np.int64)
        positions = np.searchsorted(self._upper, uniform, side="right")
        return self._order[np.minimum(positions, self._positive - 1)].astype(np.int64)

    def normal_scores(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        scores = np.full(values.shape, np.nan)
        observed = values >= 0
        codes = values[observed]
        if codes.size:
            share = np.bincount(codes, minlength=self.vocabulary.size) / codes.size
            lower = np.empty(share.size)
            lower[self._order] = np.cumsum(share[self._order]) - share[self._order]
            uniform = lower[codes] + rng.random(codes.size) * share[codes]
            scores[observed] = ndtri(np.clip(uniform, 1e-12, 1 - 1e-12))
        return scores

    def is_missing(self, values: np.ndarray) -> np.ndarray:
        return values < 0

    def key(self, values: np.ndarray) -> np.ndarray:
        return values.astype(np.float64)

    def distance(self, real_values: np.ndarray, synthetic_values: np.ndarray) -> float:
        real_codes = real_values[real_values >= 0]
        synthetic_codes = synthetic_values[synthetic_values >= 0]
        if not real_codes.size or not synthetic_codes.size:
            return 0.0 if real_codes.size == synthetic_codes.size else 1.0
        size = self.vocabulary.size
        real_share = np.bincount(real_codes, minlength=size) / real_codes.size
        synthetic_share = np.bincount(synthetic_codes, minlength=size) / synthetic_codes.size
        return float(0.5 * np.abs(real_share - synthetic_share).sum())

    def encode(self, values: np.ndarray, reference: np.ndarray) -> np.ndarray:
        width = min(self.vocabulary.size, DCR_MAX_ONE_HOT)
        slot = np.where(values < 0, width + 1, np.minimum(values, width))
        encoded = np.zeros((values.size, width + 2))
        encoded[np.arange(values.size), slot] = 1.0
        return encoded

    def output(self, values: np.ndarray) -> pd.Series:
        missing = values < 0
        if self.kind == "boolean":
            flags = np.zeros(values.size, dtype=bool)
            flags[~missing] = self.vocabulary[values[~missing]].astype(bool)
            if self.is_nullable:
                return pd.Series(pd.arrays.BooleanArray(flags, missing), name=self.name)
            return pd.Series(flags, dtype=bool, name=self.name)
        labels = np.full(values.size, None, dtype=object)
        labels[~missing] = self.vocabulary[values[~missing]]
        return pd.Series(labels, dtype=self._dtype, name=self.name)


class _TokenColumn:
    """Shared behaviour of opaque and free-text columns: real values are never used.

    Their rows hold a token (or presence flag) that provably differs from every real value, so
    for the copy guard a synthetic row can only match a real one where both are missing.
    """

    metric = None
    in_copula = False

    @property
    def support_size(self) -> int:
        # One state only: the token itself is never a real value, whatever it is.
        return int(self.missing_share < 1.0)

    def _fit_presence(self, name, missing, split):
        self.name = name
        self.kind = "string"
        self.real_key = np.where(missing, 0.0, 1.0)
        self.train_values = np.where(missing[split.train], None, True)
        self.holdout_values = np.where(missing[split.holdout], None, True)
        self.missing_share = float(missing[split.train].mean())
        self.missing_value = None

    def is_missing(self, values: np.ndarray) -> np.ndarray:
        return pd.isna(values)

    def key(self, values: np.ndarray) -> np.ndarray:
        return np.where(pd.isna(values), 0.0, 2.0)

    def distance(self, real_values, synthetic_values):
        return None


class _FreeTextColumn(_TokenColumn):
    """High-cardinality text: numbered placeholders, `text_0001` and on."""

    treatment = "free_text"

    def __init__(self, series, name, missing, uniques, split):
        self._fit_presence(name, missing, split)
        self._dtype = _string_dtype(series)
        existing = pd.Series(uniques)
        # A prefix no real value starts with makes every placeholder differ from every real value.
        for attempt in itertools.count():
            prefix = FREE_TEXT_PREFIX if attempt == 0 else f"text{attempt}_"
            if not existing.str.startswith(prefix).any():
                self._prefix = prefix
                break

    def from_uniform(self, uniform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.full(uniform.shape, True, dtype=object)

    def output(self, values: np.ndarray) -> pd.Series:
        present = ~pd.isna(values)
        count = int(present.sum())
        width = max(4, len(str(count)))
        labels = np.full(values.size, None, dtype=object)
        labels[present] = [f"{self._prefix}{number:0{width}d}" for number in range(1, count + 1)]
        return pd.Series(labels, dtype=self._dtype, name=self.name)


class _OpaqueColumn(_TokenColumn):
    """Pseudonymised tokens: fresh random tokens of the same length and alphabet."""

    treatment = "opaque"

    def __init__(self, series, name, missing, split):
        self._fit_presence(name, missing, split)
        self._dtype = _string_dtype(series)
        self._real = series
        train = series.iloc[split.train]
        tokens = train[train.notna()].iloc[:TOKEN_SHAPE_ROWS].astype(str).tolist()
        # Empty strings have no shape to imitate; such a column comes out missing.
        tokens = [token for token in tokens if token]
        self._lengths = np.array([len(token) for token in tokens], dtype=np.int64)
        width = int(self._lengths.max()) if tokens else 0
        self._width = width
        self._fixed = {}
        alphabet = sorted(set("".join(tokens)))
        is_uniform_length = tokens and bool((self._lengths == width).all()) and width > 0
        if is_uniform_length and len(tokens) >= TOKEN_SHAPE_MIN_ROWS:
            grid = np.array(tokens, dtype=f"<U{width}").view("<U1").reshape(-1, width)
            is_fixed = (grid == grid[0]).all(axis=0)
            # A fixed prefix such as "pid_" is structure shared by every token, not a secret; a
            # token that is fixed everywhere leaves nothing to vary, so then nothing is fixed.
            if not is_fixed.all():
                self._fixed = {
                    int(index): str(grid[0, index]) for index in np.flatnonzero(is_fixed)
                }
                alphabet = sorted(set(np.unique(grid[:, ~is_fixed]).tolist()))
        self._alphabet = np.array(alphabet or ["0"], dtype="<U1")

    def from_uniform(self, uniform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        tokens = np.full(uniform.size, None, dtype=object)
        if not self._lengths.size:
            return tokens
        pending = np.arange(uniform.size)
        for _ in range(TOKEN_ROUNDS):
            tokens[pending] = self._random_tokens(pending.size, rng)
            pending = pending[self._clashes(tokens[pending])]
            if not pending.size:
                break
        # No fresh token of this shape could be found (the real ones use up the space): leave
        # the value missing rather than reuse a real token.
        tokens[pending] = None
        return tokens

    def _random_tokens(self, count: int, rng: np.random.Generator) -> np.ndarray:
        lengths = rng.choice(self._lengths, size=count)
        grid = self._alphabet[rng.integers(0, self._alphabet.size, size=(count, self._width))]
        for index, character in self._fixed.items():
            grid[:, index] = character
        # Trailing NULs vanish when the characters are viewed as one string each.
        grid[np.arange(self._width)[None, :] >= lengths[:, None]] = ""
        return np.ascontiguousarray(grid).view(f"<U{self._width}").ravel().astype(object)

    def _clashes(self, tokens: np.ndarray) -> np.ndarray:
        hits = self._real.isin(tokens)
        if not hits.any():
            return np.zeros(tokens.size, dtype=bool)
        taken = set(self._real[hits].astype(str).tolist())
        return np.array([token in taken for token in tokens], dtype=bool)

    def output(self, values: np.ndarray) -> pd.Series:
        return pd.Series(values, dtype=self._dtype, name=self.name)


def _lookup(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """`table[codes]` with code -1 (missing) mapped to -1, even when the table is empty."""
    extended = np.append(table.astype(np.int64), -1)
    return extended[codes]


def normal_scores(columns, values, rng) -> np.ndarray:
    if not columns:
        return np.zeros((len(values[0]) if values else 0, 0))
    return np.column_stack(
        [column.normal_scores(v, rng) for column, v in zip(columns, values, strict=True)]
    )


def pairwise_correlation(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlations of normal scores over the rows where both columns are observed, and the
    number of such rows per pair.

    Normal scores have mean 0 and variance 1 by construction, so the uncentred form is the
    Pearson correlation without a pass per pair.
    """
    observed = ~np.isnan(scores)
    weights = observed.astype(np.float64)
    filled = np.where(observed, scores, 0.0)
    cross = filled.T @ filled
    energy = (filled * filled).T @ weights
    pairs = weights.T @ weights
    denominator = np.sqrt(energy * energy.T)
    usable = (denominator > 0) & (pairs >= 3)
    correlation = np.divide(cross, denominator, out=np.zeros_like(cross), where=usable)
    correlation = np.clip((correlation + correlation.T) / 2, -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    return correlation, pairs


def _attenuation(shares: np.ndarray) -> float:
    """Correlation between a latent normal and the normal scores of its discretised version.

    Cut into groups with these shares (categories, or runs of tied values) and re-spread
    uniformly within each group, a normal keeps sum_k p_k m_k^2 of its correlation, where m_k
    is the mean of the normal restricted to group k. 1 for continuous data, 2/pi for a fair
    coin, 0.07 for a 1% flag.
    """
    shares = shares[shares > 0] / shares.sum()
    if shares.size < 2:
        return 1.0
    upper = np.minimum(np.cumsum(shares), 1.0)
    lower = np.concatenate([[0.0], upper[:-1]])
    density_drop = _normal_density(ndtri(lower)) - _normal_density(ndtri(upper))
    return float(np.clip(np.sum(density_drop**2 / shares), 1e-6, 1.0))


def _normal_density(points: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.square(points)) / math.sqrt(2 * math.pi)


def row_hashes(key_columns: Sequence[np.ndarray]) -> np.ndarray:
    """One 64-bit hash per row of normalised values; equal rows always hash equal."""
    frame = pd.DataFrame({index: _canonical(key) for index, key in enumerate(key_columns)})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _canonical(key: np.ndarray) -> np.ndarray:
    # -0.0 and NaN payloads would otherwise hash differently from 0.0 and NaN.
    normalised = np.asarray(key, dtype=np.float64) + 0.0
    normalised[np.isnan(normalised)] = np.nan
    return normalised


def is_copy(columns, values, rows, real_hashes) -> np.ndarray:
    if not real_hashes.size or not rows.size:
        return np.zeros(rows.size, dtype=bool)
    hashes = row_hashes([column.key(v[rows]) for column, v in zip(columns, values, strict=True)])
    position = np.minimum(np.searchsorted(real_hashes, hashes), real_hashes.size - 1)
    return real_hashes[position] == hashes


def _ks_statistic(real_values: np.ndarray, synthetic_values: np.ndarray) -> float:
    real_sorted = np.sort(real_values[~np.isnan(real_values)])
    synthetic_sorted = np.sort(synthetic_values[~np.isnan(synthetic_values)])
    if not real_sorted.size or not synthetic_sorted.size:
        return 0.0 if real_sorted.size == synthetic_sorted.size else 1.0
    grid = np.concatenate([real_sorted, synthetic_sorted])
    real_cdf = np.searchsorted(real_sorted, grid, side="right") / real_sorted.size
    synthetic_cdf = np.searchsorted(synthetic_sorted, grid, side="right") / synthetic_sorted.size
    return float(np.abs(real_cdf - synthetic_cdf).max())


def _decimals(values: np.ndarray, sample: int = 10_000) -> int:
    """The fewest decimal places (up to MAX_DECIMALS) that hold every value in `values`."""
    values = values[:sample]
    for decimals in range(MAX_DECIMALS):
        if np.allclose(np.round(values, decimals), values, rtol=0, atol=1e-9):
            return decimals
    return MAX_DECIMALS
