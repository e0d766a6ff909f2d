"""The exact 3-D certificate: one great-circle sweep per kink plane (theory.md sections 4 and 7).

A tuple function of sweep.py (depth <= 3: the PLAIN families plane, reflection, midpoint, no domain) is, in
any d, F_t(w) = sum_j c_j |u_j . w| with u_j = x_n - q_K and c_j = s_K lambda_n (j = (K, n); kinks q_K are
fixed combinations of the pins, sweep.kink_points), and V = max over tuples t and ||w|| = 1 of |F_t(w)|.

In R^3, F_t is even, positively homogeneous and linear, G_c . w, on each cell c of the arrangement of the
great circles {u_j . w = 0}. The max of |F_t| / ||w|| is attained
- `l2`: at a vertex; inside an edge on the circle of u at w = P_u G / ||P_u G|| (P_u: projection onto u's
  orthogonal plane, G the gradient of a cell beside the edge); or inside a cell c at w = G_c / ||G_c||,
  where F = ||G_c||;
- `l1`: at a vertex of the arrangement with the coordinate circles w_i = 0 added (within a cell and an
  orthant F / ||w||_1 is a ratio of linear forms, largest at a corner).
Every vertex and edge lies on a circle, and every cell borders an edge, so one sweep per circle finds them
all. Along w(theta) = cos(theta) e1 + sin(theta) e2, theta in [0, pi), (e1, e2) an orthonormal basis of
u^perp, the term j flips sign once, at the normal of its projection p_j = (u_j . e1, u_j . e2); sorting
these breakpoints and summing their jumps 2 c_j sigma_j u_j (3-D) gives the gradient on every interval,
starting from G(0-) = -(sum of jumps) / 2 (as sweep.py: G(theta + pi) = -G(theta)). Terms parallel to u
(||p_j|| <= OWN_TOL ||u_j||) vanish on the circle; the cells on its two sides have G +- c' u / ||u||,
c' = sum of their c_j |u_j . u| / ||u||. The 3 coordinate circles (c = 0) are always added: they give the
`l1` corners and >= 2 distinct circles. Coincident breakpoints (three kink planes through one line, repeated
or coplanar points) only give empty intervals whose gradients are extra candidates, never trusted.

Exactness: vertex and edge values are |G . w| / ||w|| at points w, exact. A cell's stationary value ||G_c|| is
evaluated (F at G_c / ||G_c||, O(J)) only where it could be the max: above the best value found so far and
above M_t, the max of |F_t| over all its circles; and then its cap of radius arccos(M_t / ||G_c||) lies in the
cell (on the cell's edges F <= M_t), so the circle swept and those crossing at the interval's ends keep that
distance from G_c (tested; valid pruning, nothing else is skipped). Per tuple O(J^2 log J), J = K N + 3
(K = 1 for planes, 3 at depth 3). Scaled data (as sweep.py): values carry relative rounding ~1e-15.
"""

from __future__ import annotations

import numpy as np

from symcli.lasso.sweep import families, kink_points, map_tuples, n_kinks, n_tuples, scaled

#: A term is on a circle (parallel to its normal u) when its projection onto u^perp is below this times ||u_j||:
#: rounding leaves ~1e-16; misjudging a term this close to parallel moves a value by <= OWN_TOL |c_j| ||u_j||.
OWN_TOL = 1e-10
#: Entries (tuples x circles x breakpoints) swept at once per thread: 190 bytes each at peak (`l2`), ~50 MB.
SPHERE_ENTRIES = 1 << 18
#: Cell maxima (G_c / ||G_c||) evaluated at once: each costs K N floats.
CELL_CHUNK = 1 << 12


def n_sphere_entries(depth: int, N: int) -> int:
    """Entries the 3-D certificate sweeps (tuples x circles x breakpoints, J = K N + 3): its cost, about
    13.5 N^4 at depth 3 and N^3 at depth 2."""
    return sum(n_tuples(f, N) * (n_kinks(f) * N + 3) ** 2 for f in families(depth))


