"""Row-level tuples in text: lines holding the values of several columns of one input row.

A table of counts or means holds figures computed from many people; `print(df.head(3))`,
`df.head(3).to_csv()`, a JSON record or a tuple printed in any order hold one person's
values side by side. The airlock looks for the second kind in everything a real run
writes as text (text outputs, JSON, CSV tables, names and descriptions, the run's whole
log): `RowValues.from_frames` indexes the run's real inputs once per run, and
`RowValues.find` returns the lines of a text that hold the values of at least
`min_columns` (3) distinct columns of one same input row, when that is no coincidence.

How, at a million rows and megabytes of text:

1. The text is cut into lines (a line longer than `WINDOW` characters into overlapping
   windows, so that one long JSON line is searched as many short records) and tokens,
   separated by spaces and punctuation. Tokens are lower-cased; those that read as
   numbers are compared as numbers (12.5 == 12.50, 59 == 59.0; rounded to 6 decimals,
   as pandas prints floats).
2. Once per run, each column's values are keyed the same way (a value of several words
   by its longest word, and confirmed whole later), factorised into codes, with an
   inverted index (code -> rows). The text's distinct tokens are looked up in every
   column at once (pandas' hash tables), and a line is kept only if it touches
   `min_columns` columns and could be significant (below): no row is looked at until then.
3. A kept line is confirmed: the rows holding its values in its most selective columns
   are gathered from the inverted index, and the rows matching the most columns (each
   by a token of its own) decide. The line is row-level when such a row matches
   `min_columns` columns or more, fewer than `fewer_than` rows share those values (a
   combination many people share is what a frequency table's cell shows, not a row), and
   it is no coincidence: one of the values is a text or a date that fewer than
   `fewer_than` rows hold (a count can equal a rare number by chance, hardly a rare
   name); or else the row explains at least a quarter of the line's values (a line of
   thirty numbers matches some row on four columns by chance) and, were the columns
   independent, so few rows would be expected to match that many of the line's columns
   that fewer than `CHANCE` (0.05) such coincidences are expected in the whole text
   (the threshold is shared among the distinct lines that could reach it). This is what
   keeps frequency and statistics tables, whose labels are values and whose counts are
   numbers that often equal someone's age or length of stay, from being taken for rows.

So a printed row is found when it holds a rare text or date (an identifier, a name, a
date of birth) with two more of its columns, or enough columns to be improbable; a few
columns of common values (age, ward, sex), even when they single out one person, are too
likely by chance to be told from a coincidence, and are left, like everything in a text,
to the checkers who read it.

Work is capped (characters examined, lines confirmed, rows gathered per line); a search
that hit a cap says so (`RowMatches.capped`) and the checks send the output to a person.
Memory is bounded: 12 bytes per input cell indexed for the codes and the inverted index,
plus each column's distinct values, with at most `MAX_CELLS` (20 million) cells indexed
per run (text and date columns first); a text's search takes some 15 to 30 times the
text's size. Plain Python with pandas and numpy, no Django; the benchmark is
`bench/disclosure_values.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["CHANCE", "RowMatches", "RowValues", "text_lines"]

# What separates tokens: spaces and the punctuation around values when pandas, csv,
# json, repr or f-strings print them. `.`, `-`, `/`, `@`, `+`, `_` stay inside a token
# (numbers, dates, e-mail addresses, codes).
# A colon separates too ("age":59, key: value), except between digits (a time of day,
# 10:30:00, is one token: its parts are no one's age or count).
SEPARATORS = r"""\s,;:()\[\]{}<>"'`|=%$£€#!?*\\"""
_TOKEN = re.compile(rf"(?:[^{SEPARATORS}]|(?<=[0-9]):(?=[0-9]))+")
_SPLIT = re.compile(rf"[{SEPARATORS}]+")
WINDOW = 600  # characters: a longer line is searched in overlapping windows
MAX_TEXT_CHARS = 16 * 1024**2  # outputs are checked up to 10 MB, logs are smaller
MAX_LINES_CONFIRMED = 20_000
MAX_ROWS_PER_LINE = 200_000
MAX_TOKENS_PER_LINE = 400
MAX_ROWS_CONFIRMED = 100  # rows of one line looked at one by one
MAX_CELLS = 20_000_000  # input cells indexed per run: about 12 bytes each, plus values
ROUND_DECIMALS = 6
CHANCE = 0.05  # coincidences expected in a whole text, below which a match is a row
EXPLAINED = 4  # ...if the row explains at least 1 in EXPLAINED of the line's values
_CHUNK = 100_000


