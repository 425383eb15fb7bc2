"""Direct identifiers in an ingested table: the scan that flags them.

Plain Python (pandas, numpy, pyarrow, re; no Django) so it can be tested and benchmarked
alone. Django code adapts it: the ingest scans the typed chunks with a `ColumnScanner` and
shows the data steward its `Finding`s, each with a suggested `Action`. The steward's
decisions and the transforms that carry them out are in `workspaces/deidentify.py`, which
imports from here what the two share: the column kinds, `Action`, `IdentifierKind`,
`Finding` and `allowed_generalisations` (whose default the scan's advice names).

Nothing here puts a data value in a reason, an exception or a log: those are shown in the
portal and recorded in the audit trail, and the values are private. The scanner keeps
counts and 64-bit hashes of the values it sampled, never the values themselves.

Regular expressions are written for both RE2 (pyarrow's compute functions, which keep the
scan vectorised) and Python's `re`: ASCII classes such as `[0-9]` rather than `\\d`,
literal spaces rather than `\\s`, no look-arounds.
"""

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

KINDS = frozenset({"integer", "float", "boolean", "date", "datetime", "string"})

# A value pattern counts as evidence when at least this share of the sampled non-missing
# values match it. High, because a suggestion to drop or pseudonymise a column that merely
# contains a few e-mail addresses among other text would be wrong more often than right.
VALUE_MATCH_THRESHOLD = 0.8
# "Many distinct values", for names and free text: at least this share of the sampled
# values are distinct, and at least this many. A column of twenty site names in a
# thousand rows looks like names but is not personal.
HIGH_CARDINALITY_SHARE = 0.5
HIGH_CARDINALITY_MIN_DISTINCT = 20
# Free text: long values (mean length in characters, above) that mostly hold a space.
FREE_TEXT_MIN_MEAN_LENGTH = 30
FREE_TEXT_MIN_SPACE_SHARE = 0.8
# The distinct-value hashes kept per column. Beyond this the column is certainly of high
# cardinality, so the set stops growing and memory stays bounded on any file.
DISTINCT_TRACKING_LIMIT = 100_000
# Phone numbers have this many digits, country code included (E.164 allows 15).
PHONE_MIN_DIGITS = 9
PHONE_MAX_DIGITS = 15

BAND_WIDTHS = ("5", "10", "100", "1000")
DATE_GENERALISATIONS = ("year", "month")
DISTRICT = "district"


class Action(StrEnum):
    KEEP = "keep"
    DROP = "drop"
    PSEUDONYMISE = "pseudonymise"
    GENERALISE = "generalise"


class IdentifierKind(StrEnum):
    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    NATIONAL_ID = "national_id"
    HEALTH_ID = "health_id"
    POSTCODE = "postcode"
    DATE_OF_BIRTH = "date_of_birth"
    FREE_TEXT = "free_text"
    ADDRESS = "address"
    IP_ADDRESS = "ip_address"


EVIDENCE_NAME = "column name"
EVIDENCE_VALUES = "values"
EVIDENCE_BOTH = "column name and values"

SUGGESTED_ACTIONS = {
    IdentifierKind.NAME: Action.DROP,
    IdentifierKind.EMAIL: Action.DROP,
    IdentifierKind.PHONE: Action.DROP,
    IdentifierKind.ADDRESS: Action.DROP,
    IdentifierKind.FREE_TEXT: Action.DROP,
    IdentifierKind.IP_ADDRESS: Action.DROP,
    # Pseudonymised rather than dropped so that tables can still be joined on them.
    IdentifierKind.NATIONAL_ID: Action.PSEUDONYMISE,
    IdentifierKind.HEALTH_ID: Action.PSEUDONYMISE,
    IdentifierKind.POSTCODE: Action.GENERALISE,  # to the district
    IdentifierKind.DATE_OF_BIRTH: Action.GENERALISE,  # to the year
}

# When the values match several patterns, the most specific wins: a valid NHS number
# also looks like a phone number, a Social Security number too.
VALUE_PRIORITY = (
    IdentifierKind.HEALTH_ID,
    IdentifierKind.NATIONAL_ID,
    IdentifierKind.EMAIL,
    IdentifierKind.IP_ADDRESS,
    IdentifierKind.POSTCODE,
    IdentifierKind.PHONE,
    IdentifierKind.DATE_OF_BIRTH,
    IdentifierKind.NAME,
    IdentifierKind.FREE_TEXT,
)

