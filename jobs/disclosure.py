"""The airlock's automated statistical disclosure control (SDC) checks of one output.

The rules are ACRO's (the SACRO project's `acro` package) with its defaults, applied to
files rather than to live pandas calls: the SDK (`jobs/sdk/tre_sdk.py`) records in the
output's manifest entry what the rules need and the file cannot say (how many records a
mean summarises, how far its largest contributors dominate it, which treatments were
applied), and `check_output` reads the file and that entry and returns a verdict:

- "fail": the output breaks a rule and cannot be released as it is;
- "review": nothing broke a rule, but a person must look (images, text, zeros...);
- "pass": every rule that applies to it was checked and held.

Researchers see the reasons of their eyes-off outputs, so a reason names a rule and the
cells by position (row 3, column 2 of the table body), never a value or a label of the
data. Plain Python, no Django: the worker adapts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from jobs.disclosure_files import (
    _ALLOWED_TEXT,
    ALLOWED_SUFFIXES,
    PNG_SIGNATURE,
    _file_reasons,
    _png_problem,
)
from jobs.disclosure_rules import (
    Reason,
    Thresholds,
    _figure_reasons,
    _json_reasons,
    _table_reasons,
    _text_reasons,
)

__all__ = [
    "ALLOWED_SUFFIXES",
    "FAIL",
    "PASS",
    "PNG_SIGNATURE",
    "REVIEW",
    "Reason",
    "Thresholds",
    "Verdict",
    "check_output",
    "worst_status",
]

PASS, REVIEW, FAIL = "pass", "review", "fail"
_SEVERITY = {PASS: 0, REVIEW: 1, FAIL: 2}

# The treatments the SDK records; anything else in a manifest is not shown.
_TREATMENT = re.compile(r"^(suppressed \d+ cells? below \d+|rounded to base \d+)$")


@dataclass(frozen=True)
class Verdict:
    """The outcome of the checks of one output."""

    status: str
    reasons: list[Reason]
    treatments: list[str]

    def as_dict(self) -> dict:
        """The verdict as plain JSON-serialisable data."""
        return {
            "status": self.status,
            "reasons": [
                {**asdict(reason), "cells": [list(cell) for cell in reason.cells]}
                for reason in self.reasons
            ],
            "treatments": list(self.treatments),
        }


_RULE_STATUS = {
    "threshold": FAIL,
    "dominance-nk": FAIL,
    "p-ratio": FAIL,
    "row-level": FAIL,
    "identifiers": FAIL,
    "file-type": FAIL,
    "size": FAIL,
    "degrees-of-freedom": FAIL,
    "zeros": REVIEW,
    "no-cell-data": REVIEW,
    "human-review": REVIEW,
}


def worst_status(statuses: Iterable[str]) -> str:
    """Combine statuses: fail beats review beats pass (no status at all is a pass)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=PASS)


def check_output(
    *,
    path: Path,
    entry: dict,
    input_rows: int,
    sensitive_values: frozenset[str],
    thresholds: Thresholds,
) -> Verdict:
    """Check one output file against the SDC rules.

    `entry` is the output's manifest entry written by the SDK ({} for a file saved
    without it; it was written inside the sandbox, so it can add checks but never
    replaces what the file itself shows), `input_rows` the row count of the job's largest
    input, `sensitive_values` the string forms of the values of the inputs' identifier
    columns.
    """
    entry = entry if isinstance(entry, dict) else {}
    path = Path(path)
    treatments = _treatments(entry)
    reasons = _file_reasons(path, thresholds)
    if reasons is None:
        data = path.read_bytes()
        reasons = _content_reasons(
            path.suffix.lower(), data, entry, input_rows, sensitive_values, thresholds
        )
    statuses = [_RULE_STATUS.get(reason.rule, REVIEW) for reason in reasons]
    return Verdict(status=worst_status(statuses), reasons=reasons, treatments=treatments)


def _treatments(entry: dict) -> list[str]:
    recorded = entry.get("treatments")
    if not isinstance(recorded, list):
        return []
    shown = [item for item in recorded if isinstance(item, str) and _TREATMENT.match(item)]
    hidden = len(recorded) - len(shown)
    if hidden:
        shown.append(f"{hidden} unrecognised treatment{'s' if hidden > 1 else ''} (not shown)")
    return shown


# Content ----------------------------------------------------------------------------


def _content_reasons(
    suffix: str,
    data: bytes,
    entry: dict,
    input_rows: int,
    sensitive: frozenset[str],
    thresholds: Thresholds,
) -> list[Reason]:
    if suffix == ".png":
        problem = _png_problem(data)
        if problem:
            return [Reason("file-type", problem)]
        return _figure_reasons(entry, thresholds)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return [Reason("file-type", f"The file is not plain UTF-8 text: {_ALLOWED_TEXT}.")]
    if suffix == ".csv":
        return _table_reasons(text, entry, input_rows, sensitive, thresholds)
    if suffix == ".json":
        return _json_reasons(text, entry, input_rows, sensitive, thresholds)
    return _text_reasons(text, sensitive)
