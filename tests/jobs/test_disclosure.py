"""The airlock's disclosure checks, on outputs made as the SDK makes them in the sandbox."""

import gzip
import importlib.util
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.disclosure import Reason, Thresholds, Verdict, check_output, worst_status

SDK_PATH = Path(__file__).resolve().parents[2] / "jobs" / "sdk" / "tre_sdk.py"
DEFAULTS = Thresholds()
TOKENS = frozenset({"P-7f3a9c21", "P-0b44e18d", "9434765919"})


@pytest.fixture
def sdk(tmp_path):
    """A fresh copy of the SDK writing to this test's directory, as in the sandbox."""
    spec = importlib.util.spec_from_file_location("tre_sdk_under_test", SDK_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUTPUT = tmp_path
    module.INPUTS = tmp_path
    module.MANIFEST = tmp_path / ".tre-manifest.json"
    return module


def check(path: Path, *, input_rows=1000, sensitive=TOKENS, thresholds=DEFAULTS, entry=None):
    if entry is None:
        manifest_path = path.parent / ".tre-manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        entry = next((e for e in manifest.values() if e.get("file") == path.name), {})
    return check_output(
        path=path,
        entry=entry,
        input_rows=input_rows,
        sensitive_values=sensitive,
        thresholds=thresholds,
    )


def rules(verdict: Verdict) -> dict[str, Reason]:
    return {reason.rule: reason for reason in verdict.reasons}


def people(counts: dict[tuple[str, str], int]) -> pd.DataFrame:
    """Records per (ward, sex) with the given counts."""
    rows = [
        {"ward": ward, "sex": sex, "stay": 5.0}
        for (ward, sex), count in counts.items()
        for _ in range(count)
    ]
    return pd.DataFrame(rows)


SMALL = {("north", "F"): 40, ("north", "M"): 3, ("south", "F"): 25, ("south", "M"): 7}


# Frequency tables -------------------------------------------------------------------


def test_a_frequency_table_with_counts_of_1_to_9_fails_naming_their_positions(sdk):
    path = sdk.save_table("by_ward", sdk.crosstab(people(SMALL), "ward", "sex"))

    verdict = check(path)

    assert verdict.status == "fail"
    threshold = rules(verdict)["threshold"]
    assert threshold.cells == [(1, 2), (2, 2)]
    assert "(row 1, column 2), (row 2, column 2)" in threshold.message
    assert "1 to 9, below the minimum of 10" in threshold.message


def test_a_frequency_table_with_every_cell_of_10_or_more_passes(sdk):
    counts = {("north", "F"): 40, ("north", "M"): 10, ("south", "F"): 25, ("south", "M"): 12}
    path = sdk.save_table("by_ward", sdk.crosstab(people(counts), "ward", "sex"))

    verdict = check(path)

    assert verdict.status == "pass", verdict.reasons
    assert verdict.reasons == []


def test_zeros_in_a_frequency_table_go_to_review(sdk):
    table = pd.DataFrame({"F": [40, 0], "M": [12, 25]}, index=pd.Index(["north", "south"]))
    path = sdk.save_table("by_ward", table, kind="frequency")

    verdict = check(path)

    assert verdict.status == "review"
    assert rules(verdict)["zeros"].cells == [(2, 1)]


def test_zeros_are_not_reviewed_when_the_workspace_says_they_are_not_disclosive(sdk):
    table = pd.DataFrame({"F": [40, 0]}, index=pd.Index(["north", "south"]))
    path = sdk.save_table("by_ward", table, kind="frequency")

    verdict = check(path, thresholds=Thresholds.from_dict({"zeros_disclosive": "false"}))

    assert verdict.status == "pass"


def test_suppressing_small_cells_makes_it_pass_and_records_the_treatment(sdk, tmp_path):
    table = sdk.suppress_small_cells(sdk.crosstab(people(SMALL), "ward", "sex"))
    path = sdk.save_table("by_ward", table)

    verdict = check(path)

    assert verdict.status == "pass", verdict.reasons
    assert verdict.treatments == ["suppressed 2 cells below 10"]
    assert path.read_text().splitlines() == ["ward,F,M", "north,40,", "south,25,"]
    entry = json.loads((tmp_path / ".tre-manifest.json").read_text())["by_ward"]
    assert entry["kind"] == "frequency"
    assert entry["treatments"] == ["suppressed 2 cells below 10"]


def test_rounding_records_its_treatment_but_does_not_make_small_counts_safe(sdk):
    table = sdk.round_to_base(sdk.crosstab(people(SMALL), "ward", "sex"), base=5)
    path = sdk.save_table("by_ward", table)

    verdict = check(path)

    assert path.read_text().splitlines() == ["ward,F,M", "north,40,5", "south,25,5"]
    assert verdict.treatments == ["rounded to base 5"]
    assert verdict.status == "fail"


def test_a_table_saved_as_other_is_still_checked_as_the_crosstab_it_is(sdk):
    path = sdk.save_table("by_ward", sdk.crosstab(people(SMALL), "ward", "sex"), kind="other")

    assert check(path).status == "fail"


# Statistics tables ------------------------------------------------------------------


def test_a_mean_over_a_group_of_3_fails_the_threshold(sdk):
    data = people({("north", "F"): 30, ("south", "F"): 3})
    data["stay"] = np.arange(len(data), dtype=float) % 7 + 1
    path = sdk.save_table("stay", sdk.pivot_table(data, index="ward", values="stay"))

    verdict = check(path)

    assert verdict.status == "fail"
    assert rules(verdict)["threshold"].cells == [(2, 1)]
    assert "fewer than 10 records" in rules(verdict)["threshold"].message


def test_suppressing_a_statistics_table_blanks_the_small_cells_and_passes(sdk):
    data = people({("north", "F"): 30, ("south", "F"): 3})
    data["stay"] = np.arange(len(data), dtype=float) % 7 + 1
    table = sdk.suppress_small_cells(sdk.pivot_table(data, index="ward", values="stay"))
    path = sdk.save_table("stay", table.sort_index(ascending=False))  # cells follow labels

    verdict = check(path)

    assert verdict.status == "pass", verdict.reasons
    assert verdict.treatments == ["suppressed 1 cell below 10"]


def test_a_sum_dominated_by_one_person_fails_nk_and_p_ratio(sdk):
    data = people({("north", "F"): 20, ("south", "F"): 20})
    data["income"] = 100.0
    data.loc[data.index[-1], "income"] = 1_000_000.0  # one person in the south
    path = sdk.save_table(
        "income", sdk.pivot_table(data, index="ward", values="income", aggfunc="sum")
    )

    verdict = check(path)

    assert verdict.status == "fail"
    assert rules(verdict)["dominance-nk"].cells == [(2, 1)]
    assert rules(verdict)["p-ratio"].cells == [(2, 1)]
    assert "threshold" not in rules(verdict)


def test_a_statistics_table_without_cell_data_goes_to_review(sdk):
    table = pd.DataFrame({"stay": [4.2, 5.1]}, index=pd.Index(["north", "south"]))
    path = sdk.save_table("stay", table, kind="statistics")

    verdict = check(path)

    assert verdict.status == "review"
    assert "tre_sdk.pivot_table" in rules(verdict)["no-cell-data"].message


def test_pivot_table_refuses_a_statistic_that_is_one_persons_value(sdk):
    with pytest.raises(sdk.OutputError):
        sdk.pivot_table(people(SMALL), index="ward", values="stay", aggfunc="max")


# Row-level data and identifiers -----------------------------------------------------


def test_a_table_with_as_many_rows_as_the_input_fails_row_level(sdk):
    data = pd.DataFrame({"age": np.arange(100), "stay": np.arange(100) * 1.5})
    path = sdk.save_table("extract", data)

    verdict = check(path, input_rows=100, sensitive=frozenset())

    assert verdict.status == "fail"
    assert "row-level" in rules(verdict)


def test_a_table_holding_a_pseudonymised_token_fails_identifiers(sdk):
    table = pd.DataFrame({"patient": ["P-0b44e18d", "someone else"], "stay": [3, 4]})
    path = sdk.save_table("notes", table)

    verdict = check(path)

    assert verdict.status == "fail"
    assert rules(verdict)["identifiers"].message.startswith("1 cell of this output")


def test_identifiers_are_found_in_text_json_and_numbers(sdk):
    text = sdk.save_text("note", "Readmitted: P-7f3a9c21.")
    metric = sdk.save_metric("odd", {"patient": 9434765919})

    assert rules(check(text))["identifiers"]
    assert rules(check(metric))["identifiers"]


# File types and size ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("model.pkl", pickle.dumps({"weights": [1, 2, 3]})),
        ("model.csv", pickle.dumps({"weights": [1, 2, 3]})),
        ("data.parquet", b"PAR1" + b"\x00" * 32 + b"PAR1"),
        ("data.csv", b"PAR1" + b"\x00" * 32 + b"PAR1"),
        ("archive.csv", None),  # a zip renamed .csv
        ("table.csv.gz", gzip.compress(b"a,b\n1,2\n")),
        ("table.txt", gzip.compress(b"a,b\n1,2\n")),
        ("data.sqlite", b"SQLite format 3\x00" + b"\x00" * 100),
        ("figure.png", b"GIF89a not a png"),
        ("figure.jpg", b"\xff\xd8\xff\xe0 jpeg"),
        ("notes.txt", "naïve".encode("latin-1")),
    ],
)
def test_files_that_are_not_plain_outputs_fail_file_type(tmp_path, filename, content):
    if content is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("extract.csv", "id,value\nP-7f3a9c21,1\n")
        content = buffer.getvalue()
    path = tmp_path / filename
    path.write_bytes(content)

    verdict = check(path, entry={})

    assert verdict.status == "fail"
    assert [reason.rule for reason in verdict.reasons] == ["file-type"]
    assert filename not in verdict.reasons[0].message  # names are the researcher's: never shown


