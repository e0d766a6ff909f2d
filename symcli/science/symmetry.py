"""Symmetry, measured (theory.md section 6): on Lasso fits (from column metadata) and on trained networks.

Every |.| unit is even in w^T x + a, so it is mirror symmetric about H = {w^T x + a = 0}; the reflection
across H is R_H(x) = x - 2 (w^T x + a) w / ||w||^2. The symmetry error of a function f about H on
held-out points X_e is E_H(f) = ||f(X_e) - f(R_H X_e)|| / ||f(X_e) - mean f(X_e)||.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from symcli.core.numerics import OFFSET_EPS, PIN_EPS, rng
from symcli.lasso.activations import preactivations, size
from symcli.lasso.dictionary import Dictionary
from symcli.lasso.features import FAMILIES, data_scale
from symcli.lasso.geometry import reflect


def symmetry_error(f: Callable[[np.ndarray], np.ndarray], X_eval: np.ndarray, w: np.ndarray, a: float) -> float:
    """E_H(f) for H = {w^T x + a = 0} on points X_eval (M, d); 0 for a function symmetric about H."""
    fx = f(X_eval)
    spread = np.linalg.norm(fx - fx.mean())
    return float(np.linalg.norm(fx - f(reflect(X_eval, w, a))) / spread) if spread > 0 else 0.0


def held_out_points(X: np.ndarray, n: int = 1000, seed: int = 0) -> np.ndarray:
    """Seeded uniform points in the bounding box of X (N, d), widened by 10%: (n, d)."""
    lo, hi = X.min(0), X.max(0)
    pad = 0.1 * (hi - lo) + 1e-12
    return rng(seed).uniform(lo - pad, hi + pad, size=(n, X.shape[1]))


def _shares(keys: np.ndarray, mass: np.ndarray, names: Sequence) -> dict:
    total = mass.sum() or 1.0
    return {
        str(k): {"count": int((keys == k).sum()), "mass_share": float(mass[keys == k].sum() / total)} for k in names
    }


def lasso_function(D: Dictionary, z: np.ndarray, xi: float) -> Callable[[np.ndarray], np.ndarray]:
    """The Lasso's fitted function f(P) = sum_j z_j phi_j(P) + xi on points P (M, d) -> (M,)."""
    S = np.flatnonzero(z)

    def f(P: np.ndarray) -> np.ndarray:
        return D.evaluate(P, S) @ z[S] + xi

    return f


def lasso_symmetry(
    D: Dictionary,
    z: np.ndarray,
    xi: float,
    X: np.ndarray,
    X_eval: np.ndarray,
    texts: Sequence[str] | None = None,
    top: int = 5,
) -> dict:
    """Family and nesting-level counts and l1-mass shares of the selected features (z != 0), and the top
    mirrors by |z|: (w, a), the pinning training points (and their texts), the nested offsets, the
    zeros of psi on the mirror's axis, and the symmetry error E_H of the fitted function on X_eval."""
    S = np.flatnonzero(z)
    mass = np.abs(z[S])
    nest = D.nesting(S)
    f = lasso_function(D, z, xi)
    out = {
        "families": _shares(D.family[S], mass, range(len(FAMILIES))),
        "nesting": _shares(nest, mass, range(D.depth - 1)),
        "top_mirrors": [],
    }
    out["families"] = {FAMILIES[int(k)]: v for k, v in out["families"].items()}
    for rec in D.records(S[np.argsort(-mass)[:top]], z):
        w, a = np.array(rec["w"]), rec["a"]
        pts = sorted(set(rec["pins"]) | set(rec["span"]))
        m = {**rec, "E_H": symmetry_error(f, X_eval, w, a), "pinning_points": pts}
        if texts is not None:
            m["texts"] = [texts[i] for i in pts]
        out["top_mirrors"].append(m)
    errs = [m["E_H"] for m in out["top_mirrors"]]
    out["mean_E_H"] = float(np.mean(errs)) if errs else None
    return out


