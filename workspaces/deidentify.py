"""De-identification: the data steward's decision for each column, and the transforms.

Plain Python (pandas, numpy, hashlib, re; no Django) so it can be tested and benchmarked
alone. Django code adapts it: after the scan in `workspaces/identifiers.py`, the ingest
records one `ColumnDecision` per column (keep, drop, pseudonymise or generalise), checks
them with `validate_decisions` and applies them chunk by chunk with `apply_decisions`.

Nothing here puts a data value in an exception or a log: those are shown in the portal and
recorded in the audit trail, and the values are private.
"""

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workspaces.identifiers import (
    BAND_WIDTHS,
    DATE_GENERALISATIONS,
    DISTRICT,
    KINDS,
    Action,
    Finding,
    allowed_generalisations,
)

# 64 bits of HMAC output. Tokens only need to be unique among the distinct values of one
# workspace, for joins: by the birthday bound two of n distinct values share a token with
# probability about n**2 / 2**65, that is 3e-8 for a million values and 3e-4 for a hundred
# million. Guessing is not made easier by the truncation: without the secret nobody can
# compute a token at all, even for a value they know. With it, anyone could (NHS numbers
# are only about a billion), so the secret must never reach researchers or the sandbox.
TOKEN_HEX_CHARS = 16
MIN_SECRET_BYTES = 16
_ARROW_STRING = pd.StringDtype("pyarrow")


# --- Decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnDecision:
    """The steward's choice for one column.

    `generalise_to`, for GENERALISE only: "year" or "month" for dates (and "year" for
    dates of birth held as text); a band width such as "10" for numbers; "district" for
    postcodes and ZIP codes.
    """

    column: str
    action: Action
    generalise_to: str | None = None


def validate_decisions(
    decisions: list[ColumnDecision], kinds: dict[str, str], findings: list[Finding]
) -> None:
    """Refuse decisions that cannot be carried out, naming the column; or that drop all."""
    finding_kinds = {finding.column: finding.kind for finding in findings}
    seen = set()
    for decision in decisions:
        column = decision.column
        if column not in kinds:
            raise ValueError(f"There is no column {column!r}.")
        if column in seen:
            raise ValueError(f"Column {column!r} has more than one decision.")
        seen.add(column)
        try:
            action = Action(decision.action)
        except ValueError:
            raise ValueError(f"Column {column!r}: unknown action.") from None
        if action != Action.GENERALISE:
            if decision.generalise_to is not None:
                raise ValueError(f"Column {column!r}: only a generalisation takes a target.")
            continue
        allowed = allowed_generalisations(kinds[column], finding_kinds.get(column))
        if not allowed:
            raise ValueError(
                f"Column {column!r} ({kinds[column]}) cannot be generalised: "
                "keep, drop or pseudonymise it."
            )
        if decision.generalise_to not in allowed:
            raise ValueError(f"Column {column!r} can be generalised to {', '.join(allowed)} only.")
    dropped = {decision.column for decision in decisions if Action(decision.action) == Action.DROP}
    if kinds and dropped >= set(kinds):
        raise ValueError("Every column would be dropped: keep at least one.")


def output_kind(kind: str, decision: ColumnDecision | None) -> str:
    """The column's kind after the decision. A dropped column has none: ValueError."""
    if kind not in KINDS:
        raise ValueError(f"Unknown column kind {kind!r}.")
    if decision is None or decision.action == Action.KEEP:
        return kind
    if decision.action == Action.DROP:
        raise ValueError(f"Column {decision.column!r} is dropped and has no kind.")
    if decision.action == Action.PSEUDONYMISE:
        return "string"
    if decision.generalise_to == "year":
        return "integer"
    if decision.generalise_to == "month" or decision.generalise_to == DISTRICT:
        return "string"
    if decision.generalise_to in BAND_WIDTHS:
        return "string"
    raise ValueError(f"Column {decision.column!r}: unknown generalisation.")


# --- Transforms ------------------------------------------------------------------------


