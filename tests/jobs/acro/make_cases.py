"""Regenerate ``cases.json`` and ``nursery.csv`` from ACRO (AI-SDC/ACRO, MIT).

Run by hand, NOT by the test suite (pytest does not collect it: the name does
not start with ``test_``).  It needs ``acro`` and ``scipy`` installed, so run it
from a scratch virtualenv outside this repository, never the project venv.

Two passes, because two ACRO versions are recorded:

1. the version the published nursery notebooks were run with (0.4.x; PyPI
   ``acro==0.4.12`` = upstream tag v0.4.12)::

       python3 -m venv /tmp/acrovenv-0412
       /tmp/acrovenv-0412/bin/pip install acro==0.4.12 scipy
       /tmp/acrovenv-0412/bin/python make_cases.py --acro-git GITDIR \\
           --emit-legacy /tmp/acro_legacy.json

2. ACRO built from the pinned upstream commit (1.0.1)::

       git --git-dir=GITDIR archive COMMIT | tar -x -C /tmp/acrosrc
       python3 -m venv /tmp/acrovenv-src
       /tmp/acrovenv-src/bin/pip install /tmp/acrosrc scipy
       /tmp/acrovenv-src/bin/python make_cases.py --acro-git GITDIR \\
           --legacy /tmp/acro_legacy.json --write

``GITDIR`` is a (bare) git directory of https://github.com/AI-SDC/ACRO that
contains ``COMMIT`` (see ``UPSTREAM_COMMIT``).  ``--write`` writes
``nursery.csv`` and ``cases.json`` next to this script.

ACRO's own unit tests never use the nursery data (they use
``data/test_data.dta``); the nursery cases here are the crosstab/pivot_table
calls of ACRO's published nursery notebooks (whose stored outputs are the
"asserted" facts) plus a few calls that apply the call patterns of
``test/test_tables.py`` to the nursery data (``origin: derived``, nothing
asserted upstream).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

UPSTREAM_COMMIT = "fe729ae84e8ac9e313b8223da9d167daa976d13f"
HERE = Path(__file__).resolve().parent

DEFAULT_PARAMETERS = {
    "safe_threshold": 10,
    "safe_dof_threshold": 10,
    "safe_nk_n": 2,
    "safe_nk_k": 0.9,
    "safe_pratio_p": 0.1,
    "check_missing_values": False,
    "zeros_are_disclosive": True,
    "survival_safe_threshold": 10,
}

# 0.4.x outcome vocabulary -> 1.0.x check names
LEGACY_TO_CURRENT = {
    "threshold": "MinimumThresholdCheck",
    "p-ratio": "PPercentCheck",
    "nk-rule": "NKCheck",
}

NB_TEST = "notebooks/old/test-nursery.ipynb"
NB_DEMO = "notebooks/old/acro_demo.ipynb"
NB_2026 = "notebooks/acro_demo_2026.ipynb"


def _c(row, col, outcome):
    return {"row": row, "col": col, "outcome": outcome}


T = "threshold; "
PN = "p-ratio; nk-rule; "
TPN = "threshold; p-ratio; nk-rule; "

# ---------------------------------------------------------------------------
# Cases.  "asserted" holds what the published notebook output shows
# (non-"ok" cells of ACRO's outcome_df, transcribed; every other cell is "ok"),
# the summary line, and the stored text itself (copied by this script).
# ---------------------------------------------------------------------------
CASES: list[dict] = [
    {
        "name": "nb_crosstab_recommend_by_parents",
        "origin": "published",
        "source": f"{NB_TEST}#cell19",
        "also_in": [f"{NB_2026}#cell10", f"{NB_DEMO}#cell12"],
        "call": {
            "function": "crosstab",
            "index": "recommend",
            "columns": "parents",
            "values": None,
            "aggfunc": None,
            "margins": False,
        },
        "suppress": False,
        "notebook": (NB_TEST, 19),
        "asserted": {
            "acro_version": "0.4.8",
            "summary": "fail; threshold: 4 cells may need suppressing; ",
            "outcome_cells": [
                _c(["recommend"], ["great_pret"], T),
                _c(["recommend"], ["pretentious"], T),
                _c(["recommend"], ["usual"], T),
                _c(["very_recom"], ["great_pret"], T),
            ],
        },
    },
    {
        "name": "nb_crosstab_recommend_by_parents__suppressed",
        "origin": "published",
        "source": f"{NB_TEST}#cell15",
        "also_in": [f"{NB_2026}#cell12", f"{NB_DEMO}#cell14"],
        "call": {
            "function": "crosstab",
            "index": "recommend",
            "columns": "parents",
            "values": None,
            "aggfunc": None,
            "margins": False,
        },
        "suppress": True,
        "notebook": (NB_TEST, 15),
        "asserted": {
            "acro_version": "0.4.8",
            "summary": "fail; threshold: 4 cells suppressed; ",
            "outcome_cells": [
                _c(["recommend"], ["great_pret"], T),
                _c(["recommend"], ["pretentious"], T),
                _c(["recommend"], ["usual"], T),
                _c(["very_recom"], ["great_pret"], T),
            ],
            "suppressed_cells": [
                [["recommend"], ["great_pret"]],
                [["recommend"], ["pretentious"]],
                [["recommend"], ["usual"]],
                [["very_recom"], ["great_pret"]],
            ],
        },
    },
    {
        "name": "nb_crosstab_recommend_by_parents_margins__suppressed",
        "origin": "published",
        "source": f"{NB_TEST}#cell17",
        "call": {
            "function": "crosstab",
            "index": "recommend",
            "columns": "parents",
            "values": None,
            "aggfunc": None,
            "margins": True,
        },
        "suppress": True,
        "notebook": (NB_TEST, 17),
        "asserted": {
            "acro_version": "0.4.8",
            "summary": "fail; threshold: 5 cells suppressed; ",
            "outcome_cells": [
                _c(["recommend"], ["great_pret"], T),
                _c(["recommend"], ["pretentious"], T),
                _c(["recommend"], ["usual"], T),
                _c(["recommend"], ["All"], T),
                _c(["very_recom"], ["great_pret"], T),
            ],
            "suppressed_table_note": "row 'recommend' dropped; (very_recom, great_pret) NaN; "
            "margins recomputed: All row = 4320, 4320, 4318, 12958",
        },
    },
    {
        "name": "nb_crosstab_count_children__suppressed",
        "origin": "published",
        "source": f"{NB_TEST}#cell22",
        "call": {
            "function": "crosstab",
            "index": "recommend",
            "columns": "parents",
            "values": "children",
            "aggfunc": "count",
            "margins": False,
        },
        "suppress": True,
        "notebook": (NB_TEST, 22),
        "asserted": {
            "acro_version": "0.4.8",
            "summary": "fail; threshold: 1 cells suppressed; p-ratio: 4 cells suppressed; "
            "nk-rule: 4 cells suppressed; ",
            "outcome_cells": [
                _c(["recommend"], ["great_pret"], PN),
                _c(["recommend"], ["pretentious"], PN),
                _c(["recommend"], ["usual"], TPN),
                _c(["very_recom"], ["great_pret"], PN),
            ],
        },
    },
    {
        "name": "nb_crosstab_mode_mean_children__suppressed",
        "origin": "published",
        "source": f"{NB_TEST}#cell23",
        "call": {
            "function": "crosstab",
            "index": "recommend",
            "columns": "parents",
            "values": "children",
            "aggfunc": ["mode", "mean"],
            "margins": False,
        },
        "suppress": True,
        "notebook": (NB_TEST, 23),
        "asserted": {
            "acro_version": "0.4.8",
            "summary": "fail; threshold: 2 cells suppressed; p-ratio: 8 cells suppressed; "
            "nk-rule: 8 cells suppressed; ",
            "outcome_cells": [
                _c(["recommend"], [agg, "great_pret"], PN) for agg in ("mode_aggfunc", "mean")
            ]
            + [_c(["recommend"], [agg, "pretentious"], PN) for agg in ("mode_aggfunc", "mean")]
            + [_c(["recommend"], [agg, "usual"], TPN) for agg in ("mode_aggfunc", "mean")]
            + [_c(["very_recom"], [agg, "great_pret"], PN) for agg in ("mode_aggfunc", "mean")],
        },
    },
    {
        "name": "nb_pivot_mean_std_children_by_parents__suppressed",
        "origin": "published",
        "source": f"{NB_TEST}#cell25",
        "call": {
            "function": "pivot_table",
            "index": ["parents"],
            "columns": None,
            "values": ["children"],
            "aggfunc": ["mean", "std"],
            "margins": False,
        },
        "suppress": True,
        "notebook": (NB_TEST, 25),
        "asserted": {"acro_version": "0.4.8", "summary": "pass", "outcome_cells": []},
    },
    {
        "name": "nb_pivot_mean_children_parents_by_recommend_margins__suppressed",
        "origin": "published",
        "source": f"{NB_TEST}#cell27",
        "call": {
            "function": "pivot_table",
            "index": ["parents"],
            "columns": ["recommend"],
            "values": ["children"],
            "aggfunc": "mean",
            "margins": True,
        },
        "suppress": True,
        "notebook": (NB_TEST, 27),
        "asserted": {
            "acro_version": "0.4.8",
            "summary": "fail; threshold: 5 cells suppressed; p-ratio: 5 cells suppressed; "
            "nk-rule: 5 cells suppressed; ",
            "outcome_cells": [
                _c([p], ["children", "recommend"], TPN)
                for p in ("great_pret", "pretentious", "usual", "All")
            ]
            + [_c(["great_pret"], ["children", "very_recom"], TPN)],
            "suppressed_table_note": "column 'recommend' dropped; (great_pret, very_recom) NaN; "
            "log: 'Disclosive cells were deleted from the dataframe "
            "before calculating the pivot table' (margins recomputed)",
        },
    },
    {
        "name": "nb_crosstab_mean_children_parents_finance_by_recommend_margins__suppressed",
        "origin": "published",
        "source": f"{NB_2026}#cell14",
        "also_in": [
            "notebooks/old/acro_demo_v2.ipynb#cell18 (margins='total', "
            "suppress=False, not executed)"
        ],
        "call": {
            "function": "crosstab",
            "index": ["parents", "finance"],
            "columns": "recommend",
            "values": "children",
            "aggfunc": "mean",
            "margins": True,
        },
        "suppress": True,
        "notebook": (NB_2026, 14),
        "asserted": {
            "acro_version": "0.4.12",
            "summary": "review; threshold: 2 cells suppressed; p-ratio: 9 cells suppressed; "
            "nk-rule: 9 cells suppressed; ",
            "outcome_cells": [
                _c(["great_pret", "convenient"], ["recommend"], PN),
                _c(["great_pret", "inconv"], ["recommend"], PN),
                _c(["pretentious", "convenient"], ["recommend"], PN),
                _c(["pretentious", "inconv"], ["recommend"], PN),
                _c(["usual", "convenient"], ["recommend"], TPN),
                _c(["usual", "inconv"], ["recommend"], PN),
                _c(["All", ""], ["recommend"], TPN),
                _c(["great_pret", "convenient"], ["very_recom"], PN),
                _c(["great_pret", "inconv"], ["very_recom"], PN),
            ],
        },
    },
    # ---- derived: call patterns of test/test_tables.py applied to nursery ----
    {
        "name": "test_crosstab_with_aggfunc_sum__nursery",
        "origin": "derived",
        "source": "test/test_tables.py::test_crosstab_with_aggfunc_sum (pattern)",
        "call": {
            "function": "crosstab",
            "index": "parents",
            "columns": ["finance"],
            "values": "children",
            "aggfunc": "sum",
            "margins": False,
        },
        "suppress": False,
    },
    {
        "name": "test_hierachical_aggregation__nursery",
        "origin": "derived",
        "source": "test/test_tables.py::test_hierachical_aggregation (pattern)",
        "call": {
            "function": "crosstab",
            "index": ["parents", "finance"],
            "columns": ["recommend"],
            "values": "children",
            "aggfunc": "sum",
            "margins": False,
        },
        "suppress": True,
    },
    {
        "name": "test_pivot_table_with_aggfunc_sum__nursery_0",
        "origin": "derived",
        "source": "test/test_tables.py::test_pivot_table_with_aggfunc_sum (pattern, table_0)",
        "call": {
            "function": "pivot_table",
            "index": "parents",
            "columns": ["recommend", "finance"],
            "values": "children",
            "aggfunc": "sum",
            "margins": False,
        },
        "suppress": False,
    },
    {
        "name": "test_pivot_table_with_aggfunc_sum__nursery_1",
        "origin": "derived",
        "source": "test/test_tables.py::test_pivot_table_with_aggfunc_sum (pattern, table_1)",
        "call": {
            "function": "pivot_table",
            "index": ["recommend", "finance"],
            "columns": "parents",
            "values": "children",
            "aggfunc": "sum",
            "margins": False,
        },
        "suppress": False,
    },
    {
        "name": "test_crosstab_multi_aggfunc__nursery",
        "origin": "derived",
        "source": "test/test_tables.py::test_crosstab_multi_aggfunc (pattern, margins=False)",
        "call": {
            "function": "crosstab",
            "index": "finance",
            "columns": "recommend",
            "values": "children",
            "aggfunc": ["mean", "std"],
            "margins": False,
        },
        "suppress": False,
    },
    {
        "name": "test_crosstab_multi_aggfunc__nursery_margins",
        "origin": "derived",
        "source": "test/test_tables.py::test_crosstab_multi_aggfunc (pattern, margins=True)",
        "call": {
            "function": "crosstab",
            "index": "finance",
            "columns": "recommend",
            "values": "children",
            "aggfunc": ["mean", "std"],
            "margins": True,
        },
        "suppress": True,
    },
    {
        "name": "test_pivot_table_cols__nursery",
        "origin": "derived",
        "source": "test/test_tables.py::test_pivot_table_cols (pattern)",
        "call": {
            "function": "pivot_table",
            "index": ["recommend"],
            "columns": ["parents"],
            "values": ["children"],
            "aggfunc": ["mean", "std"],
            "margins": False,
        },
        "suppress": True,
    },
    {
        "name": "test_zeros_are_not_disclosive__nursery",
        "origin": "derived",
        "source": "test/test_tables.py::test_zeros_are_not_disclosive (pattern)",
        "call": {
            "function": "pivot_table",
            "index": ["recommend"],
            "columns": ["parents"],
            "values": ["children"],
            "aggfunc": ["mean", "std"],
            "margins": False,
        },
        "parameters": {"zeros_are_disclosive": False},
        "suppress": False,
    },
    {
        "name": "test_zeros_are_not_disclosive__nursery_frequency",
        "origin": "derived",
        "source": "test/test_tables.py::test_zeros_are_not_disclosive (pattern, frequency table)",
        "call": {
            "function": "crosstab",
            "index": "recommend",
            "columns": "parents",
            "values": None,
            "aggfunc": None,
            "margins": False,
        },
        "parameters": {"zeros_are_disclosive": False},
        "suppress": False,
    },
    {
        "name": "test_crosstab_with_totals_with_suppression_hierarchical__nursery",
        "origin": "derived",
        "source": "test/test_tables.py::test_crosstab_with_totals_with_suppression_hierarchical "
        "(pattern)",
        "call": {
            "function": "crosstab",
            "index": ["parents", "finance"],
            "columns": ["recommend", "health"],
            "values": None,
            "aggfunc": None,
            "margins": True,
        },
        "suppress": True,
    },
    {
        "name": "test_pivot_table_count__nursery",
        "origin": "derived",
        "source": "test/test_tables.py::test_2d_pivot_table_all_aggfuncs_safe (pattern, count)",
        "call": {
            "function": "pivot_table",
            "index": ["recommend"],
            "columns": ["parents"],
            "values": "children",
            "aggfunc": "count",
            "margins": False,
        },
        "suppress": False,
    },
]


# ---------------------------------------------------------------------------
def git_show(gitdir: str, path: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={gitdir}", "show", f"{UPSTREAM_COMMIT}:{path}"],
        check=True,
        capture_output=True,
    ).stdout


def load_nursery(gitdir: str) -> pd.DataFrame:
    """Load data/nursery.arff the way ACRO's notebooks do.

    The notebooks then replace children 4 by a random int in 4..9; that is not
    reproducible and is NOT done here ("more" -> 4 only).
    """
    from scipy.io.arff import loadarff

    text = git_show(gitdir, "data/nursery.arff").decode("utf-8")
    data = loadarff(io.StringIO(text))
    df = pd.DataFrame(data[0])
    df = df.select_dtypes([object])
    df = df.stack().str.decode("utf-8").unstack()
    df.rename(columns={"class": "recommend"}, inplace=True)
    df["children"] = df["children"].replace(to_replace={"more": "4"})
    df["children"] = pd.to_numeric(df["children"])
    df = df.reset_index(drop=True)
    df.columns.name = None
    return df


def _axis(df: pd.DataFrame, spec):
    if spec is None:
        return None
    if isinstance(spec, str):
        return df[spec]
    return [df[c] for c in spec]


def _mode_aggfunc(vals: pd.Series) -> float:
    """Deterministic stand-in for ACRO's mode (which picks a random mode)."""
    return vals.mode().min()


