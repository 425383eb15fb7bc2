"""The airlock's disclosure checks, on outputs made as the SDK makes them in the sandbox,
and on outputs whose manifest a script forged: a claim can add failures, never a pass."""

import gzip
import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.disclosure import (
    Reason,
    RowValues,
    Thresholds,
    Verdict,
    check_label,
    check_output,
    worst_status,
)
from jobs.manifest import MANIFEST_NAME, read_manifest

SDK_PATH = Path(__file__).resolve().parents[2] / "jobs" / "sdk" / "tre_sdk.py"
DEFAULTS = Thresholds()
TOKENS = frozenset({"P-7f3a9c21", "P-0b44e18d", "9434765919"})
FROM_MANIFEST = object()


def check(
    path: Path,
    *,
    input_rows=1000,
    sensitive=TOKENS,
    thresholds=DEFAULTS,
    entry=FROM_MANIFEST,
    row_values=None,
):
    """Check as the worker does: the entry from the validated manifest."""
    if entry is FROM_MANIFEST:
        entry = read_manifest(path.parent).entry_for(path.name)
    return check_output(
        path=path,
        entry=entry,
        input_rows=input_rows,
        sensitive_values=sensitive,
        thresholds=thresholds,
        row_values=row_values,
    )


def forge(path: Path, name: str, entry: dict) -> None:
    """Write the manifest as a script may: anything at all."""
    manifest_path = path.parent / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[name] = entry
    manifest_path.write_text(json.dumps(manifest))


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


def test_suppressing_small_cells_makes_it_pass_and_the_treatment_is_borne_out(sdk, tmp_path):
    table = sdk.suppress_small_cells(sdk.crosstab(people(SMALL), "ward", "sex"))
    path = sdk.save_table("by_ward", table)

    verdict = check(path)

    assert verdict.status == "pass", verdict.reasons
    assert verdict.treatments == [{"claim": "suppressed 2 cells below 10", "verified": True}]
    assert path.read_text().splitlines() == ["ward,F,M", "north,40,", "south,25,"]
    entry = json.loads((tmp_path / ".tre-manifest.json").read_text())["by_ward"]
    assert entry["kind"] == "frequency"
    assert entry["treatments"] == ["suppressed 2 cells below 10"]


def test_rounding_records_its_treatment_but_does_not_make_small_counts_safe(sdk):
    table = sdk.round_to_base(sdk.crosstab(people(SMALL), "ward", "sex"), base=5)
    path = sdk.save_table("by_ward", table)

    verdict = check(path)

    assert path.read_text().splitlines() == ["ward,F,M", "north,40,5", "south,25,5"]
    assert verdict.treatments == [{"claim": "rounded to base 5", "verified": True}]
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


def test_suppressing_a_statistics_table_blanks_the_small_cells_but_a_person_confirms(sdk):
    # Once "pass": but the cell counts and ratios it rests on were written in the
    # sandbox, where a script can forge them (issue 16), so a statistics table tops out
    # at review, saying which claims a checker confirms.
    data = people({("north", "F"): 30, ("south", "F"): 3})
    data["stay"] = np.arange(len(data), dtype=float) % 7 + 1
    table = sdk.suppress_small_cells(sdk.pivot_table(data, index="ward", values="stay"))
    path = sdk.save_table("stay", table.sort_index(ascending=False))  # cells follow labels

    verdict = check(path)

    assert verdict.status == "review", verdict.reasons
    assert set(rules(verdict)) == {"unverified-claims"}
    assert "cell counts, N-K and p-ratios" in rules(verdict)["unverified-claims"].message
    assert verdict.treatments == [{"claim": "suppressed 1 cell below 10", "verified": True}]


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

    verdict = check(path, entry=None)

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


# Claims: a forged manifest adds failures, never a pass -------------------------------


def stats_csv(tmp_path: Path) -> Path:
    path = tmp_path / "stats.csv"
    pd.DataFrame({"mean": [1.5, 2.5]}, index=pd.Index(["a", "b"], name="group")).to_csv(path)
    return path


def test_a_pivot_table_with_a_forged_manifest_does_not_pass(tmp_path):
    # Issue 16: large cell counts and good ratios, written by the script, got "pass".
    path = stats_csv(tmp_path)
    forge(path, "stats", {
        "type": "table", "kind": "statistics", "method": "pivot_table", "file": "stats.csv",
        "header_rows": 1, "index_columns": 1,
        "checks": {"cell_counts": [[5000], [5000]], "nk_ratios": [[0.1], [0.1]],
                   "p_ratios": [[0.9], [0.9]], "nk_n": 2},
    })  # fmt: skip

    verdict = check(path)

    assert verdict.status == "review"
    assert set(rules(verdict)) == {"unverified-claims"}
    assert "recorded inside the sandbox" in rules(verdict)["unverified-claims"].message


