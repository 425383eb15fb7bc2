"""The direct-identifier scan and the generalisations it suggests (plain Python, no database)."""

import numpy as np
import pandas as pd
import pytest

from workspaces.deidentify import ColumnDecision, validate_decisions
from workspaces.identifiers import (
    VALUE_MATCH_THRESHOLD,
    Action,
    ColumnScanner,
    Finding,
    IdentifierKind,
    allowed_generalisations,
    kind_from_column_name,
    scan,
)

ROWS = 300

FIRST_NAMES = [
    "Alice", "Bilal", "Chloe", "Dmitri", "Efua", "Fatima", "George", "Hannah", "Ibrahim",
    "Jamal", "Keiko", "Liam", "Maria", "Niamh", "Oluwaseun", "Priya", "Quentin", "Rosa",
    "Siobhan", "Tomasz", "Uma", "Viktor", "Wei", "Yusuf", "Zoë", "Aoife", "Bartholomew",
    "Carys", "Declan", "Elif",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "O'Brien", "McDonald", "Nowak", "Okafor", "Patel", "Smith-Jones", "Williams",
    "Brown", "Kowalski", "Nguyen", "García", "Murphy", "Evans", "Khan", "Thompson", "Müller",
    "Rossi", "Adeyemi", "Walsh", "Taylor", "Davies", "Hughes", "Singh", "Campbell",
]  # fmt: skip


def nhs_check_digit(nine_digits: str) -> int | None:
    """An independent implementation of the NHS modulus-11 check digit (None: invalid)."""
    total = sum(
        int(digit) * weight for digit, weight in zip(nine_digits, range(10, 1, -1), strict=True)
    )
    check = 11 - total % 11
    return None if check == 10 else (0 if check == 11 else check)


def valid_nhs_numbers(count: int, seed: int = 1) -> list[str]:
    generator = np.random.default_rng(seed)
    numbers = []
    while len(numbers) < count:
        stem = str(generator.integers(400_000_000, 1_000_000_000))
        check = nhs_check_digit(stem)
        if check is not None:
            numbers.append(stem + str(check))
    return numbers


def full_names(count: int, seed: int = 2) -> list[str]:
    generator = np.random.default_rng(seed)
    names: dict[str, None] = {}  # insertion-ordered, so the order is reproducible
    while len(names) < count:
        names[f"{generator.choice(FIRST_NAMES)} {generator.choice(LAST_NAMES)}"] = None
    return list(names)


def strings(values) -> pd.Series:
    return pd.Series(values, dtype="string")


def only_finding(frame: pd.DataFrame, kinds: dict[str, str]) -> Finding:
    findings = scan(frame, kinds)
    assert len(findings) == 1, findings
    return findings[0]


# --- Values that look like each identifier ---------------------------------------------


def email_values() -> pd.Series:
    return strings([f"person.{i}@example{i % 7}.org" for i in range(ROWS)])


def phone_values() -> pd.Series:
    formats = ["+44 7700 9{:05d}", "07700 9{:05d}", "(555) 12{:01d}-4567", "+1-202-555-{:04d}"]
    return strings([formats[i % 4].format(i % 10 if i % 4 == 2 else i) for i in range(ROWS)])


def ip_values() -> pd.Series:
    return strings([f"192.168.{i // 250}.{i % 250}" for i in range(ROWS)])


def ssn_values() -> pd.Series:
    return strings([f"{123 + i % 500:03d}-{45 + i % 40:02d}-{1000 + i:04d}" for i in range(ROWS)])


def nino_values() -> pd.Series:
    prefixes = ["AB", "CE", "JK", "PR", "WX"]
    return strings([f"{prefixes[i % 5]}{100000 + i:06d}{'ABCD'[i % 4]}" for i in range(ROWS)])


def nhs_string_values() -> pd.Series:
    return strings([f"{n[:3]} {n[3:6]} {n[6:]}" for n in valid_nhs_numbers(ROWS)])


def nhs_integer_values() -> pd.Series:
    return pd.Series([int(n) for n in valid_nhs_numbers(ROWS)], dtype="Int64")


def postcode_values() -> pd.Series:
    codes = ["SW1A 1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT"]
    return strings([codes[i % len(codes)] for i in range(ROWS)])


def name_values() -> pd.Series:
    return strings(full_names(ROWS))


