"""Working-set Lasso over implicit reflection dictionaries (theory.md section 7): columns are priced in
bounded chunks built on the fly from directions and pins, never holding all N x p values.

    min_(z, xi)  1/2 || A z + xi 1 - y ||^2 + beta ||z||_1          A: (N, p) implicit

The dictionary and its pricing: implicit.py, pricing.py.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from symcli.core.errors import UserError
from symcli.core.numerics import KKT_TOL
from symcli.lasso.dictionary import Dictionary, dictionary_bytes
from symcli.lasso.directions import Directions
from symcli.lasso.implicit import ImplicitDictionary
from symcli.lasso.pricing import STREAM_MEMORY, NumpyOps, Pricing, pool_size
from symcli.lasso.solvers import LassoResult, active_set_lasso, check_beta, single_thread_blas

THREADS = int(os.environ.get("SYMCLI_THREADS", "0")) or None
#: Coarse levels stop when no column of theirs has |A_j^T r| > beta (1 + COARSE_TOL): a warm start only.
COARSE_TOL = 1e-3
#: Automatic coarse levels: data halvings that keep at least LEVEL_MIN_POINTS points, at most MAX_LEVELS.
LEVEL_MIN_POINTS = 100
MAX_LEVELS = 2
#: Hot pairs (`paper` rule): those whose columns reached (1 - HOT_MARGIN) beta when last priced, at most
#: HOT_SHARE of all pairs; between full passes the working set grows from them alone.
HOT_MARGIN = 0.1
HOT_SHARE = 0.125


# ------------------------------------------------------------------------------------------------ solver


@dataclass
class StreamResult:
    """result: LassoResult whose z indexes dictionary's columns (the final working set, materialised);
    ids: the implicit id of each of those columns; n_columns: columns of the implicit dictionary;
    beta_max over all of them; passes: pricing passes over every column (float32 and float64);
    partial_passes: passes over some pairs' columns only (coarse levels, hot pairs); pricing_seconds,
    inner_seconds: time in pricing (all passes) and in the working-set solves; memory: the chunk bound
    used; inner_stats: the torch inner solver's counts (solves, polished, unpolished)."""

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
    partial_passes: int = 0


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
            new = new[_diverse(cols.F[:, new], limit, max_corr)]
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


def _diverse(F: np.ndarray, limit: int, max_corr: float, block: int = 256) -> np.ndarray:
    """Greedy in order: positions of at most `limit` columns of F (N, n) whose |correlation| with every one
    taken before stays below max_corr. Blocks of candidates are compared by matrix products."""
    C = F - F.mean(axis=0)
    C /= np.linalg.norm(C, axis=0)
    take: list[int] = []
    for b0 in range(0, C.shape[1], block):
        blk = C[:, b0 : b0 + block]
        corr = np.abs(C[:, take].T @ blk).max(axis=0, initial=0.0)
        G = np.abs(blk.T @ blk)
        for j in range(blk.shape[1]):
            if corr[j] < max_corr:
                take.append(b0 + j)
                if len(take) >= limit:
                    return np.array(take, dtype=np.int64)
                corr = np.maximum(corr, G[j])
    return np.array(take, dtype=np.int64)


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


def level_points(N: int, levels: int | None) -> list[np.ndarray]:
    """The data subsets (bool (N,)) of the coarse levels, smallest first: a seeded random order's first
    N / 2^i points, i = levels..1; levels None: as many as keep LEVEL_MIN_POINTS points, at most MAX_LEVELS."""
    if levels is None:
        levels = min(MAX_LEVELS, max(int(np.log2(N / LEVEL_MIN_POINTS)), 0))
    order = np.random.default_rng(0).permutation(N)
    out = []
    for i in range(levels, 0, -1):
        points = np.zeros(N, bool)
        points[order[: max(N >> i, 2)]] = True
        out.append(points)
    return out