def test_the_forged_manifest_of_the_red_team_is_reviewed_with_its_problems(tmp_path):
    path = stats_csv(tmp_path)
    forge(path, "stats_oncology_59", {
        "type": "table", "kind": "kind-59", "file": "stats.csv", "description": "oncology 59",
        "method": "pivot_table", "rows": 59, "columns": ["oncology"],
        "checks": {"cell_counts": [[5900], ["many"]], "nk_ratios": [[0.1], [0.1]]},
        "treatments": ["suppressed 59 cells below 10", "rounded to base 59"],
    })  # fmt: skip

    verdict = check(path)

    assert verdict.status == "review"
    # The layout is read from the file: the ratios fit it, and still only add failures.
    assert set(rules(verdict)) == {"treatments", "unverified-claims"}
    assert verdict.treatments == [
        {"claim": "suppressed 59 cells below 10", "verified": False},
        {"claim": "rounded to base 59", "verified": False},
    ]
    assert verdict.manifest_problems == [
        "The manifest's output name does not match its file's name.",
        "The manifest's checks.cell_counts is not a grid of numbers.",
        "The manifest's kind is not one of frequency, statistics, model, other.",
    ]
    assert verdict.as_dict()["manifest_problems"] == verdict.manifest_problems


def test_forged_histogram_counts_do_not_pass(sdk):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3], [3, 1, 2])
    path = sdk.save_figure("plot", figure)
    forge(path, "plot", {"type": "figure", "file": "plot.png", "checks": {"counts": [500, 500]}})

    verdict = check(path)

    assert verdict.status == "review"
    assert set(rules(verdict)) == {"unverified-claims"}


def test_an_honest_histogram_without_small_bars_goes_to_a_person_too(sdk):
    # Once "pass": the bar counts are recorded inside the sandbox, a claim.
    path = sdk.save_figure("ages", sdk.hist(np.arange(100) % 10, bins=5, range=(0, 10)))

    verdict = check(path)

    assert verdict.status == "review"
    assert set(rules(verdict)) == {"unverified-claims"}


def test_recorded_counts_still_add_failures(sdk, tmp_path):
    table = pd.DataFrame({"F": [40, 12]}, index=pd.Index(["north", "south"], name="ward"))
    path = sdk.save_table("by_ward", table, kind="frequency")
    entry = json.loads((tmp_path / MANIFEST_NAME).read_text())["by_ward"]
    forge(path, "by_ward", {**entry, "checks": {"counts": [[40], [3]]}})

    verdict = check(path)

    assert verdict.status == "fail"
    assert rules(verdict)["threshold"].cells == [(2, 1)]


def test_recorded_cell_counts_of_a_statistics_table_still_fail_it(tmp_path):
    path = stats_csv(tmp_path)
    forge(path, "stats", {
        "type": "table", "kind": "statistics", "file": "stats.csv", "index_columns": 1,
        "checks": {"cell_counts": [[50], [4]]},
    })  # fmt: skip

    verdict = check(path)

    assert verdict.status == "fail"
    assert rules(verdict)["threshold"].cells == [(2, 1)]


def test_a_frequency_table_is_checked_from_the_counts_in_the_file_whatever_is_recorded(
    sdk, tmp_path
):
    path = sdk.save_table("by_ward", sdk.crosstab(people(SMALL), "ward", "sex"))
    entry = json.loads((tmp_path / MANIFEST_NAME).read_text())["by_ward"]
    forge(path, "by_ward", {**entry, "checks": {"counts": [[500, 500], [500, 500]]}})

    verdict = check(path)

    assert verdict.status == "fail"
    assert rules(verdict)["threshold"].cells == [(1, 2), (2, 2)]