def apply_decisions(
    chunk: pd.DataFrame,
    decisions: dict[str, ColumnDecision],
    kinds: dict[str, str],
    *,
    secret: bytes,
) -> pd.DataFrame:
    """The chunk with every decision applied; columns without a decision are kept.

    Dropped columns are left out; the others keep their order and the chunk's index.
    Check the decisions once with `validate_decisions` first: this checks only what it
    needs to carry them out. Missing values stay missing. Outputs follow the ingest's
    pandas types: "string" for tokens and labels, "Int64" for years. See `pseudonymise`
    and `generalise`. `secret` is needed only when a column is pseudonymised: a table
    without one (nothing identifying, or every identifier dropped) decides without it.
    """
    if any(decision.action == Action.PSEUDONYMISE for decision in decisions.values()):
        _check_secret(secret)
    for column, decision in decisions.items():
        if decision.column != column:
            raise ValueError(f"The decision filed under {column!r} is for another column.")
        if column not in chunk.columns:
            # A decision that matches no column would leave the real column untouched.
            raise ValueError(f"The chunk has no column {column!r} for its decision.")
        if kinds.get(column) not in KINDS:
            raise ValueError(f"Column {column!r} has no known kind.")
    columns = {}
    for column in chunk.columns:
        decision = decisions.get(column)
        if decision is None or decision.action == Action.KEEP:
            columns[column] = chunk[column]
        elif decision.action == Action.DROP:
            continue
        elif decision.action == Action.PSEUDONYMISE:
            columns[column] = pseudonymise(chunk[column], kinds[column], secret=secret)
        elif decision.action == Action.GENERALISE:
            columns[column] = generalise(
                chunk[column], kinds[column], decision.generalise_to, column=column
            )
        else:
            raise ValueError(f"Column {column!r}: unknown action.")
    return pd.DataFrame(columns, index=chunk.index)


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"The pseudonymisation secret must be at least {MIN_SECRET_BYTES} bytes.")


class _Hmac:
    """HMAC-SHA256 (RFC 2104) with the keyed pads hashed once: per value this is about
    twice as fast as `hmac.digest`, which matters at a million distinct values."""

    def __init__(self, secret: bytes):
        key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def tokens(self, texts: list[str]) -> list[str]:
        new_inner, new_outer = self._inner.copy, self._outer.copy
        size = TOKEN_HEX_CHARS // 2
        tokens = []
        for text in texts:
            inner = new_inner()
            inner.update(text.encode("utf-8"))
            outer = new_outer()
            outer.update(inner.digest())
            tokens.append(outer.digest()[:size].hex())
        return tokens


_SPACED_NHS = r"([0-9]{3})[ -]([0-9]{3})[ -]([0-9]{4})"


def canonical_text(value, kind: str) -> str:
    """The text a value is pseudonymised from, the same whichever way the file held it.

    Integers (and integral floats) in decimal without ".0", so 9434765919, 9434765919.0
    and "9434765919" agree; other floats by `repr`; text stripped, and an NHS-shaped
    "943 476 5919" (or with hyphens) without its separators; dates as YYYY-MM-DD and
    timestamps in ISO 8601; booleans as "true"/"false".
    """
    if isinstance(value, str):
        text = value.strip()
        spaced = re.fullmatch(_SPACED_NHS, text)
        return "".join(spaced.groups()) if spaced else text
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if kind == "date" else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def _canonical_texts(distinct: pd.Series, kind: str) -> list[str]:
    """`canonical_text` of each value, vectorised for the common column types."""
    if pd.api.types.is_integer_dtype(distinct.dtype):
        return list(map(str, distinct.tolist()))
    if isinstance(distinct.dtype, pd.StringDtype):
        text = distinct.astype(_ARROW_STRING).str.strip()
        return text.str.replace(f"^{_SPACED_NHS}$", r"\1\2\3", regex=True).tolist()
    return [canonical_text(value, kind) for value in distinct.tolist()]