def gains(W: np.ndarray, U: np.ndarray, U2: np.ndarray | None = None) -> np.ndarray:
    """Each unit's gain g_l (m, L-1) of its pre-activation s_l with respect to the normalised input
    t = w_hat^T x + a: g_1 = ||w||_2, g_l = size(u_l) g_(l-1) (l = 2..L-1), size(u) = |u| (abs, relu) or max(|u+|, |u-|)
    (srelu). For abs, |s_l| / g_l = |psi_(c_2..c_(l-1))(t) - c_l| in units of t; relu likewise with relu in psi;
    srelu likewise with the larger of each pair of weights of size 1. W (m, d), U and U2 (m, L-2)."""
    g = [np.linalg.norm(W, axis=1)]
    for l in range(U.shape[1]):
        g.append(g[-1] * size(U[:, l], None if U2 is None else U2[:, l]))
    return np.stack(g, axis=1)


def unit_features(W: np.ndarray, b1: np.ndarray, U: np.ndarray, B: np.ndarray, U2: np.ndarray | None = None):
    """Each unit of a parallel network as a scaled feature: unit direction w_hat (m, d), offset a (m,), offsets
    c (m, L-2) (possibly negative) and the gain g_(L-1) (m,) of its last level (gains), so that size(alpha) g_(L-1)
    is its equivalent Lasso coefficient. c_l = -b_l / (u*_l g_(l-1)) (l = 2..L-1), u*_l = u_l, or for srelu whichever
    of u+_l, u-_l is larger in magnitude (sign kept): for abs the unit is alpha g_(L-1) psi_c(w_hat^T x + a)."""
    g = gains(W, U, U2)
    safe = np.where(g[:, 0] > 0, g[:, 0], 1.0)
    u = U if U2 is None else np.where(np.abs(U) >= np.abs(U2), U, U2)
    u = np.where(u != 0, u, 1e-300)
    c = -B / (u * np.where(g[:, :-1] > 0, g[:, :-1], 1.0))
    return W / safe[:, None], b1 / safe, c, g[:, -1]


def _roots(s: Callable[[np.ndarray], np.ndarray], breaks: np.ndarray) -> list[float]:
    """The x where a continuous piecewise-linear s: (P,) -> (P,), linear between the sorted breakpoints, is 0:
    exactly, piece by piece (pieces on which s is identically 0 contribute only their ends)."""
    span = max(1.0, float(np.abs(breaks).max(initial=0.0)))
    p = np.concatenate([[breaks[0] - span], breaks, [breaks[-1] + span]]) if len(breaks) else np.array([0.0, span])
    v = s(p)
    out = list(breaks[v[1:-1] == 0]) if len(breaks) else []
    for k in range(len(p) - 1):
        x0, x1, v0, v1 = p[k], p[k + 1], v[k], v[k + 1]
        if v0 == v1:
            continue
        r = x0 - v0 * (x1 - x0) / (v1 - v0)
        first, last = k == 0, k == len(p) - 2  # the outer pieces extend to -inf and +inf
        if (first or r >= x0) and (last or r <= x1):
            out.append(float(r))
    return out


def kinks_1d(
    W: np.ndarray, b1: np.ndarray, U: np.ndarray, B: np.ndarray, activation: str = "abs", U2: np.ndarray | None = None
) -> np.ndarray:
    """Kink locations x of every unit of a 1-D parallel network (arrays as in ParallelNet: W (m, 1), b1 (m,),
    U, B, U2 (m, L-2)): all x where some pre-activation s_l is 0, rounded to 12 decimals, sorted, unique. Solved
    level by level: s_l is linear between the kinks of the earlier levels, so its zeros are found exactly on each
    of those pieces."""
    out = []
    for i in range(len(W)):
        unit = [A[i : i + 1] for A in (W, b1, U, B)] + [None if U2 is None else U2[i : i + 1]]
        breaks = np.zeros(0)
        for lvl in range(U.shape[1] + 1):

            def s(x, lvl=lvl, unit=unit):
                return preactivations(x[:, None], *unit[:4], activation, unit[4])[lvl][:, 0]

            found = _roots(s, breaks)
            out.extend(found)
            breaks = np.unique(np.concatenate([breaks, found]))
    return np.unique(np.round(np.asarray(out, dtype=float), 12))


