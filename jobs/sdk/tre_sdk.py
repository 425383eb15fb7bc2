"""The researcher's SDK, importable inside the sandbox: `import tre_sdk`.

The same script runs unchanged against the synthetic sample (a dry run) and against the
real data (an eyes-off run): only what `load_dataset` reads differs.

    import tre_sdk

    admissions = tre_sdk.load_dataset("admissions")
    by_ward = tre_sdk.crosstab(admissions, index="ward", columns="sex")
    by_ward = tre_sdk.suppress_small_cells(by_ward)
    tre_sdk.save_table("admissions_by_ward", by_ward, description="Admissions per ward")
    stay = tre_sdk.pivot_table(admissions, index="ward", values="length_of_stay")
    tre_sdk.save_table("stay_by_ward", stay, description="Mean length of stay per ward")
    tre_sdk.save_metric("mean_length_of_stay", admissions["length_of_stay"].mean())

Outputs land in the job's output directory with a manifest saying what each one is; on
a real-data run they go to the airlock, where they are checked before anyone sees them.

The airlock applies statistical disclosure control rules (those of ACRO, with its
defaults): every cell of a frequency table counts at least 10 people, every cell of a
statistics table summarises at least 10 people and is not dominated by one or two of them
(N-K and p% rules), nothing is row-level data or an identifier. `crosstab`, `pivot_table`
and `hist` record what those checks need (counts and ratios, never values) so that the
airlock can check the outputs; `suppress_small_cells` and `round_to_base` make a table
safe and record what they did for the output checkers.
"""

import copy
import csv
import json
import math
import os
import re
from pathlib import Path

INPUTS = Path(os.environ.get("TRE_INPUTS", "/inputs"))
OUTPUT = Path(os.environ.get("TRE_OUTPUT", "/output"))
MANIFEST = OUTPUT / ".tre-manifest.json"
DP_QUESTIONS_NAME = ".tre-dp-questions.json"
DP_MAX_QUESTIONS = 20
TABLE_KINDS = ("frequency", "statistics", "model", "other")
# The statistics ACRO allows in a table: each summarises a group without being one
# person's value (as a minimum or maximum would be).
STATISTICS = ("mean", "median", "sum", "std", "count")
# N of the N-K dominance rule the ratios are recorded for (ACRO's default).
NK_N = 2
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
    frame = pd.read_parquet(path, columns=columns)
    # So that `dp` questions can name the dataset by the frame (pandas carries attrs on
    # through many operations, so `dp` also checks the frame is still the whole dataset).
    frame.attrs["tre_dataset"] = name
    return frame


def _record(name: str, entry: dict) -> None:
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    manifest[name] = _plain(entry)
    MANIFEST.write_text(json.dumps(manifest, indent=2, default=str))