_DESCRIPTIONS = {
    IdentifierKind.NAME: "people's names",
    IdentifierKind.EMAIL: "e-mail addresses",
    IdentifierKind.PHONE: "phone numbers",
    IdentifierKind.NATIONAL_ID: "national identity numbers",
    IdentifierKind.HEALTH_ID: "patient or health-service identifiers",
    IdentifierKind.POSTCODE: "postcodes or ZIP codes",
    IdentifierKind.DATE_OF_BIRTH: "dates of birth",
    IdentifierKind.FREE_TEXT: "free text",
    IdentifierKind.ADDRESS: "addresses",
    IdentifierKind.IP_ADDRESS: "IP addresses",
}
_VALUE_DESCRIPTIONS = {
    IdentifierKind.NAME: "people's names (two or three capitalised words, mostly distinct)",
    IdentifierKind.EMAIL: "e-mail addresses",
    IdentifierKind.PHONE: "phone numbers",
    IdentifierKind.NATIONAL_ID: "US Social Security or UK National Insurance numbers",
    IdentifierKind.HEALTH_ID: "NHS numbers with a valid check digit",
    IdentifierKind.POSTCODE: "full UK postcodes",
    IdentifierKind.DATE_OF_BIRTH: "dates",
    IdentifierKind.FREE_TEXT: "free text (long, several words, mostly distinct)",
    IdentifierKind.IP_ADDRESS: "IPv4 addresses",
}
_GENERALISE_ADVICE = {
    "year": "Suggested: generalise it to the year.",
    "district": "Suggested: generalise it to the postcode district.",
}
_ADVICE = {
    Action.DROP: "Suggested: drop the column.",
    Action.PSEUDONYMISE: "Suggested: pseudonymise it, so that tables can still be joined on it.",
}


# --- Column names ----------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Normalised names (lowercase words joined by "_", digits dropped), kind by kind.
_NAMES: dict[IdentifierKind, frozenset[str]] = {
    IdentifierKind.EMAIL: _words(
        "email e_mail email_address e_mail_address emailaddress email_addr"
    ),
    IdentifierKind.IP_ADDRESS: _words("ip ipv ip_address ipaddress ip_addr remote_addr remote_ip"),
    IdentifierKind.PHONE: _words(
        "phone phone_number phone_no phonenumber telephone telephone_number "
        "telephone_no tel tel_no mobile mobile_number mobile_no mobile_phone "
        "cell cell_phone cellphone fax fax_number landline"
    ),
    IdentifierKind.NATIONAL_ID: _words(
        "ssn social_security social_security_number social_security_no "
        "national_insurance national_insurance_number national_insurance_no "
        "ni_number ni_no ni_num nino nin national_id national_identity_number "
        "passport passport_number passport_no"
    ),
    IdentifierKind.HEALTH_ID: _words(
        "nhs nhs_number nhs_no nhs_num nhsnumber nhsno mrn medical_record_number "
        "medical_record_no patient_id patientid patient_number patient_no "
        "chi chi_number chi_no hospital_number hospital_no hosp_no "
        "hcn health_care_number"
    ),
    IdentifierKind.DATE_OF_BIRTH: _words(
        "dob d_o_b date_of_birth dateofbirth birth_date birthdate birthday"
    ),
    IdentifierKind.POSTCODE: _words(
        "postcode post_code postal_code postalcode zip zipcode zip_code zip_postal_code"
    ),
    IdentifierKind.ADDRESS: _words("address addr street address_line"),
    IdentifierKind.FREE_TEXT: _words("notes note comments comment free_text freetext narrative"),
    IdentifierKind.NAME: _words(
        "name surname forename forenames firstname lastname fullname givenname "
        "given_names familyname maidenname middlename patientname"
    ),
}
# Words that, next to "name", make it a person's name: "first_name", "patient_name".
# Any other word makes it something else's: "dataset_name", "hospital_name".
_PERSON_NAME_WORDS = _words(
    "name names first last full sur fore given middle family maiden christian "
    "birth legal preferred patient person participant client customer subject "
    "member contact mother mothers father fathers of"
)
# Words naming whose identifier it is; "patient_email" is an e-mail address.
_SUBJECT_PREFIXES = _words(
    "patient pt person participant client customer subject member user contact "
    "home work primary main current mother mothers father fathers personal"
)
_ADDRESS_WORDS = _words("address addr street")
_NOT_POSTAL_WORDS = _words("email ip web url")  # "ip_address" is no postal address
_NAME_ORDER = (
    IdentifierKind.EMAIL,
    IdentifierKind.IP_ADDRESS,
    IdentifierKind.PHONE,
    IdentifierKind.NATIONAL_ID,
    IdentifierKind.HEALTH_ID,
    IdentifierKind.DATE_OF_BIRTH,
    IdentifierKind.POSTCODE,
    IdentifierKind.ADDRESS,
    IdentifierKind.FREE_TEXT,
    IdentifierKind.NAME,
)


