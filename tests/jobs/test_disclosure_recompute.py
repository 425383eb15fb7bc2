"""Issue 12: every rule on every table, whatever it is declared to be.

Thirteen ways a script tries to take something disclosive out of census-like data
(30,162 people), each written as a researcher would with plain pandas and none of the
SDK: each fails, with the rule that names the problem. And the safe tables, declared
with the SDK or made with plain pandas straight from the input, pass with no person
needed. The data are made up here, shaped like the Adult census data, with a few rare
people put in where an attack needs one.
"""

import numpy as np
import pandas as pd
import pytest

from jobs.disclosure import (
    InputTables,
    RowValues,
    Thresholds,
    check_output,
    differencing,
    margins_of,
)
from jobs.manifest import read_manifest

ROWS = 30_162


@pytest.fixture(scope="module")
def census() -> pd.DataFrame:
    rng = np.random.default_rng(12)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, ROWS),
            "workclass": rng.choice(["Private", "Self-emp", "State-gov"], ROWS, p=[0.7, 0.2, 0.1]),
            "education": rng.choice(["HS-grad", "Bachelors", "Masters", "Doctorate"], ROWS,
                                    p=[0.5, 0.3, 0.15, 0.05]),
            "occupation": rng.choice(["Sales", "Tech-support", "Craft-repair", "Exec"], ROWS),
            "sex": rng.choice(["Male", "Female"], ROWS),
            "race": rng.choice(["White", "Black", "Asian"], ROWS, p=[0.8, 0.12, 0.08]),
            "hours_per_week": rng.integers(10, 70, ROWS),
            "native_country": rng.choice(["United-States", "Mexico", "India"], ROWS,
                                         p=[0.9, 0.06, 0.04]),
            "capital_gain": rng.choice([0, 0, 0, 1000, 2000], ROWS) * 1.0,
        }
    )  # fmt: skip
    # The rare people the attacks go after: one from Holand-Netherlands, three Amer-Indian
    # Doctorates, one man of 17, and one capital gain that dwarfs its group's.
    frame.loc[0, "native_country"] = "Holand-Netherlands"
    frame.loc[1:3, "race"] = "Amer-Indian"
    frame.loc[1:3, "education"] = "Doctorate"
    frame.loc[4, ["age", "sex"]] = [17, "Male"]
    frame.loc[5, ["occupation", "capital_gain"]] = ["Exec", 99_999_999.0]
    return frame


@pytest.fixture(scope="module")
def indexed(census):
    return RowValues.from_frames([census]), InputTables.from_frames([census])


@pytest.fixture
def check_table(tmp_path, indexed):
    row_values, tables = indexed

    def check(table, name="table", *, index=True, entry=None):
        path = tmp_path / f"{name}.csv"
        if isinstance(table, str):
            path.write_text(table)
        else:
            table.to_csv(path, index=index)
        if entry is None:
            entry = read_manifest(path.parent).entry_for(path.name)
        return check_output(
            path=path,
            entry=entry,
            input_rows=ROWS,
            sensitive_values=frozenset(),
            thresholds=Thresholds(),
            row_values=row_values,
            input_tables=tables,
        )

    return check


def check_alone(path, tables: InputTables, *, input_rows: int = ROWS):
    """Check a file with only the inputs' tables (no row index, no identifiers)."""
    return check_output(
        path=path,
        entry=None,
        input_rows=input_rows,
        sensitive_values=frozenset(),
        thresholds=Thresholds(),
        input_tables=tables,
    )


def rules_of(verdict) -> dict:
    return {reason.rule: reason for reason in verdict.reasons}


def messages(verdict, rule: str) -> list[str]:
    return [reason.message for reason in verdict.reasons if reason.rule == rule]


# Thirteen attacks, with plain pandas ----------------------------------------------------


def test_a_crosstab_with_a_cell_of_1_fails_threshold(check_table, census):
    verdict = check_table(pd.crosstab(census.native_country, census.sex))

    assert verdict.status == "fail"
    threshold = rules_of(verdict)["threshold"]
    assert "recomputed from the real data" in threshold.message
    # Holand-Netherlands sorts first; Male is the second column.
    assert (1, 2) in threshold.cells


def test_value_counts_of_a_rare_category_fails_threshold(check_table, census):
    verdict = check_table(census.race.value_counts())

    assert verdict.status == "fail"
    assert set(rules_of(verdict)) == {"threshold"}


def test_a_mean_over_a_group_of_three_fails_threshold(check_table, census):
    table = census.groupby(["race", "education"]).age.mean()

    verdict = check_table(table)

    assert verdict.status == "fail"
    assert "threshold" in rules_of(verdict)


