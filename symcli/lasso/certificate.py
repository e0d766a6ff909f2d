"""Dual certificates and column generation (theory.md section 4).

At a Lasso solution with residual lambda (1^T lambda = 0) the fit is optimal over the continuous
dictionary D_L iff V = max_(phi in D_L) |lambda^T phi(X)| <= beta; certificate = V / beta - 1.
For a fixed direction the max over (a, c) is exact by vertex enumeration (features.py), so:

- d = 1: exact (w = 1).
- d = 2: exact angle sweep (sweep.py). Every feature's lambda^T phi is a signed sum of plane values
  sum_n lambda_n |(x_n - q) . w| over its kinks q, fixed combinations of the training points pinning the
  vertex; per pin tuple the sign changes along the angle are sorted and their jumps summed once, giving
  lambda^T phi = G . w(theta) on every interval, maximal at an end or at w = G / ||G||.
- d = 3, depth <= 3: exact by great-circle sweeps (sphere.py). The same tuple functions, now of w on the
  sphere, are linear on the cells of the arrangement of their kink planes' great circles; one sweep per
  circle gives every vertex and edge maximum and every cell's gradient G_c, and a cell's own maximum
  G_c / ||G_c|| (`l2`) is evaluated where it could beat the circles (`l1`: corners only, the coordinate
  circles added). The directions of the best tuples are priced exactly for the candidates.
- d >= 3 otherwise (or over SPHERE_BUDGET): a lower bound on V from sampled directions plus local ascent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from symcli.core.numerics import rng
from symcli.lasso.features import (
    F1,
    F2,
    PLAIN,
    PLANE,
    VertexSystem,
    data_scale,
    n_vertices_per_direction,
    psi,
    vertex_systems,
)
from symcli.lasso.geometry import normalize
from symcli.lasso.sphere import n_sphere_entries, sphere_max
from symcli.lasso.sweep import Found, n_entries, scaled, sweep, sweep_all, tuple_vectors

#: Entries (tuples x points) processed at once by price().
SWEEP_CHUNK = 2_000_000
#: Entries (vertices x points x directions) one sampled or 1-D certificate may price, about 10 s here.
CERTIFICATE_BUDGET = 5e8
#: Breakpoints (sweep.n_entries) the exact 2-D sweep may take per certificate, about 9 ns each on 2 cores here
#: (sweep_kernel.py): depth 4 up to N = 101 (N = 30: 4.9e7, 0.5 s; N = 60: 8.0e8, 7.3 s; N = 100: 6.2e9, 55 s),
#: depth 3 up to N = 1,130 (N = 400: 2.9e8, about 3 s), depth 2 at any N the solver takes. Beyond it the fit
#: ends `upper-bound`.
SWEEP_BUDGET = 6.5e9
#: Entries (sphere.n_sphere_entries: tuples x circles x breakpoints) the exact 3-D certificate may sweep: depth 3
#: up to N = 41, depth 2 up to N = 339. Measured here (2 shared cores), depth 3, N = 40 (3.5e7): 3.6-4.5 s `l2`,
#: 1.1 s `l1` at a fit's residual, 6.7 s and 2.7 s at a Gaussian lambda (less pruning); N = 20 (2.3e6) 0.3-0.6 s;
#: depth 2, N = 300 (2.7e7): 9 s and 2.2 s. --refine at N = 40, depth 3 took 14 of them (81 s in all). Beyond it
#: the fit keeps the sampled lower bound (`upper-bound`).
SPHERE_BUDGET = 4e7
#: Candidates an exact 2-D certificate returns for --refine (measured, N = 30, depth 4, the best ones: 10 took
#: 20 rounds and 71 s, 30 took 16 rounds and 52 s, 100 took 14 rounds but 77 s; 30 spread over angles, 13).
CANDIDATES_2D = 30
#: Best tuples an exact 2-D certificate keeps for --refine's hot rounds (hot_violators), which re-sweep them alone
#: (measured, N = 60, depth 4: 300 took 64 rounds and 11 full certificates, 84 s; 3,000 29 and 5, 45 s; 30,000
#: 16 and 3, 32 s; a hot round of 30,000 tuples takes about 0.1 s there).
HOT_2D = 30_000
#: Candidates an exact 3-D certificate returns for --refine, the maximising directions of the best tuples (measured,
#: N = 20, depth 3, 2 seeds: 10 took 26 and 15 rounds, 30 took 20 and 12 in the same time, 100 20 and 11 but longer).
CANDIDATES_3D = 30


@dataclass
class Candidate:
    """A feature of D_L with its dual value: w (d,), a, c (L-2,) (canonical, >= 0), pins, family,
    value = |lambda^T phi(X)|."""

    w: np.ndarray
    a: float
    c: np.ndarray
    pins: np.ndarray
    family: int
    value: float


@dataclass
class Certificate:
    """V (exact or a lower bound), certificate = V / beta - 1, the method, and the best candidates."""

    V: float
    certificate: float
    exact: bool
    method: str
    candidates: list[Candidate]
    hot: list = field(default_factory=list)  # 2-D: [(TupleFamily, pins (k, n_pins))], its best tuples


def canonical_offsets(c: np.ndarray) -> np.ndarray:
    """Offsets >= 0 giving the same feature up to an additive constant: a negative c_l adds |c_l| to
    psi, which shifts the deeper offsets."""
    out = np.array(c, dtype=float)
    shift = 0.0
    for l in range(len(out)):
        if out[l] - shift >= 0:
            out[l], shift = out[l] - shift, 0.0
        else:
            out[l], shift = 0.0, shift - out[l]
    return out


def _tuples(N: int, k: int) -> np.ndarray:
    return np.stack(np.unravel_index(np.arange(N**k), (N,) * k), axis=1) if k else np.zeros((1, 0), int)


def _vertex_vectors(X: np.ndarray, s: VertexSystem, tup: np.ndarray) -> np.ndarray:
    """(n_tup, L-1, d): (p0, c_2, ...) = vectors . w, linear in the direction w."""
    M = s.Minv[:, list(s.point_rows)]  # (L-1, k)
    return np.einsum("lk,tkd->tld", M, X[tup]) if len(s.point_rows) else np.zeros((len(tup), M.shape[0], X.shape[1]))


def _linear_forms(X: np.ndarray, V: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Vectors g (..., N, d) with phi(x_m) = g_m . w in the cell of direction w (..., d), for vertices
    V (..., L-1, d) (signs inside psi read off at w)."""
    vec = X - V[..., None, 0, :]  # u_m = (x_m - P0) . w
    for l in range(1, V.shape[-2]):
        sgn = np.sign(np.einsum("...nd,...d->...n", vec, w))[..., None]
        vec = sgn * vec - V[..., None, l, :]
    return np.sign(np.einsum("...nd,...d->...n", vec, w))[..., None] * vec


