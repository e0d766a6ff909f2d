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
form G on every interval at once (as pricing sorts projections, pricing.py), so a tuple costs
O(K N log(K N)) instead of O(K N^2): the value on an interval is G . w, largest at an end or, with `l2`, at
w = G / ||G|| (with `l1`, |G . w| / ||w||_1 is monotone between axes, so theta = pi/2 is one more end).
Angles are carried as kappa = -cot(theta) (w proportional to (-kappa, 1)), a ratio, so no trigonometry.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np

from symcli.lasso.features import MIDPOINT, PLANE, REFLECTION

#: Entries (tuples x breakpoints) swept at once per thread: about 120 bytes each.
SWEEP_ENTRIES = 1 << 20
#: Threads sweeping chunks at once (numpy releases the GIL in sorting and prefix sums).
SWEEP_THREADS = 4
#: Stand-in for kappa = -infinity (theta = 0): its square stays finite (data and lambda are scaled to 1).
_KAPPA_FAR = 1e150

PLAIN, F1, F2 = range(3)  # depth 2 or 3 (no domain), depth 4 with c_3 <= c_2, depth 4 with c_3 >= c_2


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
    M, A, B = np.array(fam.coef)
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


def _kappa(D: np.ndarray) -> np.ndarray:
    """kappa of the angle where w is normal to D (..., 2): -cot(theta) = D_y / D_x (theta = 0 for D_x = 0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = D[..., 1] / D[..., 0]
    return np.where(D[..., 0] == 0, -_KAPPA_FAR, np.clip(k, -_KAPPA_FAR, _KAPPA_FAR))


def sweep(X: np.ndarray, lam: np.ndarray, fam: TupleFamily, tup: np.ndarray, norm: str):
    """Exact max over theta in [0, pi) of |tuple function| for pin tuples tup (T, n_pins) of a family.

    Returns (value (T,), w (T, 2): a direction attaining it, unnormalised)."""
    Q, coef = kink_points(X, fam, tup)
    V = tuple_vectors(X, fam, tup) if fam.kind != PLAIN else None
    T, K, _ = Q.shape
    KN = K * X.shape[0]
    n_extra = (norm == "l1") + 2 * (fam.kind != PLAIN)
    E = KN + n_extra
    key, jx = np.zeros((T, E)), np.zeros((T, E))
    vx = X[:, 0] - Q[..., 0, None]  # (T, K, N)
    vy = X[:, 1] - Q[..., 1, None]
    slanted = vx != 0
    kv = key[:, :KN].reshape(vx.shape)
    np.divide(vy, vx, out=kv, where=slanted)  # x_n = q (no term): kappa 0, J 0
    if max(kv.max(initial=0.0), -kv.min(initial=0.0)) > _KAPPA_FAR:  # within 1e-150 of theta = 0: there
        slanted &= np.abs(vx) * _KAPPA_FAR > np.abs(vy)
    scale = (-2.0 * coef)[:, None] * lam  # J = 2 coef lambda (sigma v), sigma v = -|v_x| (1, kappa)
    np.multiply(np.abs(vx, out=vx), scale, out=jx[:, :KN].reshape(vx.shape))
    jy = None
    vertical = ~slanted & (vy != 0) if not slanted.all() else None
    fast = vertical is None or not vertical.any()  # then every jump is jx (1, kappa)
    if not fast:  # breakpoint at theta = 0 (or pi, the same): jump (0, -scale |v_y|)
        key[:, :KN][vertical.reshape(T, KN)] = -_KAPPA_FAR
        jy = jx * key
        jy[:, :KN] = np.where(vertical, -scale * np.abs(vy), jy[:, :KN].reshape(vx.shape)).reshape(T, KN)
    if norm == "l1":
        key[:, KN] = 0.0  # theta = pi / 2
    if fam.kind != PLAIN:  # the domain's ends, where D1 . w = 0 or D2 . w = 0
        D1, D2 = _domain_normals(fam, V)
        key[:, -2], key[:, -1] = _kappa(D1), _kappa(D2)
    order = np.argsort(key, axis=1)
    flat = order + (np.arange(T) * E)[:, None]
    ks = np.take(key, flat)
    jxs = np.take(jx, flat)
    jys = jxs * ks if fast else np.take(jy, flat)
    del jx, jy, key, flat
    Gx, Gy = np.cumsum(jxs, axis=1), np.cumsum(jys, axis=1, out=jys)
    Gx -= 0.5 * Gx[:, -1:]  # G after breakpoint b = G(0+) + jumps so far, G(0+) = -sum(J) / 2
    Gy -= 0.5 * Gy[:, -1:]
    G0x, G0y = -Gx[:, -1], -Gy[:, -1]
    den = np.square(np.abs(ks) + 1.0) if norm == "l1" else ks * ks + 1.0  # ||(-kappa, 1)|| in `norm`, squared
    val = Gy - ks * Gx  # G . (-kappa, 1): the value at the breakpoint times ||(-kappa, 1)||
    val *= val
    val /= den
    at0 = G0x * G0x
    if fam.kind != PLAIN:
        d1 = D1[:, 1, None] - ks * D1[:, 0, None]
        d1 *= D2[:, 1, None] - ks * D2[:, 0, None]
        out = d1 < 0 if fam.kind == F1 else d1 > 0
        out &= order < E - 2  # the domain's own ends are in it
        np.copyto(val, -1.0, where=out)
        at0[(D1[:, 0] * D2[:, 0] < 0) if fam.kind == F1 else (D1[:, 0] * D2[:, 0] > 0)] = -1.0
    rows = np.arange(T)
    j = np.argmax(val, axis=1)
    best = val[rows, j]
    pick = at0 > best
    best = np.where(pick, at0, best)
    wx, wy = np.where(pick, 1.0, -ks[rows, j]), np.where(pick, 0.0, 1.0)
    if norm == "l2":  # interval maxima inside: w = G / ||G|| where h(kappa) = Gx + kappa Gy changes sign
        h = Gx + ks * Gy  # G_b at the interval's start kappa_b
        if fast:  # G_b at its end: G_(b+1) there, less J_(b+1) . (1, kappa) = jx (1 + kappa^2)
            jxs *= den
            end = np.subtract(h[:, 1:], jxs[:, 1:], out=jxs[:, 1:])
        else:
            end = Gx[:, :-1] + ks[:, 1:] * Gy[:, :-1]
        inside = np.empty((T, E + 1), bool)
        np.less_equal(h[:, :-1] * end, 0.0, out=inside[:, 1:-1])
        inside[:, -1] = h[:, -1] * Gy[:, -1] <= 0
        inside[:, 0] = (G0x + ks[:, 0] * G0y) * G0y >= 0
        t, b = np.nonzero(inside)
        if len(t):
            gx = np.where(b == 0, G0x[t], Gx[t, b - 1])
            gy = np.where(b == 0, G0y[t], Gy[t, b - 1])
            s = gx * gx + gy * gy
            if fam.kind != PLAIN:
                d = (D1[t, 0] * gx + D1[t, 1] * gy) * (D2[t, 0] * gx + D2[t, 1] * gy)
                s[d < 0 if fam.kind == F1 else d > 0] = -1.0
            order = np.lexsort((s, t))  # by tuple, then value: each tuple's largest comes last
            last = order[np.r_[t[order][1:] != t[order][:-1], True]]
            up = last[s[last] > best[t[last]]]
            best[t[up]], wx[t[up]], wy[t[up]] = s[up], gx[up], gy[up]
    return np.sqrt(np.maximum(best, 0.0)), np.stack([wx, wy], axis=1)


def _domain_normals(fam: TupleFamily, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """D1, D2 (T, 2) with the domain {(D1 . w)(D2 . w) >= 0} (F1: |B . w| <= |A . w|) or {... <= 0} (F2:
    |E . w| >= 2 |A . w|, E in the B row): D1, D2 = A' -+ B with A' = A (F1) or 2 A (F2)."""
    A = V[:, 1] if fam.kind == F1 else 2.0 * V[:, 1]
    return A - V[:, 2], A + V[:, 2]


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


def scaled(X: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(X centred and scaled to max |entry| 1, lambda scaled to max 1, the factor restoring values): tuple
    functions are invariant to centring (1^T lambda = 0) and homogeneous in X and lambda."""
    sx = float(np.abs(X - X.mean(axis=0)).max(initial=0.0)) or 1.0
    sl = float(np.abs(lam).max(initial=0.0)) or 1.0
    return (X - X.mean(axis=0)) / sx, lam / sl, sx * sl


