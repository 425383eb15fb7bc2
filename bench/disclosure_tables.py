"""How long the airlock takes to recompute tables from a run's inputs, at a million rows.

    .venv/bin/python bench/disclosure_tables.py [--rows 1000000] [--seed 7]

Builds the seeded 10-column frame of `bench/synthesis.py` in the dtypes the worker reads
a stored dataset back with, then times:

1. `InputTables.from_frames`: indexing the input once per run (each column of
   categories' values);
2. `check_output` on tables a script writes with plain pandas: a crosstab (region x
   sex), a groupby mean of two columns (region x diagnosis), a wide pivot of a sum with
   margins, `describe()`, a 500-row sample, and the worst case for the recomputation: a
   table of the largest size allowed whose cells each have to be looked up (every
   region x diagnosis x age, as a long groupby mean);
3. the same tables a second time in the same run (the groupings are cached per run).

Each line gives the whole check and, in brackets, the recomputation alone (timed again
after the check, so cached); the rest is the search for input rows in the text
(`bench/disclosure_values.py`).

Memory is the growth of the process's peak resident set (ru_maxrss) during each step.
"""

import argparse
import csv
import io
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from synthesis import STORED_DTYPES, build_frame

from jobs.disclosure import InputTables, RowValues, Thresholds, check_output
from jobs.disclosure.recompute import read_layout


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    frame = build_frame(args.rows, args.seed).astype(STORED_DTYPES)
    print(f"input: {len(frame):,} rows x {frame.shape[1]} columns")

    before, started = peak_mb(), time.perf_counter()
    tables = InputTables.from_frames([frame])
    print(
        f"InputTables.from_frames: {time.perf_counter() - started:.2f} s, "
        f"+{peak_mb() - before:.0f} MB peak"
    )
    row_values = RowValues.from_frames([frame])

    outputs = {
        "crosstab": lambda: frame.groupby(["region", "sex"]).size().unstack(),
        "groupby_mean": lambda: (
            frame.groupby(["region", "diagnosis"])[["age", "length_of_stay"]].mean().round(2)
        ),
        "pivot_sum_margins": lambda: frame.pivot_table(
            index="region", columns="sex", values="length_of_stay", aggfunc="sum", margins=True
        ),
        "describe": lambda: frame.describe(),
        "sample_500": lambda: frame.sample(500, random_state=1),
        "long_groupby": lambda: (
            frame.groupby(["region", "diagnosis", "age"])["bmi"].mean().round(1)
        ),
    }
    with tempfile.TemporaryDirectory() as directory:
        paths = {}
        for name, make in outputs.items():
            path = Path(directory) / f"{name}.csv"
            make().to_csv(path)
            paths[name] = path
        for attempt in ("first", "again"):
            for name, path in paths.items():
                before, started = peak_mb(), time.perf_counter()
                verdict = check_output(
                    path=path,
                    entry=None,
                    input_rows=len(frame),
                    sensitive_values=frozenset(),
                    thresholds=Thresholds(),
                    row_values=row_values,
                    input_tables=tables,
                )
                elapsed = time.perf_counter() - started
                grown = peak_mb() - before
                # The recomputation alone (the rest is the search for input rows in text).
                started = time.perf_counter()
                rows = list(csv.reader(io.StringIO(path.read_text())))
                tables.recompute(read_layout(rows, inputs=tables), fewer_than=10)
                alone = time.perf_counter() - started
                rules = sorted({reason.rule for reason in verdict.reasons})
                print(
                    f"{attempt:>5} {name:<18} {len(rows) - 1:>6} rows {elapsed:6.2f} s "
                    f"(recomputing {alone:5.2f} s) +{grown:4.0f} MB  {verdict.status:<6} "
                    f"{', '.join(rules)}"
                )


if __name__ == "__main__":
    main()
