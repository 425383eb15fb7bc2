"""The researcher's view of a real run: each channel narrowed to a fixed vocabulary."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from jobs import channels

SUBMITTED = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def job(**values):
    defaults = dict(
        mode="real", status="finished", created_at=SUBMITTED, started_at=SUBMITTED,
        finished_at=SUBMITTED + timedelta(seconds=3.2), status_reason="", failure_type="",
        failure_line=None, wall_seconds=3.2, cpu_seconds=2.9, max_rss_bytes=123_456_789,
        output_bytes=4321, exit_code=59,
    )  # fmt: skip
    return SimpleNamespace(**{**defaults, **values})


@pytest.mark.parametrize(
    ("ended_after", "shown_after"),
    [(0.2, 1), (1.0, 1), (1.01, 2), (3.2, 5), (59, 60), (61, 120), (3601, 7200), (9000, 10800)],
)
def test_a_real_run_is_shown_ended_only_at_fixed_moments(ended_after, shown_after):
    ended = SUBMITTED + timedelta(seconds=ended_after)
    assert channels.reveal_moment(SUBMITTED, ended) == SUBMITTED + timedelta(seconds=shown_after)


def test_before_its_moment_a_real_run_is_in_progress_whatever_its_state():
    for status in ("queued", "running", "finished", "failed", "limit_exceeded"):
        view = channels.job_view(job(status=status), SUBMITTED + timedelta(seconds=4.9))
        assert view["state"] == "in_progress"
        assert view["runtime"] is None
        assert not view["has_ended"]
    view = channels.job_view(job(), SUBMITTED + timedelta(seconds=5))
    assert view["state"] == "finished"


def test_a_real_runs_figures_are_coarse_steps_and_it_has_no_exit_code():
    view = channels.job_view(job(status="failed"), SUBMITTED + timedelta(seconds=10))
    assert view["runtime"] == "1 to 10 s"
    assert view["cpu"] == "1 to 10 s"
    assert view["memory"] == "under 1 GB"
    assert view["output_size"] == "under 10 kB"
    assert view["exit_code"] is None
    assert view["started_at"] is None


def test_a_dry_run_shows_everything_at_once():
    view = channels.job_view(job(mode="dry_run"), SUBMITTED + timedelta(seconds=3.3))
    assert view["state"] == "finished"
    assert view["runtime"] == "3.20 s"
    assert view["exit_code"] == 59


def test_steps_have_a_handful_of_values():
    steps = {channels.time_step(seconds / 10) for seconds in range(0, 100_000, 7)}
    assert len(steps) == 5
    sizes = {channels.size_step(2**power) for power in range(0, 45)}
    assert len(sizes) <= 11


TRACEBACK = """Traceback (most recent call last):
  File "/sdk/tre_run.py", line 12, in <module>
    runpy.run_path(script, run_name="__main__")
  File "/job/script.py", line {line}, in <module>
    raise {name}("59")
{name}: 59
"""


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [
        ("KeyError", 3, ("KeyError", 3)),
        ("ZeroDivisionError", 1, ("ZeroDivisionError", 1)),
        ("pandas.errors.EmptyDataError", 2, ("an exception", 2)),
        ("Age59Error", 2, ("an exception", 2)),
        ("KeyError", 59, ("KeyError", None)),  # the script has no line 59: forged
        ("KeyError", 0, ("KeyError", None)),
    ],
)
def test_a_failure_shows_a_builtin_type_and_a_line_of_the_script(name, line, expected):
    script = "import tre_sdk\nx = 1\nraise KeyError('x')\n"
    log = "some output 59\n" + TRACEBACK.format(line=line, name=name)
    assert channels.failure_summary(log, script) == expected


def test_no_traceback_no_failure_summary():
    assert channels.failure_summary("59 60 61", "print(1)") == (None, None)


def test_only_names_written_in_the_script_are_shown():
    literals = channels.script_literals(
        "import tre_sdk\ntre_sdk.save_table('by_ward', t)\nname = f'age_{age}'\n"
    )
    outputs = [
        {"name": name, "filename": f"{name}.csv", "type": "table", "verdict": {}}
        for name in ("zeta_59", "by_ward", "alpha_59")
    ]
    labelled = channels.label_outputs(outputs, literals)
    assert [output["label"] for output in labelled] == ["by_ward", "output 2", "output 3"]
    assert channels.script_literals("this is not python (") == frozenset()


def test_hidden_outputs_are_ordered_by_what_the_researcher_sees_not_by_name():
    def listing(names):
        outputs = [
            {"name": name, "filename": f"{name}.txt", "type": "text",
             "verdict": {"status": "fail" if name.startswith("f") else "review", "reasons": []}}
            for name in names
        ]  # fmt: skip
        labelled = channels.label_outputs(outputs, frozenset())
        return [(output["label"], output["verdict"]["status"]) for output in labelled]

    assert listing(["a59", "f23"]) == listing(["z59", "f23"]) == listing(["f23", "b59"])


def test_the_researchers_verdict_has_rule_names_only():
    verdict = {
        "status": "fail",
        "reasons": [
            {"rule": "threshold", "message": "Cell (row 39, column 1) ...", "cells": [[39, 1]]},
            {"rule": "Row 59!", "message": "forged"},
        ],
        "treatments": ["suppressed 39 cells below 10"],
    }
    assert channels.verdict_for_researcher(verdict) == {"status": "fail", "rules": ["threshold"]}
    assert channels.verdict_for_researcher({"status": "59"}) == {}


def test_the_reveal_ladder_is_small():
    # A run that ends within half an hour of its submission: one of 13 moments.
    assert channels.reveal_moments_within(1800) == 13
