"""How fast the synthesiser fits a million rows and draws a sample, and what it reports.

    .venv/bin/python bench/synthesis.py [--rows 1000000] [--sample 10000] [--seed 7] [--stored]

Builds a seeded 10-column frame of hospital-like records with numpy (4 numeric, 1 date,
3 categorical, 1 boolean, 1 high-cardinality free-text column, with correlated columns and some
missing values), then times `synthesise` end to end: fitting, sampling, the exact-copy guard
against every real row, and the report. The target is under 10 s on 2 cores. `--stored` first
converts the columns to the dtypes a stored dataset is read back with (Int64, boolean and the
"string" dtype) instead of numpy's int64, bool and str.

Peak memory is the growth of the process's peak resident set (ru_maxrss) during the call, so
it counts numpy, pandas and pyarrow allocations alike and excludes the input frame.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workspaces.synthesis import SynthesisSettings, synthesise

KINDS = {
    "age": "integer",
    "systolic_bp": "float",
    "bmi": "float",
    "length_of_stay": "integer",
    "admitted_on": "date",
    "region": "string",
    "diagnosis": "string",
    "sex": "string",
    "is_smoker": "boolean",
    "clinical_note": "string",
}

STORED_DTYPES = {
    "age": "Int64",
    "length_of_stay": "Int64",
    "admitted_on": "datetime64[us]",
    "region": "string",
    "diagnosis": "string",
    "sex": "string",
    "is_smoker": "boolean",
    "clinical_note": "string",
}


def build_frame(rows: int, seed: int) -> pd.DataFrame:
    """Correlated records: older patients have higher blood pressure and longer stays."""
    rng = np.random.default_rng(seed)
    latent = rng.multivariate_normal(
        mean=np.zeros(4),
        cov=[
            [1.0, 0.5, 0.2, 0.4],
            [0.5, 1.0, 0.3, 0.2],
            [0.2, 0.3, 1.0, 0.1],
            [0.4, 0.2, 0.1, 1.0],
        ],
        size=rows,
    )
    age = np.clip(np.round(52 + 18 * latent[:, 0]), 0, 105).astype(np.int64)
    systolic_bp = np.round(128 + 16 * latent[:, 1], 1)
    bmi = np.round(np.exp(3.25 + 0.18 * latent[:, 2]), 1)
    bmi[rng.random(rows) < 0.08] = np.nan
    length_of_stay = rng.poisson(np.exp(1.0 + 0.5 * latent[:, 3])).astype(np.int64)
    admitted_on = np.datetime64("2015-01-01") + rng.integers(0, 3650, rows).astype("timedelta64[D]")
    regions = np.array(["North", "South", "East", "West", "Midlands", "Wales", "Scotland"])
    region = regions[rng.choice(regions.size, rows, p=[0.2, 0.2, 0.15, 0.15, 0.15, 0.1, 0.05])]
    # ICD-like codes with a long tail: the last few are rare and must become "Other".
    diagnosis_codes = np.array([f"D{code:02d}" for code in range(40)])
    weights = 1.0 / np.arange(1, 41) ** 1.6
    weights[-4:] = 3e-6
    diagnosis_index = np.minimum(
        (np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(rows))), 39
    )
    diagnosis = diagnosis_codes[diagnosis_index].astype(object)
    diagnosis[rng.random(rows) < 0.03] = None
    sex = np.where(latent[:, 2] + rng.normal(0, 1, rows) > 0, "F", "M").astype(object)
    sex[rng.random(rows) < 0.001] = "X"
    is_smoker = (0.6 * latent[:, 1] + rng.normal(0, 1, rows)) > 1.0
    note_ids = rng.integers(0, 16**8, rows)
    clinical_note = pd.Series([f"seen on ward, ref {note:08x}" for note in note_ids], dtype=str)
    return pd.DataFrame(
        {
            "age": age,
            "systolic_bp": systolic_bp,
            "bmi": bmi,
            "length_of_stay": length_of_stay,
            "admitted_on": admitted_on,
            "region": region,
            "diagnosis": diagnosis,
            "sex": sex,
            "is_smoker": is_smoker,
            "clinical_note": clinical_note,
        }
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stored", action="store_true", help="use the stored datasets' dtypes")
    args = parser.parse_args()

    started = time.perf_counter()
    real = build_frame(args.rows, args.seed)
    if args.stored:
        real = real.astype(STORED_DTYPES)
    build_seconds = time.perf_counter() - started
    frame_mib = real.memory_usage(deep=True).sum() / 2**20
    layout = "stored dtypes" if args.stored else "numpy dtypes"
    print(f"frame: {len(real):,} rows x {real.shape[1]} columns ({layout}), {frame_mib:,.0f} MiB")
    print(f"built in {build_seconds:.1f} s (not timed below)")

    settings = SynthesisSettings(n_rows=args.sample, seed=args.seed)
    checkpoints = []
    rss_before = peak_rss_mib()
    started = time.perf_counter()
    result = synthesise(
        real,
        KINDS,
        settings,
        progress=lambda fraction: checkpoints.append((fraction, time.perf_counter() - started)),
    )
    seconds = time.perf_counter() - started
    rss_growth = peak_rss_mib() - rss_before

    report = result.report
    verdict = "within" if seconds < 10 else "OVER"
    print(f"synthesise: {seconds:.2f} s ({verdict} the 10 s target)")
    print("  progress: " + ", ".join(f"{f:.0%} at {t:.2f} s" for f, t in checkpoints))
    print(f"  peak memory growth (ru_maxrss): {rss_growth:,.0f} MiB")
    print(f"rows: {report['rows_real']:,} real -> {report['rows_synthetic']:,} synthetic")
    print(f"exact copy share: {report['exact_copy_share']}  copy guard: {report['copy_guard']}")
    correlation = report["correlation_difference"]
    print(
        f"correlation difference ({correlation['basis']}): mean {correlation['mean']}, "
        f"max {correlation['max']}"
    )
    for name, column in report["columns"].items():
        distance = "-" if column["distance"] is None else f"{column['distance']:.4f}"
        print(f"  {name:<15} {column['treatment']:<12} {column['metric'] or '':<4} {distance}")
    dcr = report["distance_to_closest_record"]
    print(
        f"distance to closest record: synthetic median {dcr['synthetic']['median']} "
        f"(p05 {dcr['synthetic']['p05']}), hold-out median {dcr['holdout']['median']} "
        f"(p05 {dcr['holdout']['p05']}), ratio {dcr['ratio']}"
    )
    print(result.sample.head(5).to_string())


if __name__ == "__main__":
    main()
