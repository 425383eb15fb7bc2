import hashlib
import hmac
import json
import re

import numpy as np
import pandas as pd
import pytest

from workspaces.synthesis import SynthesisSettings, synthesise
from workspaces.synthesis.columns import OTHER

SETTINGS = SynthesisSettings(n_rows=1000, seed=11)
BOOLEANS = {"a": "boolean", "b": "boolean", "c": "boolean"}


def _row_set(frame: pd.DataFrame) -> set[tuple]:
    """Rows as tuples, missing values as None, compared independently of the module."""
    return {
        tuple(None if pd.isna(value) else value for value in row)
        for row in frame.itertuples(index=False, name=None)
    }


def _token(number: int) -> str:
    return hmac.new(b"workspace secret", str(number).encode(), hashlib.sha256).hexdigest()


def _mixed_frame(rows: int = 800, seed: int = 0) -> tuple[pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "age": np.round(50 + 15 * latent).astype(np.int64),
            "weight": 70 + 10 * latent + rng.normal(0, 6, rows),
            "ward": rng.choice(["Heron wing", "Kestrel unit", "Osprey block"], rows),
            "is_smoker": latent + rng.normal(0, 1, rows) > 0.5,
            "admitted_on": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 900, rows), unit="D"),
        }
    )
    kinds = {
        "age": "integer",
        "weight": "float",
        "ward": "string",
        "is_smoker": "boolean",
        "admitted_on": "date",
    }
    return frame, kinds


# --- privacy guards ------------------------------------------------------------------------


def test_no_synthetic_row_equals_a_real_row_where_naive_sampling_would_copy():
    rng = np.random.default_rng(1)
    a = rng.random(300) < 0.5
    # Three binary columns with b always equal to a: only 4 of the 8 rows exist, and the copula
    # learns a and b move together, so almost every naive draw is one of the 4 real rows.
    real = pd.DataFrame({"a": a, "b": a.copy(), "c": rng.random(300) < 0.5})

    result = synthesise(real, BOOLEANS, SynthesisSettings(n_rows=500, seed=2))

    assert result.report["copy_guard"]["initial_copies"] > 400
    assert not _row_set(result.sample) & _row_set(real)
    assert result.report["exact_copy_share"] == 0.0
    assert len(result.sample) > 400
    assert (result.sample["a"] != result.sample["b"]).all()


def test_a_dataset_holding_every_possible_row_yields_an_empty_sample():
    every_row = [(a, b, c) for a in (False, True) for b in (False, True) for c in (False, True)]
    real = pd.DataFrame(every_row * 20, columns=["a", "b", "c"])

    result = synthesise(real, BOOLEANS, SynthesisSettings(n_rows=200, seed=3))

    assert result.sample.empty
    assert list(result.sample.columns) == ["a", "b", "c"]
    assert all(dtype == np.bool_ for dtype in result.sample.dtypes)
    assert result.report["rows_synthetic"] == 0
    assert result.report["copy_guard"]["rows_dropped"] == 200


def test_copies_are_checked_against_hold_out_rows_too():
    rng = np.random.default_rng(4)
    real = pd.DataFrame({"x": rng.integers(0, 4, 200), "y": rng.integers(0, 3, 200)})

    result = synthesise(
        real, {"x": "integer", "y": "integer"}, SynthesisSettings(n_rows=300, holdout_share=0.5)
    )

    assert not _row_set(result.sample) & _row_set(real)


def test_rare_categories_become_other():
    rare = ["Zebrafish ward", "Kestrel unit"]
    values = ["Heron wing"] * 200 + ["Osprey block"] * 100 + [rare[0]] * 4 + [rare[1]] * 9
    real = pd.DataFrame({"ward": values + [None] * 20, "score": np.arange(333.0)})

    result = synthesise(
        real,
        {"ward": "string", "score": "float"},
        SynthesisSettings(n_rows=2000, rare_category_threshold=10, seed=5),
    )

    seen = set(result.sample["ward"].dropna())
    assert seen == {"Heron wing", "Osprey block", OTHER}
    assert not seen & set(rare)


