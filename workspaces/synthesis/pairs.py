"""The synthetic sample's pairwise tables: the pool rows to keep so that every pair of
columns has the training rows' two-way table (`PairTables`, iterative proportional
fitting), and the rows chosen by those weights (`choose_rows`). The copula
(`workspaces.synthesis`) draws the pool; this chooses from it. Plain numpy, no Django.
"""

import itertools

import numpy as np

# Pairwise tables matched (`PairTables`): at most this many pairs, the most correlated ones,
# and at most this many sweeps of iterative proportional fitting, fewer once every table is
# within the tolerance (total variation distance).
MAX_MATCHED_PAIRS = 300
MAX_TABLE_CELLS = 100_000
MATCHING_SWEEPS = 30
MATCHING_TOLERANCE = 0.002


class PairTables:
    """The training rows' two-way tables, and the pool weights that reproduce them.

    A copula carries one correlation per pair of columns, which is too little for categories:
    "Husband" goes with "Married" and "Male", "Own-child" with "Never-married" and youth, and
    no single order of the categories makes all of that monotone. So the sample is chosen
    from a larger pool of copula draws, weighted by iterative proportional fitting (raking)
    until, for every pair of columns, the pool's table of categories (numbers cut at their
    deciles, missing as a cell of its own) matches the training rows' table. The fitted model
    thus holds two-way tables, no row. Cells with fewer training rows than the rare-category
    threshold are matched only as one group per table (a combination that never occurs is
    not told apart from a rare one), and the group is left alone when even its total is
    under the threshold: no count below the threshold steers the sample.
    """

    def __init__(self, columns, correlation, threshold):
        self.columns = [column for column in columns if column.cell_count > 1]
        indices = {id(column): index for index, column in enumerate(columns)}
        pairs = [
            (i, j)
            for i, j in itertools.combinations(range(len(self.columns)), 2)
            if self.columns[i].cell_count * self.columns[j].cell_count <= MAX_TABLE_CELLS
        ]
        if len(pairs) > MAX_MATCHED_PAIRS:
            strength = [
                abs(correlation[indices[id(self.columns[i])], indices[id(self.columns[j])]])
                for i, j in pairs
            ]
            pairs = [pairs[k] for k in np.argsort(strength)[::-1][:MAX_MATCHED_PAIRS]]
        self.pairs = pairs
        cells = [column.cells(column.train_values) for column in self.columns]
        self.groups = []
        self.targets = []
        for i, j in pairs:
            size = self.columns[i].cell_count * self.columns[j].cell_count
            counts = np.bincount(cells[i] * self.columns[j].cell_count + cells[j], minlength=size)
            group = np.where(counts < threshold, size, np.arange(size))
            target = np.bincount(group, weights=counts, minlength=size + 1)
            target /= max(target.sum(), 1.0)
            if 0 < counts[counts < threshold].sum() < threshold:
                target[size] = np.nan  # too few rows even together: leave them unmatched
            self.groups.append(group)
            self.targets.append(target)

    def inclusion(self, values: dict, n_rows: int) -> np.ndarray:
        """Each pool row's probability of being in the sample, summing to `n_rows`.

        Raking weights, found by iterative proportional fitting and kept at most 1 (a pool row
        can be chosen once), so that the expected sample has the training rows' tables.
        `values` holds each matched column's values in the pool rows, by id of the column.
        """
        if not self.pairs:
            count = len(next(iter(values.values()), ()))
            return np.full(count, n_rows / max(count, 1))
        count = len(values[id(self.columns[0])])
        weights = np.full(count, n_rows / count)
        cells = [column.cells(values[id(column)]) for column in self.columns]
        pool_groups = [
            group[cells[i] * self.columns[j].cell_count + cells[j]]
            for group, (i, j) in zip(self.groups, self.pairs, strict=True)
        ]
        for _ in range(MATCHING_SWEEPS):
            worst = 0.0
            for pool_group, target in zip(pool_groups, self.targets, strict=True):
                current = np.bincount(pool_group, weights=weights, minlength=target.size)
                if not current.sum() > 0:
                    return np.full(count, n_rows / count)
                current /= current.sum()
                matched = ~np.isnan(target)
                worst = max(worst, 0.5 * float(np.abs(current - target)[matched].sum()))
                ratio = np.divide(
                    target, current, out=np.ones_like(target), where=matched & (current > 0)
                )
                # Rescaled to the sample size and held at 1, cheaply: `_capped` does it exactly.
                weights *= ratio[pool_group] * (n_rows / weights.sum())
                np.minimum(weights, 1.0, out=weights)
            if worst < MATCHING_TOLERANCE:
                break
        return _capped(weights, n_rows)


def _capped(weights: np.ndarray, total: int) -> np.ndarray:
    """`weights` scaled to sum to `total`, with none above 1 (the excess spread over the rest)."""
    capped = np.zeros_like(weights)
    free = weights > 0
    remaining = float(total)
    for _ in range(50):
        if not weights[free].sum() > 0:
            break
        scale = remaining / weights[free].sum()
        over = free & (weights * scale >= 1.0)
        if not over.any():
            capped[free] = weights[free] * scale
            break
        capped[over] = 1.0
        free &= ~over
        remaining -= over.sum()
        if remaining <= 0 or not free.any():
            break
    return capped


def choose_rows(tables, columns, pool, is_pool_copy, n_rows, rng) -> np.ndarray:
    """`n_rows` pool rows: rows equal to no real row, chosen by their raking weights.

    Systematic sampling with each row's inclusion probability, so the sample's tables are the
    raked ones but for chance. Only when too few rows are new do copies fill the rest, for
    the exact-copy guard to redraw, perturb or drop.
    """
    fresh = np.flatnonzero(~is_pool_copy)
    if fresh.size > n_rows:
        matched = {id(column) for column in tables.columns}
        values = {
            id(column): pool_values[fresh]
            for column, pool_values in zip(columns, pool, strict=True)
            if id(column) in matched
        }
        inclusion = tables.inclusion(values, n_rows)
        # Raking can zero every row (a pool that is all rare combinations): then any will do.
        if not inclusion.sum() > n_rows - 0.5:
            inclusion = np.full(fresh.size, n_rows / fresh.size)
        steps = np.floor(np.cumsum(inclusion) - rng.random())
        is_chosen = np.diff(steps, prepend=-1.0) > 0
        # Rounding can leave the count a row off: trim, or top up at random.
        shortfall = n_rows - int(is_chosen.sum())
        if shortfall > 0:
            is_chosen[rng.permutation(np.flatnonzero(~is_chosen))[:shortfall]] = True
        fresh = fresh[np.flatnonzero(is_chosen)[:n_rows]]
    rows = np.concatenate([fresh, np.flatnonzero(is_pool_copy)[: n_rows - fresh.size]])
    return rng.permutation(rows)