def _plain(value):
    """`value` as plain JSON: numpy scalars as Python numbers, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()  # a numpy scalar
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise OutputError(
            f"Output name {name!r}: use letters, digits, _ and -, starting with a letter."
        )


def _keys(keys) -> list:
    if keys is None:
        return []
    if isinstance(keys, list | tuple):
        return list(keys)
    return [keys]


def _tre(table) -> dict:
    """A private copy of what the SDK recorded on a table (pandas carries `attrs` along)."""
    recorded = getattr(table, "attrs", {}).get("tre")
    return copy.deepcopy(recorded) if isinstance(recorded, dict) else {}


def _labels(table) -> dict:
    return {
        "index": list(table.index),
        "columns": list(table.columns),
        "index_names": list(table.index.names),
        "column_names": list(table.columns.names),
    }


def _positions(recorded: list, current: list) -> list[int] | None:
    try:
        where = {label: position for position, label in enumerate(recorded)}
        if len(where) != len(recorded):
            return None  # duplicate labels: cannot tell which cell is which
        return [where[label] for label in current]
    except (KeyError, TypeError):
        return None


def _aligned_checks(table, info: dict) -> dict | None:
    """The per-cell checks recorded on `table`, realigned to its current rows and columns.

    pandas carries `attrs` through most operations (sorting, selecting, transposing...),
    so the recorded cells may no longer be where they were: follow them by label, and
    drop them when that is impossible rather than let them describe the wrong cells.
    """
    checks = info.get("checks")
    if not isinstance(checks, dict):
        return None
    rows, columns = table.shape
    labels = info.get("_labels")
    if labels is None:
        row_positions, column_positions = list(range(rows)), list(range(columns))
    else:
        current = _labels(table)
        if (current["index_names"], current["column_names"]) != (
            labels["index_names"],
            labels["column_names"],
        ):
            return None
        row_positions = _positions(labels["index"], current["index"])
        column_positions = _positions(labels["columns"], current["columns"])
        if row_positions is None or column_positions is None:
            return None
    aligned = {}
    for key, value in checks.items():
        if isinstance(value, list):
            try:
                aligned[key] = [[value[i][j] for j in column_positions] for i in row_positions]
            except (IndexError, TypeError):
                return None
        else:
            aligned[key] = value
    return aligned


def _csv_rows(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle))


def save_table(name: str, table, *, kind: str | None = None, description: str = "") -> Path:
    """Save a table (a DataFrame or Series) as CSV.

    `kind` says what it is: "frequency" (counts per cell), "statistics" (means, medians,
    ...), "model" (coefficients) or "other". Every table gets every check that can apply
    to it whatever its kind: the airlock recomputes its cells from the real data where
    its labels name groups of the input. Tables made by `crosstab` or `pivot_table` know
    their kind, and carry the counts and ratios the checks need (for a table of a
    filtered or derived frame, which cannot be recomputed) and the treatments applied
    (`suppress_small_cells`, `round_to_base`) into the manifest; other tables are
    "other" unless told.
    """
    import pandas as pd

    _check_name(name)
    if isinstance(table, pd.Series):
        table = table.to_frame()
    if not isinstance(table, pd.DataFrame):
        raise OutputError("save_table takes a pandas DataFrame or Series")
    info = _tre(table)
    kind = kind or info.get("kind") or "other"
    if kind not in TABLE_KINDS:
        raise OutputError(f"kind must be one of {', '.join(TABLE_KINDS)}")
    path = OUTPUT / f"{name}.csv"
    index = not isinstance(table.index, pd.RangeIndex)
    table.to_csv(path, index=index)
    entry = {
        "type": "table",
        "kind": kind,
        "file": path.name,
        "description": description,
        "rows": len(table),
        "columns": [str(c) for c in table.columns],
        # Where the table body starts in the CSV, so the checks can name cells by position.
        "header_rows": _csv_rows(path) - len(table),
        "index_columns": table.index.nlevels if index else 0,
    }
    if info.get("method") in ("crosstab", "pivot_table"):
        entry["method"] = info["method"]
    checks = _aligned_checks(table, info)
    if checks:
        entry["checks"] = checks
    treatments = [str(treatment) for treatment in info.get("treatments", [])]
    if treatments:
        entry["treatments"] = treatments
    _record(name, entry)
    return path


def save_metric(
    name: str, value, *, description: str = "", degrees_of_freedom: int | None = None
) -> Path:
    """Save one number (or a small dict of numbers) as JSON.

    For a statistic of a fitted model (a coefficient, an R squared), pass the model's
    residual `degrees_of_freedom` (observations minus parameters): the airlock refuses
    a model with fewer than 10, as it comes too close to describing individuals.
    """
    _check_name(name)
    path = OUTPUT / f"{name}.json"
    path.write_text(json.dumps({"value": value}, default=float))
    entry = {"type": "metric", "file": path.name, "description": description}
    if degrees_of_freedom is not None:
        entry["checks"] = {"degrees_of_freedom": int(degrees_of_freedom)}
    _record(name, entry)
    return path


def _data_artists(figure) -> tuple:
    return tuple(
        (len(ax.patches), len(ax.lines), len(ax.collections), len(ax.images)) for ax in figure.axes
    )


def save_figure(name: str, figure=None, *, description: str = "") -> Path:
    """Save a matplotlib figure (the current one by default) as PNG.

    A figure drawn by `hist` carries its bar counts into the manifest so the airlock can
    check them, as long as nothing else was plotted on it afterwards.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _check_name(name)
    figure = figure or plt.gcf()
    path = OUTPUT / f"{name}.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    entry = {"type": "figure", "file": path.name, "description": description}
    checks = getattr(figure, "_tre_checks", None)
    if checks and getattr(figure, "_tre_artists", None) == _data_artists(figure):
        entry["checks"] = checks
    _record(name, entry)
    return path