_mode_aggfunc.__name__ = "mode_aggfunc"


def _plain_aggfunc(aggfunc):
    if aggfunc == "mode":
        return _mode_aggfunc
    if isinstance(aggfunc, list):
        return [_mode_aggfunc if a == "mode" else a for a in aggfunc]
    return aggfunc


def plain_table(df: pd.DataFrame, call: dict) -> pd.DataFrame:
    """The plain-pandas table for a call (what the harness should rebuild)."""
    agg = _plain_aggfunc(call["aggfunc"])
    if call["function"] == "crosstab":
        kw = {"margins": call["margins"]}
        if call["values"] is not None:
            kw.update(values=df[call["values"]], aggfunc=agg)
        return pd.crosstab(_axis(df, call["index"]), _axis(df, call["columns"]), **kw)
    kw = {
        "index": call["index"],
        "values": call["values"],
        "aggfunc": agg,
        "margins": call["margins"],
    }
    if call["columns"] is not None:
        kw["columns"] = call["columns"]
    return pd.pivot_table(df, **kw)


def acro_call(acro, df: pd.DataFrame, call: dict):
    if call["function"] == "crosstab":
        kw = {"margins": call["margins"]}
        if call["values"] is not None:
            kw.update(values=df[call["values"]], aggfunc=call["aggfunc"])
        return acro.crosstab(_axis(df, call["index"]), _axis(df, call["columns"]), **kw)
    kw = {
        "index": call["index"],
        "values": call["values"],
        "aggfunc": call["aggfunc"],
        "margins": call["margins"],
    }
    if call["columns"] is not None:
        kw["columns"] = call["columns"]
    return acro.pivot_table(df, **kw)


