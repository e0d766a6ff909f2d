"""Working-set Lasso over implicit reflection dictionaries (theory.md section 7): columns are priced in
bounded chunks built on the fly from directions and pins, never holding all N x p values.

    min_(z, xi)  1/2 || A z + xi 1 - y ||^2 + beta ||z||_1          A: (N, p) implicit

Pricing a residual r (1^T r = 0) means A_j^T r for every column j. With the `paper` pin rule at depth
L >= 3 the columns of one *row* (a direction, its layer-1 anchor and the deeper pins but the last) are
|h_n - h_m| for m = 1..N, h being the row's nested distances; sorting h once and forming prefix sums of
r and r h gives all N values in O(N log N):

    g(h_(k)) = h_(k) (2 Lam_k - Lam_N) - 2 S_k + S_N,   Lam_k = sum_(i<=k) r_(i),  S_k = sum_(i<=k) r_(i) h_(i)

The `all` rule prices its vertex blocks directly, chunked over directions and point tuples.

Column ids: `paper`: pair * N^(L-2) + (pins of levels 2..L-1 in base N), a pair being a direction and
its layer-1 anchor (the first spanning point, or every training point for unspanned directions);
`all`: rank of the (unique) direction * V + offset of the vertex system + point tuple in base N, with
V = n_vertices_per_direction(L, N); non-genuine vertices price as 0 and are never selected.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from symcli.errors import UserError
from symcli.lasso.dictionary import PIN_RULES, Dictionary, _unique_rows, dictionary_bytes
from symcli.lasso.directions import Directions
from symcli.lasso.features import PLANE, REFLECTION, VertexSystem, data_scale, psi, vertex_systems
from symcli.lasso.solvers import LassoResult, active_set_lasso, check_beta, single_thread_blas
from symcli.numerics import DEDUPE_RESOLUTION, KKT_TOL, OFFSET_EPS

#: Default bound on the memory of the pricing chunks in flight (bytes).
STREAM_MEMORY = 256e6
#: Bytes per value entry held by the pricing kernels: sorted rows (float64 values, int64 order and
#: temporaries), direct vertex blocks, depth-2 planes.
BYTES_SORTED = 80
BYTES_DIRECT = 64
BYTES_PLANE = 48
BACKENDS = ("numpy", "torch", "auto")
THREADS = int(os.environ.get("SYMCLI_THREADS", "0")) or None


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


class _Selector:
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


def _run(tasks, sel: _Selector, ops, threads: int) -> None:
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


def _sorted_prices(ops, H, r):
    """|sum_n r_n |h_n - h_m|| for every row h of H (R, N) and every m, in each row's sorted order:
    (values (R, N), order (R, N)); column m = order[., k] has value [., k]."""
    Hs, order = ops.sort_rows(H)
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


# ----------------------------------------------------------------------------------- implicit dictionary


@dataclass
class Columns:
    """Materialised columns: F (N, k) values; direction (k,) index into directions.W; a (k,); c (k, L-2);
    pins (k, L-1); family (k,); valid (k,): genuine vertices (always True for `paper`)."""

    F: np.ndarray
    direction: np.ndarray
    a: np.ndarray
    c: np.ndarray
    pins: np.ndarray
    family: np.ndarray
    valid: np.ndarray


class ImplicitDictionary:
    """The dictionary of build_dictionary(X, depth, directions, pin_rule, norm, ...) without its values.

    X: (N, d) data. Columns are build_dictionary's candidates before constant and duplicate removal
    (which change nothing in the Lasso optimum), computed by the same formulas; see the module docstring
    for column ids. price() streams them in chunks of at most `memory` bytes in all; columns()
    materialises any set of ids with metadata; dictionary() turns a set into a deduplicated Dictionary.
    """

    def __init__(self, X: np.ndarray, depth: int, directions: Directions, pin_rule: str, norm: str):
        if pin_rule not in PIN_RULES:
            raise UserError(f"unknown pin rule {pin_rule!r}; choose paper or all")
        self.X = np.asarray(X, dtype=np.float64)
        self.N = N = self.X.shape[0]
        self.depth, self.directions, self.pin_rule, self.norm = depth, directions, pin_rule, norm
        self.scale = data_scale(self.X)
        if pin_rule == "paper":
            n_anchor = np.where(directions.span[:, 0] >= 0, 1, N)
            self.pair_start = np.concatenate([[0], np.cumsum(n_anchor)]).astype(np.int64)
            self.n_pairs = int(self.pair_start[-1])
            self.per_pair = N ** (depth - 2)
            self.n_columns = self.n_pairs * self.per_pair
        else:
            self.dir_idx = _unique_rows(directions.W)
            self.systems = vertex_systems(depth)
            sizes = [N ** len(s.point_rows) for s in self.systems]
            self.sys_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            self.per_dir = int(self.sys_start[-1])
            self.n_columns = len(self.dir_idx) * self.per_dir

    # ---------------------------------------------------------------------------------------- memory

    def unit_bytes(self) -> int:
        """Bytes of the smallest pricing chunk: one pair's rows (`paper`), N point tuples (`all`)."""
        N = self.N
        if self.pin_rule == "paper":
            return BYTES_PLANE * N if self.depth == 2 else BYTES_SORTED * N ** (self.depth - 2)
        return BYTES_DIRECT * N * N

    def fixed_bytes(self, memory: float = STREAM_MEMORY) -> int:
        """Bytes held besides the chunks (estimate): data, directions, index tables, a working set of up
        to 6N columns (values, centred copy, factorisation) and the candidates of one pass."""
        n_dir, d = self.directions.W.shape
        N = self.N
        return 8 * self.X.size + 8 * n_dir * (2 * d + 3) + 8 * 19 * N * N + 24 * N * pool_size(N, memory)

    def _threads(self, ops, memory: float) -> int:
        return max(1, min(ops.threads, int(memory // self.unit_bytes())))

    def _units(self, ops, memory: float, threads: int, unit_entries: int, bytes_per_entry: int) -> int:
        """Units (pairs, directions, tuples) per chunk: threads chunks in flight within memory, and at
        most ops.chunk_entries values each."""
        budget = min(memory / threads / bytes_per_entry, ops.chunk_entries)
        return max(1, int(budget // unit_entries))

    # --------------------------------------------------------------------------------------- helpers

    def _T(self, dirs: np.ndarray) -> np.ndarray:
        """Projections (len(dirs), N), computed as build_dictionary does."""
        return (self.X @ self.directions.W[dirs].T).T

    def _pairs(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(direction, anchor) of pair indices."""
        dirs = np.searchsorted(self.pair_start, pairs, side="right") - 1
        span0 = self.directions.span[dirs, 0]
        return dirs, np.where(span0 >= 0, span0, pairs - self.pair_start[dirs])

    # --------------------------------------------------------------------------------------- pricing

    def price(
        self,
        r: np.ndarray,
        k: int = 0,
        threshold: float = 0.0,
        exclude: np.ndarray | None = None,
        memory: float = STREAM_MEMORY,
        ops=None,
        per_row: bool = False,
    ) -> Pricing:
        """|A_j^T r| over every column for r (N,) with sum 0: the max with its id, and the top k column ids
        above threshold that are not in exclude (per_row, `paper` rule: only each row's best competes). The chunks in
        flight hold at most about `memory` bytes."""
        ops = ops or NumpyOps()
        t0 = time.perf_counter()
        sel = _Selector(k, threshold, exclude, per_row)
        rb = ops.asarray(np.asarray(r, dtype=np.float64))
        threads = self._threads(ops, memory)
        tasks = self._paper_tasks(ops, rb, memory, threads) if self.pin_rule == "paper" else None
        if tasks is None:
            tasks = self._all_tasks(ops, rb, memory, threads)
        _run(tasks, sel, ops, threads)
        return sel.result(time.perf_counter() - t0)

    def _paper_base(self, ops, p0: int, p1: int):
        """Rows h (R, N) of pairs p0..p1 at level L-3 (depth 2: the columns themselves), backend arrays."""
        pairs = np.arange(p0, p1)
        dirs, anchors = self._pairs(pairs)
        udirs, inv = np.unique(dirs, return_inverse=True)
        T = ops.asarray(self._T(udirs))
        Tp = T[ops.asarray(inv, integer=True)]
        H = abs(Tp - Tp[ops.asarray(np.arange(len(pairs)), integer=True), ops.asarray(anchors, integer=True)][:, None])
        for _ in range(self.depth - 3):  # depth 4: rows (pair, m2) = |H - H_m2|
            H = abs(H[:, None, :] - H[:, :, None]).reshape(-1, self.N)
        return H

    def _paper_tasks(self, ops, r, memory: float, threads: int):
        N, L = self.N, self.depth
        if L == 2:
            step = self._units(ops, memory, threads, N, BYTES_PLANE)
        else:
            step = self._units(ops, memory, threads, N ** (L - 2), BYTES_SORTED)

        def task(p0: int, p1: int):
            H = self._paper_base(ops, p0, p1)
            if L == 2:
                return abs(H @ r), lambda pos: p0 + pos
            g, order = _sorted_prices(ops, H, r)
            row0 = p0 * N ** (L - 3)

            def id_of(pos):
                row, col = np.divmod(pos, N)
                m = ops.numpy(order[ops.asarray(row, integer=True), ops.asarray(col, integer=True)])
                return (row0 + row) * N + m

            return g, id_of

        for p0 in range(0, self.n_pairs, step):
            yield lambda p0=p0: task(p0, min(p0 + step, self.n_pairs))

    def _all_tasks(self, ops, r, memory: float, threads: int):
        N = self.N
        for si, s in enumerate(self.systems):
            n_tup = N ** len(s.point_rows)
            if n_tup * N * BYTES_DIRECT * threads <= memory and n_tup * N <= ops.chunk_entries:
                dstep, tstep = self._units(ops, memory, threads, n_tup * N, BYTES_DIRECT), n_tup
            else:
                dstep, tstep = 1, self._units(ops, memory, threads, N, BYTES_DIRECT)

            def task(u0: int, u1: int, t0: int, t1: int, si: int = si, s: VertexSystem = s):
                T = ops.asarray(self._T(self.dir_idx[u0:u1]))
                vals = self._vertex_values(ops, T, s, np.arange(t0, t1), r)

                def id_of(pos):
                    i, t = np.divmod(pos, t1 - t0)
                    return (u0 + i) * self.per_dir + self.sys_start[si] + t0 + t

                return vals.reshape(-1), id_of  # flat: per_row applies to `paper` rows only

            for u0 in range(0, len(self.dir_idx), dstep):
                for t0 in range(0, n_tup, tstep):
                    yield lambda u0=u0, t0=t0, task=task, n_tup=n_tup, tstep=tstep, dstep=dstep: task(
                        u0, min(u0 + dstep, len(self.dir_idx)), t0, min(t0 + tstep, n_tup)
                    )

    def _vertex_values(self, ops, T, s: VertexSystem, tups: np.ndarray, r):
        """|lambda^T phi| (n_dir, n_tup) of the vertices of system s at flat point tuples tups, for
        directions T (n_dir, N); 0 where the vertex is not genuine."""
        p0, c, tup = self._vertex_params(ops, T, s, tups)
        vals = abs(self._psi(T[:, None, :] - p0[..., None], ops.clip0(c)) @ r)
        vals[~self._valid(ops, T, s, p0, c, tup)] = 0.0
        return vals

    def _vertex_params(self, ops, T, s: VertexSystem, tups: np.ndarray, diagonal: bool = False):
        """(p0, c, tup) of system s's vertices for directions T (n, N) and flat point tuples tups: every
        direction with every tuple, (n, n_tup) and (n, n_tup, L-2), or (diagonal) direction i with tuple i.
        (p0, c) = rhs @ Minv^T as features.enumerate_vertices computes them."""
        N, L = self.N, self.depth
        k = len(s.point_rows)
        tup = np.stack(np.unravel_index(tups, (N,) * k), axis=1) if k else np.zeros((len(tups), 0), np.int64)
        rhs = ops.zeros((len(tups), L - 1) if diagonal else (T.shape[0], len(tups), L - 1))
        rows = ops.asarray(np.arange(len(tups)), integer=True)
        for col, row in enumerate(s.point_rows):
            idx = ops.asarray(tup[:, col], integer=True)
            if diagonal:
                rhs[:, row] = T[rows, idx]
            else:
                rhs[:, :, row] = T[:, idx]
        v = rhs @ ops.asarray(s.Minv.T)
        return v[..., 0], v[..., 1:], tup

    @staticmethod
    def _psi(u, c):
        """psi_c(u) for backend arrays (features.psi)."""
        h = abs(u)
        for l in range(c.shape[-1]):
            h = abs(h - c[..., l, None])
        return h

    def _valid(self, ops, T, s: VertexSystem, p0, c, tup, diagonal: bool = False):
        """Genuine vertices (features.VertexBlock.valid): offsets >= 0 and each pinned point on its kink."""
        tol = OFFSET_EPS * self.scale
        ok = (c >= -tol).all(-1)
        cc = ops.clip0(c)
        rows = ops.asarray(np.arange(len(tup)), integer=True)
        for r, lv in zip(s.point_rows, s.point_levels, strict=True):
            idx = ops.asarray(tup[:, r], integer=True)
            u = (T[rows, idx] if diagonal else T[:, idx]) - p0
            arg = u if lv == 0 else self._psi(u[..., None], cc[..., : lv - 1])[..., 0] - cc[..., lv - 1]
            ok &= abs(arg) <= 1e3 * tol
        return ok

    # ------------------------------------------------------------------------------------ materialise

    def columns(self, ids: np.ndarray) -> Columns:
        """Values and metadata of the columns ids (k,), by the formulas of build_dictionary."""
        ids = np.asarray(ids, dtype=np.int64)
        N, L, n = self.N, self.depth, len(ids)
        valid = np.ones(n, bool)
        if self.pin_rule == "paper":
            pair, rest = np.divmod(ids, self.per_pair)
            dirs, anchors = self._pairs(pair)
            udirs, inv = np.unique(dirs, return_inverse=True)
            T = self._T(udirs)[inv]
            a = -T[np.arange(n), anchors]
            H = np.abs(T + a[:, None])
            deeper = np.zeros((n, L - 2), np.int64)
            if L > 2:
                deeper[:] = np.stack(np.unravel_index(rest, (N,) * (L - 2)), axis=1)
            c = np.zeros((n, L - 2))
            for l in range(L - 2):
                c[:, l] = H[np.arange(n), deeper[:, l]]
                H = np.abs(H - c[:, l, None])
            pins = np.concatenate([anchors[:, None], deeper], axis=1)
            family = np.full(n, REFLECTION)
            F = H
        else:
            u, local = np.divmod(ids, self.per_dir)
            si = np.searchsorted(self.sys_start, local, side="right") - 1
            dirs = self.dir_idx[u]
            T = self._T(dirs)
            p0, c, pins = np.zeros(n), np.zeros((n, L - 2)), np.full((n, L - 1), -1)
            family = np.zeros(n, np.int64)
            ops = NumpyOps()
            for s_i in np.unique(si):
                m = si == s_i
                s = self.systems[s_i]
                p0[m], c[m], tup = self._vertex_params(ops, T[m], s, local[m] - self.sys_start[s_i], True)
                valid[m] = self._valid(ops, T[m], s, p0[m], c[m], tup, True)
                pins[np.ix_(m, list(s.point_rows))] = tup
                family[m] = s.family
            c = np.maximum(c, 0.0)
            F = psi(T - p0[:, None], c)
            a = -p0
        family[np.all(c <= OFFSET_EPS * self.scale * 1e3, axis=1)] = PLANE
        return Columns(np.ascontiguousarray(F.T), dirs, a, c, pins, family, valid)

    def keys(self, F: np.ndarray) -> list[bytes | None]:
        """Duplicate keys of columns F (N, k) as build_dictionary forms them: values centred, rounded to
        DEDUPE_RESOLUTION of the data scale, signed by their first nonzero (None: constant on the data)."""
        key = np.rint((F - F.mean(axis=0)) / (self.scale * DEDUPE_RESOLUTION)).astype(np.int64).T
        out: list[bytes | None] = []
        for row in key:
            nz = np.flatnonzero(row)
            out.append(None if len(nz) == 0 else (row * np.sign(row[nz[0]])).tobytes())
        return out

    def dictionary(self, ids: np.ndarray) -> Dictionary:
        """The columns ids as a Dictionary, in order; non-genuine, constant and duplicate columns dropped
        (the first of each duplicate group kept). n_candidates is the implicit column count."""
        cols = self.columns(ids)
        seen: set[bytes] = set()
        keep = []
        for j, key in enumerate(self.keys(cols.F)):
            if cols.valid[j] and key is not None and key not in seen:
                seen.add(key)
                keep.append(j)
        return Dictionary(
            A=cols.F[:, keep],
            directions=self.directions,
            direction=cols.direction[keep],
            a=cols.a[keep],
            c=cols.c[keep],
            pins=cols.pins[keep],
            family=cols.family[keep],
            depth=self.depth,
            norm=self.norm,
            pin_rule=self.pin_rule,
            n_candidates=self.n_columns,
        )


# ------------------------------------------------------------------------------------------------ solver


@dataclass
class StreamResult:
    """result: LassoResult whose z indexes dictionary's columns (the final working set, materialised);
    ids: the implicit id of each of those columns; n_columns: columns of the implicit dictionary;
    beta_max over all of them; passes: full pricing passes (float32 and float64); pricing_seconds,
    inner_seconds: time in pricing and in the working-set solves; memory: the chunk bound used;
    inner_stats: the torch inner solver's counts (solves, polished, unpolished)."""

    result: LassoResult
    dictionary: Dictionary
    ids: np.ndarray
    n_columns: int
    beta_max: float
    passes: int
    pricing_seconds: float
    inner_seconds: float
    memory: float
    backend: str
    inner_stats: dict = field(default_factory=dict)


def pool_size(N: int, memory: float, pool: int | None = None) -> int:
    """Candidates materialised per pass: pool (default 8N), at most what `memory` holds (3 copies of N
    values each), at least N/2."""
    return int(max(N // 2, min(pool or 8 * N, memory // (24 * N))))


class _WorkingSet:
    """Materialised working-set columns: uncentred values F (N, k), implicit ids, duplicate keys."""

    def __init__(self, idict: ImplicitDictionary):
        self.idict = idict
        self.ids = np.zeros(0, np.int64)
        self.F = np.zeros((idict.N, 0))
        self.keys: dict[bytes, int] = {}

    def add(self, ids: np.ndarray, limit: int, max_corr: float = 1.0) -> int:
        """Append, in the given order of priority, at most `limit` of the columns ids that are new (genuine,
        not constant, no duplicate), skipping any whose |correlation| with one taken in this call reaches
        max_corr (near-copies from neighbouring directions add little); returns how many."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[~np.isin(ids, self.ids)]
        if len(ids) == 0:
            return 0
        cols = self.idict.columns(ids)
        keys = self.idict.keys(cols.F)
        new, seen = [], set()
        for j, key in enumerate(keys):
            if cols.valid[j] and key is not None and key not in self.keys and key not in seen:
                seen.add(key)
                new.append(j)
        new = np.array(new, dtype=np.int64)
        if max_corr < 1.0 and len(new) > 1:
            C = cols.F[:, new] - cols.F[:, new].mean(axis=0)
            C /= np.linalg.norm(C, axis=0)
            corr = np.zeros(len(new))
            take: list[int] = []
            for j in range(len(new)):
                if corr[j] < max_corr:
                    take.append(j)
                    if len(take) >= limit:
                        break
                    corr = np.maximum(corr, np.abs(C.T @ C[:, j]))
            new = new[take]
        new = new[:limit]
        for j in new:
            self.keys[keys[j]] = int(ids[j])
        self.ids = np.concatenate([self.ids, ids[new]])
        self.F = np.hstack([self.F, cols.F[:, new]])
        return len(new)

    def keep(self, mask: np.ndarray) -> None:
        gone = set(self.ids[~mask].tolist())
        self.keys = {k: v for k, v in self.keys.items() if v not in gone}
        self.ids, self.F = self.ids[mask], self.F[:, mask]


def _gap(r: np.ndarray, z: np.ndarray, yc: np.ndarray, beta: float, g: float) -> tuple[float, float]:
    """(primal, duality gap) at the centred residual r, with g = max_j |A_j^T r| over the full
    dictionary scaling r into the dual feasible set (solvers.primal_dual)."""
    P = 0.5 * r @ r + beta * np.abs(z).sum()
    lam = r * min(1.0, beta / g) if g > 0 else r
    D = 0.5 * yc @ yc - 0.5 * (yc - lam) @ (yc - lam)
    return float(P), float(max(P - D, 0.0))


def _backend(backend: str, device: str | None):
    """(float64 ops, float32 ops, inner solver (B, y, beta, z, tol) -> (z, iterations))."""
    if backend == "auto":
        backend = "numpy"
        if device != "cpu":
            try:
                import torch

                backend = "torch" if torch.cuda.is_available() else "numpy"
            except ImportError:  # pragma: no cover - torch is a dependency
                pass
    if backend == "torch":
        from symcli.lasso import streaming_torch as st

        ops64 = st.TorchOps(np.float64, device)
        return ops64, st.TorchOps(np.float32, device), st.fista_lasso_solver(ops64)
    if backend == "numpy":
        return NumpyOps(np.float64, THREADS), NumpyOps(np.float32, THREADS), active_set_lasso
    raise ValueError(f"unknown backend {backend!r}; choose numpy, torch or auto")


def solve_stream(
    idict: ImplicitDictionary,
    y: np.ndarray,
    beta: float,
    tol: float = KKT_TOL,
    memory: float = STREAM_MEMORY,
    precision: str = "float64",
    backend: str = "numpy",
    device: str | None = None,
    grow: int | None = None,
    pool: int = 16,
    max_corr: float = 0.99,
    max_outer: int = 500,
    check: bool = False,
) -> StreamResult:
    """Working-set solve of min 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1 over idict's implicit columns A
    (N, p), for y (N,), beta > 0.

    Start from the top columns by |A^T y_c|; solve exactly on the working set (warm-started); price
    every column in chunks holding at most `memory` bytes; add up to `grow` (default N/2) violators, the
    best per row among the pool * grow worst (fewer if `memory` cannot hold them), skipping near-copies
    (|correlation| >= max_corr); stop when no column has |A_j^T r| > beta (1 + tol). precision 'float32'
    prices in float32 until no violator shows, then goes on in float64: the reported gap is over the
    full dictionary, in float64.
    backend 'torch' prices and solves the working set with torch (streaming_torch) on `device` (default
    cuda when present); 'auto' is torch on cuda when present, else numpy.
    check: refuse (solvers.check_beta, UserError) a beta below BETA_MIN_FRACTION of beta_max, known after
    the first pricing pass, before solving.
    """
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    if precision not in ("float64", "float32"):
        raise ValueError(f"unknown precision {precision!r}; choose float64 or float32")
    # BLAS work here is small (working set, candidates): threads only spin, badly so on busy cores
    with single_thread_blas():
        return _solve_stream(
            idict, y, beta, tol, memory, precision, backend, device, grow, pool, max_corr, max_outer, check
        )


def _solve_stream(idict, y, beta, tol, memory, precision, backend, device, grow, pool, max_corr, max_outer, check):
    t_start = time.perf_counter()
    N = idict.N
    y = np.asarray(y, dtype=np.float64)
    yc = y - y.mean()
    grow = grow or max(N // 2, 10)
    ops64, ops32, inner = _backend(backend, device)
    ops = ops32 if precision == "float32" else ops64
    loose = 1e-4 if precision == "float32" else 0.0  # float32 prices are good to ~1e-5 relative
    t_price = t_inner = 0.0

    def price(ops, r, thr, exclude):
        nonlocal t_price
        pr = idict.price(r, n_pool, thr, exclude, memory=memory, ops=ops, per_row=True)
        t_price += pr.seconds
        return pr

    n_pool = pool_size(N, memory, pool * grow)
    pr = price(ops64, yc, 0.0, None)
    bmax, passes, iters = pr.max_value, 1, 0
    if check:
        check_beta(beta, bmax)
    ws = _WorkingSet(idict)
    z, r = np.zeros(0), yc.copy()
    g_full, converged = bmax, bmax <= beta * (1 + tol)
    if not converged:
        ws.add(pr.ids, grow, max_corr)
        z = np.zeros(len(ws.ids))
    for _ in range(max_outer):
        if converged:
            break
        B = ws.F - ws.F.mean(axis=0)
        t0 = time.perf_counter()
        z, it = inner(B, yc, beta, z, tol)
        t_inner += time.perf_counter() - t0
        iters += it
        r = yc - B @ z
        r -= r.mean()
        pr = price(ops, r, beta * (1 + max(tol, loose)), ws.ids)
        passes += 1
        if ops is ops32 and len(pr.ids) == 0:  # float32 sees no violator: go on (and finish) in float64
            ops = ops64
            pr = price(ops, r, beta * (1 + tol), ws.ids)
            passes += 1
        if ops is ops64:
            g_full = pr.max_value
            if len(pr.ids) == 0:
                converged = True
                break
        if len(ws.ids) > 4 * N:
            nz = z != 0
            ws.keep(nz)
            z = z[nz]
        added = ws.add(pr.ids, grow, max_corr)
        z = np.concatenate([z, np.zeros(added)])
        if added == 0:  # every violator duplicates a working-set column: rounding level
            if ops is ops32:
                ops = ops64
                continue
            converged = True
            break
    if ops is not ops64 or not converged:
        pr = idict.price(r, 0, np.inf, memory=memory, ops=ops64)
        t_price += pr.seconds
        passes += 1
        g_full = pr.max_value
    if pr.max_id >= 0:  # the best column re-evaluated directly, in float64
        g_full = max(g_full, float(np.abs(idict.columns([pr.max_id]).F[:, 0] @ r)))
    P, gap = _gap(r, z, yc, beta, g_full)
    xi = float(np.mean(y - ws.F @ z)) if len(z) else float(y.mean())
    res = LassoResult(
        z=z.copy(),
        xi=xi,
        objective=P,
        duality_gap=gap,
        relative_gap=gap / max(P, 1e-300),
        nnz=int(np.count_nonzero(z)),
        iterations=iters,
        seconds=time.perf_counter() - t_start,
        solver="stream" if ops64.name == "numpy" else f"stream-torch-{ops64.device_name}",
        converged=bool(converged),
    )
    D = idict.dictionary(ws.ids)  # drops nothing: the working set is genuine, distinct, non-constant
    stats = dict(getattr(inner, "stats", {}))
    return StreamResult(
        res, D, ws.ids.copy(), idict.n_columns, bmax, passes, t_price, t_inner, memory, ops64.name, stats
    )


# ------------------------------------------------------------------------------------------ memory rules


def stream_bytes_needed(idict: ImplicitDictionary) -> int:
    """The least memory a streaming solve needs: the fixed arrays plus one smallest chunk."""
    return idict.fixed_bytes(idict.unit_bytes()) + idict.unit_bytes()


def default_stream_memory(max_memory: float) -> float:
    """Chunk bound used when none is given: a quarter of max_memory, at most STREAM_MEMORY."""
    return min(0.25 * max_memory, STREAM_MEMORY)


def check_stream_memory(idict: ImplicitDictionary, max_memory: float, memory: float) -> None:
    """Refuse (UserError) when even streaming cannot fit: the fixed arrays plus the chunk bound over
    max_memory, or a chunk bound below the smallest chunk."""
    need = idict.fixed_bytes(memory) + memory
    if need > max_memory or idict.unit_bytes() > memory:
        raise UserError(
            f"the depth-{idict.depth} dictionary would hold {idict.n_columns:,} columns x {idict.N} points; "
            f"streaming it needs chunks of at least {idict.unit_bytes() / 1e6:.3g} MB (--stream-memory "
            f"{memory / 1e6:.3g} MB) plus {idict.fixed_bytes(memory) / 1e6:.3g} MB, over --max-memory "
            f"{max_memory / 1e9:.3g} GB; lower N, sample directions with --n-directions, or raise --max-memory"
        )


# ------------------------------------------------------------------------------------------- fit() path


class StreamPlan:
    """fit()'s streaming path for one problem: beta_max over the implicit dictionary (one pricing pass)
    and the solve, returning the working-set Dictionary with a LassoResult indexing its columns."""

    def __init__(self, idict: ImplicitDictionary, memory: float, backend: str = "auto", reason: str = "solver"):
        self.idict, self.memory, self.backend, self.reason = idict, memory, backend, reason
        self.last: StreamResult | None = None
        self._bmax: tuple[np.ndarray, float] | None = None

    def beta_max(self, y: np.ndarray) -> float:
        """max_j |A_j^T (y - mean y)| over every implicit column."""
        y = np.asarray(y, dtype=np.float64)
        if self._bmax is None or not np.array_equal(self._bmax[0], y):
            with single_thread_blas():
                pr = self.idict.price(y - y.mean(), memory=self.memory)
            self._bmax = (y.copy(), pr.max_value)
        return self._bmax[1]

    def solve(self, y: np.ndarray, beta: float) -> tuple[Dictionary, LassoResult]:
        self.last = solve_stream(self.idict, y, beta, memory=self.memory, backend=self.backend, check=True)
        self._bmax = (np.asarray(y, dtype=np.float64).copy(), self.last.beta_max)
        return self.last.dictionary, self.last.result

    def report(self) -> dict:
        """Keys for `symcli fit --json`: n_columns (implicit), beta_max, and a `streaming` record."""
        s = self.last
        return {
            "n_columns": s.n_columns,
            "beta_max": s.beta_max,
            "streaming": {
                "reason": self.reason,
                "working_set": int(s.dictionary.n_columns),
                "passes": s.passes,
                "pricing_s": s.pricing_seconds,
                "inner_s": s.inner_seconds,
                "stream_memory": s.memory,
                "backend": s.backend,
            },
        }


def plan_streaming(
    X: np.ndarray,
    depth: int,
    directions: Directions,
    pin_rule: str,
    norm: str,
    solver: str,
    max_memory: float,
    stream_memory: float | None = None,
) -> StreamPlan | None:
    """The streaming path when fit() should take it: solver 'stream', or solver 'fast' with a dictionary
    over max_memory materialised; None otherwise (build it). Refuses (UserError) when even streaming
    cannot fit max_memory (check_stream_memory)."""
    too_big = dictionary_bytes(directions, X.shape[0], depth, pin_rule) > max_memory
    if solver != "stream" and not (solver == "fast" and too_big):
        return None
    idict = ImplicitDictionary(X, depth, directions, pin_rule, norm)
    memory = stream_memory or default_stream_memory(max_memory)
    check_stream_memory(idict, max_memory, memory)
    return StreamPlan(idict, memory, reason="solver" if solver == "stream" else "max-memory")