def save_text(name: str, text: str, *, description: str = "") -> Path:
    """Save a text note."""
    _check_name(name)
    path = OUTPUT / f"{name}.txt"
    path.write_text(str(text))
    _record(name, {"type": "text", "file": path.name, "description": description})
    return path


def crosstab(data, index, columns=None):
    """Count the rows of `data` per combination of categories: a frequency table.

    `index` (and optionally `columns`) name one column of `data` or a list of them; with
    no `columns` the table has one column, "count". Save it with `save_table`, which
    records it as a frequency table: the airlock fails it if any cell counts 1 to 9
    people (use `suppress_small_cells` first) and sends zeros for review.
    """
    import pandas as pd

    rows, columns = _keys(index), _keys(columns)
    if not rows:
        raise OutputError("crosstab needs at least one index column")
    if columns:
        table = pd.crosstab([data[key] for key in rows], [data[key] for key in columns])
    else:
        table = data.groupby(rows, observed=True).size().to_frame("count")
    table.attrs["tre"] = {"kind": "frequency", "method": "crosstab"}
    return table


def _contributions(values, statistic: str):
    import pandas as pd

    values = values.dropna()
    if statistic == "count" or not pd.api.types.is_numeric_dtype(values):
        return pd.Series(1.0, index=values.index)  # each record counts once
    return values.astype(float)


def _nk_ratio(values) -> float:
    """The share of the total held by the NK_N largest contributors (0 when the total is
    not positive, where ACRO does not apply the rule)."""
    total = float(values.sum())
    if total <= 0:
        return 0.0
    return float(values.nlargest(NK_N).sum()) / total


def _p_ratio(values) -> float:
    """ACRO's p-ratio: (total - largest - second largest) / largest. How precisely the
    second largest contributor could estimate the largest; 0 (disclosive, as ACRO treats
    it with zeros disclosive) for one contributor or a total that is not positive."""
    ordered = values.sort_values(ascending=False)
    total = float(ordered.sum())
    if total <= 0 or len(ordered) <= 1:
        return 0.0
    return (total - float(ordered.iloc[0]) - float(ordered.iloc[1])) / float(ordered.iloc[0])


def _grid(frame, convert) -> list[list]:
    import pandas as pd

    return [
        [None if pd.isna(value) else convert(value) for value in row]
        for row in frame.astype(object).to_numpy().tolist()
    ]


def pivot_table(data, index, values, columns=None, aggfunc="mean"):
    """A statistic of one column of `data` per combination of categories.

    `values` names the column summarised, `index` (and optionally `columns`) the
    categories, `aggfunc` the statistic: one of "mean", "median", "sum", "std" or "count"
    (a minimum or maximum would be one person's value). The table records, per cell, how
    many records it summarises and how far its largest contributors dominate it (the N-K
    and p-ratio of ACRO), computed here from the data but holding no value of it; the
    airlock fails cells under 10 records or dominated by one or two of them
    (`suppress_small_cells` blanks the small ones).
    """
    import pandas as pd

    if not isinstance(values, str):
        raise OutputError("values names one column; call pivot_table once per column")
    if aggfunc not in STATISTICS:
        raise OutputError(f"aggfunc must be one of {', '.join(STATISTICS)}")
    rows, columns = _keys(index), _keys(columns)
    if not rows:
        raise OutputError("pivot_table needs at least one index column")
    table = pd.pivot_table(
        data, values=values, index=rows, columns=columns or None, aggfunc=aggfunc, observed=True
    )
    groups = data.groupby(rows + columns, observed=True)[values]
    per_group = {
        "cell_counts": (groups.count(), int),
        # Conservative rounding: never makes a cell look safer than it is.
        "nk_ratios": (
            groups.agg(lambda cell: _nk_ratio(_contributions(cell, aggfunc))),
            lambda ratio: math.ceil(float(ratio) * 1e6) / 1e6,
        ),
        "p_ratios": (
            groups.agg(lambda cell: _p_ratio(_contributions(cell, aggfunc))),
            lambda ratio: math.floor(float(ratio) * 1e6) / 1e6,
        ),
    }
    checks = {}
    for key, (series, convert) in per_group.items():
        frame = series.unstack(columns) if columns else series.to_frame(values)
        frame = frame.reindex(index=table.index, columns=table.columns)
        checks[key] = _grid(frame, convert)
    checks["nk_n"] = NK_N
    table.attrs["tre"] = {
        "kind": "statistics",
        "method": "pivot_table",
        "checks": checks,
        "_labels": _labels(table),
    }
    return table


