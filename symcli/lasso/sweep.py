"""The exact 2-D angle sweep of the certificate (theory.md sections 4 and 7).

Write P_q(w) = sum_n lambda_n |(x_n - q) . w|, the dual value of the plane through a point q in R^2 with
normal w. Since 1^T lambda = 0 and ||u| - c| = |u + c| + |u - c| - |u| - c for c >= 0, every feature of
D_L is a signed sum of such planes whose points q are fixed combinations of training points (its kinks):

- depth 3, psi = ||u| - a|, kinks M, M +- A:        P_(M+A) + P_(M-A) - P_M;
- depth 4 with |b| <= |a| (F1), kinks M, M +- A, M +- A +- B:  sum P_(M+-A+-B) - P_(M+A) - P_(M-A) - P_M;
- depth 4 with |e| >= 2 |a| (F2, c_3 = |e| - |a|): P_(M+E) + P_(M-E) - P_(M+A) - P_(M-A) + P_M,

where M, A, B, E (each (2,)) are fixed by three training points pinned on kinks (a vertex, features.py), so
(p0, a, b) = (M . w, |A . w|, |B . w|). Each such *tuple function* is a genuine feature wherever it is
evaluated (F1 and F2 only inside their domains), and at every angle every genuine vertex is one of them, so
V = max over tuples and angles of |tuple function|: exact.

Along w(theta) = (cos, sin), theta in [0, pi), the term lambda_n |(x_n - q) . w| flips sign once, at the
normal of x_n - q. Sorting a tuple's K N breakpoints and taking prefix sums of their jumps gives its linear
form G on every interval at once (as pricing sorts projections, pricing.py), so a tuple costs O(K N) with a
bucket sort instead of O(K N^2): the value on an interval is G . w, largest at an end or, with `l2`, at
w = G / ||G|| (with `l1`, |G . w| / ||w||_1 is monotone between axes, so theta = pi/2 is one more end).
Angles are carried as kappa = -cot(theta) (w proportional to (-kappa, 1)), a ratio, so no trigonometry. The
per-tuple loop is compiled (sweep_kernel.py).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np

from symcli.lasso.features import F1, F2, MIDPOINT, PLAIN, PLANE, REFLECTION

#: Entries (tuples x breakpoints) in one thread's job.
SWEEP_ENTRIES = 1 << 20
#: Threads sweeping jobs at once (the compiled sweep releases the GIL).
SWEEP_THREADS = 4


@dataclass(frozen=True)
class TupleFamily:
    """Tuple functions pinned by `n_pins` training points: M, A, B = rows of coef (3, n_pins) times the pins'
    points; `pairs` restricts pins (i, j) to i < j (a function symmetric in them) or i != j; kind: PLAIN, F1 or
    F2; level: the kink level of each pin; family: PLANE, REFLECTION or MIDPOINT."""

    name: str
    depth: int
    kind: int
    n_pins: int
    coef: tuple
    pairs: str
    levels: tuple
    family: int


def _fam(name, depth, kind, coef, pairs="", levels=(), family=MIDPOINT):
    return TupleFamily(name, depth, kind, len(coef[0]), tuple(map(tuple, coef)), pairs, levels, family)


h = 0.5
#: M, A, B (or E for F2) as combinations of the pinned points (i, j, k), one family per nonsingular choice of the
#: pins' kinks up to the symmetries A -> -A, B -> -B and swapping equivalent pins: depth 3 adds 2 families to
#: the planes (reflection: M = x_i, M + A = x_j; midpoint: M +- A = x_i, x_j), depth 4 adds 12 (F1 a1..e: 3
#: pins among M, M +- A, M +- A +- B; F2 g1..g3: among M, M +- A, M +- E).
FAMILIES_2D = (
    _fam("plane", 2, PLAIN, [[1], [0], [0]], levels=(0,), family=PLANE),
    _fam("reflection", 3, PLAIN, [[1, 0], [-1, 1], [0, 0]], "i!=j", (0, 1), REFLECTION),
    _fam("midpoint", 3, PLAIN, [[h, h], [h, -h], [0, 0]], "i<j", (1, 1)),
    _fam("a1", 4, F1, [[1, 0, 0], [-1, 1, 0], [0, -1, 1]], "i!=j", (0, 1, 2), REFLECTION),
    _fam("a2", 4, F1, [[1, 0, 0], [-1, 1, 0], [-2, 1, 1]], "i!=j", (0, 1, 2), REFLECTION),
    _fam("b1", 4, F1, [[1, 0, 0], [-1, h, h], [0, h, -h]], "j<k", (0, 2, 2)),
    _fam("b2", 4, F1, [[1, 0, 0], [0, h, -h], [-1, h, h]], "j<k", (0, 2, 2)),
    _fam("c", 4, F1, [[h, h, 0], [h, -h, 0], [-1, 0, 1]], "i!=j", (1, 1, 2)),
    _fam("d1", 4, F1, [[h, h / 2, h / 2], [h, -h / 2, -h / 2], [0, h, -h]], "j<k", (1, 2, 2)),
    _fam("d2a", 4, F1, [[1, -h, h], [0, h, -h], [-1, 1, 0]], "j!=k", (1, 2, 2)),
    _fam("d2b", 4, F1, [[0, h, h], [1, -h, -h], [-1, 1, 0]], "j!=k", (1, 2, 2)),
    _fam("e", 4, F1, [[0, h, h], [h, 0, -h], [h, -h, 0]], "i!=j", (2, 2, 2)),
    _fam("g1", 4, F2, [[1, 0, 0], [-1, 1, 0], [-1, 0, 1]], "i!=j", (0, 1, 2), REFLECTION),
    _fam("g2", 4, F2, [[h, h, 0], [h, -h, 0], [-h, -h, 1]], "i<j", (1, 1, 2)),
    _fam("g3", 4, F2, [[h, h, 0], [-h, -h, 1], [h, -h, 0]], "i<j", (2, 2, 1)),
)
del h


def families(depth: int) -> tuple[TupleFamily, ...]:
    """The tuple families whose maximum is V at this depth (a depth's features include the shallower ones)."""
    return tuple(f for f in FAMILIES_2D if f.depth <= depth)


def family_tuples(fam: TupleFamily, N: int) -> np.ndarray:
    """All pin tuples (T, n_pins) of a family for N training points."""
    tup = np.stack(np.unravel_index(np.arange(N**fam.n_pins), (N,) * fam.n_pins), axis=1)
    if fam.pairs:
        a, op, b = fam.pairs[0], fam.pairs[1:-1], fam.pairs[-1]
        u, v = tup[:, "ijk".index(a)], tup[:, "ijk".index(b)]
        tup = tup[u < v if op == "<" else u != v]
    return tup


def n_tuples(fam: TupleFamily, N: int) -> int:
    """len(family_tuples(fam, N)), without building them."""
    pairs = {"": N * N, "<": N * (N - 1) // 2, "!=": N * (N - 1)}[fam.pairs[1:-1]]
    return pairs * N ** (fam.n_pins - 2) if fam.n_pins >= 2 else N


def n_entries(depth: int, N: int) -> int:
    """Breakpoints the certificate sweeps (tuples x kink points x N): its cost, about 62 N^4 at depth 4 and
    4.5 N^3 at depth 3."""
    return sum(n_tuples(f, N) * n_kinks(f) * N for f in families(depth))


def tuple_vectors(X: np.ndarray, fam: TupleFamily, tup: np.ndarray) -> np.ndarray:
    """(T, 3, 2): M, A, B of each tuple (T, n_pins) of a family, for data X (N, 2)."""
    return np.einsum("rp,tpd->trd", np.array(fam.coef), X[tup])


@cache
def _anchors(fam: TupleFamily) -> tuple[np.ndarray, np.ndarray]:
    """Kink points as combinations of the pins (K, n_pins), and their signs (K,). Combined before multiplying
    by the data, so a kink on a training point is that point exactly (no rounding: no spurious breakpoint)."""
    M, A, B = np.array(fam.coef, float)
    if fam.kind == F1:
        return np.stack([M + A + B, M + A - B, M - A + B, M - A - B, M + A, M - A, M]), np.array([1.0] * 4 + [-1.0] * 3)
    if fam.kind == F2:
        return np.stack([M + B, M - B, M + A, M - A, M]), np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    if fam.depth == 2:
        return M[None], np.ones(1)
    return np.stack([M + A, M - A, M]), np.array([1.0, 1.0, -1.0])


def kink_points(X: np.ndarray, fam: TupleFamily, tup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kink points q_K (T, K, d) of pin tuples tup (T, n_pins) of a family for data X (N, d), and their signs
    s_K (K,) in the tuple function sum_K s_K sum_n lambda_n |(x_n - q_K) . w|."""
    C, signs = _anchors(fam)
    return np.einsum("kp,tpd->tkd", C, X[tup]), signs


def n_kinks(fam: TupleFamily) -> int:
    """K: the kink points of each tuple of a family."""
    return len(_anchors(fam)[0])


def sweep(X: np.ndarray, lam: np.ndarray, fam: TupleFamily, tup: np.ndarray, norm: str):
    """Exact max over theta in [0, pi) of |tuple function| for pin tuples tup (T, n_pins) of a family, for data
    X (N, 2) and lam (N,) scaled by `scaled` (sweep_kernel.py).

    Returns (value (T,), w (T, 2): a direction attaining it, unnormalised)."""
    from symcli.lasso.sweep_kernel import sweep_tuples  # numba loads on the first sweep, not with every fit

    C, signs = _anchors(fam)
    value, w = np.empty(len(tup)), np.empty((len(tup), 2))
    args = (np.ascontiguousarray(X, float), np.ascontiguousarray(lam, float), C, signs, np.array(fam.coef, float))
    sweep_tuples(*args, fam.kind, norm == "l1", np.ascontiguousarray(tup, np.int64), value, w)
    return value, w


@dataclass
class Found:
    """A tuple function's maximum: value, direction w (2,) (unit in `norm`), family, pin tuple."""

    value: float
    w: np.ndarray
    family: TupleFamily
    pins: np.ndarray


def sweep_threads(threads: int | None) -> int:
    """Threads for the sweeps: `threads`, or min(SWEEP_THREADS, CPUs this process may use)."""
    if threads is not None:
        return threads
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(SWEEP_THREADS, cpus)


def map_tuples(depth: int, N: int, cost, entries: int, run, threads: int | None = None):
    """run(family, pin tuples (k, n_pins)) over chunks of every tuple of the families of `depth` for N points,
    about `entries` per chunk at cost(family) entries a tuple, in sweep_threads(threads) threads; yields the
    results in order (the 2-D and 3-D sweeps share this)."""
    jobs = []
    for fam in families(depth):
        tup = family_tuples(fam, N)
        step = max(1, entries // cost(fam))
        jobs += [(fam, tup[t0 : t0 + step]) for t0 in range(0, len(tup), step)]
    with ThreadPoolExecutor(sweep_threads(threads)) as ex:
        yield from ex.map(lambda job: run(*job), jobs)


def scaled(X: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(X centred and scaled to max |entry| 1, lambda scaled to max 1, the factor restoring values): tuple
    functions are invariant to centring (1^T lambda = 0) and homogeneous in X and lambda."""
    sx = float(np.abs(X - X.mean(axis=0)).max(initial=0.0)) or 1.0
    sl = float(np.abs(lam).max(initial=0.0)) or 1.0
    return (X - X.mean(axis=0)) / sx, lam / sl, sx * sl


def _best(parts: list, top: int) -> list:
    """The `top` largest tuple maxima of parts [(family, value (k,), w (k, 2), pins (k, n_pins))], as parts."""
    values = np.concatenate([p[1] for p in parts])
    if len(values) <= top:
        return parts
    cut = -np.partition(-values, top - 1)[top - 1]  # the top-th largest value
    out, room = [], top - int((values > cut).sum())  # room for ties at the cut: the first ones
    for fam, val, w, pins in parts:
        tied = np.flatnonzero(val == cut)[:room]
        room -= len(tied)
        keep = np.concatenate([np.flatnonzero(val > cut), tied])
        if len(keep):
            out.append((fam, val[keep], w[keep], pins[keep]))
    return out


def sweep_all(X: np.ndarray, lam: np.ndarray, depth: int, norm: str, top: int = 10, threads: int | None = None):
    """The `top` largest tuple maxima over every family of `depth` (distinct tuples), best first."""
    N = X.shape[0]
    Xs, ls, unit = scaled(X, lam)

    def run(fam, tup):
        val, w = sweep(Xs, ls, fam, tup, norm)
        keep = np.argpartition(-val, top - 1)[:top] if top < len(val) else slice(None)
        return fam, val[keep] * unit, w[keep], tup[keep]

    parts, size = [], 0
    for part in map_tuples(depth, N, lambda fam: n_kinks(fam) * N + 3, SWEEP_ENTRIES, run, threads):
        parts.append(part)
        size += len(part[1])
        if size > 4 * top:
            parts, size = _best(parts, top), top
    out = []
    for fam, val, W, pins in _best(parts, top):
        W = W / (np.abs(W).sum(axis=1) if norm == "l1" else np.linalg.norm(W, axis=1))[:, None]
        out += [Found(float(val[i]), W[i], fam, pins[i]) for i in range(len(val))]
    return sorted(out, key=lambda f: -f.value)