def _name_words(column: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(column))  # dateOfBirth
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced)  # NHSNumber
    spaced = re.sub(r"([A-Za-z])([0-9])", r"\1_\2", spaced)  # address1
    words = re.split(r"[^a-z0-9]+", spaced.lower())
    return [word for word in words if word and not word.isdigit()]


def _match_name(words: list[str]) -> IdentifierKind | None:
    normalised = "_".join(words)
    for kind in _NAME_ORDER:
        if normalised in _NAMES[kind]:
            return kind
    if "name" in words and set(words) <= _PERSON_NAME_WORDS:
        return IdentifierKind.NAME
    if _ADDRESS_WORDS & set(words) and not _NOT_POSTAL_WORDS & set(words):
        return IdentifierKind.ADDRESS
    return None


def kind_from_column_name(column: str) -> IdentifierKind | None:
    """The identifier a column's name suggests ("NHSNumber", "patient_dob"), or None."""
    words = _name_words(column)
    found = _match_name(words)
    while found is None and len(words) > 1 and words[0] in _SUBJECT_PREFIXES:
        words = words[1:]
        found = _match_name(words)
    return found


# --- Value patterns --------------------------------------------------------------------

_EMAIL = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
# Area 001-899 but not 666, group 01-99, serial 0001-9999.
_SSN = (
    r"(?:00[1-9]|0[1-9][0-9]|[1-578][0-9][0-9]|6[0-57-9][0-9]|66[0-57-9])"
    r"-(?:0[1-9]|[1-9][0-9])-(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9][0-9]|[1-9][0-9]{3})"
)
# HMRC's rules, loosely: no D, F, I, Q, U or V first; no D, F, I, O, Q, U or V second;
# some prefixes never issued; suffix A-D. Matched on upper-cased values.
_NINO = r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"
_NINO_UNUSED_PREFIX = r"(?:BG|GB|KN|NK|NT|TN|ZZ)"
_NHS = r"[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}"
# A full UK postcode, upper-cased: outward code, optional space, inward code.
_UK_POSTCODE = r"[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}"
_PHONE = r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,5}\)[ .-]?)?[0-9]{1,5}(?:[ .-]?[0-9]{1,5}){1,5}"
# Bare digit runs are too often record numbers: a phone number starts with +, 0 or a
# bracket, or is split into groups by at least two separators.
_PHONE_SHAPE = r"[+0(].*|.*[ .-].*[ .-].*"
_DATE_LIKE = (
    r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}(?:[T ].*)?"
    r"|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4}"
    r"|[0-9]{1,2} [A-Za-z]{3,9},? [0-9]{4}"
)
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_NAME_WORD = rf"[{_UPPER}][{_UPPER}{_LOWER}'-]*[{_LOWER}]"
_PERSON_NAME = rf"{_NAME_WORD} (?:(?:{_NAME_WORD}|[{_UPPER}]\.?) )?{_NAME_WORD}"

_NHS_WEIGHTS = np.arange(10, 1, -1)
_POWERS_OF_TEN = 10 ** np.arange(9, -1, -1, dtype=np.int64)
_ARROW_STRING = pd.StringDtype("pyarrow")


def _nhs_check_digit_valid(digits: np.ndarray) -> np.ndarray:
    """Rows of ten digits whose last digit is the NHS modulus-11 check digit of the rest."""
    check = 11 - (digits[:, :9] @ _NHS_WEIGHTS) % 11
    check = np.where(check == 11, 0, check)
    return (check != 10) & (check == digits[:, 9])


