"""How fast the airlock finds input rows in a run's text, at a million rows and a 5 MB log.

    .venv/bin/python bench/disclosure_values.py [--rows 1000000] [--log-mb 5] [--seed 7]
                                                [--numpy-dtypes]

Builds the seeded 10-column frame of `bench/synthesis.py` (4 numeric, 1 date, 3
categorical, 1 boolean, 1 high-cardinality free-text column), in the dtypes the worker
reads a stored dataset back with (Int64, string, datetime64) unless `--numpy-dtypes`,
then times:

1. `RowValues.from_frames`: indexing the input once per run;
2. `RowValues.find` on a log of `--log-mb` MB of what scripts print (progress lines,
   printed crosstabs, describe(), groupby means, warnings, lists of numbers), with five
   rows of the input printed by `df.sample(5)` and two written as tuples of three of
   their columns in any order, at known places: it reports how many of those lines it
   found (a tuple of three columns of common values may be too likely by chance to be
   told from a coincidence, and is then not found) and how many others (none expected);
3. the same on the worst case for the search: `--log-mb` MB of lines of thirty numbers
   from 0 to 200, every one of them a value of some numeric column (none must be found);
4. `check_output` on the first log as the worker's full log (identifiers, row tuples).

Memory is the growth of the process's peak resident set (ru_maxrss) during each step, so
it excludes the input frame and counts numpy, pandas and pyarrow alike.
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from synthesis import STORED_DTYPES, build_frame

from jobs.disclosure import RowValues, Thresholds, check_output


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def noise_lines(frame: pd.DataFrame, rng: np.random.Generator, size: int) -> list[str]:
    """Lines of what analysis scripts print, `size` characters in all."""
    head = frame.head(20_000)
    blocks = [
        pd.crosstab(head["region"], head["sex"]).to_string(),
        pd.crosstab([head["region"], head["sex"]], head["diagnosis"].fillna("none")).to_string(),
        head.describe().to_string(),
        head.groupby("region")[["age", "bmi", "length_of_stay"]].mean().round(3).to_string(),
        head["age"].value_counts().head(30).to_string(),
    ]
    lines, total, step = [], 0, 0
    while total < size:
        roll = rng.random()
        if roll < 0.55:
            line = (
                f"epoch {step} loss {rng.random():.6f} accuracy {rng.random():.4f} "
                f"step {rng.integers(1_000_000)}"
            )
        elif roll < 0.75:
            line = f"INFO batch {step}: {rng.integers(100)} rows, mean {rng.normal(50, 10):.3f}"
        elif roll < 0.85:
            line = blocks[int(rng.integers(len(blocks)))]
        elif roll < 0.95:
            line = "UserWarning: the default of observed=False is deprecated; pass observed=True"
        else:
            line = ", ".join(str(value) for value in rng.integers(0, 200, 30))
        lines.extend(line.splitlines())
        total += len(line) + 1
        step += 1
    return lines


def number_lines(rng: np.random.Generator, size: int) -> list[str]:
    lines, total = [], 0
    while total < size:
        line = ", ".join(str(value) for value in rng.integers(0, 200, 30))
        lines.append(line)
        total += len(line) + 1
    return lines


def timed(step):
    before = peak_rss_mib()
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started, peak_rss_mib() - before


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--log-mb", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--numpy-dtypes", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    frame = build_frame(args.rows, args.seed)
    if not args.numpy_dtypes:
        frame = frame.astype(STORED_DTYPES)
    frame_mib = frame.memory_usage(deep=True).sum() / 2**20
    print(f"frame: {len(frame):,} rows x {frame.shape[1]} columns, {frame_mib:,.0f} MiB")

    row_values, seconds, memory = timed(lambda: RowValues.from_frames([frame]))
    print(f"from_frames: {seconds:.2f} s, peak memory growth {memory:,.0f} MiB")

    size = int(args.log_mb * 1024**2)
    lines = noise_lines(frame, rng, size)
    printed = frame.sample(5, random_state=args.seed).to_string().splitlines()
    where = len(lines) // 3
    lines[where:where] = printed
    expected = set(range(where + 2, where + len(printed) + 1))  # the header is no row
    for fraction, columns in ((0.6, ["bmi", "admitted_on", "systolic_bp"]),
                              (0.9, ["length_of_stay", "clinical_note", "region"])):  # fmt: skip
        complete = frame[columns].notna().all(axis=1).to_numpy()
        row = frame[complete].iloc[int(rng.integers(complete.sum()))]
        values = [str(row[column]) for column in columns]
        rng.shuffle(values)
        position = int(len(lines) * fraction)
        lines.insert(position, f"patient {tuple(values)}")
        expected = {line + (line > position) for line in expected} | {position + 1}
    log = "\n".join(lines)
    print(f"log: {len(log) / 1024**2:.1f} MB, {len(lines):,} lines, {len(expected)} with rows")

    found, seconds, memory = timed(lambda: row_values.find(log))
    print(
        f"find in the log: {seconds:.2f} s, peak memory growth {memory:,.0f} MiB; found "
        f"{len(expected & set(found.lines))} of the {len(expected)} lines with rows and "
        f"{len(set(found.lines) - expected)} others; capped: {found.capped}"
    )
    for number in sorted(expected - set(found.lines)):
        print(f"  not found: {lines[number - 1][:100]}")

    numbers = "\n".join(number_lines(rng, size))
    found, seconds, memory = timed(lambda: row_values.find(numbers))
    print(
        f"find in {len(numbers) / 1024**2:.1f} MB of lines of 30 numbers: {seconds:.2f} s, "
        f"peak memory growth {memory:,.0f} MiB; {len(found.lines)} lines found; "
        f"capped: {found.capped}"
    )

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "full-log.txt"
        path.write_text(log)
        verdict, seconds, memory = timed(
            lambda: check_output(
                path=path,
                entry=None,
                input_rows=len(frame),
                sensitive_values=frozenset(),
                thresholds=Thresholds(max_output_bytes=64 * 1024**2),
                row_values=row_values,
            )
        )
    print(
        f"check_output on the log: {seconds:.2f} s, peak memory growth {memory:,.0f} MiB; "
        f"{verdict.for_researcher()}"
    )


if __name__ == "__main__":
    main()