@dataclass(frozen=True)
class RowMatches:
    """The 1-based numbers of the lines (of the text searched) that hold a row's values,
    and whether the search stopped at a cap before the end."""

    lines: tuple[int, ...] = ()
    capped: bool = False

    def __bool__(self) -> bool:
        return bool(self.lines)


@dataclass(eq=False)
class _Column:
    numeric: bool
    codes: np.ndarray  # per row: the code of its key, -1 when missing
    keys: pd.Index  # code -> key (a float, or a lower-case token)
    order: np.ndarray  # rows sorted by code, missing ones left out
    starts: np.ndarray  # code -> where its rows start in `order` (len(keys) + 1)
    # Values of several words (found by one word, confirmed whole): per row, which
    # distinct value it holds, and those values lower-cased. None when all are one word.
    value_codes: np.ndarray | None = None
    texts: pd.Series | None = None
    several: np.ndarray | None = None
    sizes: np.ndarray = field(init=False)  # code -> how many rows hold it

    def __post_init__(self):
        self.sizes = np.diff(self.starts)

    def rows(self, code: int) -> np.ndarray:
        return self.order[self.starts[code] : self.starts[code + 1]]

    def whole(self, row: int) -> str | None:
        """The row's value as words joined by single spaces, if it has several words."""
        if self.value_codes is None:
            return None
        code = self.value_codes[row]
        if code < 0 or not self.several[code]:
            return None
        return " ".join(_TOKEN.findall(self.texts.iloc[code]))


@dataclass(eq=False)
class RowValues:
    """The values of a run's real inputs, indexed to find row-level tuples in text.

    Build it once per run with `from_frames`, then `find` in each text."""

    frames: list[list[_Column]] = field(default_factory=list)
    min_columns: int = 3
    skipped_columns: int = 0

    @classmethod
    def from_frames(
        cls,
        frames: Iterable[pd.DataFrame],
        *,
        min_columns: int = 3,
        max_cells: int = MAX_CELLS,
    ) -> RowValues:
        """Index the inputs' columns, once per run.

        Rows of different inputs are never combined: each input is searched on its own.
        Booleans are left out (true and false say nothing on their own). Memory grows
        with the cells indexed, so at most `max_cells` are (rows times columns, over all
        inputs): text and date columns first, the strongest evidence, then numbers, each
        in the frame's order; the columns left out, and those whose values cannot be
        indexed, are counted in `skipped_columns`. The frames themselves are not kept:
        only codes and each column's distinct values."""
        frames = list(frames)
        chosen: list[list[int]] = [[] for _ in frames]
        candidates = []
        for which, frame in enumerate(frames):
            for position in range(frame.shape[1]):
                dtype = frame.dtypes.iloc[position]
                if pd.api.types.is_bool_dtype(dtype):
                    continue
                is_number = pd.api.types.is_numeric_dtype(dtype)
                candidates.append((is_number, which, position, len(frame)))
        budget, skipped = int(max_cells), 0
        for _, which, position, rows in sorted(candidates):
            if rows > budget:
                skipped += 1
                continue
            budget -= rows
            chosen[which].append(position)
        indexed: list[list[_Column]] = []
        for which, frame in enumerate(frames):
            columns = []
            for position in sorted(chosen[which]):
                try:
                    column = _index_column(frame.iloc[:, position])
                except (TypeError, ValueError, OverflowError):
                    column = None  # values pandas cannot hash or convert (lists, say)
                    skipped += 1
                if column is not None:
                    columns.append(column)
            indexed.append(columns)
        return cls(frames=indexed, min_columns=max(int(min_columns), 1), skipped_columns=skipped)

    @property
    def is_empty(self) -> bool:
        """Whether no input has enough columns to hold a row-level tuple."""
        return not any(len(columns) >= self.min_columns for columns in self.frames)

    def find(self, text: str, *, fewer_than: int = 10) -> RowMatches:
        """The lines of `text` holding the values of `min_columns` or more columns of one
        input row, shared by fewer than `fewer_than` rows, and no coincidence."""
        return self.find_in_lines(text_lines(text), fewer_than=fewer_than)

    def find_in_lines(self, lines: Sequence[str], *, fewer_than: int = 10) -> RowMatches:
        """As `find`, over lines already cut (a JSON document's records, say); line
        numbers are positions in `lines`, from 1."""
        if self.is_empty or not lines:
            return RowMatches()
        units, capped = _units(lines)
        if not units:
            return RowMatches(capped=capped)
        tokens = _tokenise(units)
        found: set[int] = set()
        for columns in self.frames:
            if len(columns) < self.min_columns:
                continue
            search = _Search(columns, units, tokens, self.min_columns, max(int(fewer_than), 1))
            found |= search.run()
            capped = capped or search.capped
        return RowMatches(lines=tuple(sorted(found)), capped=capped)