def tuple_terms(X: np.ndarray, lam: np.ndarray, fam, tup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U (T, J, 3): u_j = x_n - q_K for each tuple (T, n_pins), then the 3 coordinate vectors; c (J,):
    s_K lambda_n, then 3 zeros (the same for every tuple of a family)."""
    Q, s = kink_points(X, fam, tup)  # combined before multiplying: a kink on a point is that point
    T, K = Q.shape[:2]
    U = (X[None, None] - Q[:, :, None]).reshape(T, K * len(X), 3)
    U = np.concatenate([U, np.broadcast_to(np.eye(3), (T, 3, 3))], axis=1)
    return U, np.concatenate([(s[:, None] * lam).ravel(), np.zeros(3)])


def _frames(U: np.ndarray, nrm: np.ndarray):
    """Unit normals n and bases e1, e2 of n^perp (e1 x e2 = n), each (..., 3); zero u gets n = e_3."""
    n = np.where(nrm[..., None] > 0, U / np.where(nrm > 0, nrm, 1.0)[..., None], np.array([0.0, 0.0, 1.0]))
    k = np.argmin(np.abs(n), axis=-1)
    e1 = np.cross(n, np.eye(3)[k])
    e1 /= np.linalg.norm(e1, axis=-1, keepdims=True)
    return n, e1, np.cross(n, e1)


def sweep_circles(U: np.ndarray, c: np.ndarray, norm: str, best: float):
    """Sweep every circle of tuples U (T, J, 3) with coefficients c (J,).

    Returns (value (T,), w (T, 3)): per tuple the largest |F| / ||w|| over the circles (vertices, and edges
    for `l2`) and a direction attaining it (unnormalised); and for `l2` the cells whose stationary point
    may be a larger maximum, larger than `best` too: (tuple index (M,), G_c (M, 3), ||G_c|| (M,))."""
    T, J, _ = U.shape
    nrm = np.linalg.norm(U, axis=-1)
    n, e1, e2 = _frames(U, nrm)  # the circles: one per term
    Ut = U.transpose(0, 2, 1)
    px, py = e1 @ Ut, e2 @ Ut  # (T, circle, term): the term in the circle's frame (e1, e2, n)
    own = px * px + py * py <= np.square(OWN_TOL * nrm)[:, None, :]
    raw = np.arctan2(px, -py)  # angle of the crossing t = (-p_y, p_x): there p_j . w = 0
    sg = np.where(own, 0.0, np.where((raw >= 0) & (raw < np.pi), -1.0, 1.0))  # sign of the term after it
    order = np.argsort(np.where(own, 0.0, np.mod(raw, np.pi)), axis=-1)
    del raw
    sg, px, py = (np.take_along_axis(a, order, -1) for a in (sg, px, py))
    k = 2.0 * sg * c[order]  # jumps 2 c_j sigma_j u_j
    cx, cy = np.cumsum(k * px, axis=-1), np.cumsum(k * py, axis=-1)
    cx -= 0.5 * cx[..., -1:]  # the gradient after each breakpoint, from G(0-) = -(sum of jumps) / 2
    cy -= 0.5 * cy[..., -1:]
    cross = np.abs(px * cy - py * cx)  # |G . t| at the crossing t = -p_y e1 + p_x e2
    if norm == "l1":
        den = sum(np.abs(px * e2[:, :, None, i] - py * e1[:, :, None, i]) for i in range(3))  # ||t||_1
    else:
        den = np.hypot(px, py)
    val = np.divide(cross, den, out=np.full_like(cross, -1.0), where=sg != 0)
    if norm == "l1":
        return _best(val, lambda t, i, j: px[t, i, j, None] * e2[t, i] - py[t, i, j, None] * e1[t, i]), None
    # edges: G . w(theta) peaks inside [theta_b, theta_(b+1)] where its derivative h changes sign there;
    # h at a crossing = sigma (p . (cx, cy)) / |p|, at theta = 0 (own terms) cy, at theta = pi -cy
    h0 = np.where(sg == 0, cy, sg * (px * cx + py * cy))
    h1 = np.empty_like(h0)
    h1[..., :-1] = sg[..., 1:] * (px[..., 1:] * cx[..., :-1] + py[..., 1:] * cy[..., :-1])
    np.copyto(h1[..., :-1], cy[..., :-1], where=sg[..., 1:] == 0)
    h1[..., -1] = -cy[..., -1]
    base = cx * cx + cy * cy
    edge = np.where(h0 * h1 <= 0, base, -1.0)
    np.sqrt(edge, out=edge, where=edge > 0)
    pick = edge > val
    np.copyto(val, edge, where=pick)

    def direction(t, i, j):
        p = pick[t, i, j, None]
        ed = cx[t, i, j, None] * e1[t, i] + cy[t, i, j, None] * e2[t, i]
        return np.where(p, ed, px[t, i, j, None] * e2[t, i] - py[t, i, j, None] * e1[t, i])

    found = _best(val, direction)
    # Cells beside each interval: G = (cx, cy, cz +- c'), c' from the terms parallel to the circle (own). If
    # |F| peaks inside a cell, at G / |G| or its antipode, above the max M_t of |F| on all circles, the cap of
    # radius arccos(M_t / |G|) around it lies in the cell (on its edge F would be larger than M_t), so no
    # circle comes closer: |u . G| >= |u| sqrt(|G|^2 - M_t^2) for every term, with u . G of the cell's sign.
    # For this circle that is cx^2 + cy^2 <= M_t^2; the terms crossing at the interval's ends are tested too.
    pz = np.take_along_axis(n @ Ut, order, -1)
    cz = np.cumsum(k * pz, axis=-1)
    cz -= 0.5 * cz[..., -1:]
    cown = (np.abs(pz) * np.take_along_axis(own, order, -1) * c[order]).sum(-1)
    M = found[0]
    floor = np.maximum(M, best)[:, None, None] ** 2
    top = base + np.square(np.abs(cz) + np.abs(cown)[..., None])  # |G|^2 of the larger side
    t, i, j = np.nonzero((base <= np.square(M)[:, None, None]) & (top > floor))
    M, x, y, zc, co = M[t], cx[t, i, j], cy[t, i, j], cz[t, i, j], cown[t, i]
    out = []
    for s in (1.0, -1.0):
        z = zc + s * co
        n2 = x * x + y * y + z * z
        r = np.sqrt(np.maximum(n2 - M * M, 0.0))
        pos, neg = s * z >= 0, s * z <= 0
        for o in (0, 1):  # sign after the crossing at the interval's start, before the one at its end
            p = np.minimum(j + o, J - 1)
            sgp = sg[t, i, p] * (1.0 - 2.0 * o) * (j + o < J)
            q = sgp * (px[t, i, p] * x + py[t, i, p] * y + pz[t, i, p] * z)
            far = np.abs(sgp) * nrm[t, order[t, i, p]] * r
            pos &= q >= far
            neg &= q <= -far
        keep = (pos | neg) & (n2 > floor[t, 0, 0])
        tk, ik = t[keep], i[keep]
        G = x[keep, None] * e1[tk, ik] + y[keep, None] * e2[tk, ik] + z[keep, None] * n[tk, ik]
        out.append((tk, G, np.sqrt(n2[keep])))
    return found, tuple(np.concatenate(a) for a in zip(*out, strict=True))


def _best(val: np.ndarray, direction):
    """Per tuple the largest of val (T, C, J) and its direction(t, i, j) (T, 3)."""
    T, C, J = val.shape
    flat = val.reshape(T, -1)
    m = np.argmax(flat, axis=1)
    t = np.arange(T)
    return flat[t, m], direction(t, m // J, m % J)


def evaluate(X: np.ndarray, lam: np.ndarray, fam, tup: np.ndarray, w: np.ndarray) -> np.ndarray:
    """F_t(w) = sum_K s_K sum_n lambda_n |(x_n - q_K) . w| for pin tuples tup (M, n_pins) and w (M, 3)."""
    Q, s = kink_points(X, fam, tup)
    qw = np.einsum("mkd,md->mk", Q, w)
    xw = w @ X.T
    return sum(s_k * (np.abs(xw - qw[:, k, None]) @ lam) for k, s_k in enumerate(s))


def sphere_max(X: np.ndarray, lam: np.ndarray, depth: int, norm: str, threads: int | None = None):
    """Max of |F_t| / ||w|| over the sphere for every pin tuple of the families of `depth` <= 3, data X (N, 3).

    Returns (value (n,), w (n, 3) unit in `norm`, V): a tuple's value is |F_t(w)| at its w, its exact max
    wherever that is above the best value found before its chunk (cells that cannot beat it are skipped);
    V = max(value) is exact. Chunks run in `threads` threads (numpy releases the GIL)."""
    N, d = X.shape
    if depth > 3 or d != 3:
        raise ValueError(f"the sphere sweep is for d = 3 and depth <= 3, got d = {d}, depth {depth}")
    Xs, ls, unit = scaled(X, lam)
    best = [0.0]  # attained by some tuple: a valid floor for every later chunk

    def run(fam, tup):
        U, c = tuple_terms(Xs, ls, fam, tup)
        (v, w), cells = sweep_circles(U, c, norm, best[0])
        if cells is not None:
            t, G, g = cells
            for m0 in range(0, len(t), CELL_CHUNK):
                tm, Gm = t[m0 : m0 + CELL_CHUNK], G[m0 : m0 + CELL_CHUNK]
                f = np.abs(evaluate(Xs, ls, fam, tup[tm], Gm)) / g[m0 : m0 + CELL_CHUNK]
                up = np.flatnonzero(f > v[tm])
                up = up[np.argsort(f[up])]  # several cells of one tuple: the largest is assigned last
                v[tm[up]], w[tm[up]] = f[up], Gm[up]
        best[0] = max(best[0], float(v.max(initial=0.0)))
        return v, w

    parts = list(map_tuples(depth, N, lambda fam: (n_kinks(fam) * N + 3) ** 2, SPHERE_ENTRIES, run, threads))
    value = np.concatenate([p[0] for p in parts]) * unit
    W = np.concatenate([p[1] for p in parts])
    size = np.linalg.norm(W, ord=1 if norm == "l1" else 2, axis=1, keepdims=True)
    W = np.where(size > 0, W / np.where(size > 0, size, 1.0), np.eye(3)[0])  # w = 0 only where F_t = 0
    return value, W, float(value.max(initial=0.0))