def test_booleans_stay_booleans_even_when_one_value_is_rare():
    real = pd.DataFrame({"flag": [True] * 3 + [False] * 500, "x": np.arange(503.0)})

    result = synthesise(real, {"flag": "boolean", "x": "float"}, SynthesisSettings(seed=6))

    assert result.sample["flag"].dtype == bool
    assert 0 < result.sample["flag"].mean() < 0.03


def test_numeric_tails_are_clipped_at_the_quantiles():
    rng = np.random.default_rng(7)
    rows = 1000
    real = pd.DataFrame(
        {
            "bill": rng.normal(100, 15, rows),
            "visits": rng.integers(0, 1000, rows),
            "born_on": pd.Timestamp("1960-01-01")
            + pd.to_timedelta(rng.integers(0, 20_000, rows), unit="D"),
        }
    )
    real.loc[0, "bill"] = 987654.321
    real.loc[1, "bill"] = -55555.5
    real.loc[2, "visits"] = 424242
    real.loc[3, "born_on"] = pd.Timestamp("1901-02-03")
    kinds = {"bill": "float", "visits": "integer", "born_on": "date"}

    result = synthesise(real, kinds, SynthesisSettings(n_rows=3000, seed=8))

    for column in kinds:
        low, high = real[column].quantile([0.01, 0.99])
        assert result.sample[column].min() >= low
        assert result.sample[column].max() <= high
    assert result.sample["bill"].max() < 1000


def test_opaque_columns_get_fresh_tokens_of_the_same_shape():
    rng = np.random.default_rng(9)
    tokens = pd.Series([_token(n) for n in range(400)], dtype=object)
    tokens[rng.random(400) < 0.1] = None
    real = pd.DataFrame({"patient": tokens, "x": rng.normal(size=400)})

    result = synthesise(
        real,
        {"patient": "string", "x": "float"},
        SynthesisSettings(n_rows=2000, seed=10),
        opaque_columns=frozenset({"patient"}),
    )

    synthetic = result.sample["patient"]
    present = synthetic.dropna()
    assert not set(present) & set(tokens.dropna())
    assert (present.str.len() == 64).all()
    assert set("".join(present)) <= set("0123456789abcdef")
    assert synthetic.isna().mean() == pytest.approx(tokens.isna().mean(), abs=0.03)
    assert result.report["columns"]["patient"] == {
        "kind": "string",
        "treatment": "opaque",
        "metric": None,
        "distance": None,
    }


def test_opaque_tokens_avoid_real_ones_even_in_a_small_token_space():
    # 2 hex characters allow 256 tokens and the real column uses 200 of them: random tokens
    # would hit a real one most of the time.
    real_tokens = [f"{n:02x}" for n in range(200)]
    real = pd.DataFrame({"pid": real_tokens * 2, "x": np.arange(400.0)})

    result = synthesise(
        real,
        {"pid": "string", "x": "float"},
        SynthesisSettings(n_rows=500, seed=12),
        opaque_columns=frozenset({"pid"}),
    )

    present = result.sample["pid"].dropna()
    assert not set(present) & set(real_tokens)
    # After 20 draws a few may still find no free token; they are left missing, never reused.
    assert len(present) > 490
    assert (present.str.len() == 2).all()


def test_opaque_tokens_keep_a_fixed_prefix():
    real = pd.DataFrame({"pid": [f"pid_{_token(n)[:16]}" for n in range(100)]})

    result = synthesise(
        real,
        {"pid": "string"},
        SynthesisSettings(n_rows=50, seed=13),
        opaque_columns=frozenset({"pid"}),
    )

    assert result.sample["pid"].str.fullmatch(r"pid_[0-9a-f]{16}").all()