def network_symmetry(
    W: np.ndarray,
    b1: np.ndarray,
    U: np.ndarray,
    B: np.ndarray,
    alpha: np.ndarray,
    X: np.ndarray,
    eps: float | None = None,
    live_tol: float = 1e-3,
    activation: str = "abs",
    U2: np.ndarray | None = None,
    alpha2: np.ndarray | None = None,
) -> dict:
    """Symmetry of a trained parallel network (arrays as in ParallelNet: W (m, d), b1 (m,), U, B (m, L-2),
    alpha (m,), for srelu U2 (m, L-2) and alpha2 (m,); X (N, d)), through its units' pre-activations s_l at the
    training points. Units whose equivalent coefficient size(alpha_i) g_(L-1) (gains) is below live_tol of the
    largest are dropped. Per unit: the first-layer hyperplane (w_hat, a) = (w, b1) / ||w||, the training points
    within eps of it (default PIN_EPS x data_scale(X)), its pinning distance (the d-th smallest |w_hat^T x_n + a|
    over training points, over data_scale(X): 0 when d points lie on it), whether the plane cuts the data (points
    beyond eps on both sides; a plane that does not is linear on the training points, like one through an extreme
    point: share_units_pinned counts only the planes that cut), and for each deeper level l >= 2 the distance of
    its kink to the nearest training point, offset_to_pinned = min_n |s_l(x_n)| / g_l (for abs: the distance of
    the offset c_l to the nearest pinned value psi_(c_2..c_(l-1))(w_hat^T x_n + a)), with whether that kink falls
    inside the data (s_l takes both signs over the training points beyond rounding, OFFSET_EPS x (max_n |s_l| +
    |b_l|)); in 1-D the kinks of f (symcli.science.nulls.kink_statistic compares them with data points and reflections
    2 x_j - x_k)."""
    g = gains(W, U, U2)
    z = size(alpha, alpha2) * g[:, -1]  # each unit's equivalent coefficient (for abs its Lasso |z_i|)
    live = z >= live_tol * max(z.max(initial=0.0), 1e-300)
    W, b1, U, B, g = W[live], b1[live], U[live], B[live], g[live]
    U2 = None if U2 is None else U2[live]
    w_hat, a, c, _ = unit_features(W, b1, U, B, U2)
    T = X @ w_hat.T + a  # (N, m)
    scale = data_scale(X)
    eps = PIN_EPS * scale if eps is None else eps
    near = (np.abs(T) <= eps).sum(0)
    crosses = (T < -eps).any(0) & (T > eps).any(0)  # training points on both sides: the plane cuts the data
    pin_dist = np.sort(np.abs(T), axis=0)[min(X.shape[1], len(X)) - 1] / scale if len(w_hat) else np.zeros(0)
    S = preactivations(X, W, b1, U, B, activation, U2)[1:]  # s_2 .. s_(L-1), each (N, m)
    offs = [np.abs(s).min(0) / np.where(g[:, l + 1] > 0, g[:, l + 1], 1e-300) for l, s in enumerate(S)]
    tol = [OFFSET_EPS * (np.abs(s).max(0) + np.abs(B[:, l])) for l, s in enumerate(S)]
    cuts = [(s < -t).any(0) & (s > t).any(0) for s, t in zip(S, tol, strict=True)]
    units = [
        {
            "w": w_hat[i].tolist(),
            "a": float(a[i]),
            "c": c[i].tolist(),
            "points_within_eps": int(near[i]),
            "pin_distance": float(pin_dist[i]),
            "crosses_data": bool(crosses[i]),
            "offset_to_pinned": [float(o[i]) for o in offs],
            "offset_cuts_data": [bool(k[i]) for k in cuts],
        }
        for i in range(len(w_hat))
    ]
    out = {
        "units": units,
        "eps": eps,
        "live_units": int(live.sum()),
        "units_outside_data": int((~crosses).sum()),
        "share_units_pinned": float(np.mean(near[crosses] >= X.shape[1])) if crosses.any() else None,
    }
    if X.shape[1] == 1 and len(W):
        out["kinks"] = kinks_1d(W, b1, U, B, activation, U2).tolist()
    return out


def network_symmetry_of(model, X: np.ndarray, eps: float | None = None, live_tol: float = 1e-3) -> dict:
    """network_symmetry of a trained symcli.lasso.network.ParallelNet of any activation on training points X (N, d)."""
    return network_symmetry(X=X, eps=eps, live_tol=live_tol, **model.arrays())
