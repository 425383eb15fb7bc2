"""The de-identifying decisions and transforms (plain Python, no database)."""

import hmac

import numpy as np
import pandas as pd
import pytest

from tests.workspaces.test_identifiers import email_values, strings, valid_nhs_numbers
from workspaces.deidentify import (
    ColumnDecision,
    apply_decisions,
    canonical_text,
    generalise,
    output_kind,
    pseudonymise,
    validate_decisions,
)
from workspaces.identifiers import Action, Finding, IdentifierKind

SECRET = b"workspace-secret-0123456789abcdef"
OTHER_SECRET = b"another-workspace-secret-9876543"


# --- Pseudonymisation ------------------------------------------------------------------


def test_pseudonymisation_is_keyed_hmac_sha256_truncated_to_64_bits():
    tokens = pseudonymise(strings(["9434765919"]), "string", secret=SECRET)

    expected = hmac.new(SECRET, b"9434765919", "sha256").hexdigest()[:16]
    assert tokens.tolist() == [expected]
    long_secret = b"k" * 100  # longer than SHA-256's block: hashed first, as RFC 2104 says
    assert pseudonymise(strings(["x"]), "string", secret=long_secret).tolist() == [
        hmac.new(long_secret, b"x", "sha256").hexdigest()[:16]
    ]


def test_pseudonymisation_is_deterministic_and_keyed():
    values = strings(["alpha", "beta", "alpha", None])

    first = pseudonymise(values, "string", secret=SECRET)
    again = pseudonymise(values.iloc[::-1], "string", secret=SECRET).iloc[::-1]
    other = pseudonymise(values, "string", secret=OTHER_SECRET)

    assert first.tolist() == again.tolist()
    assert first[0] == first[2] != first[1]
    assert first[0] != other[0]
    assert first[1] != other[1]
    assert first.isna().tolist() == [False, False, False, True]
    assert other.isna().tolist() == [False, False, False, True]


def test_the_same_identifier_gets_one_token_whatever_the_files_type():
    number = valid_nhs_numbers(1)[0]
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    forms = [
        pseudonymise(pd.Series([int(number)], dtype="Int64"), "integer", secret=SECRET),
        pseudonymise(pd.Series([int(number)], dtype="int64"), "integer", secret=SECRET),
        pseudonymise(pd.Series([float(number), np.nan]), "integer", secret=SECRET),
        pseudonymise(strings([number]), "string", secret=SECRET),
        pseudonymise(strings([f"  {spaced} "]), "string", secret=SECRET),
        pseudonymise(pd.Series([spaced], dtype=object), "string", secret=SECRET),
    ]

    assert len({form.iloc[0] for form in forms}) == 1
    assert canonical_text(int(number), "integer") == canonical_text(spaced, "string") == number


def test_pseudonymised_columns_still_join():
    numbers = [int(n) for n in valid_nhs_numbers(50)]
    patients = pd.DataFrame({"nhs_number": pd.Series(numbers, dtype="Int64"), "age": range(50)})
    admissions = pd.DataFrame(
        {
            "patient": strings([str(n) for n in numbers[10:30]] * 2 + [None]),
            "ward": strings(["A", "B"] * 20 + ["C"]),
        }
    )
    patient_decisions = {"nhs_number": ColumnDecision("nhs_number", Action.PSEUDONYMISE)}
    admission_decisions = {"patient": ColumnDecision("patient", Action.PSEUDONYMISE)}

    left = pd.concat(  # ingested in two chunks
        [
            apply_decisions(
                part, patient_decisions, {"nhs_number": "integer", "age": "integer"}, secret=SECRET
            )
            for part in (patients.iloc[:25], patients.iloc[25:])
        ]
    )
    right = apply_decisions(
        admissions, admission_decisions, {"patient": "string", "ward": "string"}, secret=SECRET
    )
    joined = left.merge(right, left_on="nhs_number", right_on="patient")

    expected = patients.merge(
        admissions.assign(patient=pd.to_numeric(admissions["patient"]).astype("Int64")),
        left_on="nhs_number",
        right_on="patient",
    )
    assert sorted(zip(joined["age"], joined["ward"], strict=True)) == sorted(
        zip(expected["age"], expected["ward"], strict=True)
    )
    assert len(joined) == 40
    assert not set(left["nhs_number"]) & {str(n) for n in numbers}


def test_distinct_values_get_distinct_tokens():
    values = pd.Series(range(20_000), dtype="Int64")

    assert pseudonymise(values, "integer", secret=SECRET).nunique() == 20_000


def test_pseudonymising_dates_and_floats():
    dates = pd.Series(pd.to_datetime(["2020-01-02", None]), dtype="datetime64[us]")

    tokens = pseudonymise(dates, "date", secret=SECRET)

    assert tokens.iloc[0] == pseudonymise(strings(["2020-01-02"]), "string", secret=SECRET)[0]
    assert tokens.isna().tolist() == [False, True]
    assert canonical_text(2.5, "float") == "2.5"
    assert canonical_text(np.float64(3.0), "float") == "3"


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonymise(strings(["a"]), "string", secret=b"short")


# --- Generalisation --------------------------------------------------------------------


