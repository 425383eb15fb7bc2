"""The SDK's manifest is read by one validating parser: every field a claim, checked
against what the SDK writes; hostile manifests never make it raise."""

import importlib.util
import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.manifest import (
    MANIFEST_NAME,
    TABLE_KINDS,
    Entry,
    Manifest,
    output_type,
    read_manifest,
    validate_entry,
)

SDK_PATH = Path(__file__).resolve().parents[2] / "jobs" / "sdk" / "tre_sdk.py"


def write(directory: Path, manifest, *files: str) -> Path:
    """A manifest (JSON-encoded unless given as str or bytes) and empty output files."""
    for name in files:
        (directory / name).write_text("a,b\n1,2\n")
    path = directory / MANIFEST_NAME
    if isinstance(manifest, bytes):
        path.write_bytes(manifest)
    elif isinstance(manifest, str):
        path.write_text(manifest)
    else:
        path.write_text(json.dumps(manifest))
    return path


def table_entry(**fields) -> dict:
    return {"type": "table", "kind": "frequency", "file": "counts.csv", **fields}


def only_entry(manifest: Manifest) -> Entry:
    assert len(manifest.entries) == 1, manifest
    return manifest.entries[0]


# What the SDK writes passes as it is -------------------------------------------------


def test_what_the_sdk_writes_is_read_back_without_problems(sdk, tmp_path):
    data = pd.DataFrame(
        {"ward": ["north"] * 30 + ["south"] * 12, "sex": ["F", "M"] * 21, "stay": 4.0}
    )
    sdk.save_table(
        "by_ward",
        sdk.round_to_base(sdk.suppress_small_cells(sdk.crosstab(data, "ward", "sex"))),
        description="Admissions per ward",
    )
    sdk.save_table("stay", sdk.pivot_table(data, index="ward", values="stay", columns="sex"))
    sdk.save_figure("ages", sdk.hist(np.arange(100) % 10, bins=5, range=(0, 10)))
    sdk.save_metric("slope", 0.3, degrees_of_freedom=40)
    sdk.save_text("note", "converged")

    manifest = read_manifest(tmp_path)

    assert manifest.problems == ()
    assert {entry.file for entry in manifest.entries} == {
        "by_ward.csv", "stay.csv", "ages.png", "slope.json", "note.txt",
    }  # fmt: skip
    assert all(entry.problems == () for entry in manifest.entries), manifest
    by_ward = manifest.entry_for("by_ward.csv")
    assert (by_ward.name, by_ward.type, by_ward.kind, by_ward.method) == (
        "by_ward", "table", "frequency", "crosstab",
    )  # fmt: skip
    assert by_ward.description == "Admissions per ward"
    assert by_ward.treatments == ("suppressed 2 cells below 10", "rounded to base 5")
    assert (by_ward.header_rows, by_ward.index_columns, by_ward.rows) == (1, 1, 2)
    stay = manifest.entry_for("stay.csv")
    assert stay.checks.cell_counts == ((15.0, 15.0), (6.0, 6.0))
    assert stay.checks.nk_n == 2
    ages = manifest.entry_for("ages.png")
    assert ages.checks.counts == ((20.0, 20.0, 20.0, 20.0, 20.0),)
    assert ages.checks.counts_are_bars
    assert manifest.entry_for("slope.json").checks.degrees_of_freedom == 40
    assert manifest.entry_for("note.txt").type == "text"
    assert manifest.entry_for("missing.csv") is None


def test_the_kinds_are_the_sdks():
    spec = importlib.util.spec_from_file_location("tre_sdk_kinds", SDK_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert module.TABLE_KINDS == TABLE_KINDS


def test_a_missing_manifest_is_an_empty_one(tmp_path):
    assert read_manifest(tmp_path) == Manifest()
    assert read_manifest(tmp_path / "not-there") == Manifest()


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("t.csv", "table"), ("T.CSV", "table"), ("m.json", "metric"), ("f.png", "figure"),
        ("n.txt", "text"), ("chart.html", "file"), ("noext", "file"), ("x.csv.gz", "file"),
    ],
)  # fmt: skip
def test_the_type_comes_from_the_suffix(filename, expected):
    assert output_type(filename) == expected