def test_a_rounded_mean_over_a_group_of_one_fails_threshold(check_table, census):
    table = census.groupby("native_country").hours_per_week.mean().round(1)

    verdict = check_table(table)

    assert rules_of(verdict)["threshold"].cells == [(1, 1)]  # Holand-Netherlands


def test_a_sum_one_person_dominates_fails_dominance(check_table, census):
    table = census.groupby("occupation").capital_gain.sum()

    verdict = check_table(table)

    assert verdict.status == "fail"
    assert rules_of(verdict)["dominance-nk"].cells == [(2, 1)]  # Exec
    assert "p-ratio" in rules_of(verdict)


def test_a_wide_pivot_with_margins_fails_on_its_small_cells_only(check_table, census):
    table = census.pivot_table(
        index="race", columns="sex", values="hours_per_week", aggfunc="mean", margins=True
    )

    verdict = check_table(table)

    assert verdict.status == "fail"
    assert "threshold" in rules_of(verdict)
    # Only the three Amer-Indians' row (the first), its margin of 3 included.
    assert {cell for reason in verdict.reasons for cell in reason.cells} <= {
        (1, 1),
        (1, 2),
        (1, 3),
    }
    assert (1, 3) in rules_of(verdict)["threshold"].cells


def test_a_500_row_sample_fails_row_level(check_table, census):
    verdict = check_table(census.sample(500, random_state=1))

    assert verdict.status == "fail"
    assert "row-level" in rules_of(verdict)


def test_a_five_row_extract_of_a_few_columns_fails_row_level(check_table, census):
    table = census[["age", "sex", "race", "education"]].iloc[1:4]

    verdict = check_table(table, index=False)

    assert verdict.status == "fail"
    extract = [text for text in messages(verdict, "row-level") if "however few" in text]
    assert extract[0].startswith("Rows 1, 2, 3 ")


def test_the_largest_value_of_each_group_fails_extremes(check_table, census):
    verdict = check_table(census.groupby("occupation").capital_gain.max())

    assert verdict.status == "fail"
    assert "extremes" in rules_of(verdict)


def test_describe_shows_the_oldest_person_and_fails(check_table, census):
    verdict = check_table(census[["age", "hours_per_week"]].describe())

    assert verdict.status == "fail"
    extremes = rules_of(verdict)["extremes"]
    assert (4, 1) in extremes.cells  # the min row
    assert (8, 1) in extremes.cells  # the max row