def _valid_nhs_strings(values: pa.Array) -> int:
    shaped = pc.filter(values, _matches(values, _NHS))
    if len(shaped) == 0:
        return 0
    compact = pc.replace_substring_regex(shaped, "[ -]", "")
    raw = np.frombuffer("".join(compact.to_pylist()).encode("ascii"), dtype=np.uint8)
    return int(_nhs_check_digit_valid(raw.reshape(-1, 10).astype(np.int64) - 48).sum())


def _valid_nhs_numbers(values: pd.Series) -> int:
    """NHS numbers read as numbers: nine or ten digits (a leading zero lost), integral."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    candidates = (numbers >= 1e8) & (numbers < 1e10) & (numbers == np.floor(numbers))
    if not candidates.any():
        return 0
    digits = (numbers[candidates].astype(np.int64)[:, None] // _POWERS_OF_TEN) % 10
    return int(_nhs_check_digit_valid(digits).sum())


def _matches(values: pa.Array, pattern: str) -> pa.BooleanArray:
    """Which values match `pattern` whole (RE2 syntax; no missing values here)."""
    return pc.match_substring_regex(values, f"^(?:{pattern})$")


def _count(mask: pa.BooleanArray) -> int:
    return int(pc.sum(mask).as_py() or 0)


# --- The scan --------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A column that looks like a direct identifier, and what the steward might do.

    `match_share` is the share of sampled non-missing values that matched the value
    pattern of `kind`, whether or not that reached the threshold (0 where `kind` has no
    value pattern for the column's type). `reason` never quotes a value.
    """

    column: str
    kind: IdentifierKind
    evidence: str
    match_share: float
    suggested_action: Action
    reason: str


@dataclass
class _Evidence:
    """What the scanner keeps for one column: counts and hashes, no values."""

    sampled: int = 0
    matches: dict[IdentifierKind, int] = field(default_factory=dict)
    total_length: int = 0
    with_space: int = 0
    distinct: set[int] = field(default_factory=set)
    distinct_saturated: bool = False

    def add(self, kind: IdentifierKind, count: int) -> None:
        self.matches[kind] = self.matches.get(kind, 0) + int(count)

    def share(self, kind: IdentifierKind) -> float:
        return self.matches.get(kind, 0) / self.sampled if self.sampled else 0.0

    def is_high_cardinality(self) -> bool:
        if self.distinct_saturated:
            return True
        return (
            len(self.distinct) >= HIGH_CARDINALITY_MIN_DISTINCT
            and len(self.distinct) >= HIGH_CARDINALITY_SHARE * self.sampled
        )