def hist(values, bins=10, **kwargs):
    """Draw a histogram of one variable and return its matplotlib Figure.

    Takes matplotlib's `hist` arguments (`range=`, `density=`, `ax=`...). The figure
    records how many records each bar holds, so the airlock can check that none holds 1
    to 9 people; anything else plotted on the figure afterwards means it goes to a person
    instead. Pass `range=` with round numbers: by default the outer bars start at the
    smallest value and end at the largest, which are single people's values.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ax = kwargs.pop("ax", None)
    if ax is None:
        figure, ax = plt.subplots()
    else:
        figure = ax.figure
    was_empty = not any(any(artists) for artists in _data_artists(figure))
    if hasattr(values, "to_numpy"):
        values = values.to_numpy(dtype=float, na_value=np.nan)
    data = np.asarray(values, dtype=float).ravel()
    data = data[~np.isnan(data)]
    _, edges, _ = ax.hist(data, bins=bins, **kwargs)
    if was_empty:
        # The records per bar, whatever `density` or `weights` made the bars' heights.
        counts, _ = np.histogram(data, bins=edges)
        figure._tre_checks = {"counts": [int(count) for count in counts]}
        figure._tre_artists = _data_artists(figure)
    return figure


def _numeric_columns(table):
    import pandas as pd

    for position in range(table.shape[1]):
        column = table.iloc[:, position]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            yield position, column


def _as_counts(column):
    """Whole numbers as a nullable integer column (12, not 12.0, around blanks)."""
    import numpy as np

    present = column.dropna()
    if len(present) and np.all(np.mod(present.astype(float), 1) == 0):
        return column.astype("Float64").astype("Int64")
    return column


def suppress_small_cells(table, threshold: int = 10):
    """Blank (NaN) the cells of `table` that count fewer than `threshold` people.

    For a frequency table (from `crosstab`, or any table of counts) that is every count
    from 1 to threshold - 1; for a statistics table from `pivot_table`, every cell
    summarising fewer than `threshold` records. Zeros are left for a person to judge.
    Returns a new table recording "suppressed N cells below T" for the output checkers.
    Beware totals: a blanked cell can be worked out from a total that includes it.
    """
    import pandas as pd

    if isinstance(table, pd.Series):
        table = table.to_frame()
    info = _tre(table)
    result = table.copy()
    suppressed = 0
    if info.get("kind") == "statistics":
        counts = (_aligned_checks(table, info) or {}).get("cell_counts")
        if counts is None:
            raise OutputError(
                "This statistics table has no cell counts: build it with tre_sdk.pivot_table."
            )
        for position in range(table.shape[1]):
            column = table.iloc[:, position]
            small = [
                count is not None and count < threshold and not pd.isna(value)
                for count, value in zip((row[position] for row in counts), column, strict=True)
            ]
            suppressed += sum(small)
            result.isetitem(position, column.mask(pd.Series(small, index=column.index)))
    else:
        for position, column in _numeric_columns(table):
            small = (column > 0) & (column < threshold)
            suppressed += int(small.sum())
            result.isetitem(position, _as_counts(column.astype("Float64").mask(small)))
    noun = "cell" if suppressed == 1 else "cells"
    info.setdefault("treatments", []).append(f"suppressed {suppressed} {noun} below {threshold}")
    result.attrs["tre"] = info
    return result


def round_to_base(table, base: int = 5):
    """Round every count of `table` to the nearest multiple of `base` (halves up).

    Returns a new table recording "rounded to base B" for the output checkers. Rounding
    hides exact small counts but does not make them safe: a count still under 10 after
    rounding fails the airlock, so suppress small cells as well.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(base, int) or base < 1:
        raise OutputError("base must be a positive whole number")
    if isinstance(table, pd.Series):
        table = table.to_frame()
    info = _tre(table)
    result = table.copy()
    for position, column in _numeric_columns(table):
        rounded = np.floor(column.astype("Float64") / base + 0.5) * base
        result.isetitem(position, _as_counts(rounded))
    info.setdefault("treatments", []).append(f"rounded to base {base}")
    result.attrs["tre"] = info
    return result