def test_a_png_with_data_after_its_end_fails_file_type(sdk, tmp_path):
    path = sdk.save_figure("plot", sdk.hist(np.arange(100) % 10, bins=5, range=(0, 10)))
    path.write_bytes(path.read_bytes() + b"PK\x03\x04 smuggled")

    assert rules(check(path))["file-type"]


def test_an_oversized_file_fails_size(sdk):
    path = sdk.save_text("big", "x" * 2000)

    verdict = check(path, thresholds=Thresholds(max_output_bytes=1000))

    assert verdict.status == "fail"
    assert rules(verdict)["size"]


# Figures, metrics and text ----------------------------------------------------------


def test_a_histogram_with_a_bar_of_2_fails(sdk, tmp_path):
    values = np.concatenate([np.full(30, 1.0), np.full(2, 5.0), np.full(20, 9.0)])
    figure = sdk.hist(values, bins=3, range=(0, 10))
    figure.axes[0].set_title("Length of stay")  # labels are not data
    path = sdk.save_figure("stay", figure)

    verdict = check(path)

    assert verdict.status == "fail"
    assert rules(verdict)["threshold"].message.startswith("Bar 2 has a count of 1 to 9")
    entry = json.loads((tmp_path / ".tre-manifest.json").read_text())["stay"]
    assert entry["checks"] == {"counts": [30, 2, 20]}


