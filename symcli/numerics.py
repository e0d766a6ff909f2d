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
#: Coefficients with |z_j| above this (relative to max |z|) count as selected.
SUPPORT_TOL = 1e-9
#: Columns equal on the data after rounding to this relative resolution are duplicates.
DEDUPE_RESOLUTION = 1e-10
#: Offsets c_l below -this (relative to the data scale) are rejected as negative.
OFFSET_EPS = 1e-12


def rng(seed: int | np.random.Generator) -> np.random.Generator:
    """An explicit generator from a seed (never the global state)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def rel_diff(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|, tiny)."""
    return abs(a - b) / max(abs(a), abs(b), np.finfo(DTYPE).tiny)