# The manifest as a whole -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        ("{not json", "not valid JSON"),
        ('{"a": 1', "not valid JSON"),
        ("1" * 5000, "not valid JSON"),  # an integer too long to convert
        ("[]", "not a JSON object of outputs"),
        ('"text"', "not a JSON object of outputs"),
        ("null", "not a JSON object of outputs"),
        ("[" * 100_000 + "]" * 100_000, "nested more deeply"),
        ('{"a": {"b": {"c": {"d": {"e": {"f": {}}}}}}}', "nested more deeply"),
    ],
)
def test_a_manifest_that_cannot_be_the_sdks_is_ignored_as_a_whole(tmp_path, content, problem):
    write(tmp_path, content)

    manifest = read_manifest(tmp_path)

    assert manifest.entries == ()
    assert len(manifest.problems) == 1
    assert problem in manifest.problems[0]


def test_a_huge_manifest_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / MANIFEST_NAME
    with path.open("wb") as handle:
        handle.truncate(4 * 1024**3)  # sparse: 4 GiB that would take a while to read
    reads = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))

    started = time.monotonic()
    manifest = read_manifest(tmp_path)

    assert time.monotonic() - started < 1
    assert reads == []
    assert manifest.entries == ()
    assert "larger than the limit of 1,048,576 bytes" in manifest.problems[0]


def test_a_manifest_just_over_a_smaller_limit_is_ignored(tmp_path):
    write(tmp_path, {"counts": table_entry(description="x" * 200)}, "counts.csv")

    assert read_manifest(tmp_path, max_bytes=100).entries == ()
    assert read_manifest(tmp_path, max_bytes=10_000).entries != ()


def test_a_symlink_is_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"counts": table_entry()}))
    (tmp_path / "counts.csv").write_text("a\n1\n")
    (tmp_path / MANIFEST_NAME).symlink_to(elsewhere)

    manifest = read_manifest(tmp_path)

    assert manifest.entries == ()
    assert "not a regular file" in manifest.problems[0]


def test_a_fifo_or_a_directory_is_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / MANIFEST_NAME)  # opening it for reading would wait for a writer

    assert "not a regular file" in read_manifest(tmp_path).problems[0]

    other = tmp_path / "other"
    other.mkdir()
    (other / MANIFEST_NAME).mkdir()
    assert read_manifest(other).problems


def test_repeated_keys_are_noted(tmp_path):
    (tmp_path / "counts.csv").write_text("a\n1\n")
    entry = json.dumps(table_entry())
    write(tmp_path, f'{{"counts": {entry}, "counts": {entry}}}')

    manifest = read_manifest(tmp_path)

    assert len(manifest.entries) == 1
    assert any("repeats a key" in problem for problem in manifest.problems)


def test_entries_beyond_the_limit_are_ignored(tmp_path):
    write(tmp_path, {f"t{n}": table_entry(file=f"t{n}.csv") for n in range(1100)})
    (tmp_path / "t1.csv").write_text("a\n1\n")

    manifest = read_manifest(tmp_path)

    assert any("more than 1000 entries" in problem for problem in manifest.problems)


# Entries and their files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("not an object", "not a JSON object"),
        (["counts.csv"], "not a JSON object"),
        ({"type": "table"}, "names no file"),
        ({"type": "table", "file": 7}, "names no file"),
        (table_entry(file="../counts.csv"), "outside the output directory"),
        (table_entry(file="/etc/passwd"), "outside the output directory"),
        (table_entry(file="sub/counts.csv"), "outside the output directory"),
        (table_entry(file=".hidden.csv"), "outside the output directory"),
        (table_entry(file=".."), "outside the output directory"),
        (table_entry(file="a\x00b.csv"), "outside the output directory"),
        (table_entry(file="ghost.csv"), "does not exist"),
    ],
)
def test_an_entry_that_names_no_output_of_the_run_is_dropped(tmp_path, entry, problem):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "counts.csv").write_text("a\n1\n")
    write(tmp_path, {"counts": entry}, "counts.csv")

    manifest = read_manifest(tmp_path)

    assert manifest.entries == ()
    assert any(problem in found for found in manifest.problems), manifest.problems


