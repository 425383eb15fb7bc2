"""The researcher's SDK, importable inside the sandbox: `import tre_sdk`.

The same script runs unchanged against the synthetic sample (a dry run) and against the
real data (an eyes-off run): only what `load_dataset` reads differs.

    import tre_sdk

    admissions = tre_sdk.load_dataset("admissions")
    by_ward = admissions.groupby("ward").size().rename("admissions").reset_index()
    tre_sdk.save_table("admissions_by_ward", by_ward, kind="frequency",
                       description="Admissions per ward")
    tre_sdk.save_metric("mean_length_of_stay", admissions["length_of_stay"].mean())

Outputs land in the job's output directory with a manifest saying what each one is; on
a real-data run they go to the airlock, where they are checked before anyone sees them.
"""

import json
import os
import re
from pathlib import Path

INPUTS = Path(os.environ.get("TRE_INPUTS", "/inputs"))
OUTPUT = Path(os.environ.get("TRE_OUTPUT", "/output"))
MANIFEST = OUTPUT / ".tre-manifest.json"
TABLE_KINDS = ("frequency", "statistics", "model", "other")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class OutputError(ValueError):
    """An output that cannot be saved as asked."""


def datasets() -> list[str]:
    """The names of the datasets this job may load."""
    return sorted(path.stem for path in INPUTS.glob("*.parquet"))


def load_dataset(name: str, columns: list[str] | None = None):
    """Load a dataset of this job as a pandas DataFrame (optionally only some columns)."""
    import pandas as pd

    path = INPUTS / f"{name}.parquet"
    if not path.exists():
        raise KeyError(f"No dataset {name!r} in this job; it has: {', '.join(datasets())}")
    return pd.read_parquet(path, columns=columns)


def _record(name: str, entry: dict) -> None:
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    manifest[name] = entry
    MANIFEST.write_text(json.dumps(manifest, indent=2, default=str))


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise OutputError(
            f"Output name {name!r}: use letters, digits, _ and -, starting with a letter."
        )


def save_table(name: str, table, *, kind: str = "other", description: str = "") -> Path:
    """Save a table (a DataFrame or Series) as CSV.

    `kind` says what it is: "frequency" (counts per cell), "statistics" (means, medians,
    ...), "model" (coefficients) or "other". The airlock checks tables by their kind.
    """
    import pandas as pd

    _check_name(name)
    if kind not in TABLE_KINDS:
        raise OutputError(f"kind must be one of {', '.join(TABLE_KINDS)}")
    if isinstance(table, pd.Series):
        table = table.to_frame()
    if not isinstance(table, pd.DataFrame):
        raise OutputError("save_table takes a pandas DataFrame or Series")
    path = OUTPUT / f"{name}.csv"
    index = not isinstance(table.index, pd.RangeIndex)
    table.to_csv(path, index=index)
    _record(
        name,
        {
            "type": "table",
            "kind": kind,
            "file": path.name,
            "description": description,
            "rows": len(table),
            "columns": [str(c) for c in table.columns],
        },
    )
    return path


def save_metric(name: str, value, *, description: str = "") -> Path:
    """Save one number (or a small dict of numbers) as JSON."""
    _check_name(name)
    path = OUTPUT / f"{name}.json"
    path.write_text(json.dumps({"value": value}, default=float))
    _record(name, {"type": "metric", "file": path.name, "description": description})
    return path


def save_figure(name: str, figure=None, *, description: str = "") -> Path:
    """Save a matplotlib figure (the current one by default) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _check_name(name)
    figure = figure or plt.gcf()
    path = OUTPUT / f"{name}.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    _record(name, {"type": "figure", "file": path.name, "description": description})
    return path


def save_text(name: str, text: str, *, description: str = "") -> Path:
    """Save a text note."""
    _check_name(name)
    path = OUTPUT / f"{name}.txt"
    path.write_text(str(text))
    _record(name, {"type": "text", "file": path.name, "description": description})
    return path
