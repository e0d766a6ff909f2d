"""Chunked pricing kernels of the streaming solver: array backends (NumpyOps; streaming_torch.TorchOps
mirrors it), the prices of sorted rows, the running max and top-k across chunks priced on threads, and the
memory bounds of the chunks.

Pricing a residual r (1^T r = 0) means A_j^T r for every column j. With the `paper` pin rule at depth
L >= 3 the columns of one *row* (a direction, its layer-1 anchor and the deeper pins but the last) are
|h_n - h_m| for m = 1..N, h being the row's nested distances; sorting h once and forming prefix sums of
r and r h gives all N values in O(N log N):

    g(h_(k)) = h_(k) (2 Lam_k - Lam_N) - 2 S_k + S_N,   Lam_k = sum_(i<=k) r_(i),  S_k = sum_(i<=k) r_(i) h_(i)
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

#: Default bound on the memory of the pricing chunks in flight (bytes).
STREAM_MEMORY = 256e6
#: Bytes per value entry held by the pricing kernels: sorted rows (float64 values, int64 order and
#: temporaries), direct vertex blocks, depth-2 planes.
BYTES_SORTED = 80
BYTES_DIRECT = 64
BYTES_PLANE = 48


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------------ array backends


class NumpyOps:
    """Array operations of the pricing kernels in numpy (streaming_torch.TorchOps mirrors them).

    threads: chunks priced at once (numpy releases the GIL in sorting and prefix sums); chunk_entries:
    values per chunk, small enough to stay in cache."""

    name = "numpy"
    device_name = "cpu"
    chunk_entries = 1 << 18

    def __init__(self, dtype=np.float64, threads: int | None = None):
        self.dtype = np.dtype(dtype)
        self.threads = threads or _cpu_count()

    def asarray(self, a, integer: bool = False):
        return np.asarray(a, dtype=np.int64 if integer else self.dtype)

    def numpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def size(self, a) -> int:
        return int(a.size)

    def zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    def sort_rows(self, H):
        """(sorted rows, sort order) of H (R, N)."""
        order = np.argsort(H, axis=1)
        return np.take_along_axis(H, order, axis=1), order

    def cumsum_rows(self, x):
        return np.cumsum(x, axis=1)

    def clip0(self, x):
        return np.maximum(x, 0.0)

    def row_max(self, v):
        """(max, argmax) of each row of v (R, n)."""
        j = np.argmax(v, axis=1)
        return v[np.arange(len(v)), j], j

    def max_pos(self, v) -> tuple[float, int]:
        """(max, flat position) of v."""
        j = int(np.argmax(v))
        return float(v.flat[j]), j

    def select(self, v, threshold: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat positions and values of the (at most k) largest entries of v above threshold."""
        flat = v.reshape(-1)
        pos = np.flatnonzero(flat > threshold)
        if len(pos) > k:
            pos = pos[np.argpartition(-flat[pos], k - 1)[:k]]
        return pos, flat[pos].astype(np.float64)


# --------------------------------------------------------------------------------------- pricing results


@dataclass
class Pricing:
    """max |A_j^T r| over all columns (value, id) and the top columns above the threshold, best first
    (ids, values)."""

    max_value: float
    max_id: int
    ids: np.ndarray
    values: np.ndarray
    seconds: float


class Selector:
    """Running max and top-k (above a threshold, ids not excluded) across chunks: reduce() runs in the
    worker threads on one chunk, merge() in the caller."""

    def __init__(self, k: int, threshold: float, exclude: np.ndarray | None, per_row: bool):
        self.k, self.per_row, self.threshold = k, per_row, threshold
        self.exclude = np.sort(np.asarray(exclude, dtype=np.int64)) if exclude is not None else np.zeros(0, np.int64)
        self.max_value, self.max_id = -np.inf, -1
        self.ids, self.values = np.zeros(0, np.int64), np.zeros(0)
        self.floor = threshold

    def reduce(self, ops, vals, id_of):
        """vals: backend array of |A_j^T r| for one chunk; id_of(flat positions (np)) -> column ids.
        per_row: only the best column of each row of a 2-D chunk (one direction's last pins) competes.
        Returns (max, its id, candidate ids, their values)."""
        if self.per_row and vals.ndim == 2:
            width = vals.shape[1]
            vals, arg = ops.row_max(vals)

            def id_of(pos, id_of=id_of, arg=arg, width=width):
                return id_of(pos * width + ops.numpy(arg[ops.asarray(pos, integer=True)]))

        if ops.size(vals) == 0:
            return -np.inf, -1, np.zeros(0, np.int64), np.zeros(0)
        m, j = ops.max_pos(vals)
        m_id = int(id_of(np.array([j]))[0])
        if self.k <= 0:
            return m, m_id, np.zeros(0, np.int64), np.zeros(0)
        pos, v = ops.select(vals, self.floor, self.k + len(self.exclude))
        ids = id_of(pos) if len(pos) else np.zeros(0, np.int64)
        if len(self.exclude) and len(ids):
            keep = ~np.isin(ids, self.exclude)
            ids, v = ids[keep], v[keep]
        return m, m_id, ids, v

    def merge(self, part) -> None:
        m, m_id, ids, v = part
        if m > self.max_value:
            self.max_value, self.max_id = m, m_id
        if len(ids) == 0:
            return
        ids = np.concatenate([self.ids, ids])
        v = np.concatenate([self.values, v])
        if len(v) > self.k:
            top = np.argpartition(-v, self.k - 1)[: self.k]
            ids, v = ids[top], v[top]
            self.floor = max(self.threshold, float(v.min()))
        self.ids, self.values = ids, v

    def result(self, seconds: float) -> Pricing:
        order = np.argsort(-self.values, kind="stable")
        return Pricing(float(self.max_value), self.max_id, self.ids[order], self.values[order], seconds)


def run(tasks, sel: Selector, ops, threads: int) -> None:
    """Run chunk tasks (callables -> (vals, id_of)) on `threads` threads, at most `threads` in flight."""
    if threads <= 1:
        for task in tasks:
            sel.merge(sel.reduce(ops, *task()))
        return
    with ThreadPoolExecutor(threads) as ex:
        live: deque = deque()
        for task in tasks:
            live.append(ex.submit(lambda t=task: sel.reduce(ops, *t())))
            if len(live) >= threads:
                sel.merge(live.popleft().result())
        while live:
            sel.merge(live.popleft().result())


def sorted_prices(ops, H, r, order=None):
    """|sum_n r_n |h_n - h_m|| for every row h of H (R, N) and every m, in each row's sorted order:
    (values (R, N), order (R, N)); column m = order[., k] has value [., k]. order: the rows' sort orders
    when known (numpy; any integer type), gathered instead of sorted."""
    if order is None:
        Hs, order = ops.sort_rows(H)
    else:
        order = order.astype(np.intp)
        Hs = np.take_along_axis(H, order, axis=1)
    del H
    rs = r[order]
    lam = ops.cumsum_rows(rs)
    rs *= Hs
    S = ops.cumsum_rows(rs)
    del rs
    lam *= 2.0
    lam -= 0.5 * lam[:, -1:]  # 2 Lam_k - Lam_N
    lam *= Hs
    del Hs
    S *= -2.0
    S += -0.5 * S[:, -1:]  # -2 S_k + S_N
    lam += S
    del S
    return abs(lam), order


def pool_size(N: int, memory: float, pool: int | None = None) -> int:
    """Candidates materialised per pass: pool (default 8N), at most what `memory` holds (3 copies of N
    values each), at least N/2."""
    return int(max(N // 2, min(pool or 8 * N, memory // (24 * N))))
