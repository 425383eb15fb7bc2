"""The airlock's automated statistical disclosure control (SDC) checks of one output.

The rules are ACRO's (the SACRO project's `acro` package) with its defaults, applied to
files rather than to live pandas calls. `check_output` reads the file and returns a
verdict:

- "fail": the output breaks a rule and cannot be released as it is;
- "review": nothing broke a rule, but a person must look (images, text, zeros, or a
  result that rests on what the script claimed);
- "pass": every rule that applies to it was checked, from the file itself, and held.

What the SDK records beside an output (its manifest entry: kind, cell counts and
ratios, treatments) is written inside the sandbox by code the researcher controls, so it
is a claim: `jobs.manifest` validates it, and here it only picks the rules and adds
failures. It never makes an output pass: a statistics table's cell counts and ratios, a
histogram's bar counts, a table's layout cannot be checked from the file, so a verdict
resting on them is "review" with an "unverified-claims" reason; the treatments a table
claims are recomputed from the file (`Verdict.treatments`). Names and descriptions
written in the sandbox are checked for identifiers and row-level tuples like the
content (`check_label`).

Reasons name a rule and say where (cells by position, lines by number), never a value
or a label of the data; they are for the output checkers. A script can choose by the
data which cell fails, so before release a researcher sees only
`Verdict.for_researcher()`: the status and the rules' names. Plain Python, no Django:
the worker adapts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobs.disclosure.differencing import (
    MAX_TABLE_BYTES,
    Margins,
    differencing,
    differencing_reason,
    margins_of,
)
from jobs.disclosure.files import (
    ALLOWED_SUFFIXES,
    ALLOWED_TEXT,
    PNG_SIGNATURE,
    file_reasons,
    png_problem,
    read_content,
)
from jobs.disclosure.recompute import InputTables
from jobs.disclosure.rules import (
    Inputs,
    Reason,
    Thresholds,
    check_label,
    figure_reasons,
    json_reasons,
    table_reasons,
    text_reasons,
)
from jobs.disclosure.values import RowValues
from jobs.manifest import Entry, validate_entry

__all__ = [
    "ALLOWED_SUFFIXES",
    "FAIL",
    "MAX_TABLE_BYTES",
    "PASS",
    "PNG_SIGNATURE",
    "REVIEW",
    "InputTables",
    "Margins",
    "Reason",
    "RowValues",
    "Thresholds",
    "Verdict",
    "check_label",
    "check_output",
    "differencing",
    "differencing_reason",
    "margins_of",
    "with_reason",
    "worst_status",
]

PASS, REVIEW, FAIL = "pass", "review", "fail"
_SEVERITY = {PASS: 0, REVIEW: 1, FAIL: 2}


@dataclass(frozen=True)
class Verdict:
    """The outcome of the checks of one output: its status, the reasons (for the output
    checkers), each treatment the manifest claims with whether the file bears it out
    ({"claim": "suppressed 2 cells below 10", "verified": True | False | None}), and
    what was wrong with the manifest."""

    status: str
    reasons: list[Reason]
    treatments: list[dict]
    # What was wrong with the manifest's record of this output, or with the manifest as
    # a whole (fixed sentences, never a value): for the checkers, as a sign of a script
    # writing its own manifest. Not a reason: the fields it concerns were dropped, which
    # only leaves the output to stricter checks, and whether a manifest is well formed is
    # the script's choice, so it must not change what a researcher sees.
    manifest_problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The verdict as plain JSON-serialisable data, for the checkers."""
        return {
            "status": self.status,
            "reasons": [
                {**asdict(reason), "cells": [list(cell) for cell in reason.cells]}
                for reason in self.reasons
            ],
            "treatments": [dict(treatment) for treatment in self.treatments],
            "manifest_problems": list(self.manifest_problems),
        }

    def for_researcher(self) -> dict:
        """What a researcher may see before release: the status and the names of the
        rules it cites, nothing else (positions, counts and treatments are chosen by
        the script, so they could carry data)."""
        return {
            "status": self.status,
            "rules": sorted({reason.rule for reason in self.reasons}),
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
    "extremes": FAIL,
    "differencing": FAIL,
    "zeros": REVIEW,
    "no-cell-data": REVIEW,
    "human-review": REVIEW,
    "unverified-claims": REVIEW,
    "treatments": REVIEW,
}