def test_dates_to_year_and_month():
    dates = pd.Series(
        pd.to_datetime(["1985-04-12", None, "2001-12-31 23:59"], format="ISO8601"),
        dtype="datetime64[us]",
    )

    years = generalise(dates, "datetime", "year")
    months = generalise(dates, "date", "month")

    assert years.dtype == "Int64"
    assert years.tolist() == [1985, pd.NA, 2001]
    assert months.tolist() == ["1985-04", pd.NA, "2001-12"]


def test_text_dates_of_birth_to_year():
    values = strings(["12/04/1985", "1985-04-12", "3 May 1970", None, "12/04/85", "unknown"])

    assert generalise(values, "string", "year").tolist() == [1985, 1985, 1970] + [pd.NA] * 3


def test_integers_to_bands():
    values = pd.Series([40, 49, 50, 0, 7, None, -3, 1234], dtype="Int64")

    assert generalise(values, "integer", "10").tolist() == [
        "40-49", "40-49", "50-59", "0-9", "0-9", pd.NA, "-10--1", "1230-1239",
    ]  # fmt: skip
    assert generalise(values, "integer", "1000").tolist()[-1] == "1000-1999"
    # Integers held as floats (a CSV column with gaps) get integer labels too.
    as_floats = pd.Series([40.0, 49.0, np.nan])
    assert generalise(as_floats, "integer", "5").tolist() == ["40-44", "45-49", pd.NA]


def test_floats_to_half_open_bands():
    values = pd.Series([40.0, 49.99, 50.0, -0.5, np.nan, np.inf])

    assert generalise(values, "float", "10").tolist() == [
        "40-50", "40-50", "50-60", "-10-0", pd.NA, pd.NA,
    ]  # fmt: skip


def test_postcodes_to_districts():
    values = strings(
        [
            *["SW1A 1AA", "sw1a1aa", " ec1a  1bb ", "M1 1AE", "B33 8TH", "DN55 1PT", "W1A"],
            *[None, "02139", "02139-4307", "not a postcode"],
        ]
    )

    assert generalise(values, "string", "district").tolist() == [
        "SW1A", "SW1A", "EC1A", "M1", "B33", "DN55", "W1A", pd.NA, "021", "021", pd.NA,
    ]  # fmt: skip
    zips = pd.Series([2139, 90210, None, 941051234], dtype="Int64")
    assert generalise(zips, "integer", "district").tolist() == ["021", "902", pd.NA, "941"]


def test_an_impossible_generalisation_names_the_column_not_the_values():
    values = strings(["alice@example.org"])

    with pytest.raises(ValueError, match="'contact'") as raised:
        generalise(values, "string", "10", column="contact")
    assert "alice" not in str(raised.value)


# --- Decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "decision", "expected"),
    [
        ("string", None, "string"),
        ("float", ColumnDecision("c", Action.KEEP), "float"),
        ("integer", ColumnDecision("c", Action.PSEUDONYMISE), "string"),
        ("date", ColumnDecision("c", Action.PSEUDONYMISE), "string"),
        ("date", ColumnDecision("c", Action.GENERALISE, "year"), "integer"),
        ("datetime", ColumnDecision("c", Action.GENERALISE, "month"), "string"),
        ("string", ColumnDecision("c", Action.GENERALISE, "year"), "integer"),
        ("integer", ColumnDecision("c", Action.GENERALISE, "10"), "string"),
        ("float", ColumnDecision("c", Action.GENERALISE, "5"), "string"),
        ("string", ColumnDecision("c", Action.GENERALISE, "district"), "string"),
    ],
)
def test_output_kind(kind, decision, expected):
    assert output_kind(kind, decision) == expected


def test_a_dropped_column_has_no_output_kind():
    with pytest.raises(ValueError, match="'c'"):
        output_kind("string", ColumnDecision("c", Action.DROP))


KINDS = {"email": "string", "pc": "string", "age": "integer", "dob": "date", "note": "string"}
FINDINGS = [
    Finding("email", IdentifierKind.EMAIL, "values", 1.0, Action.DROP, "E-mail."),
    Finding("pc", IdentifierKind.POSTCODE, "values", 1.0, Action.GENERALISE, "Postcodes."),
]


def test_sensible_decisions_pass():
    validate_decisions(
        [
            ColumnDecision("email", Action.DROP),
            ColumnDecision("pc", Action.GENERALISE, "district"),
            ColumnDecision("age", Action.GENERALISE, "10"),
            ColumnDecision("dob", Action.GENERALISE, "month"),
            ColumnDecision("note", Action.PSEUDONYMISE),
        ],
        KINDS,
        FINDINGS,
    )