def test_an_entry_naming_a_link_or_a_directory_is_dropped(tmp_path):
    (tmp_path / "real.csv").write_text("a\n1\n")
    (tmp_path / "counts.csv").symlink_to(tmp_path / "real.csv")
    (tmp_path / "folder.csv").mkdir()
    write(tmp_path, {"counts": table_entry(), "folder": table_entry(file="folder.csv")})

    manifest = read_manifest(tmp_path)

    assert manifest.entries == ()
    assert any("not a regular file" in problem for problem in manifest.problems)


def test_two_entries_claiming_one_file_are_both_dropped(tmp_path):
    write(tmp_path, {"counts": table_entry(), "other": table_entry()}, "counts.csv")

    manifest = read_manifest(tmp_path)

    assert manifest.entry_for("counts.csv") is None
    assert any("the same file" in problem for problem in manifest.problems)


# Fields --------------------------------------------------------------------------------


def entry_of(tmp_path, name, entry, filename="counts.csv") -> Entry:
    write(tmp_path, {name: entry}, filename)
    return only_entry(read_manifest(tmp_path))


@pytest.mark.parametrize(
    "name", ["bad name", "1counts", "_counts", "counts!", "c" * 65, "counts\n"]
)
def test_a_name_not_following_the_sdks_pattern_is_dropped(tmp_path, name):
    entry = entry_of(tmp_path, name, table_entry())

    assert entry.name is None
    assert entry.kind == "frequency"  # the rest of the entry is still read
    assert "does not follow the SDK's pattern" in entry.problems[0]


def test_a_name_that_is_not_its_files_is_dropped(tmp_path):
    entry = entry_of(tmp_path, "stats_oncology_59", table_entry())

    assert entry.name is None
    assert "does not match its file's name" in entry.problems[0]


def test_an_unknown_kind_is_dropped(tmp_path):
    entry = entry_of(tmp_path, "counts", table_entry(kind="kind-59"))

    assert entry.kind is None
    assert entry.problems == (
        "The manifest's kind is not one of frequency, statistics, model, other.",
    )


@pytest.mark.parametrize("claimed", ["figure", "metric", "text", "html", None, 3])
def test_a_type_other_than_the_suffixes_drops_the_type_and_its_fields(tmp_path, claimed):
    raw = table_entry(type=claimed, method="pivot_table", checks={"cell_counts": [[50]]})

    entry = entry_of(tmp_path, "counts", raw)

    assert entry.type is None
    assert (entry.kind, entry.method, entry.checks) == (None, None, None)
    assert any("type" in problem for problem in entry.problems)


def test_fields_the_sdk_does_not_write_are_noted(tmp_path):
    entry = entry_of(tmp_path, "counts", table_entry(colour="blue", degrees="4"))

    assert "has fields the SDK does not write" in " ".join(entry.problems)


def test_fields_of_another_type_are_dropped(tmp_path):
    raw = {"type": "text", "file": "note.txt", "kind": "frequency", "treatments": []}

    entry = entry_of(tmp_path, "note", raw, filename="note.txt")

    assert entry.kind is None
    assert "fields its type does not have" in " ".join(entry.problems)


