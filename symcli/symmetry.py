"""Symmetry, measured (theory.md section 6): on Lasso fits (from column metadata) and on trained networks.

Every |.| unit is even in w^T x + a, so it is mirror symmetric about H = {w^T x + a = 0}; the reflection
across H is R_H(x) = x - 2 (w^T x + a) w / ||w||^2. The symmetry error of a function f about H on
held-out points X_e is E_H(f) = ||f(X_e) - f(R_H X_e)|| / ||f(X_e) - mean f(X_e)||.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from symcli.lasso.dictionary import Dictionary
from symcli.lasso.features import FAMILIES, data_scale, psi
from symcli.lasso.geometry import reflect
from symcli.numerics import PIN_EPS, rng


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


def unit_features(W: np.ndarray, b1: np.ndarray, U: np.ndarray, B: np.ndarray):
    """Each unit of a parallel network as a scaled feature: unit direction w_hat (m, d), offset a (m,),
    offsets c (m, L-2) of psi_c(w_hat^T x + a) (possibly negative), and the scale of the unit's output."""
    norm = np.linalg.norm(W, axis=1)
    safe = np.where(norm > 0, norm, 1.0)
    scale = norm.copy()
    c = np.zeros_like(U)
    for l in range(U.shape[1]):
        u = np.where(U[:, l] != 0, U[:, l], 1e-300)
        c[:, l] = -B[:, l] / (u * np.where(scale > 0, scale, 1.0))
        scale = scale * np.abs(U[:, l])
    return W / safe[:, None], b1 / safe, c, scale


def kinks_1d(W: np.ndarray, b1: np.ndarray, U: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Kink locations x of every unit of a 1-D parallel network: all x where some pre-activation is 0."""
    out = []
    for i in range(len(W)):
        if W[i, 0] == 0:
            continue
        for lvl in range(U.shape[1] + 1):
            targets = np.array([0.0])  # values the level-lvl pre-activation must take
            for l in range(lvl - 1, -1, -1):  # a_(l+1) = u |a_l| + b  =>  a_l = +-(v - b) / u
                if U[i, l] == 0:
                    targets = np.array([])
                    break
                mag = (targets - B[i, l]) / U[i, l]
                mag = mag[mag >= 0]
                targets = np.concatenate([mag, -mag])
            out.extend((targets - b1[i]) / W[i, 0])
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
) -> dict:
    """Symmetry of a trained parallel |.| network (arrays as in ParallelAbsNet; units whose equivalent
    coefficient |alpha_i| prod|u_il| ||w_i|| is below live_tol of the largest are dropped): per unit the
    first-layer hyperplane, the training points within eps of it (default PIN_EPS x data_scale(X)), its
    pinning distance (the d-th smallest |w^T x_n + a| over training points, over data_scale(X): 0 when d
    points lie on the plane), whether the plane cuts the data (points beyond eps on both sides; a plane that
    does not is linear on the training points, like one through an extreme point: share_units_pinned counts
    only the planes that cut), and the distance of each deeper offset to the nearest pinned value
    psi_(c_2..c_(l-1))(t_n + a) with whether that nested kink falls inside the data; in 1-D the kinks of f
    (symcli.nulls.kink_statistic compares them with data points and reflections 2 x_j - x_k)."""
    z = np.abs(alpha) * unit_features(W, b1, U, B)[3]  # each unit's equivalent Lasso coefficient |z_i|
    live = z >= live_tol * max(z.max(initial=0.0), 1e-300)
    W, b1, U, B = W[live], b1[live], U[live], B[live]
    w_hat, a, c, _ = unit_features(W, b1, U, B)
    T = X @ w_hat.T + a  # (N, m)
    scale = data_scale(X)
    eps = PIN_EPS * scale if eps is None else eps
    near = (np.abs(T) <= eps).sum(0)
    crosses = (T < -eps).any(0) & (T > eps).any(0)  # training points on both sides: the plane cuts the data
    pin_dist = np.sort(np.abs(T), axis=0)[min(X.shape[1], len(X)) - 1] / scale if len(w_hat) else np.zeros(0)
    units = []
    for i in range(len(w_hat)):
        offs, cuts = [], []
        for l in range(c.shape[1]):
            pinned = psi(T[:, i], c[i, :l])
            offs.append(float(np.min(np.abs(pinned - c[i, l]))))
            cuts.append(bool(pinned.min() < c[i, l] < pinned.max()))  # the nested kink falls inside the data
        units.append(
            {
                "w": w_hat[i].tolist(),
                "a": float(a[i]),
                "c": c[i].tolist(),
                "points_within_eps": int(near[i]),
                "pin_distance": float(pin_dist[i]),
                "crosses_data": bool(crosses[i]),
                "offset_to_pinned": offs,
                "offset_cuts_data": cuts,
            }
        )
    out = {
        "units": units,
        "eps": eps,
        "live_units": int(live.sum()),
        "units_outside_data": int((~crosses).sum()),
        "share_units_pinned": float(np.mean(near[crosses] >= X.shape[1])) if crosses.any() else None,
    }
    if X.shape[1] == 1 and len(W):
        out["kinks"] = kinks_1d(W, b1, U, B).tolist()
    return out