def free_text_values() -> pd.Series:
    return strings(
        [f"Seen in clinic on visit {i}; reports improvement and will return in {i % 9} weeks"]
        for i in range(ROWS)
    )


VALUE_CASES = [
    (email_values, "string", IdentifierKind.EMAIL, Action.DROP),
    (phone_values, "string", IdentifierKind.PHONE, Action.DROP),
    (ip_values, "string", IdentifierKind.IP_ADDRESS, Action.DROP),
    (ssn_values, "string", IdentifierKind.NATIONAL_ID, Action.PSEUDONYMISE),
    (nino_values, "string", IdentifierKind.NATIONAL_ID, Action.PSEUDONYMISE),
    (nhs_string_values, "string", IdentifierKind.HEALTH_ID, Action.PSEUDONYMISE),
    (nhs_integer_values, "integer", IdentifierKind.HEALTH_ID, Action.PSEUDONYMISE),
    (postcode_values, "string", IdentifierKind.POSTCODE, Action.GENERALISE),
    (name_values, "string", IdentifierKind.NAME, Action.DROP),
    (free_text_values, "string", IdentifierKind.FREE_TEXT, Action.DROP),
]


@pytest.mark.parametrize(("values", "kind", "expected", "action"), VALUE_CASES)
def test_each_identifier_is_found_by_its_values_under_a_neutral_name(
    values, kind, expected, action
):
    finding = only_finding(pd.DataFrame({"field_7": values()}), {"field_7": kind})

    assert finding.column == "field_7"
    assert finding.kind == expected
    assert finding.evidence == "values"
    assert finding.match_share >= VALUE_MATCH_THRESHOLD
    assert finding.suggested_action == action


@pytest.mark.parametrize(
    ("column", "values", "kind", "expected"),
    [
        ("email", email_values, "string", IdentifierKind.EMAIL),
        ("phone_number", phone_values, "string", IdentifierKind.PHONE),
        ("ip_address", ip_values, "string", IdentifierKind.IP_ADDRESS),
        ("ssn", ssn_values, "string", IdentifierKind.NATIONAL_ID),
        ("ni_number", nino_values, "string", IdentifierKind.NATIONAL_ID),
        ("nhs_number", nhs_string_values, "string", IdentifierKind.HEALTH_ID),
        ("NHSNumber", nhs_integer_values, "integer", IdentifierKind.HEALTH_ID),
        ("postcode", postcode_values, "string", IdentifierKind.POSTCODE),
        ("full_name", name_values, "string", IdentifierKind.NAME),
        ("notes", free_text_values, "string", IdentifierKind.FREE_TEXT),
    ],
)
def test_name_and_values_together_are_the_strongest_evidence(column, values, kind, expected):
    finding = only_finding(pd.DataFrame({column: values()}), {column: kind})

    assert finding.kind == expected
    assert finding.evidence == "column name and values"
    assert finding.reason.startswith("Column name suggests")


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("name", IdentifierKind.NAME),
        ("Name", IdentifierKind.NAME),
        ("first_name", IdentifierKind.NAME),
        ("FirstName", IdentifierKind.NAME),
        ("forename", IdentifierKind.NAME),
        ("surname", IdentifierKind.NAME),
        ("last_name", IdentifierKind.NAME),
        ("full_name", IdentifierKind.NAME),
        ("patient_name", IdentifierKind.NAME),
        ("mothers_maiden_name", IdentifierKind.NAME),
        ("email", IdentifierKind.EMAIL),
        ("EmailAddress", IdentifierKind.EMAIL),
        ("patient_email", IdentifierKind.EMAIL),
        ("mobile", IdentifierKind.PHONE),
        ("telephone_number", IdentifierKind.PHONE),
        ("ip_address", IdentifierKind.IP_ADDRESS),
        ("ssn", IdentifierKind.NATIONAL_ID),
        ("national_insurance", IdentifierKind.NATIONAL_ID),
        ("ni_number", IdentifierKind.NATIONAL_ID),
        ("nino", IdentifierKind.NATIONAL_ID),
        ("nhs_number", IdentifierKind.HEALTH_ID),
        ("mrn", IdentifierKind.HEALTH_ID),
        ("medical_record_number", IdentifierKind.HEALTH_ID),
        ("patient_id", IdentifierKind.HEALTH_ID),
        ("chi_number", IdentifierKind.HEALTH_ID),
        ("hospital_number", IdentifierKind.HEALTH_ID),
        ("postcode", IdentifierKind.POSTCODE),
        ("zip", IdentifierKind.POSTCODE),
        ("zipcode", IdentifierKind.POSTCODE),
        ("postal_code", IdentifierKind.POSTCODE),
        ("dob", IdentifierKind.DATE_OF_BIRTH),
        ("date_of_birth", IdentifierKind.DATE_OF_BIRTH),
        ("birth_date", IdentifierKind.DATE_OF_BIRTH),
        ("DateOfBirth", IdentifierKind.DATE_OF_BIRTH),
        ("address", IdentifierKind.ADDRESS),
        ("street", IdentifierKind.ADDRESS),
        ("address_line_1", IdentifierKind.ADDRESS),
        ("email_address", IdentifierKind.EMAIL),
        ("dataset_name", None),
        ("hospital_name", None),
        ("hospital", None),
        ("file_name", None),
        ("score", None),
        ("sex", None),
        ("hotel", None),
        ("site_id", None),
    ],
)
def test_column_names(column, expected):
    assert kind_from_column_name(column) == expected