def test_free_text_is_replaced_by_placeholders():
    rng = np.random.default_rng(14)
    notes = [f"Seen by Dr Example on ward {n}, note {rng.integers(10**9)}" for n in range(600)]
    notes[0] = "text_0001"
    real = pd.DataFrame({"note": notes, "x": rng.normal(size=600)})

    result = synthesise(real, {"note": "string", "x": "float"}, SynthesisSettings(seed=15))

    synthetic = result.sample["note"]
    assert not set(synthetic) & set(notes)
    # A real value already looks like a placeholder, so the placeholders use another prefix.
    assert synthetic.str.fullmatch(r"text\d+_\d{4,}").all()
    assert synthetic.is_unique
    assert result.report["columns"]["note"]["treatment"] == "free_text"


def test_a_modest_number_of_distinct_strings_is_categorical():
    rng = np.random.default_rng(16)
    real = pd.DataFrame({"site": rng.choice([f"site {n}" for n in range(40)], 4000)})

    result = synthesise(real, {"site": "string"}, SynthesisSettings(n_rows=100, seed=17))

    assert result.report["columns"]["site"]["treatment"] == "categorical"


# --- fidelity ------------------------------------------------------------------------------


def test_correlated_numeric_columns_keep_their_correlation():
    rng = np.random.default_rng(18)
    x = rng.normal(size=3000)
    real = pd.DataFrame(
        {
            "x": x,
            "y": 0.8 * x + 0.6 * rng.normal(size=3000),
            "z": -0.5 * x + rng.normal(size=3000),
        }
    )

    result = synthesise(real, dict.fromkeys(real, "float"), SynthesisSettings(seed=19))

    real_correlation = real.corr(method="spearman")
    synthetic_correlation = result.sample.corr(method="spearman")
    assert synthetic_correlation.loc["x", "y"] == pytest.approx(
        real_correlation.loc["x", "y"], abs=0.08
    )
    assert synthetic_correlation.loc["x", "z"] < -0.3
    assert result.report["correlation_difference"]["mean"] < 0.05


def test_a_boolean_cut_from_a_numeric_column_stays_related_to_it():
    rng = np.random.default_rng(20)
    age = rng.normal(50, 10, 3000)
    real = pd.DataFrame({"age": age, "is_old": age > 55})

    result = synthesise(real, {"age": "float", "is_old": "boolean"}, SynthesisSettings(seed=21))

    sample = result.sample
    assert sample.loc[sample["is_old"], "age"].mean() > sample.loc[~sample["is_old"], "age"].mean()
    assert sample.corr().loc["age", "is_old"] > 0.6


def _table_distance(real: pd.DataFrame, sample: pd.DataFrame, first: str, second: str) -> float:
    """Total variation distance between two frames' two-way tables of `first` and `second`."""
    real_table = pd.crosstab(real[first], real[second], normalize=True)
    sample_table = pd.crosstab(sample[first], sample[second], normalize=True)
    return 0.5 * float(real_table.sub(sample_table, fill_value=0).abs().to_numpy().sum())


def test_categories_keep_associations_no_single_order_of_them_could_carry():
    rng = np.random.default_rng(40)
    rows = 4000
    role = rng.choice(["husband", "wife", "child", "single"], rows, p=[0.35, 0.15, 0.2, 0.3])
    # "husband" and "wife" sit together for marriage but apart for sex: one correlation per
    # pair, whatever the order of the roles, cannot keep both tables.
    sex = np.where(
        role == "husband", "M", np.where(role == "wife", "F", rng.choice(["F", "M"], rows))
    )
    married = np.where(np.isin(role, ["husband", "wife"]), "yes", "no")
    real = pd.DataFrame({"role": role, "sex": sex, "married": married, "x": rng.normal(size=rows)})
    kinds = {"role": "string", "sex": "string", "married": "string", "x": "float"}

    result = synthesise(real, kinds, SynthesisSettings(n_rows=4000, seed=41))

    sample = result.sample
    for first, second in [("role", "sex"), ("role", "married"), ("sex", "married")]:
        assert _table_distance(real, sample, first, second) < 0.04, (first, second)
    assert not ((sample["role"] == "wife") & (sample["sex"] == "M")).any()
    assert not ((sample["role"] == "child") & (sample["married"] == "yes")).any()
    assert result.report["exact_copy_share"] == 0.0