class _DifferentialPrivacy:
    """`tre_sdk.dp`: questions answered on the real data with differential privacy.

        admissions = tre_sdk.load_dataset("admissions")
        tre_sdk.dp.count(admissions, by=["ward"], epsilon=0.5)
        tre_sdk.dp.mean(admissions, "length_of_stay", by=["ward"], epsilon=0.5)

    Each call writes the question down and returns None: the answer is never computed in
    the sandbox. A dry run's page answers the questions on the synthetic sample, with the
    noise the real answers will have, spending nothing. A real run of the same script on
    the same datasets asks exactly the questions its dry run asked, spends their ε from
    each dataset's privacy budget when submitted, and shows their answers at once,
    released with no output checker (whatever the real run itself does, so nothing it
    sees in the data can change what is asked).

    A question is asked of a whole dataset as stored: pass the frame `load_dataset`
    returned (unfiltered) or the dataset's name. Columns, groups and bounds are those the
    data steward declared (see the dataset's "Differential privacy" page); `by` takes one
    or two columns.
    """

    def count(self, data, *, by=(), epsilon: float) -> None:
        """The number of rows (per group of `by`)."""
        self._ask(data, "count", "", by, epsilon)

    def sum(self, data, column: str, *, by=(), epsilon: float) -> None:
        """The sum of a numeric column, its values clamped to the declared bounds."""
        self._ask(data, "sum", column, by, epsilon)

    def mean(self, data, column: str, *, by=(), epsilon: float) -> None:
        """The mean of a numeric column (a noisy sum over a noisy count, ε split evenly)."""
        self._ask(data, "mean", column, by, epsilon)

    def quantile(self, data, column: str, q: float = 0.5, *, by=(), epsilon: float) -> None:
        """The `q` quantile of a numeric column (0.5: the median)."""
        self._ask(data, "quantile", column, by, epsilon, quantile=q)

    def histogram(self, data, column: str, *, by=(), epsilon: float) -> None:
        """Counts per declared category, or per declared bin of a numeric column."""
        self._ask(data, "histogram", column, by, epsilon)

    def _ask(self, data, statistic, column, by, epsilon, quantile=None) -> None:
        by = [by] if isinstance(by, str) else [str(name) for name in by]
        entry = {
            "dataset": _dataset_of(data),
            "statistic": statistic,
            "column": str(column),
            "by": by,
            "epsilon": float(epsilon),
            "quantile": None if quantile is None else float(quantile),
        }
        path = OUTPUT / DP_QUESTIONS_NAME
        asked = json.loads(path.read_text()) if path.exists() else []
        if len(asked) >= DP_MAX_QUESTIONS:
            raise ValueError(f"A script asks at most {DP_MAX_QUESTIONS} questions with dp.")
        asked.append(entry)
        path.write_text(json.dumps(asked, indent=2))


def _dataset_of(data) -> str:
    if isinstance(data, str):
        if data not in datasets():
            raise KeyError(f"No dataset {data!r} in this job; it has: {', '.join(datasets())}")
        return data
    name = getattr(data, "attrs", {}).get("tre_dataset")
    if name is None:
        raise ValueError(
            "dp questions are asked of a whole dataset as stored: pass the frame "
            "load_dataset returned, or the dataset's name"
        )
    import pyarrow.parquet as pq

    if len(data) != pq.ParquetFile(INPUTS / f"{name}.parquet").metadata.num_rows:
        raise ValueError(
            f"This frame is not the whole {name!r} dataset (it was filtered or cut): dp "
            "questions are asked of the whole dataset as stored"
        )
    return name


dp = _DifferentialPrivacy()