class ColumnScanner:
    """Accumulates evidence over chunks, so a large file is scanned chunk by chunk.

    Each `update` samples at most `sample_per_chunk` non-missing values per column (at
    random, reproducibly from `seed`), so the work per chunk is bounded whatever its size.
    When every value is sampled, scanning in chunks finds exactly what one scan finds.
    """

    def __init__(
        self,
        columns: list[str],
        kinds: dict[str, str],
        *,
        sample_per_chunk: int = 2000,
        seed: int = 0,
    ):
        for column in columns:
            if kinds.get(column) not in KINDS:
                raise ValueError(f"Column {column!r} has no known kind.")
        if sample_per_chunk < 1:
            raise ValueError("sample_per_chunk must be at least 1.")
        self.columns = list(columns)
        self.kinds = {column: kinds[column] for column in columns}
        self.sample_per_chunk = sample_per_chunk
        self._random = np.random.default_rng(seed)
        self._evidence = {column: _Evidence() for column in columns}
        self._name_kinds = {column: kind_from_column_name(column) for column in columns}

    def update(self, chunk: pd.DataFrame) -> None:
        """Add one chunk's evidence."""
        for column in self.columns:
            if column not in chunk.columns:
                raise ValueError(f"The chunk has no column {column!r}.")
            kind = self.kinds[column]
            if kind in ("integer", "float"):
                self._update_numbers(column, self._sample(chunk[column]))
            elif kind == "string":
                self._update_strings(column, self._sample(chunk[column]))

    def _sample(self, values: pd.Series) -> pd.Series:
        present = np.flatnonzero(values.notna().to_numpy(dtype=bool))
        if len(present) > self.sample_per_chunk:
            present = np.sort(
                self._random.choice(present, size=self.sample_per_chunk, replace=False)
            )
        return values.iloc[present]

    def _update_numbers(self, column: str, values: pd.Series) -> None:
        evidence = self._evidence[column]
        evidence.sampled += len(values)
        evidence.add(IdentifierKind.HEALTH_ID, _valid_nhs_numbers(values))

    def _update_strings(self, column: str, values: pd.Series) -> None:
        # Straight to Arrow's compute functions (RE2), which pandas' string methods also
        # end in: their own per-call overhead would be most of the scan's time.
        text = pa.array(values.astype(_ARROW_STRING).array).cast(pa.large_string())
        text = pc.utf8_trim_whitespace(text)
        lengths = pc.utf8_length(text)
        non_empty = pc.greater(lengths, 0)
        text, lengths = pc.filter(text, non_empty), pc.filter(lengths, non_empty)
        if len(text) == 0:
            return
        evidence = self._evidence[column]
        evidence.sampled += len(text)

        upper = pc.utf8_upper(text)
        evidence.add(IdentifierKind.EMAIL, _count(_matches(text, _EMAIL)))
        evidence.add(IdentifierKind.IP_ADDRESS, _count(_matches(text, _IPV4)))
        evidence.add(IdentifierKind.HEALTH_ID, _valid_nhs_strings(text))
        nino = pc.and_(
            _matches(upper, _NINO),
            pc.invert(pc.match_substring_regex(upper, f"^{_NINO_UNUSED_PREFIX}")),
        )
        evidence.add(IdentifierKind.NATIONAL_ID, _count(pc.or_(_matches(text, _SSN), nino)))
        evidence.add(IdentifierKind.POSTCODE, _count(_matches(upper, _UK_POSTCODE)))
        digits = pc.count_substring_regex(text, "[0-9]")
        phone = pc.and_(
            pc.and_(_matches(text, _PHONE), _matches(text, _PHONE_SHAPE)),
            pc.and_(
                pc.greater_equal(digits, PHONE_MIN_DIGITS),
                pc.less_equal(digits, PHONE_MAX_DIGITS),
            ),
        )
        evidence.add(IdentifierKind.PHONE, _count(phone))
        evidence.add(IdentifierKind.DATE_OF_BIRTH, _count(_matches(text, _DATE_LIKE)))
        evidence.add(IdentifierKind.NAME, _count(_matches(text, _PERSON_NAME)))

        evidence.total_length += int(pc.sum(lengths).as_py())
        evidence.with_space += _count(pc.match_substring(text, " "))
        if not evidence.distinct_saturated:
            hashes = pd.util.hash_array(text.to_numpy(zero_copy_only=False))
            evidence.distinct.update(hashes.tolist())
            if len(evidence.distinct) > DISTINCT_TRACKING_LIMIT:
                evidence.distinct_saturated = True
                evidence.distinct = set()

    def findings(self) -> list[Finding]:
        """One finding per column with any evidence (the strongest), in column order."""
        found = []
        for column in self.columns:
            finding = self._finding(column)
            if finding is not None:
                found.append(finding)
        return found

    def _value_kinds(self, column: str) -> list[IdentifierKind]:
        """The kinds whose value pattern the column's sampled values meet, most specific
        first."""
        evidence = self._evidence[column]
        if not evidence.sampled:
            return []
        met = []
        for kind in VALUE_PRIORITY:
            if kind == IdentifierKind.DATE_OF_BIRTH:
                continue  # a date is a date of birth only if the column's name says so
            if kind == IdentifierKind.FREE_TEXT:
                if self._looks_like_free_text(evidence):
                    met.append(kind)
                continue
            if evidence.share(kind) < VALUE_MATCH_THRESHOLD:
                continue
            if kind == IdentifierKind.NAME and not evidence.is_high_cardinality():
                continue
            met.append(kind)
        return met

    @staticmethod
    def _looks_like_free_text(evidence: _Evidence) -> bool:
        return (
            evidence.total_length > FREE_TEXT_MIN_MEAN_LENGTH * evidence.sampled
            and evidence.with_space >= FREE_TEXT_MIN_SPACE_SHARE * evidence.sampled
            and evidence.is_high_cardinality()
        )

    def _finding(self, column: str) -> Finding | None:
        kind_of_column = self.kinds[column]
        if kind_of_column == "boolean":
            return None  # a flag such as "email_verified" identifies nobody
        evidence = self._evidence[column]
        name_kind = self._name_kinds[column]
        value_kinds = self._value_kinds(column)
        if (
            name_kind == IdentifierKind.DATE_OF_BIRTH
            and kind_of_column == "string"
            and evidence.share(IdentifierKind.DATE_OF_BIRTH) >= VALUE_MATCH_THRESHOLD
        ):
            value_kinds.insert(0, IdentifierKind.DATE_OF_BIRTH)

        if name_kind is not None and name_kind in value_kinds:
            kind, source = name_kind, EVIDENCE_BOTH
        elif value_kinds:
            kind, source = value_kinds[0], EVIDENCE_VALUES
        elif name_kind is not None:
            kind, source = name_kind, EVIDENCE_NAME
        else:
            return None
        share = evidence.share(kind) if kind in _VALUE_DESCRIPTIONS else 0.0
        if kind == IdentifierKind.FREE_TEXT:
            share = evidence.with_space / evidence.sampled if evidence.sampled else 0.0
        action = SUGGESTED_ACTIONS[kind]
        return Finding(
            column=column,
            kind=kind,
            evidence=source,
            match_share=share,
            suggested_action=action,
            reason=_reason(kind, source, share, kind_of_column),
        )