def test_a_category_tied_to_a_numeric_band_keeps_the_band():
    rng = np.random.default_rng(42)
    x = rng.normal(size=4000)
    # Correlation 0, so a copula alone sees no relationship at all.
    real = pd.DataFrame({"x": x, "band": np.where(np.abs(x) > 1, "outer", "inner")})

    result = synthesise(
        real, {"x": "float", "band": "string"}, SynthesisSettings(n_rows=4000, seed=43)
    )

    spread = result.sample.groupby("band")["x"].apply(lambda values: values.abs().mean())
    assert spread["outer"] > 1.3
    assert spread["inner"] < 0.6


def test_ordered_categories_keep_their_relationship_with_a_number():
    rng = np.random.default_rng(44)
    rows = 3000
    age = rng.normal(50, 15, rows)
    # Listed by frequency the grades run moderate, mild, severe: not in the order of age.
    cut = np.quantile(age, [0.3, 0.75])
    grade = np.select([age < cut[0], age < cut[1]], ["mild", "moderate"], "severe")
    grade = np.where(
        rng.random(rows) < 0.2, rng.choice(["mild", "moderate", "severe"], rows), grade
    )
    real = pd.DataFrame({"age": age, "grade": grade})
    rank = {"mild": 0, "moderate": 1, "severe": 2}

    result = synthesise(real, {"age": "float", "grade": "string"}, SynthesisSettings(seed=45))

    def relationship(frame):
        return frame["age"].corr(frame["grade"].map(rank), method="spearman")

    assert relationship(result.sample) == pytest.approx(relationship(real), abs=0.05)


def test_categorical_proportions_are_kept():
    rng = np.random.default_rng(22)
    real = pd.DataFrame(
        {
            "ward": rng.choice(["Heron", "Kestrel", "Osprey"], 4000, p=[0.5, 0.3, 0.2]),
            "x": rng.normal(size=4000),
        }
    )

    result = synthesise(
        real, {"ward": "string", "x": "float"}, SynthesisSettings(n_rows=4000, seed=23)
    )

    real_shares = real["ward"].value_counts(normalize=True)
    synthetic_shares = result.sample["ward"].value_counts(normalize=True)
    for ward, share in real_shares.items():
        assert synthetic_shares[ward] == pytest.approx(share, abs=0.03)
    assert result.report["columns"]["ward"]["distance"] < 0.03


def test_missing_shares_are_kept():
    rng = np.random.default_rng(24)
    rows = 2000
    real = pd.DataFrame(
        {
            "weight": rng.normal(70, 10, rows),
            "height": rng.normal(170, 10, rows),
            "ward": rng.choice(["Heron", "Kestrel"], rows).astype(object),
            "visits": pd.array(rng.integers(0, 20, rows), dtype="Int64"),
            "flag": pd.array(rng.random(rows) < 0.4, dtype="boolean"),
        }
    )
    real.loc[rng.random(rows) < 0.2, "weight"] = np.nan
    real.loc[rng.random(rows) < 0.1, "ward"] = None
    real.loc[rng.random(rows) < 0.15, "visits"] = pd.NA
    real.loc[rng.random(rows) < 0.05, "flag"] = pd.NA
    kinds = {
        "weight": "float",
        "height": "float",
        "ward": "string",
        "visits": "integer",
        "flag": "boolean",
    }

    result = synthesise(real, kinds, SynthesisSettings(n_rows=2000, seed=25))

    for column in kinds:
        assert result.sample[column].isna().mean() == pytest.approx(
            real[column].isna().mean(), abs=0.03
        )