@pytest.mark.parametrize(
    ("checks", "problem"),
    [
        ({"cell_counts": [[5900], ["many"]]}, "checks.cell_counts is not a grid of numbers"),
        ({"cell_counts": [[True], [50]]}, "checks.cell_counts is not a grid of numbers"),
        ({"cell_counts": [[12.5]]}, "checks.cell_counts is not a grid of numbers"),
        ({"cell_counts": [[-3]]}, "checks.cell_counts is not a grid of numbers"),
        ({"cell_counts": [[1, 2], [3]]}, "checks.cell_counts is not a grid of numbers"),
        ({"cell_counts": [1, 2]}, "checks.cell_counts is not a grid of numbers"),
        ({"cell_counts": [[1] * 500] * 500}, "checks.cell_counts is not a grid of numbers"),
        ({"nk_ratios": "0.1"}, "checks.nk_ratios is not a grid of numbers"),
        ({"p_ratios": [[{"x": 1}]]}, "checks.p_ratios is not a grid of numbers"),
        ({"counts": [[False]]}, "checks.counts is not a list of counts"),
        ({"nk_n": True}, "checks.nk_n is not a whole number"),
        ({"nk_n": 2.0}, "checks.nk_n is not a whole number"),
        ({"degrees_of_freedom": 4}, "keys its type does not have"),
        ({"secret": 1}, "keys the SDK does not write"),
    ],
)
def test_checks_that_are_not_numbers_as_the_sdk_records_them_are_dropped(tmp_path, checks, problem):
    entry = entry_of(tmp_path, "counts", table_entry(checks=checks))

    assert any(problem in found for found in entry.problems), entry.problems
    assert entry.checks is None


def test_not_a_number_and_infinities_are_not_numbers(tmp_path):
    (tmp_path / "counts.csv").write_text("a\n1\n")
    (tmp_path / "slope.json").write_text("{}")
    write(
        tmp_path,
        '{"counts": {"type": "table", "file": "counts.csv", "checks": '
        '{"cell_counts": [[NaN]], "nk_ratios": [[Infinity]], "p_ratios": [[1e999]]}}, '
        '"slope": {"type": "metric", "file": "slope.json", "checks": '
        '{"degrees_of_freedom": -Infinity}}}',
    )

    manifest = read_manifest(tmp_path)

    counts, slope = manifest.entry_for("counts.csv"), manifest.entry_for("slope.json")
    assert counts.checks is None
    assert slope.checks is None
    assert len(counts.problems) == 3
    assert slope.problems == ("The manifest's checks.degrees_of_freedom is not a number.",)


def test_bools_are_not_numbers_anywhere(tmp_path):
    raw = table_entry(rows=True, header_rows=False, index_columns=True, columns=[True])

    entry = entry_of(tmp_path, "counts", raw)

    assert (entry.rows, entry.header_rows, entry.index_columns, entry.columns) == (
        None, None, None, None,
    )  # fmt: skip
    assert len(entry.problems) == 4


def test_a_metrics_degrees_of_freedom_may_be_a_bool_nowhere(tmp_path):
    raw = {"type": "metric", "file": "slope.json", "checks": {"degrees_of_freedom": True}}

    entry = entry_of(tmp_path, "slope", raw, filename="slope.json")

    assert entry.checks is None


@pytest.mark.parametrize("layout", [-1, 17, 10**30, "1", 1.0])
def test_the_layout_is_a_small_whole_number(tmp_path, layout):
    entry = entry_of(tmp_path, "counts", table_entry(header_rows=layout, index_columns=layout))

    assert (entry.header_rows, entry.index_columns) == (None, None)


def test_a_long_description_is_cut_and_a_bad_one_dropped(tmp_path):
    long = entry_of(tmp_path, "counts", table_entry(description="d" * 5000))
    bad = entry_of(tmp_path, "counts", table_entry(description={"rows": [1, 2]}))

    assert len(long.description) == 2000
    assert "cut to 2,000 characters" in long.problems[0]
    assert bad.description == ""
    assert bad.problems == ("The manifest's description is not text.",)