def worst_status(statuses: Iterable[str]) -> str:
    """Combine statuses: fail beats review beats pass (no status at all is a pass)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=PASS)


def check_output(
    *,
    path: Path,
    entry: Entry | Mapping | None,
    input_rows: int,
    sensitive_values: frozenset[str],
    thresholds: Thresholds,
    row_values: RowValues | None = None,
    input_tables: InputTables | None = None,
    manifest_problems: Iterable[str] = (),
) -> Verdict:
    """Check one output file against the SDC rules.

    `entry` is what the manifest says of this file, as `jobs.manifest.read_manifest`
    validated it (None for a file the SDK did not write; a raw mapping is validated here
    first). `input_rows` is the row count of the job's largest input,
    `sensitive_values` the text of the values of the inputs' identifying columns,
    `row_values` the inputs' rows indexed once per run (`RowValues.from_frames`) to find
    row-level tuples, `input_tables` the inputs kept to recompute tables' cells
    (`InputTables.from_frames`), `manifest_problems` what was wrong with the manifest as a whole
    (`Manifest.problems`), which the verdict carries for the checkers with the entry's
    own problems.
    """
    path = Path(path)
    entry = _as_entry(entry, path)
    inputs = Inputs(
        input_rows=input_rows,
        sensitive_values=frozenset(sensitive_values or ()),
        thresholds=thresholds,
        row_values=row_values,
        tables=input_tables,
    )
    treatments = [
        {"claim": claim, "verified": None} for claim in (entry.treatments if entry else ())
    ]
    reasons = file_reasons(path, thresholds)
    if reasons is None:
        data = read_content(path, thresholds.max_output_bytes)
        if data is None:
            reasons = [Reason("file-type", "The file could not be read.")]
        else:
            reasons, treatments = _content_reasons(path.suffix.lower(), data, entry, inputs)
    reasons += _label_reasons(path, entry, inputs)
    problems = [*(entry.problems if entry is not None else ()), *manifest_problems]
    statuses = [_RULE_STATUS.get(reason.rule, REVIEW) for reason in reasons]
    return Verdict(
        status=worst_status(statuses),
        reasons=reasons,
        treatments=treatments,
        manifest_problems=list(dict.fromkeys(str(problem) for problem in problems)),
    )


def with_reason(verdict: dict, reason: Reason) -> dict:
    """A stored verdict (`Verdict.as_dict()`) with one more reason, found by comparing
    outputs with each other, and its status raised to what that reason's rule asks."""
    reasons = [*verdict.get("reasons", []), {**asdict(reason), "cells": list(reason.cells)}]
    status = worst_status([verdict.get("status", PASS), _RULE_STATUS.get(reason.rule, REVIEW)])
    return {**verdict, "status": status, "reasons": reasons}


def _as_entry(entry, path: Path) -> Entry | None:
    if entry is None or isinstance(entry, Entry):
        return entry
    if isinstance(entry, Mapping):
        if not entry:
            return None
        # For callers that still hold the raw manifest: validated as read_manifest would.
        return validate_entry(path.stem, {"file": path.name, **entry}, filename=path.name)
    return None


def _label_reasons(path: Path, entry: Entry | None, inputs: Inputs) -> list[Reason]:
    """The file's name and the description written in the sandbox, checked for values."""
    labels = [(path.stem, "name")]
    if entry is not None and entry.description:
        labels.append((entry.description, "description"))
    reasons: dict[str, Reason] = {}
    for text, what in labels:
        for reason in check_label(
            text,
            sensitive_values=inputs.sensitive_values,
            row_values=inputs.row_values,
            fewer_than=inputs.thresholds.min_cell_count,
            what=what,
        ):
            reasons.setdefault(reason.rule, reason)
    return list(reasons.values())


# Content ----------------------------------------------------------------------------


def _content_reasons(
    suffix: str, data: bytes, entry: Entry | None, inputs: Inputs
) -> tuple[list[Reason], list[dict]]:
    claimed = [{"claim": claim, "verified": None} for claim in (entry.treatments if entry else ())]
    if suffix == ".png":
        problem = png_problem(data)
        if problem:
            return [Reason("file-type", problem)], claimed
        return figure_reasons(entry, inputs.thresholds), claimed
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return [Reason("file-type", f"The file is not plain UTF-8 text: {ALLOWED_TEXT}.")], claimed
    if suffix == ".csv":
        result = table_reasons(text, entry, inputs)
        return result.reasons, result.treatments
    if suffix == ".json":
        return json_reasons(text, entry, inputs), claimed
    return text_reasons(text, inputs), claimed