def price(T: np.ndarray, lam: np.ndarray, depth: int):
    """Exact max over (a, c) of |lambda^T phi| for each direction's projections T (n_dir, N).

    Returns (value (n_dir,), system index, tuple (n_dir, k_max) padded with -1)."""
    n_dir, N = T.shape
    best = np.full(n_dir, -np.inf)
    best_sys = np.zeros(n_dir, int)
    best_tup = np.full((n_dir, depth - 1), -1)
    for si, s in enumerate(vertex_systems(depth)):
        k = len(s.point_rows)
        tup = _tuples(N, k)
        step = max(1, SWEEP_CHUNK // (len(tup) * N))
        for d0 in range(0, n_dir, step):
            Td = T[d0 : d0 + step]
            rhs = np.zeros((len(Td), len(tup), depth - 1))
            for col, r in enumerate(s.point_rows):
                rhs[:, :, r] = Td[:, tup[:, col]]
            v = rhs @ s.Minv.T
            vals = np.abs(psi(Td[:, None, :] - v[..., 0, None], v[..., 1:]) @ lam)
            j = np.argmax(vals, axis=1)
            vj = vals[np.arange(len(Td)), j]
            upd = vj > best[d0 : d0 + step]
            idx = np.flatnonzero(upd) + d0
            best[idx] = vj[upd]
            best_sys[idx] = si
            best_tup[idx, :k] = tup[j[upd]]
            best_tup[idx, k:] = -1
    return best, best_sys, best_tup


def _candidate(X: np.ndarray, lam: np.ndarray, depth: int, w: np.ndarray, si: int, tup: np.ndarray) -> Candidate:
    s = vertex_systems(depth)[si]
    k = len(s.point_rows)
    V = _vertex_vectors(X, s, tup[None, :k])[0] @ w  # (L-1,)
    c = canonical_offsets(V[1:])
    pins = np.full(depth - 1, -1)
    pins[list(s.point_rows)] = tup[:k]
    phi = psi(X @ w - V[0], c)
    family = PLANE if np.all(c <= 0) else s.family
    sign = normalize(w[None], "l2")[0] @ w  # features are even: report w with its canonical sign
    sign = 1.0 if sign >= 0 else -1.0
    return Candidate(sign * w, float(-sign * V[0]), c, pins, family, float(abs(phi @ lam)))


def certify_1d(X: np.ndarray, lam: np.ndarray, beta: float, depth: int, norm: str) -> Certificate:
    """Exact certificate for d = 1 (w = 1)."""
    w = np.ones(1)
    val, si, tup = price((X @ w)[None, :], lam, depth)
    cand = _candidate(X, lam, depth, w, int(si[0]), tup[0])
    return Certificate(float(val[0]), float(val[0]) / beta - 1.0, True, "exact-1d", [cand])


def _sweep_candidate(X: np.ndarray, lam: np.ndarray, depth: int, f: Found) -> Candidate:
    """The feature of a tuple function's maximum (sweep.py): offsets from |A . w| and |B . w|."""
    M, A, B = tuple_vectors(X, f.family, f.pins[None])[0] @ f.w
    a, b = abs(A), abs(B)
    c = {PLAIN: [a] if f.family.depth == 3 else [], F1: [a, b], F2: [a, max(b - a, 0.0)]}[f.family.kind]
    c = np.array(c + [0.0] * (depth - 2 - len(c)))
    pins = np.full(depth - 1, -1)
    pins[: len(f.pins)] = np.asarray(f.pins)[np.argsort(f.family.levels, kind="stable")]
    sign = 1.0 if normalize(f.w[None], "l2")[0] @ f.w >= 0 else -1.0  # features are even: canonical sign of w
    value = float(abs(psi(X @ f.w - M, c) @ lam))
    return Candidate(sign * f.w, -sign * M, c, pins, PLANE if np.all(c <= 0) else f.family.family, value)


def certify_2d(X: np.ndarray, lam: np.ndarray, beta: float, depth: int, norm: str, top: int = 10) -> Certificate:
    """Exact certificate for d = 2 by the angle sweep of sweep.py. Candidates: up to `top` distinct features,
    the maxima of the best tuple functions (_distinct_candidates). `hot`: the HOT_2D best tuples, which
    hot_violators re-sweeps alone between full certificates (--refine)."""
    found = sweep_all(X, lam, depth, norm, HOT_2D)  # several tuples pin the same feature, most at one angle
    cands = _distinct_candidates(X, lam, depth, found, top)
    hot: dict = {}
    for f in found:
        hot.setdefault(f.family, []).append(f.pins)
    V = cands[0].value
    return Certificate(V, V / beta - 1.0, True, "angle-sweep", cands, [(k, np.array(v)) for k, v in hot.items()])


def _distinct_candidates(X: np.ndarray, lam: np.ndarray, depth: int, found: list[Found], top: int) -> list[Candidate]:
    """Up to `top` distinct features of tuple maxima `found` (best first; values recomputed from the features,
    and a RuntimeError if one differs from its sweep's value): the best, then at most one per angle bin of width
    pi / (2 top), so that --refine adds columns across the circle. Sorted by value, best first."""
    if not found:
        return []
    scale = data_scale(X)
    slack = 1e-9 * (found[0].value + np.abs(lam).sum() * scale)
    W = np.array([f.w for f in found])
    bins = (np.mod(np.arctan2(W[:, 1], W[:, 0]), np.pi) / np.pi * 2 * top).astype(int) % (2 * top)
    cands, seen = [], set()
    for i in np.sort(np.unique(bins, return_index=True)[1]):  # each bin's best, best first (found is sorted)
        f = found[i]
        c = _sweep_candidate(X, lam, depth, f)
        if abs(f.value - c.value) > slack:  # the sweep's value must be its feature's: never certify on a slip
            raise RuntimeError(f"angle sweep inconsistent: {f.family.name} {f.pins}: {f.value!r} vs {c.value!r}")
        key = tuple(np.round(np.concatenate([c.w, [c.a / scale], c.c / scale]), 9))
        if key not in seen:
            seen.add(key)
            cands.append(c)
            if len(cands) == top:
                break
    return sorted(cands, key=lambda c: -c.value)


def hot_violators(
    X: np.ndarray, lam: np.ndarray, threshold: float, depth: int, norm: str, hot: list, top: int = CANDIDATES_2D
) -> list[Candidate]:
    """Distinct features with |lambda^T phi| > threshold among the maxima of the `hot` tuples of an earlier 2-D
    certificate, re-swept exactly at the new lam: a cheap search for violators, never a proof (an empty list
    says nothing about the other tuples; only certify does)."""
    Xs, ls, unit = scaled(X, lam)
    found = []
    for fam, pins in hot:
        val, w = sweep(Xs, ls, fam, pins, norm)
        for i in np.flatnonzero(val * unit > threshold):
            wi = w[i] / (np.abs(w[i]).sum() if norm == "l1" else np.linalg.norm(w[i]))
            found.append(Found(float(val[i]) * unit, wi, fam, pins[i]))
    found.sort(key=lambda f: -f.value)
    return [c for c in _distinct_candidates(X, lam, depth, found, top) if c.value > threshold]


def certify_3d(X: np.ndarray, lam: np.ndarray, beta: float, depth: int, norm: str, top: int = 10) -> Certificate:
    """Exact certificate for d = 3 and depth <= 3 by the great-circle sweeps of sphere.py. Candidates: the best
    `top` distinct features at the maximising directions of the best tuples, priced exactly (price), so V is
    the value of a genuine feature at a direction the sweep proved maximal."""
    value, W, V_sweep = sphere_max(X, lam, depth, norm)
    order = np.argsort(-value, kind="stable")
    Wn = normalize(W[order], norm)
    _, first = np.unique(np.round(Wn, 9), axis=0, return_index=True)  # distinct directions, best first
    Wc = Wn[np.sort(first)[:top]]
    val, si, tup = price(Wc @ X.T, lam, depth)
    cands = [_candidate(X, lam, depth, Wc[i], int(si[i]), tup[i]) for i in range(len(Wc))]
    cands.sort(key=lambda c: -c.value)
    V = cands[0].value
    slack = 1e-9 * (V_sweep + np.abs(lam).sum() * data_scale(X))
    if V < V_sweep - slack:  # pricing the sweep's direction must reach its value: never certify on a slip
        raise RuntimeError(f"sphere sweep inconsistent: V {V_sweep!r} but its direction prices at {V!r}")
    return Certificate(V, V / beta - 1.0, True, "sphere-arrangement", cands)


def certify_sampled(
    X: np.ndarray,
    lam: np.ndarray,
    beta: float,
    depth: int,
    norm: str,
    W0: np.ndarray,
    n_samples: int = 500,
    n_ascent: int = 5,
    steps: int = 40,
    seed: int = 0,
    top: int = 10,
) -> Certificate:
    """Lower bound on V for d >= 3: exact pricing of the directions W0 and n_samples seeded random
    ones, then projected ascent on the sphere from the n_ascent best."""
    d = X.shape[1]
    W = np.vstack([W0, normalize(rng(seed).standard_normal((n_samples, d)), norm)])
    val, si, tup = price(W @ X.T, lam, depth)
    order = np.argsort(-val)
    cands = [_candidate(X, lam, depth, W[i], int(si[i]), tup[i]) for i in order[:top]]
    for i in order[:n_ascent]:
        w, best, eta = W[i].copy(), val[i], 0.1
        for _ in range(steps):
            s = vertex_systems(depth)[si[i]]
            Vv = _vertex_vectors(X, s, tup[i][None, : len(s.point_rows)])
            g = _linear_forms(X, Vv, w[None])
            G = np.einsum("tnd,n->td", g, lam)[0]
            G *= np.sign(G @ w)
            step_w = normalize((w + eta * (G - (G @ w) * w / (w @ w)))[None], norm)[0]
            v2, s2, t2 = price((step_w @ X.T)[None], lam, depth)
            if v2[0] > best:
                w, best = step_w, v2[0]
                si[i], tup[i] = s2[0], t2[0]
            else:
                eta /= 2
                if eta < 1e-9:
                    break
        cands.append(_candidate(X, lam, depth, w, int(si[i]), tup[i]))
    cands.sort(key=lambda c: -c.value)
    V = cands[0].value
    return Certificate(V, V / beta - 1.0, False, "sampled-ascent", cands[:top])


def exact_certificate(N: int, d: int, depth: int) -> bool:
    """Whether certify computes V exactly for N points in d dimensions at this depth (within its budgets)."""
    if d == 1:
        return n_vertices_per_direction(depth, N) * N <= CERTIFICATE_BUDGET
    if d == 2:
        return n_entries(depth, N) <= SWEEP_BUDGET
    return d == 3 and depth <= 3 and n_sphere_entries(depth, N) <= SPHERE_BUDGET


def certify(
    X: np.ndarray, lam: np.ndarray, beta: float, depth: int, norm: str, W0: np.ndarray, seed: int = 0
) -> Certificate:
    """The certificate of section 4 for data X (N, d) and dual point lam (N,); beta > 0.

    d = 2 is exact within SWEEP_BUDGET breakpoints (sweep.n_entries: N <= 101 at depth 4, N <= 1,130 at depth 3),
    d = 3 at depth <= 3 within SPHERE_BUDGET entries (N <= 41 at depth 3, N <= 339 at depth 2); both fall back
    to the sampled bound beyond it; the certificate is skipped (V = nan, method 'skipped') when
    one pass of pricing would cost more than CERTIFICATE_BUDGET."""
    if not beta > 0:
        raise ValueError(f"the certificate V / beta - 1 needs beta > 0, got {beta}")
    N, d = X.shape
    if exact_certificate(N, d, depth):
        if d == 1:
            return certify_1d(X, lam, beta, depth, norm)
        if d == 2:
            return certify_2d(X, lam, beta, depth, norm, top=CANDIDATES_2D)
        return certify_3d(X, lam, beta, depth, norm, top=CANDIDATES_3D)
    per_direction = n_vertices_per_direction(depth, N) * N
    n_dirs = int(CERTIFICATE_BUDGET // per_direction)
    if d == 1 or n_dirs < 50:
        nan = float("nan")
        return Certificate(nan, nan, False, f"skipped: pricing {per_direction:,} entries per direction", [])
    n_samples = max(n_dirs - len(W0), n_dirs // 2)
    W0 = W0[rng(seed).permutation(len(W0))[: n_dirs - n_samples]]
    return certify_sampled(X, lam, beta, depth, norm, W0, n_samples=n_samples, seed=seed)
