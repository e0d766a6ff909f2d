"""Finite reflection dictionaries: a direction set times a pin rule (theory.md section 3).

A Dictionary holds A (N, p) with A[n, j] = phi_j(x_n) = psi_(c_j)(w_j^T x_n + a_j) and per-column
metadata: direction index, a, c, the training points that pin each kink, and the family.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from symcli.core.errors import UserError
from symcli.core.numerics import DEDUPE_RESOLUTION, OFFSET_EPS
from symcli.core.sizes import human_bytes
from symcli.lasso.directions import Directions
from symcli.lasso.features import (
    FAMILIES,
    PLANE,
    REFLECTION,
    data_scale,
    enumerate_vertices,
    n_vertices_per_direction,
    psi,
)

PIN_RULES = ("paper", "all")
#: Entries of the value matrix handled at once while building (bounds intermediate memory).
CHUNK_ENTRIES = 4_000_000


@dataclass
class Dictionary:
    """Columns A (N, p) and their metadata.

    direction: (p,) index into directions.W; a: (p,); c: (p, L-2); pins: (p, L-1) training point pinning
    each kink equation (-1: a boundary c_l = 0 or, for spanned directions, see directions.span);
    family: (p,) codes into features.FAMILIES.
    """

    A: np.ndarray
    directions: Directions
    direction: np.ndarray
    a: np.ndarray
    c: np.ndarray
    pins: np.ndarray
    family: np.ndarray
    depth: int
    norm: str
    pin_rule: str
    n_candidates: int = field(default=0)

    @property
    def n_columns(self) -> int:
        return self.A.shape[1]

    def evaluate(self, X: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """Feature values at new points X (M, d) for columns idx (default all): (M, len(idx))."""
        idx = np.arange(self.n_columns) if idx is None else np.asarray(idx)
        T = self.directions.W[self.direction[idx]] @ X.T  # (k, M)
        return psi(T + self.a[idx, None], self.c[idx]).T

    def nesting(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Number of nested mirror levels of each column: the count of nonzero offsets c_l."""
        c = self.c if idx is None else self.c[idx]
        scale = data_scale(self.A)
        return (c > OFFSET_EPS * scale * 1e3).sum(axis=1)

    def extend(self, W: np.ndarray, span: np.ndarray, a, c, pins, family, A_new: np.ndarray) -> None:
        """Append columns with new directions W (k, d) (one per column), e.g. from column generation."""
        base = len(self.directions)
        self.directions = self.directions.concat(Directions(W, span, np.full(len(W), "refined", dtype=object)))
        self.direction = np.concatenate([self.direction, base + np.arange(len(W))])
        self.a = np.concatenate([self.a, a])
        self.c = np.vstack([self.c, c])
        self.pins = np.vstack([self.pins, pins])
        self.family = np.concatenate([self.family, family])
        self.A = np.hstack([self.A, A_new])

    def restrict(self, families: tuple[str, ...]) -> Dictionary:
        """The columns of the given families (names of FAMILIES) only: a new Dictionary sharing directions."""
        keep = np.flatnonzero(np.isin(self.family, [FAMILIES.index(f) for f in families]))
        return replace(
            self,
            A=np.ascontiguousarray(self.A[:, keep]),
            direction=self.direction[keep],
            a=self.a[keep],
            c=self.c[keep],
            pins=self.pins[keep],
            family=self.family[keep],
        )

    def records(self, idx: np.ndarray, z: np.ndarray | None = None) -> list[dict]:
        """Metadata of columns idx as JSON-ready dicts (with coefficient z[j] when z is given)."""
        nest = self.nesting(idx)
        out = []
        for r, j in enumerate(idx):
            k = self.direction[j]
            rec = {
                "column": int(j),
                "family": FAMILIES[self.family[j]],
                "nesting": int(nest[r]),
                "w": self.directions.W[k].tolist(),
                "a": float(self.a[j]),
                "c": self.c[j].tolist(),
                "pins": [int(p) for p in self.pins[j] if p >= 0],
                "span": [int(s) for s in self.directions.span[k] if s >= 0],
                "direction_set": str(self.directions.source[k]),
            }
            if z is not None:
                rec["z"] = float(z[j])
            out.append(rec)
        return out


def count_candidates(directions: Directions, N: int, depth: int, pin_rule: str) -> int:
    """Columns generated before duplicate removal (what the builder allocates)."""
    if pin_rule == "paper":
        anchors = np.where(directions.span[:, 0] >= 0, 1, N)
        return int(anchors.sum()) * N ** (depth - 2)
    return len(_unique_rows(directions.W)) * n_vertices_per_direction(depth, N)


def dictionary_bytes(directions: Directions, N: int, depth: int, pin_rule: str) -> int:
    """Bytes build_dictionary needs: values, rounding keys and the deduplicated copy of every candidate."""
    return 3 * 8 * count_candidates(directions, N, depth, pin_rule) * N


def _unique_rows(W: np.ndarray) -> np.ndarray:
    _, idx = np.unique(np.round(W, 12), axis=0, return_index=True)
    return np.sort(idx)