def sweep_all(X: np.ndarray, lam: np.ndarray, depth: int, norm: str, top: int = 10, threads: int | None = None):
    """The `top` largest tuple maxima over every family of `depth` (distinct tuples), best first."""
    N = X.shape[0]
    threads = sweep_threads(threads)
    Xs, ls, unit = scaled(X, lam)
    jobs = []
    for fam in families(depth):
        tup = family_tuples(fam, N)
        step = max(1, SWEEP_ENTRIES // (n_kinks(fam) * N + 3))
        jobs += [(fam, tup[t0 : t0 + step]) for t0 in range(0, len(tup), step)]

    def run(job):
        fam, tup = job
        val, w = sweep(Xs, ls, fam, tup, norm)
        keep = np.argsort(-val)[:top]
        return [(float(val[i]) * unit, w[i], fam, tup[i]) for i in keep]

    found = []
    if threads > 1:
        with ThreadPoolExecutor(threads) as ex:
            for part in ex.map(run, jobs):
                found = sorted(found + part, key=lambda r: -r[0])[:top]
    else:
        for job in jobs:
            found = sorted(found + run(job), key=lambda r: -r[0])[:top]
    out = []
    for value, w, fam, pins in found:
        w = w / (np.abs(w).sum() if norm == "l1" else np.linalg.norm(w))
        out.append(Found(value, w, fam, pins))
    return out
