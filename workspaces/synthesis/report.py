"""The synthetic sample's fidelity and privacy report: distances and counts, never a value.

Part of the synthesiser (see the docstring of `synthesis.py`). Fidelity: each column's
marginal distance (Kolmogorov-Smirnov for numeric columns, total variation for categorical
ones) and the difference of pairwise correlations on normal scores. Privacy: the share of
exact copies left after the guard, and the distance to the closest training record of
synthetic rows compared with that of hold-out real rows. Plain Python, no Django.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from sklearn.neighbors import NearestNeighbors

from workspaces.synthesis.columns import is_copy, normal_scores, pairwise_correlation

# Rows compared in the distance-to-closest-record report: brute-force nearest neighbours on
# 5,000 x 5,000 rows takes a fraction of a second, and the medians are stable well before that.
DCR_MAX_ROWS = 5000
DECIMALS = 4


def build_report(
    *, columns, synthetic, real_hashes, real_correlation, copy_guard, rows_real, settings, rng
) -> dict:
    rows_synthetic = len(synthetic[0])
    all_rows = np.arange(rows_synthetic)
    copies = is_copy(columns, synthetic, all_rows, real_hashes)
    column_report = {}
    for column, synthetic_values in zip(columns, synthetic, strict=True):
        distance = column.distance(column.train_values, synthetic_values)
        column_report[str(column.name)] = {
            "kind": column.kind,
            "treatment": column.treatment,
            "metric": column.metric,
            "distance": None if distance is None else _rounded(distance),
        }
    return {
        "method": "gaussian-copula",
        "rows_real": int(rows_real),
        "rows_synthetic": int(rows_synthetic),
        "columns": column_report,
        "correlation_difference": _correlation_difference(
            columns, synthetic, real_correlation, rng
        ),
        "exact_copy_share": _rounded(copies.mean()) if rows_synthetic else 0.0,
        "copy_guard": copy_guard,
        "distance_to_closest_record": _distance_to_closest_record(columns, synthetic),
        "settings": {**asdict(settings), "clip_quantiles": list(settings.clip_quantiles)},
    }


def _rounded(value: float) -> float:
    return round(float(value), DECIMALS)


def _correlation_difference(columns, synthetic, real_correlation, rng) -> dict | None:
    """Mean and largest absolute difference of pairwise correlations, on the normal scores.

    Normal scores are the copula's own scale, so numeric and categorical pairs compare alike.
    """
    copula = [(c, v) for c, v in zip(columns, synthetic, strict=True) if c.in_copula]
    if len(copula) < 2 or len(synthetic[0]) < 3:
        return None
    scores = normal_scores([c for c, _ in copula], [v for _, v in copula], rng)
    synthetic_correlation, _ = pairwise_correlation(scores)
    upper = np.triu_indices(len(copula), k=1)
    difference = np.abs(real_correlation - synthetic_correlation)[upper]
    return {
        "basis": "normal scores",
        "mean": _rounded(difference.mean()),
        "max": _rounded(difference.max()),
    }


def _distance_to_closest_record(columns, synthetic) -> dict | None:
    """Distances from synthetic rows, and from hold-out real rows, to their closest training row.

    Rows are encoded as standardised numeric values and one-hot categories (opaque and free-text
    columns, which never carry real values, are left out) and compared by Euclidean distance.
    Hold-out rows were never fitted, so their distances are what "a new row from the same
    population" looks like. A ratio (synthetic median / hold-out median) near or above 1 means
    the synthetic rows are no closer to the training rows than unseen real rows are; a ratio well
    below 1 would suggest the sample copies or tightly imitates training rows. None when there
    are no hold-out rows, no synthetic rows or no comparable columns.
    """
    comparable = [
        (index, column)
        for index, column in enumerate(columns)
        if column.treatment in ("numeric", "categorical", "boolean")
    ]
    n_train = min(len(columns[0].train_values), DCR_MAX_ROWS)
    n_holdout = len(columns[0].holdout_values)
    n_synthetic = min(len(synthetic[0]), DCR_MAX_ROWS)
    if not comparable or not n_holdout or not n_synthetic:
        return None

    def encode(rows_of):
        parts = [
            column.encode(rows_of(index, column), column.train_values[:n_train])
            for index, column in comparable
        ]
        return np.column_stack(parts)

    training = encode(lambda index, column: column.train_values[:n_train])
    if training.shape[1] == 0:
        return None
    holdout = encode(lambda index, column: column.holdout_values)
    candidates = encode(lambda index, column: synthetic[index][:n_synthetic])
    neighbours = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(training)
    synthetic_distance = neighbours.kneighbors(candidates)[0][:, 0]
    holdout_distance = neighbours.kneighbors(holdout)[0][:, 0]
    synthetic_median = float(np.median(synthetic_distance))
    holdout_median = float(np.median(holdout_distance))
    return {
        "encoding": "standardised numeric + one-hot categorical, euclidean",
        "synthetic": {
            "median": _rounded(synthetic_median),
            "p05": _rounded(np.percentile(synthetic_distance, 5)),
        },
        "holdout": {
            "median": _rounded(holdout_median),
            "p05": _rounded(np.percentile(holdout_distance, 5)),
        },
        "ratio": _rounded(synthetic_median / holdout_median) if holdout_median > 0 else None,
        "rows_compared": {"training": n_train, "synthetic": n_synthetic, "holdout": n_holdout},
    }