def text_lines(text: str) -> list[str]:
    """A text's lines, as `RowValues.find` cuts them (numbered from 1)."""
    return text.splitlines()


# Building ---------------------------------------------------------------------------


def _index_column(series: pd.Series) -> _Column | None:
    values = series.reset_index(drop=True)
    dtype = values.dtype
    texts = value_codes = several = None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        # As pandas prints a date (the first word of a timestamp).
        keys = values.dt.strftime("%Y-%m-%d")
        numeric = False
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        keys = pd.to_numeric(values, errors="coerce").astype("float64").round(ROUND_DECIMALS)
        keys = keys.where(np.isfinite(keys))
        numeric = True
    else:
        keys, value_codes, texts, several = _string_keys(values)
        numeric = False
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    if len(uniques) == 0:
        return None
    codes = codes.astype(np.int32)
    present = codes >= 0
    counts = np.bincount(codes[present], minlength=len(uniques))
    order = np.argsort(codes, kind="stable").astype(np.int32)
    order = order[int((~present).sum()) :]  # the missing (-1) sort first
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    index = pd.Index(np.asarray(uniques, dtype="float64" if numeric else object))
    return _Column(numeric, codes, index, order, starts, value_codes, texts, several)


def _string_keys(values: pd.Series):
    """Per row, the token a text value is found by (the value itself, lower-cased, when
    it is one token; its longest token otherwise); for columns where some values have
    several words, which distinct value each row holds and those values."""
    value_codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = pd.Series(uniques).astype(str).str.lower().str.strip()
    several = texts.str.contains(_SPLIT.pattern, regex=True).to_numpy(dtype=bool, na_value=False)
    keys = texts.str.rstrip(".").to_numpy(dtype=object)
    # Tokenised in chunks: a list of words per value is only ever held for one chunk.
    positions = np.flatnonzero(several)
    for start in range(0, len(positions), _CHUNK):
        chunk = positions[start : start + _CHUNK]
        keys[chunk] = [_longest(_TOKEN.findall(text)) for text in texts.iloc[chunk]]
    keys[keys == ""] = None
    row_keys = pd.Series(keys[value_codes], dtype=object)
    row_keys[value_codes < 0] = None
    if not len(positions):
        return row_keys, None, None, None
    return row_keys, value_codes.astype(np.int32), texts, several


def _longest(words: list[str]) -> str | None:
    return _strip_token(max(words, key=len)) if words else None


def _strip_token(token):
    """A token without the full stops that end a sentence after it."""
    if not isinstance(token, str) or not token:
        return None
    return token.rstrip(".") or None


# Searching --------------------------------------------------------------------------