def _per_distinct(values: pd.Series, transform) -> pd.Series:
    """Apply `transform` (a Series of the distinct non-missing values to an equally long
    sequence of results, missing allowed) once per distinct value; missing stays missing.
    The result is a "string" Series aligned with `values`."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    results = np.empty(len(uniques) + 1, dtype=object)
    results[:-1] = np.asarray(transform(pd.Series(uniques)), dtype=object)
    results[-1] = None  # code -1, a missing value, picks this
    return pd.Series(results[codes], index=values.index, dtype="string", name=values.name)


def pseudonymise(values: pd.Series, kind: str, *, secret: bytes) -> pd.Series:
    """Replace each value by its keyed token: the first 16 hex characters of
    HMAC-SHA256(secret, canonical_text(value)).

    The same value and secret give the same token in every chunk, file and version, so
    pseudonymised columns still join; another workspace's secret gives other tokens.
    Each distinct value is hashed once per chunk. Missing values stay missing.
    """
    _check_secret(secret)
    keyed = _Hmac(secret)
    return _per_distinct(values, lambda distinct: keyed.tokens(_canonical_texts(distinct, kind)))


def generalise(values: pd.Series, kind: str, target: str | None, *, column: str = "") -> pd.Series:
    """Coarsen a column. Missing values stay missing.

    - Dates and timestamps to "year" (integers) or "month" ("2023-04").
    - Text dates of birth to "year": the first four-digit year from 1800 to 2099 in the
      text; text without one becomes missing rather than being kept.
    - Numbers to bands of width `target` ("10"), as text. Integers: "40-49" holds 40 to
      49 inclusive. Floats: "40-50" is the half-open interval [40, 50), so 49.9 is in
      "40-50" and 50.0 in "50-60". Negative bands read "-10--1". Infinities become missing.
    - Postcodes to "district": the outward code, upper case ("SW1A 1AA", "sw1a1aa" ->
      "SW1A"); US ZIP codes (text "02139" or "02139-4307", or integers) to their first
      three digits ("021"). Text that is no postcode becomes missing rather than kept.
    """
    where = f"Column {column!r}" if column else "The column"
    if kind in ("date", "datetime") and target in DATE_GENERALISATIONS:
        return _generalise_dates(values, target)
    if kind == "string" and target == "year":
        return _years_in_text(values)
    if kind in ("integer", "float") and target in BAND_WIDTHS:
        return _bands(values, int(target), integer_labels=kind == "integer")
    if kind == "string" and target == DISTRICT:
        return _postcode_districts(values)
    if kind == "integer" and target == DISTRICT:
        return _zip_districts(values)
    raise ValueError(f"{where} ({kind}) cannot be generalised that way.")


def _labels(codes: np.ndarray, labels: list[str], values: pd.Series) -> pd.Series:
    table = np.empty(len(labels) + 1, dtype=object)
    table[:-1] = labels
    table[-1] = None  # code -1, a missing value, picks this
    return pd.Series(table[codes], index=values.index, dtype="string", name=values.name)


def _generalise_dates(values: pd.Series, target: str) -> pd.Series:
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        # Unparseable entries become missing: a value is never passed through unchanged.
        values = pd.to_datetime(values, errors="coerce")
    years = values.dt.year
    if target == "year":
        return years.astype("Int64").rename(values.name)
    months = (years * 12 + values.dt.month - 1).to_numpy(dtype="float64", na_value=np.nan)
    codes, uniques = pd.factorize(months, use_na_sentinel=True)
    labels = [f"{int(month) // 12:04d}-{int(month) % 12 + 1:02d}" for month in uniques]
    return _labels(codes, labels, values)


_YEAR_IN_TEXT = r"(?:^|[^0-9])((?:18|19|20)[0-9]{2})(?:[^0-9]|$)"


def _years_in_text(values: pd.Series) -> pd.Series:
    text = values.astype(_ARROW_STRING)
    years = text.str.extract(_YEAR_IN_TEXT, expand=False)
    return pd.to_numeric(years, errors="coerce").astype("Int64").rename(values.name)


def _bands(values: pd.Series, width: int, *, integer_labels: bool) -> pd.Series:
    if pd.api.types.is_integer_dtype(values.dtype):
        # Integer arithmetic, so bands of large 64-bit values are exact.
        missing = values.isna().to_numpy(dtype=bool)
        exact = values.to_numpy(dtype="int64", na_value=0)
        codes, uniques = pd.factorize((exact // width) * width)
        codes = np.where(missing, -1, codes)
        lower_bounds = [int(lower) for lower in uniques]
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        numbers = np.where(np.isfinite(numbers), numbers, np.nan)
        codes, uniques = pd.factorize(np.floor(numbers / width), use_na_sentinel=True)
        lower_bounds = [int(band) * width for band in uniques]
    upper_offset = width - 1 if integer_labels else width
    labels = [f"{lower}-{lower + upper_offset}" for lower in lower_bounds]
    return _labels(codes, labels, values)


_DISTRICT_IN_TEXT = (
    r"^(?:([A-Z]{1,2}[0-9][A-Z0-9]?)(?: ?[0-9][A-Z]{2})?|([0-9]{3})[0-9]{2}(?:-?[0-9]{4})?)$"
)


def _postcode_districts(values: pd.Series) -> pd.Series:
    def districts(distinct: pd.Series) -> pd.Series:
        text = distinct.astype(_ARROW_STRING).str.strip().str.upper()
        text = text.str.replace("[ \t]+", " ", regex=True)
        is_postcode = text.str.fullmatch(_DISTRICT_IN_TEXT).to_numpy(dtype=bool, na_value=False)
        return text.str.replace(_DISTRICT_IN_TEXT, r"\1\2", regex=True).where(is_postcode)

    return _per_distinct(values, districts)


def _zip_districts(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    # Five-digit ZIPs (leading zeros lost: 2139 is 02139) or nine-digit ZIP+4.
    zip3 = np.where(
        (numbers >= 0) & (numbers < 1e5),
        np.floor(numbers / 100),
        np.where((numbers >= 1e5) & (numbers < 1e9), np.floor(numbers / 1e6), np.nan),
    )
    codes, uniques = pd.factorize(zip3, use_na_sentinel=True)
    return _labels(codes, [f"{int(prefix):03d}" for prefix in uniques], values)