# ---------------------------------------------------------------------------
def _scalar(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def _labels(axis: pd.Index) -> list:
    return [[_scalar(x) for x in (t if isinstance(t, tuple) else (t,))] for t in axis]


def frame_to_json(frame: pd.DataFrame | None):
    if frame is None:
        return None
    return {
        "index_names": [_scalar(n) for n in frame.index.names],
        "column_names": [_scalar(n) for n in frame.columns.names],
        "index": _labels(frame.index),
        "columns": _labels(frame.columns),
        "data": [[_scalar(v) for v in row] for row in frame.to_numpy(dtype=object)],
    }


def new_acro(suppress: bool, params: dict):
    import acro as acro_pkg
    from acro import ACRO

    obj = ACRO(suppress=suppress)
    version = acro_pkg.__version__ if hasattr(acro_pkg, "__version__") else None
    if hasattr(obj, "sdc_checks"):  # 1.0.x
        obj.sdc_checks.risk_appetite.update(params)
        effective = {k: obj.sdc_checks.risk_appetite[k] for k in DEFAULT_PARAMETERS}
    else:  # 0.4.x keeps the parameters in module globals
        from acro import acro_tables

        names = {
            "safe_threshold": "THRESHOLD",
            "safe_pratio_p": "SAFE_PRATIO_P",
            "safe_nk_n": "SAFE_NK_N",
            "safe_nk_k": "SAFE_NK_K",
            "check_missing_values": "CHECK_MISSING_VALUES",
            "zeros_are_disclosive": "ZEROS_ARE_DISCLOSIVE",
            "survival_safe_threshold": "SURVIVAL_THRESHOLD",
        }
        for key, val in params.items():
            setattr(acro_tables, names[key], val)
        effective = {k: obj.config[k] for k in DEFAULT_PARAMETERS}
        effective.update({k: getattr(acro_tables, n) for k, n in names.items()})
    return obj, version, effective


def run_acro(df: pd.DataFrame, case: dict) -> dict:
    """Run the case's call with ACRO, suppress=False (and True if the case suppresses)."""
    params = case.get("parameters", {})
    res: dict = {}
    for suppress in [False, True] if case["suppress"] else [False]:
        acro, version, effective = new_acro(suppress, params)
        res["version"] = version or _installed_acro_version()
        res["parameters"] = effective
        try:
            returned = acro_call(acro, df, case["call"])
        except Exception as exc:  # record ACRO's failure as a fact
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            res["error" if not suppress else "error_suppressed"] = f"{type(exc).__name__}: {first}"
            continue
        out = acro.results.get_index(-1)
        if not suppress:
            res["returned"] = returned
            res["outcome"] = out.outcome
            res["status"] = out.status
            res["summary"] = out.summary
            sdc = getattr(out, "sdc", {}) or {}
            res["sdc_summary"] = sdc.get("summary")
        else:
            res["suppressed"] = returned
            res["outcome_suppressed_run"] = out.outcome
            res["status_suppressed_run"] = out.status
            res["summary_suppressed_run"] = out.summary
    return res


def _installed_acro_version() -> str:
    from importlib.metadata import version

    return version("acro")


# ---------------------------------------------------------------------------
def _cell_lookup(outcome: dict, row: list, col: list):
    try:
        i = outcome["index"].index(row)
        j = outcome["columns"].index(col)
    except ValueError:
        return "<no such cell>"
    return outcome["data"][i][j]


def _tokens(cell: str) -> set:
    return {t.strip() for t in str(cell).split(";") if t.strip() and t.strip() != "ok"}


def compare(asserted: dict, outcome: dict | None, legacy: bool) -> list[str]:
    """Differences between the transcribed published cells and a computed outcome."""
    if outcome is None:
        return ["no outcome computed"]
    diffs = []
    flagged = {
        (json.dumps(c["row"]), json.dumps(c["col"])): c["outcome"]
        for c in asserted["outcome_cells"]
    }
    for i, row in enumerate(outcome["index"]):
        for j, col in enumerate(outcome["columns"]):
            got = outcome["data"][i][j]
            want = flagged.pop((json.dumps(row), json.dumps(col)), "ok")
            if legacy:
                same = got == want
            else:
                want_t = {LEGACY_TO_CURRENT[t] for t in _tokens(want)}
                same = want_t == _tokens(got) - {"PresenceOfZeroCheck"}
            if not same:
                diffs.append(f"{row} x {col}: published {want!r}, computed {got!r}")
    for (row, col), want in flagged.items():
        diffs.append(f"{row} x {col}: published {want!r}, cell not in computed outcome")
    return diffs


def notebook_text(gitdir: str, path: str, cell: int) -> list[str]:
    nb = json.loads(git_show(gitdir, path))
    lines: list[str] = []
    for out in nb["cells"][cell].get("outputs", []):
        if "text" in out:
            lines.extend("".join(out["text"]).splitlines())
    return lines


def legacy_pass(df: pd.DataFrame, target: Path) -> None:
    data = {}
    for case in CASES:
        res = run_acro(df, case)
        data[case["name"]] = {
            "version": res["version"],
            "outcome": frame_to_json(res.get("outcome")),
            "status": res.get("status"),
            "summary": res.get("summary"),
            # ACRO picks a random mode among ties, so a mode table is not reproducible
            "suppressed": (
                frame_to_json(res.get("suppressed"))
                if case["suppress"] and "mode" not in json.dumps(case["call"])
                else None
            ),
            "summary_suppressed_run": res.get("summary_suppressed_run"),
            "error": res.get("error"),
        }
    target.write_text(json.dumps(data, indent=1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--acro-git", required=True, help="git dir of AI-SDC/ACRO")
    ap.add_argument("--emit-legacy", type=Path, help="pass 1: write legacy outcomes here")
    ap.add_argument("--legacy", type=Path, help="pass 2: legacy outcomes from pass 1")
    ap.add_argument("--write", action="store_true", help="write nursery.csv, cases.json")
    args = ap.parse_args()
    logging.getLogger("acro").setLevel(logging.WARNING)

    df = load_nursery(args.acro_git)
    assert df.shape == (12960, 9), df.shape
    if args.emit_legacy:
        legacy_pass(df, args.emit_legacy)
        return 0

    legacy = json.loads(args.legacy.read_text()) if args.legacy else {}
    records = []
    problems = []
    for case in CASES:
        res = run_acro(df, case)
        plain = plain_table(df, case["call"])
        returned = res.get("returned")
        if returned is not None and not plain.equals(returned):
            problems.append(
                f"{case['name']}: acro's returned table {returned.shape} != "
                f"plain pandas table {plain.shape} (kept as acro_table)"
            )
        outcome = frame_to_json(res.get("outcome"))
        if (
            "outcome_suppressed_run" in res
            and outcome is not None
            and not res["outcome_suppressed_run"].equals(res["outcome"])
        ):
            problems.append(f"{case['name']}: outcome differs between suppress runs")
        leg = legacy.get(case["name"])
        asserted = case.get("asserted")
        agreement = None
        if asserted is not None:
            asserted = dict(asserted)
            path, cell = case["notebook"]
            asserted["published_output"] = notebook_text(args.acro_git, path, cell)
            agreement = {
                "acro_" + res["version"].replace(".", "_"): compare(asserted, outcome, False),
            }
            if leg:
                lkey = "acro_" + leg["version"].replace(".", "_")
                agreement[lkey] = compare(asserted, leg["outcome"], True)
                leg_summary = leg["summary_suppressed_run"] if case["suppress"] else leg["summary"]
                if leg_summary != asserted["summary"]:
                    agreement[lkey + "_summary"] = (
                        f"published {asserted['summary']!r}, computed {leg_summary!r}"
                    )
        params = dict(DEFAULT_PARAMETERS)
        params.update(case.get("parameters", {}))
        if res.get("parameters") and res["parameters"] != params:
            problems.append(f"{case['name']}: acro parameters {res['parameters']} != {params}")
        record = {
            "name": case["name"],
            "origin": case["origin"],
            "source": case["source"],
            "also_in": case.get("also_in", []),
            "call": case["call"],
            "parameters": params,
            "table": frame_to_json(plain),
            "outcome": outcome,
            "asserted": asserted,
            "suppressed": frame_to_json(res.get("suppressed")) if case["suppress"] else None,
            # ACRO's own (unsuppressed) return value, only where it differs from "table"
            "acro_table": (
                frame_to_json(returned)
                if returned is not None and not plain.equals(returned)
                else None
            ),
            "acro": {
                "version": res["version"],
                "commit": UPSTREAM_COMMIT,
                "status": res.get("status"),
                "summary": res.get("summary"),
                "sdc_summary": res.get("sdc_summary"),
                "error": res.get("error"),
                "error_suppressed": res.get("error_suppressed"),
            },
            "legacy": leg,
            "agreement": agreement,
        }
        records.append(record)

    for rec in records:
        cells = [c for r in (rec["outcome"] or {"data": []})["data"] for c in r]
        per_check: dict = {}
        for cell in cells:
            for tok in sorted(_tokens(cell)):
                per_check[tok] = per_check.get(tok, 0) + 1
        print(
            f"{rec['name']}: {len(cells)} cells, {sum(c != 'ok' for c in cells)} not ok "
            f"{per_check} error={rec['acro']['error']}"
        )
        for key, diffs in (rec["agreement"] or {}).items():
            print(f"    {key}: {diffs if diffs else 'agrees'}")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    if args.write:
        df.to_csv(HERE / "nursery.csv", index=False)
        (HERE / "cases.json").write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