def test_a_layout_claim_hiding_small_counts_in_label_columns_goes_to_review(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("group,n,m\na,3,40\nb,4,50\n")
    forge(path, "counts", {
        "type": "table", "kind": "frequency", "file": "counts.csv", "header_rows": 1,
        "index_columns": 2,
    })  # fmt: skip

    verdict = check(path)

    assert verdict.status == "review"
    assert set(rules(verdict)) == {"unverified-claims"}
    assert "labels, not counts" in rules(verdict)["unverified-claims"].message


def test_a_file_the_sdk_did_not_write_is_checked_by_a_person(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("group,n\na,40\nb,50\n")

    verdict = check(path)

    assert verdict.status == "review"
    assert set(rules(verdict)) == {"human-review"}


def test_a_raw_manifest_entry_is_validated_before_it_is_used(sdk):
    path = sdk.save_table("by_ward", sdk.crosstab(people(SMALL), "ward", "sex"))

    verdict = check(path, entry={"type": "table", "kind": "bogus", "checks": "many"})

    # The kind is dropped, but its cells look like counts, and some are small.
    assert verdict.status == "fail"
    assert "look like counts" in rules(verdict)["threshold"].message
    assert verdict.manifest_problems == [
        "The manifest's checks are not a JSON object.",
        "The manifest's kind is not one of frequency, statistics, model, other.",
    ]


def test_problems_of_the_manifest_as_a_whole_reach_the_checkers(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("The model converged.")

    verdict = check_output(
        path=path, entry=None, input_rows=10, sensitive_values=TOKENS, thresholds=DEFAULTS,
        manifest_problems=["The manifest is not valid JSON; it was ignored."],
    )  # fmt: skip

    assert verdict.manifest_problems == ["The manifest is not valid JSON; it was ignored."]
    assert verdict.for_researcher() == {"status": "review", "rules": ["human-review"]}


def test_a_linked_output_is_not_followed(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("group,n\na,40\n")
    (tmp_path / "link.csv").symlink_to(target)

    verdict = check(tmp_path / "link.csv", entry=None)

    assert verdict.status == "fail"
    assert "not a regular file" in rules(verdict)["file-type"].message


# Treatments, recomputed from the file ------------------------------------------------


def test_claimed_treatments_not_borne_out_by_the_table_go_to_review(sdk, tmp_path):
    table = pd.DataFrame({"n": [40, 12]}, index=pd.Index(["north", "south"], name="ward"))
    path = sdk.save_table("by_ward", table, kind="frequency")
    entry = json.loads((tmp_path / MANIFEST_NAME).read_text())["by_ward"]
    claims = ["suppressed 39 cells below 10", "rounded to base 7"]
    forge(path, "by_ward", {**entry, "treatments": claims})

    verdict = check(path)

    assert verdict.status == "review"
    assert set(rules(verdict)) == {"treatments"}
    assert verdict.treatments == [
        {"claim": "suppressed 39 cells below 10", "verified": False},
        {"claim": "rounded to base 7", "verified": False},
    ]


def test_a_suppression_claim_with_small_counts_left_is_not_borne_out(sdk, tmp_path):
    table = pd.DataFrame({"n": [40, None, 3]}, index=pd.Index(["a", "b", "c"], name="group"))
    path = sdk.save_table("counts", table, kind="frequency")
    entry = json.loads((tmp_path / MANIFEST_NAME).read_text())["counts"]
    forge(path, "counts", {**entry, "treatments": ["suppressed 1 cell below 10"]})

    verdict = check(path)

    assert verdict.treatments == [{"claim": "suppressed 1 cell below 10", "verified": False}]
    assert {"threshold", "treatments"} <= set(rules(verdict))


def test_honest_treatments_of_a_statistics_table_are_borne_out(sdk):
    data = people({("north", "F"): 30, ("south", "F"): 3, ("east", "F"): 20})
    data["stay"] = 5.0
    table = sdk.round_to_base(
        sdk.suppress_small_cells(sdk.pivot_table(data, index="ward", values="stay")), base=5
    )
    path = sdk.save_table("stay", table)

    verdict = check(path)

    assert verdict.treatments == [
        {"claim": "suppressed 1 cell below 10", "verified": True},
        {"claim": "rounded to base 5", "verified": True},
    ]
    assert "treatments" not in rules(verdict)


def test_treatments_of_an_unreadable_table_are_unknown(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_bytes(pickle.dumps({"n": 1}))
    forge(path, "counts", {
        "type": "table", "kind": "frequency", "file": "counts.csv",
        "treatments": ["suppressed 2 cells below 10"],
    })  # fmt: skip

    verdict = check(path)

    assert verdict.treatments == [{"claim": "suppressed 2 cells below 10", "verified": None}]


# What the researcher sees --------------------------------------------------------------


def test_the_researchers_view_holds_no_number_or_position(sdk, tmp_path):
    counts = [15] * 20
    counts[13] = 3
    table = pd.DataFrame({"n": counts}, index=pd.Index([f"g{n}" for n in range(20)], name="g"))
    failing = sdk.save_table("counts", table, kind="frequency")
    suppressed = sdk.save_table("safe", sdk.suppress_small_cells(table), kind="frequency")
    verdicts = [check(failing), check(suppressed)]
    assert "(row 14, column 1)" in rules(verdicts[0])["threshold"].message  # for checkers

    for verdict in verdicts:
        seen = verdict.for_researcher()

        assert set(seen) == {"status", "rules"}
        assert seen["rules"] == sorted({reason.rule for reason in verdict.reasons})
        assert not re.search(r"[0-9]", json.dumps(seen))
    assert verdicts[0].for_researcher() == {"status": "fail", "rules": ["threshold"]}
    assert verdicts[1].for_researcher() == {"status": "pass", "rules": []}


# Values of the inputs in names, descriptions and text ---------------------------------


@pytest.fixture(scope="module")
def admissions() -> pd.DataFrame:
    """Made-up admissions with the identifiers a real input has."""
    from tre.demo import admissions_csv

    frame = pd.read_csv(io.StringIO(admissions_csv(2000, 7)), dtype={"nhs_number": "string"})
    frame["date_of_birth"] = pd.to_datetime(frame["date_of_birth"])
    return frame


@pytest.fixture(scope="module")
def row_values(admissions) -> RowValues:
    return RowValues.from_frames([admissions])


def test_check_label_finds_identifiers(row_values):
    reasons = check_label("Readmitted: P-7f3a9c21", sensitive_values=TOKENS, row_values=row_values)

    assert [reason.rule for reason in reasons] == ["identifiers"]
    assert "P-7f3a9c21" not in reasons[0].message
    assert check_label("stay_P-0b44e18d", sensitive_values=TOKENS)  # in a name, too
    assert check_label("Admissions per ward", sensitive_values=TOKENS, row_values=row_values) == []


def test_check_label_finds_a_row_tuple_in_any_order(admissions, row_values):
    row = admissions.iloc[7]
    label = (
        f"stay {row['length_of_stay']} for {row['postcode']}, born "
        f"{row['date_of_birth']:%Y-%m-%d}, in {row['ward']}"
    )

    reasons = check_label(label, sensitive_values=frozenset(), row_values=row_values)

    assert [reason.rule for reason in reasons] == ["row-level"]
    assert "3 or more columns of one input row" in reasons[0].message


def test_a_description_holding_rows_fails(sdk, admissions, row_values):
    path = sdk.save_table(
        "summary", pd.DataFrame({"n": [100]}), kind="frequency",
        description=admissions.head(3).to_csv(),
    )  # fmt: skip

    verdict = check(path, row_values=row_values, sensitive=frozenset())

    assert verdict.status == "fail"
    assert rules(verdict)["row-level"].message.startswith("The output's description holds")


def test_a_file_name_holding_an_identifier_fails(tmp_path):
    path = tmp_path / "P-7f3a9c21.txt"
    path.write_text("hello")

    verdict = check(path, entry=None)

    assert verdict.status == "fail"
    assert "The output's name holds" in rules(verdict)["identifiers"].message


RENDERINGS = {
    "to_string": lambda rows: rows.to_string(),
    "to_csv": lambda rows: rows.to_csv(),
    "print": lambda rows: str(rows),
    "records": lambda rows: json.dumps(rows.astype(str).to_dict("records"), indent=2),
    "tuples, shuffled": lambda rows: "\n".join(
        str(tuple(reversed([str(value) for value in row]))) for row in rows.itertuples()
    ),
}


@pytest.mark.parametrize("rendering", list(RENDERINGS))
def test_rows_of_the_input_in_a_text_output_fail_row_level(tmp_path, admissions, row_values,
                                                            rendering):  # fmt: skip
    path = tmp_path / ("rows.json" if rendering == "records" else "rows.txt")
    path.write_text(RENDERINGS[rendering](admissions.sample(3, random_state=5)))

    verdict = check(path, entry=None, row_values=row_values, sensitive=frozenset())

    assert verdict.status == "fail"
    assert "row-level" in rules(verdict)


def test_row_tuples_are_found_by_line_among_a_long_log(tmp_path, admissions, row_values):
    noise = [f"epoch {n} loss {0.5 / (n + 1):.6f} rows {n * 7 % 300}" for n in range(5000)]
    printed = admissions.head(2)[["age", "ward", "length_of_stay", "postcode"]].to_string()
    lines = noise[:2500] + printed.splitlines() + noise[2500:]
    path = tmp_path / "full-log.txt"
    path.write_text("\n".join(lines))

    verdict = check(path, entry=None, row_values=row_values, sensitive=frozenset())

    assert rules(verdict)["row-level"].message.startswith("Lines 2502, 2503 of this output")


def test_a_short_extract_saved_as_a_table_fails_row_level(sdk, admissions, row_values):
    path = sdk.save_table("extract", admissions.head(5).drop(columns=["patient_name"]))

    verdict = check(path, input_rows=len(admissions), row_values=row_values, sensitive=frozenset())

    assert verdict.status == "fail"
    assert rules(verdict)["row-level"].message.startswith("Lines 2, 3, 4, 5, 6 of this output")


def test_tables_and_summaries_of_the_same_input_are_not_row_level(sdk, admissions, row_values):
    data = admissions.assign(decade=admissions["age"] // 10 * 10)
    paths = [
        sdk.save_table("by_ward", sdk.crosstab(data, "ward", "readmitted")),
        sdk.save_table("by_ward_age", sdk.crosstab(data, ["ward", "age"], "readmitted")),
        sdk.save_table("by_decade", sdk.crosstab(data, ["decade", "ward"])),
        sdk.save_table("stay", sdk.pivot_table(data, "ward", "length_of_stay", columns="decade")),
        sdk.save_table("counts", data.groupby(["ward", "age"]).size().rename("n"), kind="other"),
        sdk.save_text("describe", data.describe().to_string()),
        sdk.save_text(
            "means",
            data.groupby(["ward", "decade"])[["length_of_stay"]].mean().round(2).to_string(),
        ),
    ]

    for path in paths:
        verdict = check(path, input_rows=len(data), row_values=row_values, sensitive=frozenset())
        assert "row-level" not in rules(verdict), path.name


def test_values_of_different_inputs_are_not_one_row(tmp_path, admissions):
    left = admissions[["postcode", "ward"]]
    right = admissions[["date_of_birth", "length_of_stay"]].iloc[::-1].reset_index(drop=True)
    separate = RowValues.from_frames([left, right])
    row = 3
    line = " ".join(
        [
            left.iloc[row, 0],
            left.iloc[row, 1],
            f"{right.iloc[row, 0]:%Y-%m-%d}",
            f"{right.iloc[row, 1]}",
        ]
    )

    assert not separate.find(line)
    assert RowValues.from_frames([pd.concat([left, right], axis=1)]).find(line)


def test_numbers_are_compared_as_numbers(admissions, row_values):
    row = admissions.iloc[11]
    line = (
        f"{row['date_of_birth']:%Y-%m-%d} {float(row['age']):.2f} {row['length_of_stay']:.3f} "
        f"{row['nhs_number']}"
    )

    assert row_values.find(line).lines == (1,)


def test_a_search_cut_short_sends_the_output_to_a_person(sdk, admissions, row_values, monkeypatch):
    from jobs.disclosure import values as disclosure_values

    monkeypatch.setattr(disclosure_values, "MAX_LINES_CONFIRMED", 1)
    path = sdk.save_table("extract", admissions.head(5).drop(columns=["patient_name"]))

    verdict = check(path, input_rows=len(admissions), row_values=row_values, sensitive=frozenset())

    assert any("stopped at its limits" in reason.message for reason in verdict.reasons)
    assert verdict.status == "fail"  # what it found before the cap still counts


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("wide.csv", "a\n" + "x" * 300_000 + "\n"),
        ("long.txt", "1 2 3 " * 500_000),
        ("blank.csv", ""),
        ("nul.txt", "a\x00b"),
    ],
)
def test_hostile_outputs_never_make_the_checks_raise(tmp_path, row_values, filename, content):
    path = tmp_path / filename
    path.write_text(content)

    verdict = check(path, entry=None, row_values=row_values)

    assert verdict.status in ("fail", "review")
    json.dumps(verdict.as_dict())


def test_the_index_is_bounded_in_cells_text_and_dates_first(admissions):
    values = RowValues.from_frames([admissions], max_cells=len(admissions) * 4)
    row = admissions.iloc[21]

    assert values.skipped_columns == 4  # of 8: the booleans are never indexed
    assert values.find(f"{row['nhs_number']} {row['email']} {row['postcode']}")
    assert not values.find(f"{row['age']} {row['length_of_stay']} {row['ward']}")
