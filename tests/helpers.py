"""Shared test helpers."""

from __future__ import annotations

import numpy as np


def random_problem(seed: int, N: int, d: int, labels: bool = True):
    """A seeded random problem: X (N, d) standard normal, y +-1 labels or Gaussian targets."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((N, d))
    y = np.where(g.standard_normal(N) > 0, 1.0, -1.0) if labels else g.standard_normal(N)
    return X, y