@pytest.mark.parametrize(
    ("decisions", "message"),
    [
        ([ColumnDecision("note", Action.GENERALISE, "district")], "'note'.*cannot be generalised"),
        ([ColumnDecision("email", Action.GENERALISE, "district")], "'email'.*cannot"),
        ([ColumnDecision("age", Action.GENERALISE, "7")], "'age'.*5, 10, 100, 1000"),
        ([ColumnDecision("age", Action.GENERALISE)], "'age'"),
        ([ColumnDecision("dob", Action.GENERALISE, "10")], "'dob'.*year, month"),
        ([ColumnDecision("pc", Action.GENERALISE, "year")], "'pc'.*district"),
        ([ColumnDecision("age", Action.DROP, "10")], "'age'.*only a generalisation"),
        ([ColumnDecision("nope", Action.DROP)], "'nope'"),
        ([ColumnDecision("age", "shred")], "'age'.*unknown action"),
        ([ColumnDecision("age", Action.KEEP), ColumnDecision("age", Action.DROP)], "'age'"),
        ([ColumnDecision(column, Action.DROP) for column in KINDS], "Every column"),
    ],
)
def test_impossible_decisions_are_refused(decisions, message):
    with pytest.raises(ValueError, match=message):
        validate_decisions(decisions, KINDS, FINDINGS)


def test_apply_decisions_transforms_a_chunk():
    chunk = pd.DataFrame(
        {
            "email": email_values().iloc[:4],
            "nhs": pd.Series([9434765919, None, 9434765919, 4010232137], dtype="Int64"),
            "pc": strings(["SW1A 1AA", None, "M1 1AE", "B33 8TH"]),
            "dob": pd.Series(
                pd.to_datetime(["1980-02-03", "1990-05-06", None, "2000-07-08"]),
                dtype="datetime64[us]",
            ),
            "age": pd.Series([44, 34, None, 24], dtype="Int64"),
            "score": [0.5, 1.5, np.nan, 2.5],
        }
    ).set_axis([10, 11, 12, 13])
    kinds = {
        "email": "string",
        "nhs": "integer",
        "pc": "string",
        "dob": "date",
        "age": "integer",
        "score": "float",
    }
    decisions = {
        "email": ColumnDecision("email", Action.DROP),
        "nhs": ColumnDecision("nhs", Action.PSEUDONYMISE),
        "pc": ColumnDecision("pc", Action.GENERALISE, "district"),
        "dob": ColumnDecision("dob", Action.GENERALISE, "year"),
        "age": ColumnDecision("age", Action.GENERALISE, "10"),
        "score": ColumnDecision("score", Action.KEEP),
    }

    result = apply_decisions(chunk, decisions, kinds, secret=SECRET)

    assert list(result.columns) == ["nhs", "pc", "dob", "age", "score"]
    assert list(result.index) == [10, 11, 12, 13]
    assert result["nhs"].iloc[0] == result["nhs"].iloc[2] != result["nhs"].iloc[3]
    assert result["nhs"].isna().tolist() == [False, True, False, False]
    assert result["pc"].tolist() == ["SW1A", pd.NA, "M1", "B33"]
    assert result["dob"].tolist() == [1980, 1990, pd.NA, 2000]
    assert result["age"].tolist() == ["40-49", "30-39", pd.NA, "20-29"]
    pd.testing.assert_series_equal(result["score"], chunk["score"])
    for column in result.columns:
        kind = output_kind(kinds[column], decisions.get(column))
        assert {"string": "string", "integer": "Int64", "float": "float64"}[kind] == str(
            result[column].dtype
        )


def test_columns_without_a_decision_are_kept():
    chunk = pd.DataFrame({"a": [1, 2], "b": strings(["x", "y"])})

    result = apply_decisions(chunk, {}, {"a": "integer", "b": "string"}, secret=SECRET)

    pd.testing.assert_frame_equal(result, chunk)


def test_no_secret_is_needed_when_nothing_is_pseudonymised():
    # Keep-all (a table with no identifier), or identifiers dropped and generalised.
    chunk = pd.DataFrame({"age": [34, 71], "email": strings(["a@example.org", "b@example.org"])})
    kinds = {"age": "integer", "email": "string"}
    decisions = {
        "age": ColumnDecision("age", Action.GENERALISE, "10"),
        "email": ColumnDecision("email", Action.DROP),
    }

    assert apply_decisions(chunk, {}, kinds, secret=b"").equals(chunk)
    assert apply_decisions(chunk, decisions, kinds, secret=b"")["age"].tolist() == [
        "30-39",
        "70-79",
    ]
    with pytest.raises(ValueError, match="at least 16 bytes"):
        apply_decisions(
            chunk, {"email": ColumnDecision("email", Action.PSEUDONYMISE)}, kinds, secret=b""
        )


def test_a_decision_for_a_missing_column_is_refused():
    # Otherwise a misspelt decision would leave the real identifier untouched.
    chunk = pd.DataFrame({"Email": strings(["a@example.org"])})

    with pytest.raises(ValueError, match="'email'"):
        apply_decisions(
            chunk,
            {"email": ColumnDecision("email", Action.DROP)},
            {"Email": "string", "email": "string"},
            secret=SECRET,
        )


def test_a_decision_filed_under_another_column_is_refused():
    chunk = pd.DataFrame({"email": strings(["a@example.org"]), "age": [30]})

    with pytest.raises(ValueError, match="'email'"):
        apply_decisions(
            chunk,
            {"email": ColumnDecision("age", Action.DROP)},
            {"email": "string", "age": "integer"},
            secret=SECRET,
        )