def test_counts_of_a_derived_frame_look_like_counts_and_fail(check_table, census):
    # Counts by a derived variable: no statistic of the input's groups, plainly counts.
    table = pd.crosstab(census.age // 10, census.race)

    verdict = check_table(table)

    assert verdict.status == "fail"
    threshold = rules_of(verdict)["threshold"]
    assert threshold.message.startswith("The cells look like counts: ")
    assert " below 10 " in threshold.message


def test_two_tables_a_person_apart_fail_differencing(check_table, census):
    everyone = pd.crosstab(census.sex, census.race)
    over_17 = census[census.age > 17]
    adults = pd.crosstab(over_17.sex, over_17.race)

    found = differencing(
        [("everyone", margins_of(everyone.to_csv())), ("adults", margins_of(adults.to_csv()))],
        fewer_than=10,
    )

    assert found == {"everyone": ["adults"], "adults": ["everyone"]}
    # Each alone passes no better: Amer-Indian is a small column in both.
    assert check_table(everyone).status == "fail"


def test_a_table_with_a_zero_count_goes_to_a_person(check_table, census):
    table = pd.crosstab(census.race, census.education)

    verdict = check_table(table)

    assert "zeros" in rules_of(verdict)  # no Amer-Indian holds less than a Doctorate


# Safe tables pass alone -------------------------------------------------------------


def test_a_safe_crosstab_from_the_sdk_passes_alone(check_table, census, sdk):
    path = sdk.save_table("by_sex", sdk.crosstab(census, "sex", "workclass"))

    verdict = check_table(path.read_text(), "by_sex")

    assert verdict.status == "pass", verdict.reasons


def test_a_safe_pivot_table_from_the_sdk_passes_alone(check_table, census, sdk):
    table = sdk.pivot_table(census, index="occupation", columns="sex", values="age")
    path = sdk.save_table("age_by_occupation", table)

    verdict = check_table(path.read_text(), "age_by_occupation")

    assert verdict.status == "pass", verdict.reasons  # no "unverified-claims": recomputed


def test_a_safe_groupby_mean_in_plain_pandas_passes_alone(check_table, census):
    table = census.groupby(["sex", "workclass"])[["age", "hours_per_week"]].mean().round(2)

    assert check_table(table).status == "pass"


def test_a_pivot_of_a_filtered_frame_still_rests_on_its_claims(check_table, census, sdk):
    adults = census[census.hours_per_week > 20]
    path = sdk.save_table("filtered", sdk.pivot_table(adults, index="sex", values="age"))

    verdict = check_table(path.read_text(), "filtered")

    assert verdict.status == "review"
    assert set(rules_of(verdict)) == {"unverified-claims"}


def test_a_forged_count_claim_cannot_hide_a_small_recomputed_group(check_table, census, sdk):
    path = sdk.save_table(
        "by_race", sdk.pivot_table(census, index=["race", "education"], values="age")
    )
    manifest = path.parent / ".tre-manifest.json"
    forged = manifest.read_text().replace("[3]", "[3000]")
    manifest.write_text(forged)

    verdict = check_table(path.read_text(), "by_race")

    assert verdict.status == "fail"
    assert any("recomputed from the real data" in text for text in messages(verdict, "threshold"))


def test_reasons_name_positions_never_values(check_table, census):
    tables = [
        pd.crosstab(census.native_country, census.sex),
        census.groupby("occupation").capital_gain.sum(),
        census.groupby("occupation").capital_gain.max(),
        census[["age", "sex", "race", "education"]].iloc[1:4],
    ]
    for table in tables:
        verdict = check_table(table)
        text = " ".join(reason.message for reason in verdict.reasons)
        for value in ("Holand", "Exec", "Amer-Indian", "99999999", "Doctorate", "Male"):
            assert value not in text


def test_a_mean_rounded_half_up_is_still_recomputed(tmp_path):
    # 20.55 is 20.550000000000001 in binary: pandas rounds it to 20.6, half a unit away.
    frame = pd.DataFrame({"ward": ["A"] * 12, "bmi": [20.55] * 12})
    path = tmp_path / "bmi.csv"
    frame.groupby("ward").bmi.mean().round(1).to_csv(path)

    verdict = check_alone(path, InputTables.from_frames([frame]), input_rows=12)

    assert verdict.status == "pass", verdict.reasons


@pytest.mark.parametrize("limit", ["MAX_TABLE_CELLS", "MAX_FIGURE_SETS"])
def test_a_recomputation_cut_short_sends_the_table_to_a_person(
    census, tmp_path, monkeypatch, limit
):
    from jobs.disclosure import recompute

    monkeypatch.setattr(recompute, limit, 0)
    path = tmp_path / "mean.csv"
    census.groupby(["sex", "workclass"])[["age"]].mean().round(2).to_csv(path)

    verdict = check_alone(path, InputTables.from_frames([census]))

    assert verdict.status == "review"
    assert any("stopped at its limits" in text for text in messages(verdict, "human-review"))


def test_a_run_out_of_time_for_recomputing_sends_its_tables_to_a_person(census, tmp_path):
    tables = InputTables.from_frames([census])
    tables.seconds = 0
    path = tmp_path / "mean.csv"
    census.groupby(["sex", "workclass"])[["age"]].mean().round(2).to_csv(path)

    verdict = check_alone(path, tables)

    assert verdict.status == "review"
    assert any("stopped at its limits" in text for text in messages(verdict, "human-review"))


HOSTILE_TABLES = [
    "",
    "\n\n\n",
    "x",
    "sex\nMale\nFemale\n",
    "sex,n\nMale,1e308\nFemale,-1e308\n",
    "sex,n\nMale,inf\nFemale,nan\n",
    "sex,n\nAll,5\nTotal,7\n",
    "sex,race,,,\n,,,,\nMale\n",
    ",".join(["sex"] * 70) + "\n" + ",".join(["Male"] * 70) + "\n",
    "a,b\n" + "\n".join(f"{i},{i}" for i in range(3000)),
    "sex,n\nMale,1e-320\nFemale,0x10\n",
    'sex,n\n"Ma\nle",12\nFemale,12\n',
    "age,age,age\n17,17,17\n",
    "\ufeffsex,n\nMale,15092\n",
]


@pytest.mark.parametrize("content", HOSTILE_TABLES)
def test_hostile_tables_never_make_the_recomputation_raise(content, check_table):
    verdict = check_table(content)

    assert verdict.status in {"pass", "review", "fail"}


def test_a_recomputation_that_trips_fails_closed(census, tmp_path, monkeypatch):
    tables = InputTables.from_frames([census])

    def trip(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(tables, "recompute", trip)
    path = tmp_path / "mean.csv"
    census.groupby("sex")[["age"]].mean().to_csv(path)

    verdict = check_alone(path, tables)

    assert verdict.status == "review"
