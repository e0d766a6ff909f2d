"""Rows of the raw schema's tables: seeded label-stratified subsets (download --limit, embed --limit and a cell's
training and held-out rows all draw them the same way), a column as numpy, rows taken in order."""

from __future__ import annotations

import numpy as np


def stratified_subset(labels: np.ndarray, n: int, seed: int, bins: int = 5) -> np.ndarray:
    """Sorted row indices (min(n, len(labels)),) of a seeded subset with the label proportions of `labels`.

    Integer labels are strata as they are; float labels (regression) are cut into `bins` quantile bins.
    Each stratum gets its proportional share (largest remainders break ties); rows are drawn without
    replacement by numpy's default_rng(seed).
    """
    labels = np.asarray(labels)
    m = len(labels)
    if n >= m:
        return np.arange(m)
    if np.issubdtype(labels.dtype, np.floating):
        edges = np.unique(np.quantile(labels, np.linspace(0, 1, bins + 1)[1:-1]))
        strata = np.searchsorted(edges, labels, side="right")
    else:
        strata = labels
    values, inverse, counts = np.unique(strata, return_inverse=True, return_counts=True)
    exact = n * counts / m
    take = np.floor(exact).astype(int)
    order = np.lexsort((np.arange(len(values)), -(exact - take)))  # largest remainder, then label order
    take[order[: n - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(inverse == k), size=take[k], replace=False) for k in range(len(values))]
    return np.sort(np.concatenate(chosen))


def column_array(table, name: str) -> np.ndarray:
    """One column of a pyarrow table as numpy (n,): float32 for float columns, else int64 (without pandas)."""
    import pyarrow as pa

    col = table[name]
    return np.asarray(col.to_pylist(), dtype=np.float32 if pa.types.is_floating(col.type) else np.int64)


def take_rows(table, rows: np.ndarray):
    """The rows (k,) of a pyarrow table, in that order."""
    import pyarrow as pa

    rows = np.ascontiguousarray(rows, dtype=np.int64)
    return table.take(pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows)]))


def limit_rows(table, limit: int | None, seed: int):
    """At most `limit` rows of a pyarrow table: a label-stratified subset drawn with `seed`, in table order (None:
    the table as it is)."""
    if limit is None:
        return table
    return take_rows(table, stratified_subset(column_array(table, "label"), limit, seed))
