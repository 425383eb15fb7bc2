"""How faithful and how private the synthetic sample is, on public data: the Adult census.

    python bench/synthesis_quality.py [--columns nine|all] [--sample N] [--seed 7] [--sdv]

Needs sdmetrics (and SDV for `--sdv`), which the product does not, in a virtual environment of
its own: sdmetrics 0.32 wants pandas < 3, and its Column Pair Trends differ from earlier
versions' (see the bench README). The data is `bench/data/adult.csv.gz`, the UCI Adult
training file (32,561 rows, 15 columns; origin and licence in the bench README); rows with
an unknown value are dropped, as is usual, which leaves 30,162.

The rows are shuffled with the seed and split 80/20 into training and hold-out rows. The
training rows go to `synthesise` with the product's arguments (the rare-category threshold
and every other setting at their defaults; the product asks for `TRE_SYNTHETIC_ROWS` rows,
this asks for as many rows as there are training rows unless `--sample` says otherwise).
The sample is then scored against the training rows:

- sdmetrics' QualityReport: overall score, Column Shapes and Column Pair Trends;
- copies: synthetic rows equal to a training row (the rows `synthesise` was given, which its
  guard forbids: must be 0), and, for context, synthetic rows that happen to equal a
  hold-out row, which the synthesiser never saw. With nine mostly categorical columns many
  rows recur: about a quarter of the hold-out rows equal some training row themselves;
- the distance-to-closest-record (DCR) ratio: the median over synthetic rows of the Gower
  distance to the closest training row, divided by the same median over hold-out rows. The
  Gower distance between two rows is the mean over columns of |a - b| / (range of the column
  in the training rows) for numeric columns and of 0 (equal) or 1 (different) for
  categorical ones. A ratio of 1 or more says synthetic rows lie no closer to the training
  rows than new rows from the same population do;
- the time `synthesise` took.

`--sdv` adds SDV's GaussianCopulaSynthesizer, fitted and scored the same way, for comparison.
"""

import argparse
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workspaces.synthesis import SynthesisSettings, synthesise

DATA = Path(__file__).resolve().parent / "data" / "adult.csv.gz"
NUMERIC = {"age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"}
# The nine: two numeric columns and seven categorical ones, income among them.
NINE = [
    "age",
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "sex",
    "hours_per_week",
    "income",
]
HOLDOUT_SHARE = 0.2
DCR_CHUNK = 500


def load(columns: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA).dropna().reset_index(drop=True)
    return frame if columns == "all" else frame[NINE]


def kinds_of(frame: pd.DataFrame) -> dict[str, str]:
    return {name: "integer" if name in NUMERIC else "string" for name in frame.columns}


def sdmetrics_metadata(frame: pd.DataFrame) -> dict:
    return {
        "columns": {
            name: {"sdtype": "numerical" if name in NUMERIC else "categorical"}
            for name in frame.columns
        }
    }


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    n_holdout = int(len(frame) * HOLDOUT_SHARE)
    return shuffled.iloc[n_holdout:].reset_index(drop=True), shuffled.iloc[:n_holdout]


def exact_copies(synthetic: pd.DataFrame, real: pd.DataFrame) -> int:
    real_rows = set(real.astype(str).itertuples(index=False, name=None))
    return sum(row in real_rows for row in synthetic.astype(str).itertuples(index=False, name=None))


def closest_record_distances(rows: pd.DataFrame, training: pd.DataFrame) -> np.ndarray:
    """Gower distance from each row to its closest training row (see the module docstring)."""
    numeric = [name for name in training.columns if name in NUMERIC]
    categorical = [name for name in training.columns if name not in NUMERIC]
    spans = (training[numeric].max() - training[numeric].min()).replace(0, 1).to_numpy(float)
    train_numeric = training[numeric].to_numpy(float) / spans
    rows_numeric = rows[numeric].to_numpy(float) / spans
    codes = {
        name: {value: code for code, value in enumerate(pd.unique(training[name]))}
        for name in categorical
    }
    train_codes = np.column_stack([training[name].map(codes[name]) for name in categorical])
    # A category the training rows lack differs from every training value.
    rows_codes = np.column_stack(
        [rows[name].map(codes[name]).fillna(-1).astype(int) for name in categorical]
    )
    closest = np.empty(len(rows))
    for start in range(0, len(rows), DCR_CHUNK):
        stop = start + DCR_CHUNK
        total = np.zeros((min(stop, len(rows)) - start, len(training)))
        for index in range(len(numeric)):
            total += np.abs(rows_numeric[start:stop, index, None] - train_numeric[None, :, index])
        for index in range(len(categorical)):
            total += rows_codes[start:stop, index, None] != train_codes[None, :, index]
        closest[start:stop] = total.min(axis=1) / training.shape[1]
    return closest


def score(name, synthetic, training, holdout, seconds) -> dict:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(training, synthetic, sdmetrics_metadata(training), verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    holdout_median = np.median(closest_record_distances(holdout, training))
    synthetic_median = np.median(closest_record_distances(synthetic, training))
    return {
        "synthesiser": name,
        "overall": report.get_score(),
        "shapes": properties["Column Shapes"],
        "pairs": properties["Column Pair Trends"],
        "copies": exact_copies(synthetic, training),
        "holdout_matches": exact_copies(synthetic, holdout),
        "dcr_ratio": synthetic_median / holdout_median,
        "rows": len(synthetic),
        "seconds": seconds,
    }


def run_sdv(training: pd.DataFrame, n_rows: int, seed: int) -> tuple[pd.DataFrame, float]:
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    metadata = Metadata.load_from_dict({"tables": {"adult": sdmetrics_metadata(training)}})
    started = time.perf_counter()
    np.random.seed(seed)
    synthesizer = GaussianCopulaSynthesizer(metadata)
    synthesizer.fit(training)
    synthetic = synthesizer.sample(n_rows)
    return synthetic, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--columns", choices=["nine", "all"], default="nine")
    parser.add_argument("--sample", type=int, help="synthetic rows (default: as many as training)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sdv", action="store_true", help="also score SDV's Gaussian copula")
    args = parser.parse_args()

    real = load(args.columns)
    training, holdout = split(real, args.seed)
    n_rows = args.sample or len(training)
    print(
        f"Adult: {len(real):,} rows x {real.shape[1]} columns; "
        f"{len(training):,} training, {len(holdout):,} hold-out; {n_rows:,} synthetic rows"
    )

    settings = SynthesisSettings(n_rows=n_rows, seed=args.seed)
    started = time.perf_counter()
    result = synthesise(training, kinds_of(training), settings)
    seconds = time.perf_counter() - started
    rows = [score("synthesise", result.sample, training, holdout, seconds)]
    if args.sdv:
        synthetic, sdv_seconds = run_sdv(training, n_rows, args.seed)
        rows.append(score("SDV GaussianCopula", synthetic, training, holdout, sdv_seconds))

    print(
        f"hold-out rows equal to a training row: {exact_copies(holdout, training):,} "
        f"of {len(holdout):,}; sdmetrics {version('sdmetrics')}"
    )
    print(
        f"{'synthesiser':<20} overall  shapes  pairs   copies  = hold-out  DCR ratio  rows    time"
    )
    for row in rows:
        print(
            f"{row['synthesiser']:<20} {row['overall']:.4f}   {row['shapes']:.4f}  "
            f"{row['pairs']:.4f}  {row['copies']:>6}  {row['holdout_matches']:>10}  "
            f"{row['dcr_ratio']:9.3f}  {row['rows']:<7,} {row['seconds']:.2f} s"
        )


if __name__ == "__main__":
    main()
