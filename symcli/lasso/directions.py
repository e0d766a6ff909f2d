"""Direction sets (theory.md section 3): unit first-layer weights w, each optionally spanned by d points.

A direction set is W (n, d) with unit rows (in the first-layer norm) and span (n, d): the indices of the
training points whose hyperplane H_S the direction is normal to, or -1 where the direction is not spanned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from symcli.core.errors import UserError
from symcli.core.numerics import rng
from symcli.lasso.geometry import hyperplanes_through, normalize

DIRECTION_SETS = ("spanned", "axis", "grid", "random", "refined", "fallback")
#: The sets a user can ask for (`refined` directions come from column generation, `fallback` ones are added
#: when the data are degenerate for the requested sets, see with_fallback).
USER_DIRECTION_SETS = ("spanned", "axis", "grid", "random")
#: A direction set is degenerate on data X when no direction's spread over the data (std of w^T x, unit w)
#: exceeds this times the data's largest spread: the points lie (to this precision) on a flat every direction
#: is normal to (collinear points in 2-D, coplanar ones in 3-D), so every feature is constant or noise.
FLAT_RTOL = 1e-6


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


def _principal(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(singular values (k,), right singular vectors (k, d)) of the centred X, largest first."""
    _, sv, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    return sv, Vt


def degenerate(X: np.ndarray, W: np.ndarray) -> bool:
    """True when no direction of W (n, d) varies on X (N, d) by more than FLAT_RTOL of the data's own spread
    (and the data do vary): every feature built on W would be constant, or rounding noise, on X."""
    sv, Vt = _principal(X)
    if len(sv) == 0 or sv[0] == 0:
        return False  # identical points: no direction can help
    if len(W) == 0:
        return True
    spread = np.linalg.norm((W @ Vt.T) * sv, axis=1) / np.maximum(np.linalg.norm(W, axis=1), 1e-300)
    return bool(spread.max() <= FLAT_RTOL * sv[0])


def fallback(X: np.ndarray, norm: str) -> Directions:
    """Directions along which X (N, d) varies: the principal axes of the centred data with singular value
    above FLAT_RTOL of the largest (for collinear points the line's own direction, the best single direction
    in l2) and the coordinate axes not normal to them (the best in l1). Unspanned: paper pins anchor them
    at every training point."""
    sv, Vt = _principal(X)
    P = Vt[sv > FLAT_RTOL * sv[0]] if len(sv) and sv[0] > 0 else np.zeros((0, X.shape[1]))
    E = np.eye(X.shape[1])
    E = E[np.linalg.norm(E @ P.T, axis=1) > FLAT_RTOL] if len(P) else E[:0]
    return _unspanned(np.vstack([P, E]), "fallback", norm)


def with_fallback(
    names: list[str], X: np.ndarray, norm: str, n_directions: int | None, seed: int
) -> tuple[Directions, str | None]:
    """direction_set, plus the fallback directions (and a one-line note saying why) when the named sets are
    empty or degenerate on X: e.g. `spanned` on collinear 2-D points holds only the line's normal, whose
    features are all constant, which would leave an empty dictionary (z = 0) without a word."""
    dirs = _union(names, X, norm, n_directions, seed)
    if not degenerate(X, dirs.W):
        if len(dirs) == 0:
            raise UserError("the direction set is empty (all spanning points are collinear); add --directions axis")
        return dirs, None
    extra = fallback(X, norm)
    sv, _ = _principal(X)
    rank = int(np.sum(sv > FLAT_RTOL * sv[0]))
    flat = "a line (collinear)" if rank == 1 else f"a {rank}-dimensional flat"
    note = (
        f"the {X.shape[0]} training points lie on {flat} in d = {X.shape[1]}, so every direction of --directions "
        f"{','.join(names)} is normal to them and every feature would be constant (an empty fit, z = 0); added "
        f"{len(extra)} fallback direction{'s' * (len(extra) != 1)} (the data's principal axes and the coordinate "
        "axes along them)"
    )
    return dirs.concat(extra), note


def direction_set(names: list[str], X: np.ndarray, norm: str, n_directions: int | None, seed: int) -> Directions:
    """The union of the named direction sets for data X (N, d)."""
    out = _union(names, X, norm, n_directions, seed)
    if len(out) == 0:
        raise UserError("the direction set is empty (all spanning points are collinear); add --directions axis")
    return out


def _union(names: list[str], X: np.ndarray, norm: str, n_directions: int | None, seed: int) -> Directions:
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
    return out
