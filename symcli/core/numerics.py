"""Numerical conventions, stated once: dtype, tolerances, randomness.

Every tolerance used by the engine and its tests lives here.
"""

from __future__ import annotations

import numpy as np

DTYPE = np.float64

#: Relative KKT tolerance of the Lasso solvers: a column is violating when |A_j^T r| > beta (1 + KKT_TOL).
KKT_TOL = 1e-9
#: A dual certificate V / beta - 1 at or below this proves optimality over the continuous dictionary.
CERTIFICATE_TOL = 1e-6
#: Column generation (--refine) keeps adding features until the certificate is below this (or stalls):
#: stopping at CERTIFICATE_TOL would leave up to ~1e-7 relative suboptimality.
REFINE_TOL = 1e-9
#: Two objectives agree when their relative difference is below this (fast solver vs reference).
OBJECTIVE_RTOL = 1e-6
#: The reconstructed network's objective equals the Lasso's to this relative tolerance.
IDENTITY_RTOL = 1e-9
#: A column can be non-zero at some optimum when |A_j^T r| >= beta (1 - FACE_TOL) (lasso/face.py): the solvers
#: stop at KKT_TOL, so columns this close to the bound are taken as tied with the selected ones.
FACE_TOL = 1e-6
#: Coefficients with |z_j| above this (relative to max |z|) count as selected.
SUPPORT_TOL = 1e-9
#: Columns equal on the data after rounding to this relative resolution are duplicates.
DEDUPE_RESOLUTION = 1e-10
#: Offsets c_l below -this (relative to the data scale) are rejected as negative.
OFFSET_EPS = 1e-12
#: A trained unit's plane is pinned when d training points lie within PIN_EPS x data_scale(X) of it.
PIN_EPS = 1e-2

# ------------------------------------------------------------------ limits on input (bad input beyond them)

#: Largest |entry| accepted in X, y, X_test and y_test. Feature values are O(|X|) and the Lasso works
#: with squares and products of data (||y||^2, A^T y, P(theta)), which then stay below ~1e200, far
#: from float64 overflow (1.8e308) for any N and dictionary. Larger data must be rescaled (the problem
#: is homogeneous: X -> s X, beta -> s beta leaves the objective unchanged; y -> s y, beta -> s beta
#: multiplies it by s^2).
DATA_MAX = 1e100
#: Smallest largest-|entry| accepted in X and in y unless all zero: below it squares fall toward the
#: subnormal range (2.2e-308) and relative tolerances lose their meaning. Rescale such data.
DATA_MIN = 1e-100
#: Smallest beta accepted, as a fraction of beta_max (the beta at which z = 0 becomes optimal). Below it
#: the Lasso is interpolation up to rounding: the KKT test |A_j^T r| <= beta (1 + KKT_TOL) sits at the
#: rounding noise of A^T r (~1e-16 beta_max), the provable duality gap grows like 1e-16 / fraction, and
#: --refine stops terminating (measured: at 1e-6 every solver and --refine end in seconds with a relative
#: gap <= 1e-7; at 1e-8 --refine runs for minutes, and --beta 1e-320 once ran for 1,170 s).
BETA_MIN_FRACTION = 1e-6
#: Most units per trained network (--width): an optimal network needs at most N + 1 units (the Lasso's
#: support), and the activations of a wider one outgrow memory long before it could help.
MAX_NET_WIDTH = 1_000_000
#: Largest --seed: seeds are 32-bit (numpy and torch accept them; networks use seed * 1000 + restart).
SEED_MAX = 2**32 - 1


def rng(seed: int | np.random.Generator) -> np.random.Generator:
    """An explicit generator from a seed (never the global state)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def rel_diff(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|, tiny)."""
    return abs(a - b) / max(abs(a), abs(b), np.finfo(DTYPE).tiny)