def test_columns_and_dtypes_follow_the_kinds():
    frame, kinds = _mixed_frame()
    frame["visits"] = pd.array(np.arange(len(frame)) % 7, dtype="Int64")
    frame.loc[::9, "visits"] = pd.NA
    frame["seen_at"] = pd.Timestamp("2021-03-01 08:00", tz="Europe/London") + pd.to_timedelta(
        np.arange(len(frame)) * 7, unit="min"
    )
    frame["code"] = pd.Series(np.where(np.arange(len(frame)) % 2, "A", "B"), dtype="string")
    kinds.update(visits="integer", seen_at="datetime", code="string")

    sample = synthesise(frame, kinds, SETTINGS).sample

    assert list(sample.columns) == list(frame.columns)
    assert sample["age"].dtype == np.int64
    assert sample["visits"].dtype == "Int64"
    assert sample["weight"].dtype == np.float64
    assert sample["is_smoker"].dtype == bool
    assert pd.api.types.is_datetime64_dtype(sample["admitted_on"])
    assert (sample["admitted_on"].dt.normalize() == sample["admitted_on"]).all()
    assert str(sample["seen_at"].dt.tz) == "Europe/London"
    assert (sample["seen_at"].dt.second == 0).all()
    assert sample["code"].dtype == "string"
    assert pd.api.types.is_string_dtype(sample["ward"])


# --- the report ----------------------------------------------------------------------------


def test_the_report_holds_no_real_values():
    rng = np.random.default_rng(26)
    rows = 500
    wards = ["Zebrafish ward", "Heron wing", "Kestrel unit", "Lonely annexe"]
    real = pd.DataFrame(
        {
            "ward": rng.choice(wards[:3], rows).astype(object),
            "bill": rng.normal(1234.5678, 100, rows),
            "visits": rng.integers(3, 40, rows),
            "patient": [_token(n) for n in range(rows)],
            "note": [f"Remarkable note {n}" for n in range(rows)],
        }
    )
    real.loc[0, "ward"] = wards[3]
    real.loc[0, "bill"] = 987654.321
    real.loc[1, "bill"] = 13579.2468
    real.loc[2, "visits"] = 8642097
    kinds = {
        "ward": "string",
        "bill": "float",
        "visits": "integer",
        "patient": "string",
        "note": "string",
    }

    report = synthesise(real, kinds, SETTINGS, opaque_columns=frozenset({"patient"})).report

    dumped = json.dumps(report)
    for ward in wards:
        assert ward not in dumped
    for value in ("987654", "13579", "8642097", "1234.5", real["patient"][0], "Remarkable"):
        assert value not in dumped
    assert json.loads(dumped) == report


def test_the_report_describes_fidelity_and_privacy():
    frame, kinds = _mixed_frame()
    frame["patient"] = [_token(n) for n in range(len(frame))]
    kinds["patient"] = "string"

    report = synthesise(frame, kinds, SETTINGS, opaque_columns=frozenset({"patient"})).report

    assert report["method"] == "gaussian-copula"
    assert report["rows_real"] == len(frame)
    assert report["rows_synthetic"] == SETTINGS.n_rows
    assert report["exact_copy_share"] == 0.0
    assert report["settings"]["n_rows"] == SETTINGS.n_rows
    assert report["settings"]["clip_quantiles"] == [0.01, 0.99]
    metrics = {name: column["metric"] for name, column in report["columns"].items()}
    assert metrics == {
        "age": "ks",
        "weight": "ks",
        "ward": "tvd",
        "is_smoker": "tvd",
        "admitted_on": "ks",
        "patient": None,
    }
    for name, column in report["columns"].items():
        if column["metric"]:
            assert 0.0 <= column["distance"] < 0.1, name
    correlation = report["correlation_difference"]
    assert 0.0 <= correlation["mean"] <= correlation["max"]
    distance = report["distance_to_closest_record"]
    assert distance["rows_compared"] == {"training": 640, "synthetic": 1000, "holdout": 160}
    assert distance["synthetic"]["p05"] <= distance["synthetic"]["median"]
    # A copula does not memorise rows: synthetic rows sit no closer to training rows than
    # unseen real rows do.
    assert distance["ratio"] > 0.8