def test_a_histogram_with_more_plotted_on_it_goes_to_a_person(sdk):
    figure = sdk.hist(np.full(50, 3.0), bins=2, range=(0, 10))
    figure.axes[0].plot([1, 2], [3, 4])
    path = sdk.save_figure("stay", figure)

    assert rules(check(path))["human-review"]


def test_a_bare_png_without_counts_goes_to_review(sdk):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3], [3, 1, 2])
    path = sdk.save_figure("plot", figure)

    verdict = check(path)

    assert verdict.status == "review"
    assert list(rules(verdict)) == ["human-review"]


def test_a_metric_goes_to_review(sdk):
    assert check(sdk.save_metric("mean_stay", 4.25)).status == "review"


def test_a_model_with_too_few_degrees_of_freedom_fails(sdk):
    path = sdk.save_metric("slope", 0.3, degrees_of_freedom=np.int64(4))

    verdict = check(path)

    assert verdict.status == "fail"
    assert rules(verdict)["degrees-of-freedom"]


def test_text_goes_to_review(sdk):
    verdict = check(sdk.save_text("note", "The model converged."))

    assert verdict.status == "review"
    assert list(rules(verdict)) == ["human-review"]


# Reasons and statuses ---------------------------------------------------------------


def test_reasons_never_contain_a_value_or_label_of_the_data(sdk):
    counts = {("Ward-Zanzibar-Qx", "Nonbinary-Qy"): 1, ("Ward-Zanzibar-Qx", "F"): 12}
    data = people(counts)
    data["stay"] = 987.654
    tables = [
        sdk.save_table("counts", sdk.crosstab(data, ["ward", "sex"])),
        sdk.save_table("stay", sdk.pivot_table(data, index="ward", values="stay", columns="sex")),
    ]
    verdicts = [check(path, input_rows=4) for path in tables]

    assert {reason.rule for verdict in verdicts for reason in verdict.reasons} >= {
        "threshold",
        "dominance-nk",
        "p-ratio",
    }
    shown = json.dumps([verdict.as_dict() for verdict in verdicts])
    for secret in ("Zanzibar", "Nonbinary", "Qx", "Qy", "987", "ward", "sex", "stay"):
        assert secret not in shown


def test_statuses_combine_fail_over_review_over_pass(sdk):
    assert worst_status([]) == "pass"
    assert worst_status(["pass", "review"]) == "review"
    assert worst_status(["review", "fail", "pass"]) == "fail"

    table = pd.DataFrame({"F": [40, 0], "M": [3, 25]}, index=pd.Index(["north", "south"]))
    verdict = check(sdk.save_table("by_ward", table, kind="frequency"))

    assert verdict.status == "fail"
    assert set(rules(verdict)) == {"threshold", "zeros"}  # every reason is kept
    assert json.loads(json.dumps(verdict.as_dict()))["reasons"][0]["cells"] == [[1, 2]]


def test_thresholds_from_a_dict_ignore_unknown_keys():
    thresholds = Thresholds.from_dict({"min_cell_count": "5", "nk_k": 0.8, "colour": "blue"})

    assert thresholds.min_cell_count == 5
    assert thresholds.nk_k == 0.8
    assert thresholds.p_ratio == DEFAULTS.p_ratio


def test_the_manifest_stays_plain_json(sdk, tmp_path):
    data = people({("north", "F"): 12, ("south", "F"): 1})
    data.loc[0, "stay"] = np.nan
    sdk.save_table("stay", sdk.pivot_table(data, index="ward", values="stay", columns="sex"))

    text = (tmp_path / ".tre-manifest.json").read_text()

    assert "NaN" not in text
    checks = json.loads(text)["stay"]["checks"]
    assert checks["cell_counts"] == [[11], [1]]
    assert checks["p_ratios"][1] == [0.0]