def _percent(share: float) -> str:
    # Rounded down, so that "100%" means every sampled value.
    return f"{math.floor(share * 100 + 1e-9)}%"


def _reason(kind: IdentifierKind, source: str, share: float, kind_of_column: str) -> str:
    values_text = ""
    if kind == IdentifierKind.FREE_TEXT and source != EVIDENCE_NAME:
        values_text = "The values look like free text: long, several words, mostly distinct."
    elif kind == IdentifierKind.DATE_OF_BIRTH and kind_of_column in ("date", "datetime"):
        values_text = "The column holds dates."
    elif kind in _VALUE_DESCRIPTIONS and (source != EVIDENCE_NAME or share > 0):
        values_text = f"{_percent(share)} of sampled values look like {_VALUE_DESCRIPTIONS[kind]}."
    parts = []
    if source in (EVIDENCE_NAME, EVIDENCE_BOTH):
        parts.append(f"Column name suggests {_DESCRIPTIONS[kind]}.")
    if values_text:
        parts.append(values_text)
    action = SUGGESTED_ACTIONS[kind]
    if action == Action.GENERALISE:
        default = allowed_generalisations(kind_of_column, kind)[0]
        parts.append(_GENERALISE_ADVICE.get(default, "Suggested: generalise it into bands."))
    else:
        parts.append(_ADVICE[action])
    return " ".join(parts)


def scan(frame: pd.DataFrame, kinds: dict[str, str]) -> list[Finding]:
    """Scan a whole table at once (as one chunk); see `ColumnScanner`."""
    scanner = ColumnScanner(list(frame.columns), kinds)
    scanner.update(frame)
    return scanner.findings()


# --- Generalisations -------------------------------------------------------------------


def allowed_generalisations(kind: str, finding: IdentifierKind | None) -> list[str]:
    """What a column of `kind` can be generalised to, given its finding, first the default.

    Dates: year or month. Numbers: bands of 5, 10, 100 or 1000 (integer ZIP codes also
    to their three-digit district). Text: to the district if flagged as a postcode, to the
    year if flagged as a date of birth; other text cannot be generalised.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown column kind {kind!r}.")
    if kind in ("date", "datetime"):
        return list(DATE_GENERALISATIONS)
    if kind == "integer":
        district = [DISTRICT] if finding == IdentifierKind.POSTCODE else []
        return district + list(BAND_WIDTHS)
    if kind == "float":
        return list(BAND_WIDTHS)
    if kind == "string" and finding == IdentifierKind.POSTCODE:
        return [DISTRICT]
    if kind == "string" and finding == IdentifierKind.DATE_OF_BIRTH:
        return ["year"]
    return []
