"""Geometry of reflection planes (theory.md sections 3 and 6): normals, distances, reflections."""

from __future__ import annotations

import numpy as np


def generalized_cross_product(V: np.ndarray) -> np.ndarray:
    """Normal to d-1 vectors in R^d, batched.

    V: (..., d-1, d). Returns (..., d) with component i = (-1)^i det(V without column i);
    it is orthogonal to every row of V and zero when the rows are linearly dependent.
    """
    d = V.shape[-1]
    if d == 1:
        return np.ones(V.shape[:-2] + (1,))
    out = np.empty(V.shape[:-2] + (d,))
    for i in range(d):
        minor = np.delete(V, i, axis=-1)
        out[..., i] = (-1) ** i * np.linalg.det(minor)
    return out


def normalize(W: np.ndarray, norm: str) -> np.ndarray:
    """Rows of W (n, d) scaled to unit `norm` ('l2' or 'l1') with a canonical sign.

    Features depend on w only up to sign (|.| is even), so the first nonzero entry is made positive.
    """
    ord_ = 2 if norm == "l2" else 1
    W = W / np.linalg.norm(W, ord=ord_, axis=1, keepdims=True)
    first = np.argmax(np.abs(W) > 1e-12, axis=1)
    sign = np.sign(W[np.arange(len(W)), first])
    sign[sign == 0] = 1.0
    return W * sign[:, None]


def hyperplanes_through(X: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hyperplanes H_S through the point sets S.

    X: (N, d) data; S: (n, d) indices of d points each. Returns unnormalised normals (n, d)
    (generalized cross product of x_s2 - x_s1, ..., x_sd - x_s1) and the base points x_s1 (n, d).
    """
    base = X[S[:, 0]]
    V = X[S[:, 1:]] - base[:, None, :]
    return generalized_cross_product(V), base


def reflect(X: np.ndarray, w: np.ndarray, a: float) -> np.ndarray:
    """R_H(x) = x - 2 (w^T x + a) w / ||w||^2, the mirror image across H = {w^T x + a = 0}. X: (n, d)."""
    w = np.asarray(w, dtype=float)
    return X - 2.0 * np.outer(X @ w + a, w) / (w @ w)