# --- edge cases ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "kinds"),
    [
        pytest.param(
            pd.DataFrame({"x": np.random.default_rng(0).normal(size=200)}),
            {"x": "float"},
            id="single-numeric-column",
        ),
        pytest.param(
            pd.DataFrame(
                {
                    "x": np.arange(100.0),
                    "empty": np.nan,
                    "none": None,
                    "na": pd.NA,
                    "nat": pd.NaT,
                    "undecided": pd.Series([None] * 100, dtype="boolean"),
                }
            ),
            {
                "x": "float",
                "empty": "float",
                "none": "string",
                "na": "integer",
                "nat": "date",
                "undecided": "boolean",
            },
            id="all-missing-columns",
        ),
        pytest.param(
            pd.DataFrame({"x": np.arange(100.0), "seven": 7, "same": "same", "yes": True}),
            {"x": "float", "seven": "integer", "same": "string", "yes": "boolean"},
            id="constant-columns",
        ),
        pytest.param(
            pd.DataFrame(
                {
                    "ward": np.random.default_rng(1).choice(["Heron", "Kestrel", "Osprey"], 300),
                    "grade": np.random.default_rng(2).choice(["I", "II", "III", "IV"], 300),
                    "shift": np.random.default_rng(3).choice(["day", "night"], 300),
                    "flag": np.random.default_rng(4).random(300) < 0.5,
                }
            ),
            {"ward": "string", "grade": "string", "shift": "string", "flag": "boolean"},
            id="only-categorical",
        ),
        pytest.param(
            pd.DataFrame(np.random.default_rng(5).normal(size=(300, 3)), columns=["p", "q", "r"]),
            {"p": "float", "q": "float", "r": "float"},
            id="only-numeric",
        ),
    ],
)
def test_edge_cases_produce_a_guarded_sample(real, kinds):
    result = synthesise(real, kinds, SynthesisSettings(n_rows=300, seed=27))

    assert list(result.sample.columns) == list(real.columns)
    assert not _row_set(result.sample) & _row_set(real)
    assert result.report["exact_copy_share"] == 0.0
    json.dumps(result.report)
    for column in real.columns:
        if real[column].isna().all():
            assert result.sample[column].isna().all()
        elif real[column].nunique() == 1:
            assert result.sample[column].nunique() <= 1


def test_a_tiny_dataset_keeps_every_guard():
    rng = np.random.default_rng(28)
    real = pd.DataFrame(
        {
            "age": rng.integers(20, 90, 30),
            "ward": rng.permutation(
                ["Heron"] * 9 + ["Kestrel"] * 9 + ["Osprey"] * 8 + ["Wren"] * 4
            ),
            "note": [f"note {n}" for n in range(30)],
            "flag": rng.random(30) < 0.5,
        }
    )
    kinds = {"age": "integer", "ward": "string", "note": "string", "flag": "boolean"}

    result = synthesise(real, kinds, SynthesisSettings(n_rows=200, seed=29))

    sample = result.sample
    assert not _row_set(sample) & _row_set(real)
    # Every ward has fewer than 10 rows, and so has every note: all become "Other".
    assert set(sample["ward"]) == {OTHER}
    assert set(sample["note"]) == {OTHER}
    low, high = real["age"].quantile([0.01, 0.99])
    assert low <= sample["age"].min() <= sample["age"].max() <= high
    assert result.report["distance_to_closest_record"]["rows_compared"]["holdout"] == 6