def _units(lines: Sequence[str]) -> tuple[list[tuple[int, str]], bool]:
    """(line number, text) pairs to search: long lines as overlapping windows; capped at
    MAX_TEXT_CHARS in all."""
    units, total, capped = [], 0, False
    for number, line in enumerate(lines, 1):
        if total + len(line) > MAX_TEXT_CHARS:
            capped = True
            break
        total += len(line)
        if len(line) <= WINDOW:
            if line.strip():
                units.append((number, line))
            continue
        step = WINDOW // 2
        for start in range(0, len(line) - step, step):
            units.append((number, line[start : start + WINDOW]))
    return units, capped


@dataclass
class _Tokens:
    unit_of: np.ndarray  # per distinct (unit, token) pair: the unit...
    token_of: np.ndarray  # ...and the token
    distinct: pd.Index  # token id -> token
    numbers: pd.Index  # token id -> its value as a number, NaN if it is not one


def _tokenise(units: list[tuple[int, str]]) -> _Tokens:
    texts = pd.Series([text for _, text in units], dtype=object).str.lower()
    exploded = texts.str.findall(_TOKEN.pattern).explode()
    exploded = exploded.map(_strip_token).dropna()
    token_of, distinct = pd.factorize(exploded.to_numpy(dtype=object))
    unit_of = exploded.index.to_numpy(dtype=np.int64)
    # Each token once per unit.
    pairs = np.unique(unit_of * max(len(distinct), 1) + token_of)
    unit_of, token_of = np.divmod(pairs, max(len(distinct), 1))
    numbers = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce")
    numbers = numbers.astype("float64").round(ROUND_DECIMALS)
    numbers = numbers.where(np.isfinite(numbers))
    return _Tokens(
        unit_of, token_of, pd.Index(distinct, dtype=object), pd.Index(numbers, dtype="float64")
    )