class _Loop:
    """One working-set solve: the working set, its coefficients z (k,) and centred residual r (N,), the
    counters, the last float64 pricing of every column at the current r (None once r moves) and, `paper`
    rule, each pair's max |A_j^T r| when last priced (n_pairs,)."""

    def __init__(self, idict, yc, beta, tol, memory, inner, grow, n_pool, max_corr, max_outer):
        self.idict, self.yc, self.beta, self.tol, self.memory, self.inner = idict, yc, beta, tol, memory, inner
        self.grow, self.n_pool, self.max_corr, self.max_outer = grow, n_pool, max_corr, max_outer
        self.ws = _WorkingSet(idict)
        self.z, self.r = np.zeros(0), yc.copy()
        self.passes = self.partial_passes = self.iters = self.solves = 0
        self.t_price = self.t_inner = 0.0
        self.full: Pricing | None = None
        self.pair_max = np.zeros(idict.n_pairs) if idict.pin_rule == "paper" else None

    def price(self, ops, threshold: float, pairs=None, k: int | None = None) -> Pricing:
        """Price r over the pairs (None: every column): the max and the top candidates above threshold that
        are not in the working set, the best of each row."""
        pr = self.idict.price(
            self.r, self.n_pool if k is None else k, threshold, self.ws.ids, memory=self.memory, ops=ops,
            per_row=True, pairs=pairs, pair_max=self.pair_max,
        )  # fmt: skip
        self.t_price += pr.seconds
        if pairs is None:
            self.passes += 1
            if ops.dtype == np.float64:
                self.full = pr
        else:
            self.partial_passes += 1
        return pr

    def run(self, ops, threshold: float, pairs=None, pr: Pricing | None = None, hot: bool = False) -> str:
        """Grow the working set by the candidates of pricing r over the pairs (None: every column; pr: a
        pricing at the current r to start from) and solve it, until the pricing finds no candidate above
        threshold ('clean'), every candidate duplicates a working-set column ('stuck': rounding level), or
        max_outer solves are spent ('spent'). hot (`paper` rule): after each solve, run on the hot pairs
        (hot_pairs) first: most of the next violators lie there, at a fraction of a full pass."""
        while True:
            pr = pr or self.price(ops, threshold, pairs)
            if len(pr.ids) == 0:
                return "clean"
            if self.solves >= self.max_outer:
                return "spent"
            if len(self.ws.ids) > 4 * self.idict.N:  # only the nonzeros stay
                nz = self.z != 0
                self.ws.keep(nz)
                self.z = self.z[nz]
            added = self.ws.add(pr.ids, self.grow, self.max_corr)
            if added == 0:
                return "stuck"
            self.z = np.concatenate([self.z, np.zeros(added)])
            self.solve()
            hot_pairs = self.hot_pairs() if hot else []
            if len(hot_pairs):
                self.run(ops, threshold, hot_pairs)
            pr = None

    def hot_pairs(self) -> np.ndarray:
        """Sorted pairs whose max was within HOT_MARGIN of beta when last priced, at most HOT_SHARE of all
        pairs (the highest)."""
        hot = np.flatnonzero(self.pair_max >= (1 - HOT_MARGIN) * self.beta)
        cap = max(int(HOT_SHARE * len(self.pair_max)), 1)
        if len(hot) > cap:
            hot = np.sort(hot[np.argpartition(-self.pair_max[hot], cap - 1)[:cap]])
        return hot

    def solve(self) -> None:
        """Exact solve on the working set, warm-started from z."""
        B = self.ws.F - self.ws.F.mean(axis=0)
        t0 = time.perf_counter()
        self.z, it = self.inner(B, self.yc, self.beta, self.z, self.tol)
        self.t_inner += time.perf_counter() - t0
        self.iters += it
        self.solves += 1
        self.r = self.yc - B @ self.z
        self.r -= self.r.mean()
        self.full = None


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
    cache_memory: float = 0.0,
    levels: int | None = None,
) -> StreamResult:
    """Working-set solve of min 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1 over idict's implicit columns A
    (N, p), for y (N,), beta > 0.

    A first pass prices every column at y_c (beta_max). Coarse levels (`paper` pins; level_points:
    `levels` nested random halves of the data, None: automatic) then warm-start the working set: each
    solves the Lasso over the columns of its data subset's pairs (level_pairs) to COARSE_TOL. Then, over
    every column: price every column in chunks holding at most `memory` bytes; add up to `grow` (default
    N/2) violators, the best per row among the pool * grow worst (fewer if `memory` cannot hold them),
    skipping near-copies (|correlation| >= max_corr); solve exactly on the working set (warm-started);
    then (`paper` pins) the same over the hot pairs only (_Loop.hot_pairs) until none of theirs violates;
    price every column again. Stops when no column has |A_j^T r| > beta (1 + tol): the coarse levels and
    hot pairs only choose what enters the working set, the stopping test and the reported gap are over
    every column, in float64. precision 'float32' prices in float32 until no violator shows, then goes on
    in float64. max_outer bounds the working-set solves.
    cache_memory: bytes the sort orders of the rows may take (ImplicitDictionary.cache_orders; numpy):
    each row is then sorted once, in the first pass, instead of in every pass.
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
            idict, y, beta, tol, memory, precision, backend, device, grow, pool, max_corr, max_outer, check,
            cache_memory, levels,
        )  # fmt: skip


def _solve_stream(
    idict, y, beta, tol, memory, precision, backend, device, grow, pool, max_corr, max_outer, check, cache_memory,
    levels,
):  # fmt: skip
    t_start = time.perf_counter()
    N = idict.N
    y = np.asarray(y, dtype=np.float64)
    yc = y - y.mean()
    grow = grow or max(N // 2, 10)
    ops64, ops32, inner = _backend(backend, device)
    if ops64.name == "numpy":
        idict.cache_orders(cache_memory)
    coarse = level_points(N, levels) if idict.pin_rule == "paper" else []
    loop = _Loop(idict, yc, beta, tol, memory, inner, grow, pool_size(N, memory, pool * grow), max_corr, max_outer)
    pr = loop.price(ops64, 0.0, k=0 if coarse else None)
    bmax = pr.max_value
    if check:
        check_beta(beta, bmax)
    status = "clean" if bmax <= beta * (1 + tol) else ""
    if not status:
        ops = ops32 if precision == "float32" else ops64
        for points in coarse:
            pairs = idict.level_pairs(points)
            if len(pairs):
                loop.run(ops, beta * (1 + COARSE_TOL), pairs)
        first = None if coarse else pr
        while True:
            loose = 1e-4 if ops is ops32 else 0.0  # float32 prices are good to ~1e-5 relative
            status = loop.run(ops, beta * (1 + max(tol, loose)), None, first, hot=idict.pin_rule == "paper")
            if ops is ops64 or status == "spent":
                break
            ops, first = ops64, None  # float32 sees no violator: go on (and finish) in float64
    if loop.full is None:
        loop.price(ops64, np.inf, k=0)
    pr = loop.full
    g_full = pr.max_value
    if pr.max_id >= 0:  # the best column re-evaluated directly, in float64
        g_full = max(g_full, float(np.abs(idict.columns([pr.max_id]).F[:, 0] @ loop.r)))
    z, r, ws = loop.z, loop.r, loop.ws
    P, gap = _gap(r, z, yc, beta, g_full)
    xi = float(np.mean(y - ws.F @ z)) if len(z) else float(y.mean())
    res = LassoResult(
        z=z.copy(),
        xi=xi,
        objective=P,
        duality_gap=gap,
        relative_gap=gap / max(P, 1e-300),
        nnz=int(np.count_nonzero(z)),
        iterations=loop.iters,
        seconds=time.perf_counter() - t_start,
        solver="stream" if ops64.name == "numpy" else f"stream-torch-{ops64.device_name}",
        converged=status != "spent",
    )
    D = idict.dictionary(ws.ids)  # drops nothing: the working set is genuine, distinct, non-constant
    stats = dict(getattr(inner, "stats", {}))
    return StreamResult(
        res, D, ws.ids.copy(), idict.n_columns, bmax, loop.passes, loop.t_price, loop.t_inner, memory, ops64.name,
        stats, loop.partial_passes,
    )  # fmt: skip


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
    and the solve, returning the working-set Dictionary with a LassoResult indexing its columns.
    cache_memory: bytes the rows' sort orders may take (solve_stream)."""

    def __init__(
        self,
        idict: ImplicitDictionary,
        memory: float,
        backend: str = "auto",
        reason: str = "solver",
        cache_memory: float = 0.0,
    ):
        self.idict, self.memory, self.backend, self.reason = idict, memory, backend, reason
        self.cache_memory = cache_memory
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
        self.last = solve_stream(
            self.idict, y, beta, memory=self.memory, backend=self.backend, check=True, cache_memory=self.cache_memory
        )
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
                "partial_passes": s.partial_passes,
                "cached_orders": self.idict.cached_orders,
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
    cannot fit max_memory (check_stream_memory). What max_memory leaves beyond the fixed arrays and the
    chunks may hold the rows' sort orders (cache_memory)."""
    too_big = dictionary_bytes(directions, X.shape[0], depth, pin_rule) > max_memory
    if solver != "stream" and not (solver == "fast" and too_big):
        return None
    idict = ImplicitDictionary(X, depth, directions, pin_rule, norm)
    memory = stream_memory or default_stream_memory(max_memory)
    check_stream_memory(idict, max_memory, memory)
    cache = max_memory - idict.fixed_bytes(memory) - memory
    return StreamPlan(idict, memory, reason="solver" if solver == "stream" else "max-memory", cache_memory=cache)