def test_without_hold_out_rows_the_distance_report_is_null():
    frame, kinds = _mixed_frame(rows=30)

    result = synthesise(frame, kinds, SynthesisSettings(n_rows=50, holdout_share=0.0, seed=30))

    assert result.report["distance_to_closest_record"] is None
    assert not _row_set(result.sample) & _row_set(frame)


def test_fitting_on_a_subsample_of_a_larger_dataset():
    frame, kinds = _mixed_frame(rows=3000)

    result = synthesise(frame, kinds, SynthesisSettings(n_rows=500, fit_rows=200, seed=31))

    assert len(result.sample) == 500
    assert result.report["distance_to_closest_record"]["rows_compared"]["training"] == 200
    assert result.report["columns"]["weight"]["distance"] < 0.15


def test_a_single_row_dataset():
    real = pd.DataFrame({"x": [1.5], "ward": ["Heron"]})

    result = synthesise(real, {"x": "float", "ward": "string"}, SynthesisSettings(n_rows=10))

    # The only row there is: every synthetic row would be a copy, unless "Other" hides it.
    assert not _row_set(result.sample) & _row_set(real)


# --- behaviour -----------------------------------------------------------------------------


def test_a_seed_makes_the_sample_and_report_reproducible():
    frame, kinds = _mixed_frame()

    first = synthesise(frame, kinds, SETTINGS)
    second = synthesise(frame, kinds, SETTINGS)
    other = synthesise(frame, kinds, SynthesisSettings(n_rows=SETTINGS.n_rows, seed=99))

    pd.testing.assert_frame_equal(first.sample, second.sample)
    assert first.report == second.report
    assert not first.sample.equals(other.sample)


def test_progress_is_reported_from_zero_to_one():
    frame, kinds = _mixed_frame(rows=100)
    fractions = []

    synthesise(frame, kinds, SETTINGS, progress=fractions.append)

    assert fractions[0] == 0.0
    assert fractions[-1] == 1.0
    assert len(fractions) >= 3
    assert fractions == sorted(fractions)


@pytest.mark.parametrize(
    ("kinds", "opaque", "message"),
    [
        ({"x": "float"}, frozenset(), "missing"),
        ({"x": "float", "y": "string", "z": "float"}, frozenset(), "extra"),
        ({"x": "float", "y": "text"}, frozenset(), "unknown kinds"),
        ({"x": "float", "y": "string"}, frozenset({"x"}), "must be of kind 'string'"),
        ({"x": "float", "y": "string"}, frozenset({"nope"}), "not a column"),
    ],
)
def test_inputs_are_checked(kinds, opaque, message):
    real = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})

    with pytest.raises(ValueError, match=re.escape(message)):
        synthesise(real, kinds, SETTINGS, opaque_columns=opaque)


def test_an_empty_dataset_is_refused():
    with pytest.raises(ValueError, match="no rows"):
        synthesise(pd.DataFrame({"x": pd.Series([], dtype=float)}), {"x": "float"}, SETTINGS)


@pytest.mark.parametrize(
    "overrides",
    [
        {"n_rows": 0},
        {"clip_quantiles": (0.9, 0.1)},
        {"holdout_share": 1.0},
        {"fit_rows": 0},
        {"rare_category_threshold": 0},
    ],
)
def test_settings_are_checked(overrides):
    with pytest.raises(ValueError):  # noqa: PT011 - each override breaks a different rule
        SynthesisSettings(**overrides)


def test_floats_keep_about_the_real_precision():
    rng = np.random.default_rng(3)
    real = pd.DataFrame(
        {"stay": np.round(rng.gamma(2, 3, 2000), 1), "age": rng.integers(18, 90, 2000)}
    )
    result = synthesise(
        real, {"stay": "float", "age": "integer"}, SynthesisSettings(n_rows=500, seed=1)
    )
    stays = result.sample["stay"].dropna().to_numpy()
    # One decimal finer than the real values, so they rarely equal a real value.
    assert np.allclose(np.round(stays, 2), stays, rtol=0, atol=1e-9)
