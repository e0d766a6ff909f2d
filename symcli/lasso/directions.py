"""Direction sets (theory.md section 3): unit first-layer weights w, each optionally spanned by d points.

A direction set is W (n, d) with unit rows (in the first-layer norm) and span (n, d): the indices of the
training points whose hyperplane H_S the direction is normal to, or -1 where the direction is not spanned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from symcli.errors import UserError
from symcli.lasso.geometry import hyperplanes_through, normalize
from symcli.numerics import rng

DIRECTION_SETS = ("spanned", "axis", "grid", "random", "refined")
#: The sets a user can ask for (`refined` directions come from column generation).
USER_DIRECTION_SETS = ("spanned", "axis", "grid", "random")


@dataclass
class Directions:
    """W: (n, d) unit directions; span: (n, d) spanning point indices or -1; source: (n,) set names."""

    W: np.ndarray
    span: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.W)

    def concat(self, other: Directions) -> Directions:
        return Directions(
            np.vstack([self.W, other.W]),
            np.vstack([self.span, other.span]),
            np.concatenate([self.source, other.source]),
        )


def _unspanned(W: np.ndarray, name: str, norm: str) -> Directions:
    n, d = W.shape
    return Directions(normalize(W, norm), np.full((n, d), -1), np.full(n, name, dtype=object))


def spanned(X: np.ndarray, norm: str, n_directions: int | None, seed: int) -> Directions:
    """Normals of hyperplanes through d training points: all C(N, d), or a seeded sample of n_directions.

    For d = 1 every "hyperplane through one point" has the normal w = 1; the single direction is left
    unspanned so that pin rules anchor it at every training point.
    """
    N, d = X.shape
    if d == 1:
        return _unspanned(np.ones((1, 1)), "spanned", norm)
    total = math.comb(N, d)
    if n_directions is None or n_directions >= total:
        S = np.array(list(combinations(range(N), d)), dtype=np.int64).reshape(-1, d)
    else:
        g = rng(seed)
        S = np.unique(np.sort(np.stack([g.choice(N, d, replace=False) for _ in range(n_directions)]), axis=1), axis=0)
    # normals of the unit-scaled data: the same directions, and no overflow of the degree-(d-1) minors
    top = float(np.abs(X).max())
    normals, _ = hyperplanes_through(X / top if top > 0 else X, S)
    keep = np.linalg.norm(normals, axis=1) > 1e-12
    return Directions(normalize(normals[keep], norm), S[keep], np.full(int(keep.sum()), "spanned", dtype=object))


def axis(d: int, norm: str) -> Directions:
    """The d coordinate directions."""
    return _unspanned(np.eye(d), "axis", norm)


def grid(d: int, norm: str, n_directions: int | None) -> Directions:
    """A dense grid of directions on the half circle (d = 2) or a Fibonacci half sphere (d = 3)."""
    if d == 1:
        return _unspanned(np.ones((1, 1)), "grid", norm)
    if d == 2:
        n = n_directions or 360
        theta = np.pi * np.arange(n) / n
        return _unspanned(np.stack([np.cos(theta), np.sin(theta)], axis=1), "grid", norm)
    if d == 3:
        n = n_directions or 1000
        k = np.arange(n) + 0.5
        z = k / n  # upper hemisphere: w and -w give the same features
        phi = np.pi * (1 + 5**0.5) * k
        r = np.sqrt(1 - z**2)
        return _unspanned(np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1), "grid", norm)
    raise UserError(f"the grid direction set supports d <= 3, got d = {d}; use spanned, axis or random")


def random(d: int, norm: str, n_directions: int | None, seed: int) -> Directions:
    """Seeded Gaussian directions."""
    return _unspanned(rng(seed).standard_normal((n_directions or 100, d)), "random", norm)


def count_directions(names: list[str], N: int, d: int, n_directions: int | None) -> int:
    """How many directions direction_set(names, X (N, d), ...) creates at most (before dropping degenerate
    spanned ones), without creating them."""
    total = 0
    for name in names:
        if name == "spanned":
            total += 1 if d == 1 else min(math.comb(N, d), n_directions or math.comb(N, d))
        elif name == "axis":
            total += d
        elif name == "grid":
            total += 1 if d == 1 else n_directions or (360 if d == 2 else 1000)
        elif name == "random":
            total += n_directions or 100
    return total


def direction_set_bytes(names: list[str], N: int, d: int, n_directions: int | None) -> float:
    """The least memory the direction set occupies once built, however it is built: per direction its (d,)
    float64 weights, (d,) int64 spanning indices and a reference to its set name (building it takes more)."""
    return float(count_directions(names, N, d, n_directions)) * 8 * (2 * d + 1)


def direction_set(names: list[str], X: np.ndarray, norm: str, n_directions: int | None, seed: int) -> Directions:
    """The union of the named direction sets for data X (N, d)."""
    d = X.shape[1]
    parts = []
    for name in names:
        if name == "spanned":
            parts.append(spanned(X, norm, n_directions, seed))
        elif name == "axis":
            parts.append(axis(d, norm))
        elif name == "grid":
            parts.append(grid(d, norm, n_directions))
        elif name == "random":
            parts.append(random(d, norm, n_directions, seed))
        else:
            raise UserError(f"unknown direction set {name!r}; choose from spanned, axis, grid, random")
    out = parts[0]
    for p in parts[1:]:
        out = out.concat(p)
    if len(out) == 0:
        raise UserError("the direction set is empty (all spanning points are collinear); add --directions axis")
    return out