@pytest.mark.parametrize(
    ("column", "kind", "expected", "action"),
    [
        ("address_line_1", "string", IdentifierKind.ADDRESS, Action.DROP),
        ("zip", "integer", IdentifierKind.POSTCODE, Action.GENERALISE),
        ("patient_id", "integer", IdentifierKind.HEALTH_ID, Action.PSEUDONYMISE),
        ("national_insurance", "string", IdentifierKind.NATIONAL_ID, Action.PSEUDONYMISE),
        ("mobile", "string", IdentifierKind.PHONE, Action.DROP),
        ("name", "string", IdentifierKind.NAME, Action.DROP),
    ],
)
def test_a_name_alone_is_evidence(column, kind, expected, action):
    values = (
        pd.Series(range(ROWS), dtype="Int64")
        if kind == "integer"
        else strings([f"v{i}" for i in range(ROWS)])
    )

    finding = only_finding(pd.DataFrame({column: values}), {column: kind})

    assert (finding.kind, finding.evidence, finding.match_share) == (expected, "column name", 0)
    assert finding.suggested_action == action


def test_a_name_column_in_a_dataset_is_flagged():
    frame = pd.DataFrame(
        {
            "name": name_values(),
            "age": pd.Series(np.arange(ROWS) % 90, dtype="Int64"),
            "score": np.linspace(0, 1, ROWS),
            "sex": strings(["F", "M"] * (ROWS // 2)),
        }
    )
    kinds = {"name": "string", "age": "integer", "score": "float", "sex": "string"}

    assert [(f.column, f.kind) for f in scan(frame, kinds)] == [("name", IdentifierKind.NAME)]


def test_ordinary_columns_are_not_flagged():
    generator = np.random.default_rng(3)
    sites = ["Royal London Hospital", "St Thomas Hospital", "Addenbrooke Hospital"]
    frame = pd.DataFrame(
        {
            "score": generator.normal(50, 10, ROWS),
            "sex": strings(generator.choice(["Female", "Male", "Unknown"], ROWS)),
            "hospital": strings(generator.choice(sites, ROWS)),
            "age": pd.Series(generator.integers(0, 100, ROWS), dtype="Int64"),
            "smoker": pd.Series(generator.random(ROWS) < 0.2, dtype="boolean"),
            "admitted": pd.Series(
                pd.date_range("2020-01-01", periods=ROWS), dtype="datetime64[us]"
            ),
            "diagnosis": strings(generator.choice(["I21.0", "I25.1", "E11.9"], ROWS)),
        }
    )
    kinds = {
        "score": "float",
        "sex": "string",
        "hospital": "string",
        "age": "integer",
        "smoker": "boolean",
        "admitted": "date",
        "diagnosis": "string",
    }

    assert scan(frame, kinds) == []


def test_random_ten_digit_numbers_mostly_fail_the_nhs_check_digit():
    generator = np.random.default_rng(4)
    numbers = generator.integers(1_000_000_000, 9_999_999_999, 2000)
    frame = pd.DataFrame(
        {
            "code": pd.Series(numbers, dtype="Int64"),
            "code_text": strings([str(n) for n in numbers]),
        }
    )
    scanner = ColumnScanner(["code", "code_text"], {"code": "integer", "code_text": "string"})
    scanner.update(frame)

    assert scanner.findings() == []
    share = scanner._evidence["code"].share(IdentifierKind.HEALTH_ID)
    assert share < 0.15  # about 1 in 11 pass by chance


def test_an_nhs_number_column_with_a_few_typos_still_matches():
    numbers = valid_nhs_numbers(ROWS)
    numbers[:10] = [n[:9] + str((int(n[9]) + 1) % 10) for n in numbers[:10]]  # bad checksum

    finding = only_finding(pd.DataFrame({"ref": strings(numbers)}), {"ref": "string"})

    assert finding.kind == IdentifierKind.HEALTH_ID
    assert finding.match_share == pytest.approx((ROWS - 10) / ROWS)


def test_values_below_the_threshold_are_not_evidence():
    values = [f"person{i}@example.org" for i in range(ROWS // 2)] + ["n/a"] * (ROWS // 2)

    assert scan(pd.DataFrame({"contact": strings(values)}), {"contact": "string"}) == []


def test_a_weak_match_under_a_telling_name_is_reported_with_its_share():
    values = [f"person{i}@example.org" for i in range(ROWS // 2)] + ["n/a"] * (ROWS // 2)

    finding = only_finding(pd.DataFrame({"email": strings(values)}), {"email": "string"})

    assert finding.evidence == "column name"
    assert finding.match_share == pytest.approx(0.5)
    assert "50% of sampled values" in finding.reason


def test_specific_patterns_beat_general_ones():
    # Spaced NHS numbers and SSNs are also shaped like phone numbers.
    frame = pd.DataFrame({"a": nhs_string_values(), "b": ssn_values()})

    kinds = {finding.column: finding.kind for finding in scan(frame, dict.fromkeys("ab", "string"))}

    assert kinds == {"a": IdentifierKind.HEALTH_ID, "b": IdentifierKind.NATIONAL_ID}


def test_unused_national_insurance_prefixes_do_not_match():
    values = strings([f"GB{100000 + i:06d}A" for i in range(ROWS)])

    assert scan(pd.DataFrame({"ref": values}), {"ref": "string"}) == []


def test_dates_of_birth_by_name_with_a_date_kind():
    dates = pd.Series(pd.date_range("1950-01-01", periods=ROWS, freq="37D"), dtype="datetime64[us]")
    frame = pd.DataFrame({"dob": dates, "admitted": dates})

    findings = scan(frame, {"dob": "date", "admitted": "date"})

    assert [(f.column, f.kind, f.suggested_action) for f in findings] == [
        ("dob", IdentifierKind.DATE_OF_BIRTH, Action.GENERALISE)
    ]
    assert "year" in findings[0].reason


def test_dates_of_birth_by_name_and_date_like_text():
    values = strings([f"{1 + i % 28:02d}/{1 + i % 12:02d}/19{50 + i % 50}" for i in range(ROWS)])

    finding = only_finding(pd.DataFrame({"birth_date": values}), {"birth_date": "string"})

    assert finding.kind == IdentifierKind.DATE_OF_BIRTH
    assert finding.evidence == "column name and values"
    assert scan(pd.DataFrame({"visit": values}), {"visit": "string"}) == []


def test_boolean_columns_are_never_flagged():
    frame = pd.DataFrame({"email": pd.Series([True, False] * 5, dtype="boolean")})

    assert scan(frame, {"email": "boolean"}) == []


def test_names_need_many_distinct_values():
    few = strings([f"{FIRST_NAMES[i % 5]} {LAST_NAMES[i % 3]}" for i in range(ROWS)])

    assert scan(pd.DataFrame({"who": few}), {"who": "string"}) == []


def mixed_frame() -> tuple[pd.DataFrame, dict[str, str]]:
    generator = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "pid": nhs_integer_values(),
            "contact": email_values(),
            "who": name_values(),
            "where": postcode_values(),
            "dob": pd.Series(pd.date_range("1950-01-01", periods=ROWS), dtype="datetime64[us]"),
            "score": generator.normal(size=ROWS),
            "notes": free_text_values(),
            "partly": strings(
                [f"AB{i:06d}C" if i % 3 else None for i in range(ROWS)]  # missing values
            ),
        }
    )
    kinds = {
        "pid": "integer",
        "contact": "string",
        "who": "string",
        "where": "string",
        "dob": "date",
        "score": "float",
        "notes": "string",
        "partly": "string",
    }
    return frame, kinds


def test_scanning_in_chunks_finds_what_one_scan_finds():
    frame, kinds = mixed_frame()
    scanner = ColumnScanner(list(frame.columns), kinds)
    for start in range(0, ROWS, 70):
        scanner.update(frame.iloc[start : start + 70])

    chunked = scanner.findings()

    assert chunked == scan(frame, kinds)
    assert {f.column for f in chunked} == set(frame.columns) - {"score"}


def test_sampling_bounds_the_work_and_is_reproducible():
    frame, kinds = mixed_frame()

    def sampled_scan(seed):
        scanner = ColumnScanner(list(frame.columns), kinds, sample_per_chunk=50, seed=seed)
        for start in range(0, ROWS, 100):
            scanner.update(frame.iloc[start : start + 100])
        return scanner

    scanner = sampled_scan(seed=7)

    assert scanner._evidence["contact"].sampled == 150  # 50 from each of three chunks
    assert [(f.column, f.kind) for f in scanner.findings()] == [
        (f.column, f.kind) for f in scan(frame, kinds)
    ]
    assert scanner.findings() == sampled_scan(seed=7).findings()


def test_missing_values_do_not_dilute_the_share():
    frame, kinds = mixed_frame()

    finding = next(f for f in scan(frame, kinds) if f.column == "partly")

    assert (finding.kind, finding.match_share) == (IdentifierKind.NATIONAL_ID, 1.0)


def test_reasons_quote_no_values():
    frame, kinds = mixed_frame()
    frame["email"] = email_values()
    kinds["email"] = "string"
    values = {
        str(value)
        for column in frame.columns
        for value in frame[column].dropna().tolist()
        if len(str(value)) >= 3
    }
    words = {word for value in values for word in str(value).split() if len(word) >= 3}

    findings = scan(frame, kinds)

    assert len(findings) == 8
    for finding in findings:
        assert not any(value in finding.reason for value in values), finding.reason
        assert not any(word in finding.reason for word in words - {"and"}), finding.reason


def test_the_scanner_checks_its_input():
    with pytest.raises(ValueError, match="'a'"):
        ColumnScanner(["a"], {"a": "text"})
    scanner = ColumnScanner(["a"], {"a": "string"})
    with pytest.raises(ValueError, match="'a'"):
        scanner.update(pd.DataFrame({"b": [1]}))


@pytest.mark.parametrize("dtype", [object, "str", "string"])
def test_the_scan_reads_any_text_dtype(dtype):
    values = pd.Series([*email_values().tolist(), None, "  "], dtype=dtype)

    finding = only_finding(pd.DataFrame({"c": values}), {"c": "string"})

    assert (finding.kind, finding.match_share) == (IdentifierKind.EMAIL, 1.0)


# --- Suggested generalisations and decisions -------------------------------------------


@pytest.mark.parametrize(
    ("kind", "finding", "expected"),
    [
        ("date", None, ["year", "month"]),
        ("datetime", IdentifierKind.DATE_OF_BIRTH, ["year", "month"]),
        ("integer", None, ["5", "10", "100", "1000"]),
        ("float", None, ["5", "10", "100", "1000"]),
        ("integer", IdentifierKind.POSTCODE, ["district", "5", "10", "100", "1000"]),
        ("string", IdentifierKind.POSTCODE, ["district"]),
        ("string", IdentifierKind.DATE_OF_BIRTH, ["year"]),
        ("string", IdentifierKind.EMAIL, []),
        ("string", None, []),
        ("boolean", None, []),
    ],
)
def test_allowed_generalisations(kind, finding, expected):
    assert allowed_generalisations(kind, finding) == expected


def test_every_suggested_action_is_a_valid_decision():
    frame, kinds = mixed_frame()
    findings = scan(frame, kinds)
    decisions = [
        ColumnDecision(
            f.column,
            f.suggested_action,
            allowed_generalisations(kinds[f.column], f.kind)[0]
            if f.suggested_action == Action.GENERALISE
            else None,
        )
        for f in findings
    ]

    validate_decisions(decisions, kinds, findings)
