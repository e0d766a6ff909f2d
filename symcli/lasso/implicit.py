"""Implicit reflection dictionaries (theory.md section 7): any set of columns built on the fly from directions
and pins, and every column priced in bounded chunks, never holding all N x p values. The `paper` rule's rows
are priced by sorted prefix sums (pricing.sorted_prices). The `all` rule prices its vertex blocks directly,
chunked over directions and point tuples.

Column ids: `paper`: pair * N^(L-2) + (pins of levels 2..L-1 in base N), a pair being a direction and
its layer-1 anchor (the first spanning point, or every training point for unspanned directions);
`all`: rank of the (unique) direction * V + offset of the vertex system + point tuple in base N, with
V = n_vertices_per_direction(L, N); non-genuine vertices price as 0 and are never selected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from symcli.core.errors import UserError
from symcli.core.numerics import DEDUPE_RESOLUTION, OFFSET_EPS
from symcli.lasso.dictionary import PIN_RULES, Dictionary, _unique_rows
from symcli.lasso.directions import Directions
from symcli.lasso.features import PLANE, REFLECTION, VertexSystem, data_scale, psi, vertex_systems
from symcli.lasso.pricing import (
    BYTES_DIRECT,
    BYTES_PLANE,
    BYTES_SORTED,
    STREAM_MEMORY,
    NumpyOps,
    Pricing,
    Selector,
    pool_size,
    run,
    sorted_prices,
)


def _order_dtype(N: int) -> np.dtype:
    """Smallest integer type holding positions 0..N-1 (the cached sort orders)."""
    return np.dtype(np.uint16 if N <= 1 << 16 else np.int32)


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
        self._orders: np.ndarray | None = None  # sort orders of the `paper` rows, see cache_orders

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

    def order_bytes(self) -> int:
        """Bytes of the sort orders of every `paper` row at depth >= 3 (cache_orders); 0 where rows are not
        sorted."""
        if self.pin_rule != "paper" or self.depth < 3:
            return 0
        return self.n_pairs * self.per_pair * _order_dtype(self.N).itemsize

    @property
    def cached_orders(self) -> bool:
        """Whether the rows' sort orders are kept (cache_orders)."""
        return self._orders is not None

    def cache_orders(self, memory: float) -> bool:
        """Keep the sort order of every `paper` row (residual-independent: one argsort per row, ever) when it
        fits `memory` bytes (order_bytes); numpy pricing then gathers instead of sorting. Returns whether it
        caches. The orders are filled by the next pricing passes, rows as they come."""
        need = self.order_bytes()
        if need == 0 or need > memory:
            return False
        if self._orders is None:
            self._orders = np.empty((self.n_pairs, self.per_pair // self.N, self.N), _order_dtype(self.N))
            self._sorted = np.zeros(self.n_pairs, bool)
        return True

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
        pairs: np.ndarray | None = None,
        pair_max: np.ndarray | None = None,
    ) -> Pricing:
        """|A_j^T r| over every column for r (N,) with sum 0: the max with its id, and the top k column ids
        above threshold that are not in exclude (per_row, `paper` rule: only each row's best competes). The
        chunks in flight hold at most about `memory` bytes. `paper` rule: pairs prices only the columns of
        these pairs (sorted pair indices, see level_pairs) instead of every column; pair_max (n_pairs,), when
        given, receives the max over each priced pair's columns."""
        ops = ops or NumpyOps()
        t0 = time.perf_counter()
        sel = Selector(k, threshold, exclude, per_row)
        rb = ops.asarray(np.asarray(r, dtype=np.float64))
        threads = self._threads(ops, memory)
        if self.pin_rule == "paper":
            tasks = self._paper_tasks(ops, rb, memory, threads, pairs, pair_max)
        else:
            tasks = self._all_tasks(ops, rb, memory, threads)
        run(tasks, sel, ops, threads)
        return sel.result(time.perf_counter() - t0)

    def level_pairs(self, points: np.ndarray) -> np.ndarray:
        """Sorted indices of the `paper` pairs whose points all lie in `points` (bool (N,)): a spanned
        direction's spanning points, an unspanned direction's anchor. Their columns form the dictionary of
        the data subset (for spanned directions), a coarse level of the streaming solver."""
        span = self.directions.span
        inside = np.where(span >= 0, points[np.maximum(span, 0)], True).all(axis=1)
        pairs = np.arange(self.n_pairs)
        dirs, anchors = self._pairs(pairs)
        return pairs[inside[dirs] & points[anchors]]

    def _paper_base(self, ops, pairs: np.ndarray):
        """Rows h (R, N) of pairs (R,) at level L-3 (depth 2: the columns themselves), backend arrays."""
        dirs, anchors = self._pairs(pairs)
        udirs, inv = np.unique(dirs, return_inverse=True)
        T = ops.asarray(self._T(udirs))
        Tp = T[ops.asarray(inv, integer=True)]  # also makes the rows contiguous, for sorting and prefix sums
        H = abs(Tp - Tp[ops.asarray(np.arange(len(pairs)), integer=True), ops.asarray(anchors, integer=True)][:, None])
        for _ in range(self.depth - 3):  # depth 4: rows (pair, m2) = |H - H_m2|
            H = abs(H[:, None, :] - H[:, :, None]).reshape(-1, self.N)
        return H

    def _row_prices(self, ops, H, r, pairs: np.ndarray):
        """sorted_prices of the rows H of pairs, sorting them or gathering by the cached orders (numpy only;
        orders are kept from float64 rows: they sort the float32 rows too, rounding being monotone)."""
        if self._orders is None or ops.name != "numpy":
            return sorted_prices(ops, H, r)
        if self._sorted[pairs].all():
            contiguous = pairs[-1] - pairs[0] == len(pairs) - 1  # sorted and distinct: a slice, not a copy
            orders = self._orders[pairs[0] : pairs[-1] + 1] if contiguous else self._orders[pairs]
            return sorted_prices(ops, H, r, orders.reshape(H.shape))
        g, order = sorted_prices(ops, H, r)
        if ops.dtype == np.float64:
            self._orders[pairs] = order.reshape(len(pairs), -1, self.N)
            self._sorted[pairs] = True
        return g, order

    def _paper_tasks(self, ops, r, memory: float, threads: int, pairs: np.ndarray | None, pair_max: np.ndarray | None):
        N, L = self.N, self.depth
        if L == 2:
            step = self._units(ops, memory, threads, N, BYTES_PLANE)
        else:
            step = self._units(ops, memory, threads, N ** (L - 2), BYTES_SORTED)
        rows = N ** max(L - 3, 0)  # rows per pair

        def task(pp: np.ndarray):
            H = self._paper_base(ops, pp)
            if L == 2:
                g = abs(H @ r)
                if pair_max is not None:
                    pair_max[pp] = ops.numpy(g)
                return g, lambda pos: pp[pos]
            g, order = self._row_prices(ops, H, r, pp)
            if pair_max is not None:
                pair_max[pp] = ops.numpy(ops.row_max(g.reshape(len(pp), -1))[0])

            def id_of(pos):
                row, col = np.divmod(pos, N)
                m = ops.numpy(order[ops.asarray(row, integer=True), ops.asarray(col, integer=True)])
                return (pp[row // rows] * rows + row % rows) * N + m

            return g, id_of

        n = self.n_pairs if pairs is None else len(pairs)
        for p0 in range(0, n, step):
            p1 = min(p0 + step, n)
            yield lambda p0=p0, p1=p1: task(np.arange(p0, p1) if pairs is None else pairs[p0:p1])

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
