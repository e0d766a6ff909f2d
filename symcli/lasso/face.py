"""The optimal face of the Lasso: what holds at every optimum, not only at the one the solver returned.

For min_{z, xi} P(z, xi) = 0.5 ||A z + xi 1 - y||^2 + beta ||z||_1 the fitted values, hence the residual r, are the
same at every optimum (P is strictly convex in them). So z is optimal exactly when it (i) is zero off the
equicorrelation set E = {j : |A_j^T r| = beta}, (ii) has sign(z_j) = s_j = sign(A_j^T r) or z_j = 0 on E, and
(iii) fits the same: A_c z = A_c z* (A_c: the columns centred; the intercept takes the mean). With w = s_E z_E >= 0
the optimal face is the polytope {w >= 0 : A_c,E diag(s_E) w = A_c z*}, on which ||z||_1 = r^T A z* / beta is
constant. The l1-mass share of a subset of columns, sum_{j in subset} |z_j| / ||z||_1, is linear on it, so its
range over every optimum is two linear programs (HiGHS). E is taken with the relative tolerance FACE_TOL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symcli.core.numerics import FACE_TOL
from symcli.lasso.solvers import residual


@dataclass(frozen=True)
class ShareRange:
    """The smallest and largest l1-mass share of a column subset over the optimal face, and an optimum (p,)
    attaining each; face_columns: |E|, the columns that can be non-zero at an optimum."""

    min: float
    max: float
    z_min: np.ndarray
    z_max: np.ndarray
    face_columns: int


def share_range(A: np.ndarray, y: np.ndarray, z: np.ndarray, beta: float, subset: np.ndarray) -> ShareRange | None:
    """Range of sum_{j in subset} |z_j| / ||z||_1 over every optimum of the Lasso (A (N, p), y (N,), beta > 0) given
    one optimum z (p,); subset: (p,) bool. None when z = 0 (no mass to share)."""
    z = np.asarray(z, dtype=float)
    subset = np.asarray(subset, dtype=bool)
    total = float(np.abs(z).sum())
    if total == 0.0:
        return None
    r, _ = residual(A, y, z)
    g = A.T @ r
    face = np.flatnonzero((np.abs(g) >= beta * (1 - FACE_TOL)) | (z != 0))
    s = np.where(g[face] >= 0, 1.0, -1.0)
    own = subset[face].astype(float)
    w_star = np.abs(z[face])
    if own.min() == own.max():  # the face's columns are all in the subset, or none is: the share is fixed
        share = float(own[0])
        return ShareRange(share, share, z.copy(), z.copy(), len(face))
    from scipy.optimize import linprog

    B = (A[:, face] - A[:, face].mean(axis=0)) * s
    scale = max(float(np.abs(B).max()), np.finfo(float).tiny)
    A_eq = np.vstack([B / scale, np.ones(len(face)) / total])
    b_eq = np.concatenate([B @ w_star / scale, [1.0]])
    ends = []
    for sign in (1.0, -1.0):
        lp = linprog(sign * own / total, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        w = lp.x if lp.status == 0 else w_star  # the solver's optimum is always feasible
        zz = np.zeros_like(z)
        zz[face] = s * w
        ends.append((float(own @ w / max(w.sum(), np.finfo(float).tiny)), zz))
    (lo, z_lo), (hi, z_hi) = ends
    return ShareRange(min(lo, hi), max(lo, hi), z_lo, z_hi, len(face))
