"""Features psi_c(w^T x + a) and the exact vertex enumeration of section 3 of theory.md.

For a fixed direction w the data enter only through projections t_n = w^T x_n. Write the layer-1
kink position p0 = -a. A kink of level 0 sits at t = p0; of level l >= 1 at t = p0 + sum_k sigma_k c_k
(sigma in {-1, +1}^l over c_2..c_(l+1)). A *vertex* fixes (p0, c_2..c_(L-1)) by L-1 independent
equations, each "training point n sits on a kink of some level and sign" or "c_l = 0". Every local
maximum of |lambda^T phi| over (a, c) is attained at such a vertex, so enumerating all vertices with
c >= 0 is exact for the direction (the `all` pin rule and the certificate both use it).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from symcli.core.numerics import OFFSET_EPS

FAMILIES = ("plane", "reflection", "midpoint")
PLANE, REFLECTION, MIDPOINT = range(3)
#: The kinds of a 2-D tuple function (sweep.py): depth 2 or 3 (no domain), depth 4 with c_3 <= c_2 (F1), with
#: c_3 >= c_2 (F2).
PLAIN, F1, F2 = range(3)
#: Named family sets of the ablation (--families, grid.families): `all` is the depth's whole dictionary;
#: `no-reflection` drops the nested reflections about a training point (keeps planes and midpoint mirrors);
#: `planes-only` keeps the plane features psi_0 = |w^T x + a| (the depth-2 dictionary inside a deeper one).
FAMILY_SETS = {"all": FAMILIES, "no-reflection": ("plane", "midpoint"), "planes-only": ("plane",)}


def parse_families(spec: str) -> tuple[str, ...]:
    """Families of a --families value: a named set of FAMILY_SETS or comma-separated names of FAMILIES
    (ValueError naming the choices otherwise). Returned in FAMILIES order."""
    spec = spec.strip()
    names = FAMILY_SETS.get(spec) or tuple(s.strip() for s in spec.split(",") if s.strip())
    unknown = [s for s in names if s not in FAMILIES]
    if unknown or not names:
        raise ValueError(
            f"unknown feature family {unknown[0] if unknown else spec!r}; choose a set ({', '.join(FAMILY_SETS)}) "
            f"or comma-separated families ({', '.join(FAMILIES)})"
        )
    return tuple(f for f in FAMILIES if f in names)


def family_set_name(families: tuple[str, ...]) -> str:
    """The name of FAMILY_SETS with exactly these families, else their comma-joined names."""
    return next((k for k, v in FAMILY_SETS.items() if set(v) == set(families)), ",".join(families))


def data_scale(X: np.ndarray) -> float:
    """The scale relative tolerances refer to: max |X| (1.0 for all-zero data)."""
    return float(np.abs(X).max(initial=0.0)) or 1.0


def psi(u: np.ndarray, c: np.ndarray) -> np.ndarray:
    """psi_c(u) = |...||u| - c_2| ... - c_(L-1)|.

    u: (..., N) pre-activations t + a; c: (..., L-2) offsets, broadcast against u's leading axes.
    Returns (..., N).
    """
    h = np.abs(u)
    for l in range(c.shape[-1]):
        h = np.abs(h - c[..., l, None])
    return h


@dataclass(frozen=True)
class VertexSystem:
    """One choice of L-1 distinct kink equations: (p0, c) = Minv @ rhs.

    rows: (L-1, L-1) coefficients on (p0, c_2..c_(L-1)); point_rows: which rows are "point n on a kink"
    (right-hand side t_n), the others are boundaries c_l = 0 (right-hand side 0); point_levels: the kink
    level of each point row.
    family: REFLECTION when the layer-1 kink is pinned and every deeper level is pinned once (nested
    reflections about a training point), MIDPOINT otherwise (two points equidistant from a mirror).
    """

    rows: np.ndarray
    point_rows: tuple[int, ...]
    point_levels: tuple[int, ...]
    Minv: np.ndarray
    family: int


def _kink_rows(depth: int) -> list[tuple[np.ndarray, int | None]]:
    """All equation rows for depth L: (coefficients, level) with level None for boundaries c_l = 0."""
    n = depth - 1
    rows: list[tuple[np.ndarray, int | None]] = []
    for level in range(n):
        for signs in itertools.product((1.0, -1.0), repeat=level):
            r = np.zeros(n)
            r[0] = 1.0
            r[1 : 1 + level] = signs
            rows.append((r, level))
    for l in range(1, n):
        r = np.zeros(n)
        r[l] = 1.0
        rows.append((r, None))
    return rows


@cache
def vertex_systems(depth: int) -> tuple[VertexSystem, ...]:
    """The nonsingular systems of L-1 distinct kink equations for depth L (cached)."""
    rows = _kink_rows(depth)
    out = []
    for combo in itertools.combinations(range(len(rows)), depth - 1):
        M = np.array([rows[i][0] for i in combo])
        if abs(np.linalg.det(M)) < 1e-9:
            continue
        levels = [rows[i][1] for i in combo]
        point_rows = tuple(i for i, lv in enumerate(levels) if lv is not None)
        point_levels = [lv for lv in levels if lv is not None]
        nested = 0 in point_levels and len(set(point_levels)) == len(point_levels)
        family = REFLECTION if nested else MIDPOINT
        out.append(VertexSystem(M, point_rows, tuple(point_levels), np.linalg.inv(M), family))
    return tuple(out)


@dataclass
class VertexBlock:
    """Vertices of one system for a batch of directions.

    p0: (n_dir, n_tup) layer-1 kink positions (a = -p0); c: (n_dir, n_tup, L-2) offsets as solved
    (a negative offset marks a spurious vertex; values() clips it at 0, which is still a feature of D_L);
    pins: (n_tup, L-1) training point per equation (-1 for boundaries); system: the vertex system.
    """

    p0: np.ndarray
    c: np.ndarray
    pins: np.ndarray
    system: VertexSystem

    @property
    def family(self) -> int:
        return self.system.family

    def values(self, T: np.ndarray) -> np.ndarray:
        """Feature values phi at the data, (n_dir, n_tup, N), for projections T (n_dir, N)."""
        return psi(T[:, None, :] - self.p0[..., None], np.maximum(self.c, 0.0))

    def valid(self, T: np.ndarray, scale: float) -> np.ndarray:
        """(n_dir, n_tup) mask of genuine vertices: offsets >= 0 and every pinned point really on its kink.

        A sign-resolved row p0 + s_2 c_2 + s_3 c_3 = t_n is a kink of psi only where the nested argument
        at that level vanishes (e.g. not for s_2 s_3 = -1 when c_3 > c_2); elsewhere the solution is a
        feature but no vertex of the arrangement, and its pins would be wrong."""
        tol = OFFSET_EPS * scale
        ok = np.all(self.c >= -tol, axis=-1)
        c = np.maximum(self.c, 0.0)
        for r, lv in zip(self.system.point_rows, self.system.point_levels, strict=True):
            u = T[:, self.pins[:, r]] - self.p0  # (n_dir, n_tup)
            arg = u if lv == 0 else psi(u[..., None], c[..., : lv - 1])[..., 0] - c[..., lv - 1]
            ok &= np.abs(arg) <= 1e3 * tol
        return ok


def n_vertices_per_direction(depth: int, N: int) -> int:
    """Number of enumerated vertices (before validity and duplicate filtering) per direction."""
    return sum(N ** len(s.point_rows) for s in vertex_systems(depth))


def enumerate_vertices(T: np.ndarray, depth: int, systems=None):
    """Yield a VertexBlock per vertex system for projections T (n_dir, N)."""
    n_dir, N = T.shape
    for s in systems if systems is not None else vertex_systems(depth):
        k = len(s.point_rows)
        tup = np.stack(np.unravel_index(np.arange(N**k), (N,) * k), axis=1) if k else np.zeros((1, 0), int)
        rhs = np.zeros((n_dir, len(tup), depth - 1))
        for col, r in enumerate(s.point_rows):
            rhs[:, :, r] = T[:, tup[:, col]]
        v = rhs @ s.Minv.T
        pins = np.full((len(tup), depth - 1), -1)
        pins[:, list(s.point_rows)] = tup
        yield VertexBlock(v[..., 0], v[..., 1:], pins, s)