def _paper_columns(T: np.ndarray, dirs: np.ndarray, span: np.ndarray, depth: int):
    """Paper pins: layer-1 kink on H_S (or at each training point when unspanned), deeper offsets pinned
    at training points: c_l = psi_(c_2..c_(l-1))(t_k + a). T: (n, N) projections of directions dirs."""
    N = T.shape[1]
    anchored = span[:, 0] >= 0
    pair_dir = np.concatenate([np.flatnonzero(anchored), np.repeat(np.flatnonzero(~anchored), N)])
    pair_anchor = np.concatenate([span[anchored, 0], np.tile(np.arange(N), int((~anchored).sum()))])
    a = -T[pair_dir, pair_anchor]
    H = np.abs(T[pair_dir] + a[:, None])  # (n_pairs, N)
    c = np.zeros((len(a), 0))
    pins = pair_anchor[:, None]
    owner = pair_dir
    for _ in range(depth - 2):
        n = len(H)
        c = np.concatenate([np.repeat(c, N, axis=0), H.reshape(-1, 1)], axis=1)
        H = np.abs(H[:, None, :] - H[:, :, None]).reshape(n * N, N)
        pins = np.concatenate([np.repeat(pins, N, axis=0), np.tile(np.arange(N), n)[:, None]], axis=1)
        a = np.repeat(a, N)
        owner = np.repeat(owner, N)
    return H, dirs[owner], a, c, pins, np.full(len(a), REFLECTION)


def _all_columns(T: np.ndarray, dirs: np.ndarray, depth: int, scale: float):
    """All pins: every genuine vertex (c >= 0) of the exact enumeration, per direction."""
    parts = []
    for block in enumerate_vertices(T, depth):
        ok = block.valid(T, scale)
        d_idx, t_idx = np.nonzero(ok)
        vals = block.values(T)[d_idx, t_idx]
        parts.append(
            (
                vals,
                dirs[d_idx],
                -block.p0[d_idx, t_idx],
                np.maximum(block.c[d_idx, t_idx], 0.0),
                block.pins[t_idx],
                np.full(len(d_idx), block.family),
            )
        )
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


def build_dictionary(
    X: np.ndarray, depth: int, directions: Directions, pin_rule: str, norm: str, max_memory: float
) -> Dictionary:
    """Build the dictionary for data X (N, d): candidate columns, then constant and duplicate removal.

    Refuses (UserError) before allocating when the candidates would need more than max_memory bytes.
    """
    N = X.shape[0]
    if pin_rule not in PIN_RULES:
        raise UserError(f"unknown pin rule {pin_rule!r}; choose paper or all")
    n_cand = count_candidates(directions, N, depth, pin_rule)
    need = dictionary_bytes(directions, N, depth, pin_rule)
    if need > max_memory:
        raise UserError(
            f"the depth-{depth} dictionary would hold {n_cand:,} columns x {N} points ({human_bytes(need)}) over "
            f"--max-memory {human_bytes(max_memory)}; lower N, sample directions with --n-directions, "
            "or raise --max-memory"
        )
    scale = data_scale(X)
    dir_idx = np.arange(len(directions)) if pin_rule == "paper" else _unique_rows(directions.W)
    per_dir = max(1, n_cand // max(len(dir_idx), 1)) * N
    step = max(1, CHUNK_ENTRIES // per_dir)
    parts = []
    for s in range(0, len(dir_idx), step):
        dirs = dir_idx[s : s + step]
        T = X @ directions.W[dirs].T
        T = T.T  # (n, N)
        if pin_rule == "paper":
            parts.append(_paper_columns(T, dirs, directions.span[dirs], depth))
        else:
            parts.append(_all_columns(T, dirs, depth, scale))
    F, direction, a, c, pins, family = (np.concatenate(x) for x in zip(*parts, strict=True))
    family[np.all(c <= OFFSET_EPS * scale * 1e3, axis=1)] = PLANE
    keep = _distinct_nonconstant(F, family, scale)
    return Dictionary(
        A=np.ascontiguousarray(F[keep]).T,
        directions=directions,
        direction=direction[keep],
        a=a[keep],
        c=c[keep],
        pins=pins[keep],
        family=family[keep],
        depth=depth,
        norm=norm,
        pin_rule=pin_rule,
        n_candidates=n_cand,
    )


def _distinct_nonconstant(F: np.ndarray, family: np.ndarray, scale: float) -> np.ndarray:
    """Indices (in original order) of the columns F (p, N) that are distinct for the Lasso: not constant
    on the data, and not equal to another up to an additive constant (absorbed by xi) and a sign
    (absorbed by z). Per duplicate group the simplest family is kept (plane < reflection < midpoint)."""
    order = np.argsort(family, kind="stable")
    key = np.rint((F[order] - F[order].mean(axis=1, keepdims=True)) / (scale * DEDUPE_RESOLUTION)).astype(np.int64)
    nonconst = np.any(key != 0, axis=1)
    order, key = order[nonconst], key[nonconst]
    first = key[np.arange(len(key)), np.argmax(key != 0, axis=1)]
    key *= np.sign(first)[:, None]
    view = np.ascontiguousarray(key).view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
    _, first = np.unique(view, return_index=True)
    return np.sort(order[first])
