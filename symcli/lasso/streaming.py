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

from symcli.errors import UserError
from symcli.lasso.dictionary import Dictionary, dictionary_bytes
from symcli.lasso.directions import Directions
from symcli.lasso.implicit import ImplicitDictionary
from symcli.lasso.pricing import STREAM_MEMORY, NumpyOps, pool_size
from symcli.lasso.solvers import LassoResult, active_set_lasso, check_beta, single_thread_blas
from symcli.numerics import KKT_TOL

THREADS = int(os.environ.get("SYMCLI_THREADS", "0")) or None


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