def test_columns_are_short_texts(tmp_path):
    good = entry_of(tmp_path, "counts", table_entry(columns=["F", "M"]))
    bad = entry_of(tmp_path, "counts", table_entry(columns=["x" * 500]))

    assert good.columns == ("F", "M")
    assert bad.columns is None


def test_only_the_sdks_treatments_are_kept(tmp_path):
    claims = [
        "suppressed 39 cells below 10",
        "suppressed 1 cell below 10",
        "rounded to base 5",
        "suppressed 1 cells below 10",  # the SDK says "cell" for one
        "suppressed 2 cell below 10",
        "rounded to base 0",
        "Suppressed 3 cells below 10",
        "suppressed 3 cells below 10 for P-7f3a9c21",
        "rounded to base 5\n",
        42,
    ]

    entry = entry_of(tmp_path, "counts", table_entry(treatments=claims))

    assert entry.treatments == (
        "suppressed 39 cells below 10",
        "suppressed 1 cell below 10",
        "rounded to base 5",
    )
    assert set(entry.problems) == {
        "A treatment in the manifest is not one the SDK records.",
        "A treatment in the manifest is not text.",
    }


def test_treatments_must_be_a_short_list(tmp_path):
    many = entry_of(tmp_path, "counts", table_entry(treatments=["rounded to base 5"] * 50))
    not_a_list = entry_of(tmp_path, "counts", table_entry(treatments="rounded to base 5"))

    assert len(many.treatments) == 20
    assert not_a_list.treatments == ()
    assert not_a_list.problems == ("The manifest's treatments are not a list.",)


def test_problems_never_repeat_a_value_of_the_manifest(tmp_path):
    secret = "Zanzibar59"
    raw = {
        "type": f"table-{secret}",
        "kind": secret,
        "file": "counts.csv",
        "description": [secret],
        "rows": secret,
        "columns": secret,
        "header_rows": secret,
        "index_columns": secret,
        "method": secret,
        "checks": {secret: 1, "cell_counts": [[secret]]},
        "treatments": [f"suppressed {secret} cells"],
        secret: secret,
    }
    write(tmp_path, {secret: raw, "other": {"file": f"{secret}.csv"}}, "counts.csv")

    manifest = read_manifest(tmp_path)

    shown = json.dumps([manifest.problems, [entry.problems for entry in manifest.entries]])
    assert "Zanzibar" not in shown
    assert "59" not in shown


def test_a_single_entry_can_be_validated_alone():
    entry = validate_entry("counts", table_entry(kind="bogus"), filename="counts.csv")

    assert (entry.name, entry.type, entry.kind) == ("counts", "table", None)
    assert validate_entry("x", "not a mapping", filename="x.csv").problems


def test_hostile_manifests_never_make_it_raise(tmp_path):
    generator = random.Random(16)
    atoms = [None, True, False, 0, -1, 2**70, 1.5, float("nan"), "", "x" * 300, "counts.csv",
             "table", "frequency", "../x", "suppressed 3 cells below 10"]  # fmt: skip
    keys = ["type", "kind", "file", "description", "rows", "columns", "header_rows",
            "index_columns", "method", "checks", "treatments", "counts", "cell_counts",
            "nk_ratios", "p_ratios", "nk_n", "degrees_of_freedom", "other"]  # fmt: skip

    def value(depth):
        roll = generator.random()
        if depth > 4 or roll < 0.4:
            return generator.choice(atoms)
        if roll < 0.7:
            return [value(depth + 1) for _ in range(generator.randint(0, 4))]
        return {generator.choice(keys): value(depth + 1) for _ in range(generator.randint(0, 6))}

    (tmp_path / "counts.csv").write_text("a\n1\n")
    for _ in range(500):
        manifest = {"counts": value(0), "other": value(1)}
        if generator.random() < 0.7 and isinstance(manifest["counts"], dict):
            manifest["counts"]["file"] = "counts.csv"
        write(tmp_path, json.dumps(manifest, allow_nan=True))
        result = read_manifest(tmp_path)
        assert isinstance(result, Manifest)