class _Search:
    """One text searched against one input's columns."""

    def __init__(self, columns, units, tokens: _Tokens, min_columns: int, fewer_than: int):
        self.columns, self.units = columns, units
        self.min_columns, self.fewer_than = min_columns, fewer_than
        self.rows_in_input = len(columns[0].codes)
        self.capped = False
        self.chance = CHANCE
        # token id -> code in each column (-1: not a value of it), kept only for the
        # tokens that are a value of some column, so memory follows the matches rather
        # than the text's vocabulary.
        is_number = ~np.isnan(tokens.numbers.to_numpy())
        found = []
        for column in columns:
            codes = np.full(len(tokens.distinct), -1, dtype=np.int64)
            if column.numeric:
                codes[is_number] = column.keys.get_indexer(tokens.numbers[is_number])
            else:
                codes = column.keys.get_indexer(tokens.distinct)
            hit = np.flatnonzero(codes >= 0)
            found.append((hit, codes[hit]))
        valued = np.unique(np.concatenate([hit for hit, _ in found])) if found else []
        compact = np.full(len(tokens.distinct), -1, dtype=np.int64)
        compact[valued] = np.arange(len(valued))
        self.token_codes = np.full((len(columns), len(valued)), -1, dtype=np.int32)
        for position, (hit, codes) in enumerate(found):
            self.token_codes[position, compact[hit]] = codes
        # The occurrences of tokens that are values, by their compact id.
        keep = compact[tokens.token_of] >= 0
        self.unit_of = tokens.unit_of[keep]
        self.token_of = compact[tokens.token_of[keep]]

    def run(self) -> set[int]:
        candidates = self._candidates()
        if not len(candidates):
            return set()
        unit_of, token_of = self.unit_of, self.token_of
        bounds = np.searchsorted(unit_of, [candidates, candidates + 1])
        found: set[int] = set()
        seen: dict[frozenset, bool] = {}
        confirmed = 0
        for unit, start, end in zip(candidates, bounds[0], bounds[1], strict=True):
            number, text = self.units[unit]
            if number in found:
                continue
            tokens = token_of[start:end]
            if len(tokens) > MAX_TOKENS_PER_LINE:
                tokens, self.capped = tokens[:MAX_TOKENS_PER_LINE], True
            key = frozenset(tokens.tolist())
            if key not in seen:
                if confirmed >= MAX_LINES_CONFIRMED:
                    self.capped = True
                    break
                confirmed += 1
                seen[key] = self._confirm(tokens, text)
            if seen[key]:
                found.add(number)
        return found

    def _candidates(self) -> np.ndarray:
        """The units touching `min_columns` columns whose match could be significant,
        found without looking at any row."""
        unit_of, token_of = self.unit_of, self.token_of
        units = len(self.units)
        touched = np.zeros(units, dtype=np.int32)
        for codes in self.token_codes:
            hit = codes[token_of] >= 0
            touched += np.bincount(unit_of[hit], minlength=units) > 0
        values = np.bincount(unit_of, minlength=units)  # tokens that are some column's value
        candidates = np.flatnonzero((touched >= self.min_columns) & (values >= self.min_columns))
        if not len(candidates):
            return candidates
        slot = np.full(units, -1, dtype=np.int64)
        slot[candidates] = np.arange(len(candidates))
        chosen = slot[unit_of] >= 0
        where, tokens = slot[unit_of[chosen]], token_of[chosen]
        shares = np.zeros((len(self.columns), len(candidates)))
        rare = np.zeros(len(candidates), dtype=bool)
        for position, column in enumerate(self.columns):
            codes = self.token_codes[position][tokens]
            hit = codes >= 0
            shares[position] = np.bincount(
                where[hit], weights=column.sizes[codes[hit]], minlength=len(candidates)
            )
            if not column.numeric:
                few = hit.copy()
                few[hit] = column.sizes[codes[hit]] < self.fewer_than
                rare |= np.bincount(where[few], minlength=len(candidates)) > 0
        shares = np.minimum(shares / self.rows_in_input, 1.0)
        # A row explains at most one value per column it matches: too few columns for the
        # line's values can only be significant through a rare text.
        explained = touched[candidates] * EXPLAINED >= values[candidates]
        # Elementary symmetric polynomials of the shares, for every unit at once: the
        # rows expected to match k of its columns by chance.
        degree = len(self.columns)
        totals = np.zeros((degree + 1, len(candidates)))
        totals[0] = 1.0
        for share in shares:
            totals[1:] = totals[1:] + totals[:-1] * share
        expected = totals[self.min_columns :] * self.rows_in_input
        possible = np.arange(self.min_columns, degree + 1)[:, None] <= touched[candidates]
        lowest = np.where(possible, expected, np.inf).min(axis=0)
        # Over the whole text, fewer than CHANCE coincidences are expected: each distinct
        # line that could be significant at all gets its share (a table of 3,000 dates and
        # counts is 3,000 chances of one).
        testable = candidates[explained & (lowest < CHANCE)]
        self.chance = CHANCE / max(len({self.units[unit][1] for unit in testable}), 1)
        return candidates[rare | (explained & (lowest < self.chance))]

    def _confirm(self, tokens: np.ndarray, text: str) -> bool:
        """Whether some input row has values of `min_columns` columns among `tokens`,
        shared by fewer than `fewer_than` rows, and no coincidence."""
        columns, min_columns = self.columns, self.min_columns
        # Per column the line touches: the codes it holds, and how many rows hold them.
        matched: list[tuple[int, np.ndarray]] = []
        for position in range(len(columns)):
            codes = self.token_codes[position][tokens]
            present = np.unique(codes[codes >= 0])
            if len(present):
                matched.append((position, present))
        if len(matched) < min_columns:
            return False
        sizes = [int(columns[position].sizes[codes].sum()) for position, codes in matched]
        rows, hits, best = self._best_rows(matched, sizes)
        if best < min_columns:
            return False
        # The rows matching the most columns, with how many rows share the values each
        # matches: a combination many people share is not one person's row. (Every row
        # sharing them scores as high, so it is among the rows gathered.)
        top = np.flatnonzero(hits.sum(axis=0) == best)
        matched_codes = np.stack([columns[position].codes[rows[top]] for position, _ in matched])
        combinations = np.where(hits[:, top], matched_codes, -1).T
        _, which, shared = np.unique(combinations, axis=0, return_inverse=True, return_counts=True)
        top = top[shared[which.ravel()] < self.fewer_than][:MAX_ROWS_CONFIRMED]
        if not len(top):
            return False
        # Tokens of the line that are values of some column: a row explaining only a few
        # of many (a line of thirty numbers) is a coincidence, however rare it looks.
        valued = len(tokens)  # all of them are some column's value
        shares = [size / self.rows_in_input for size in sizes]
        normalised = None
        for row, row_hits in zip(rows[top], hits[:, top].T, strict=True):
            token_sets, rare_text = [], False
            for slot in np.flatnonzero(row_hits):
                position = matched[slot][0]
                column = columns[position]
                whole = column.whole(row)
                if whole is not None:
                    # A value of several words: found by one, it must be there whole.
                    if normalised is None:
                        normalised = " ".join(_TOKEN.findall(text.lower()))
                    if whole not in normalised:
                        continue
                code = column.codes[row]
                codes = self.token_codes[position][tokens]
                token_sets.append(set(tokens[codes == code].tolist()))
                rare_text = rare_text or (
                    not column.numeric and column.sizes[code] < self.fewer_than
                )
            matches = _distinct_matches(token_sets)
            if matches < min_columns:
                continue
            # A text or a date that few people have; or else few rows would match that
            # many of the line's columns by chance, were the columns independent.
            if rare_text or (
                matches * EXPLAINED >= valued
                and self.rows_in_input * _symmetric(shares, matches) < self.chance
            ):
                return True
        return False

    def _best_rows(self, matched, sizes) -> tuple[np.ndarray, np.ndarray, int]:
        """The rows matching the most of the line's columns: gathered from the most
        selective columns first, since a row matching s of the m columns holds a value
        of any m - s + 1 of them. Returns the rows gathered, which columns each matches
        (columns x rows) and the best score (0 when the search was capped)."""
        columns, m = self.columns, len(matched)
        by_size = sorted(range(m), key=sizes.__getitem__)
        gathered: list[np.ndarray] = []
        total = 0
        rows = np.zeros(0, dtype=np.int64)
        hits = np.zeros((m, 0), dtype=bool)
        for count, choice in enumerate(by_size[: m - self.min_columns + 1], 1):
            total += sizes[choice]
            if total > MAX_ROWS_PER_LINE:
                self.capped = True
                return rows, hits, 0
            position, codes = matched[choice]
            gathered.extend(columns[position].rows(int(code)) for code in codes)
            rows = np.unique(np.concatenate(gathered))
            hits = np.zeros((m, len(rows)), dtype=bool)
            for slot, (position, codes) in enumerate(matched):
                hits[slot] = np.isin(columns[position].codes[rows], codes)
            best = int(hits.sum(axis=0).max())
            # Every row scoring m - count + 1 or more is among those gathered.
            if best >= m - count + 1:
                return rows, hits, best
        return rows, hits, 0


def _symmetric(shares: list[float], degree: int) -> float:
    """The elementary symmetric polynomial of `shares` of this degree: the chance that a
    random row matches `degree` of the columns, summed over which ones."""
    totals = [1.0] + [0.0] * degree
    for share in shares:
        for taken in range(degree, 0, -1):
            totals[taken] += totals[taken - 1] * min(share, 1.0)
    return totals[degree]


def _distinct_matches(token_sets: list[set[int]]) -> int:
    """How many columns can be matched each by a token of its own (bipartite matching)."""
    owner: dict[int, int] = {}

    def assign(column: int, visited: set[int]) -> bool:
        for token in token_sets[column]:
            if token in visited:
                continue
            visited.add(token)
            if token not in owner or assign(owner[token], visited):
                owner[token] = column
                return True
        return False

    return sum(1 for column in range(len(token_sets)) if assign(column, set()))
