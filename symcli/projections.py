"""Projections of embeddings (n, D) to the low dimension d the reflection Lasso works in. Pure numpy.

A Projection is fitted on the training split only and then applied unchanged to every split:

    Z = ((X - mean) / scale - center) @ W        X (n, D) -> Z (n, d)

- standardize: mean and scale are the training split's feature means and standard deviations (scale 1 where a
  feature is constant); otherwise mean = 0, scale = 1.
- kind 'pca': center = training mean (after standardisation), W (D, d) the top-d right singular vectors, each
  signed so that its largest-magnitude entry is positive.
- kind 'random': W has i.i.d. N(0, 1/d) entries (Gaussian Johnson-Lindenstrauss map), center = 0.
- kind 'sparse-sign': a sparse Johnson-Lindenstrauss transform (Kane and Nelson): each input coordinate (row of W)
  has exactly s = min(d, sparsity) nonzeros, +-1/sqrt(s) in distinct random columns; center = 0.
- kind 'pls': supervised, fitted on the training rows and their targets y (n,) only: PLS1 by NIPALS. With
  Xc = X_1 = (X - mean) / scale - center (center = its training mean), y_1 = y - mean(y); for k = 1..d:
  w_k = X_k^T y_k / |X_k^T y_k|, t_k = X_k w_k, p_k = X_k^T t_k / t_k^T t_k, X_{k+1} = X_k - t_k p_k^T,
  y_{k+1} = y_k - t_k (t_k^T y_k) / t_k^T t_k (when X_k^T y_k vanishes, y being explained already, w_k is X_k's
  top right singular vector instead). W = W_nipals (P^T W_nipals)^{-1} (D, d), so that Z = Xc @ W are the PLS
  scores t_k (mutually orthogonal); each column signed so that its largest-magnitude entry is positive.
  Needs d <= min(n - 1, D).
- kind 'none': W = identity (D, D), center = 0 (only the optional standardisation applies).

Random maps depend only on (kind, D, d, seed, sparsity), drawn with numpy's default_rng(seed); every kind but
'pls' ignores the targets. to_dict/from_dict (JSON) and save/load (.npz) store everything (pls: W and center),
so test data get exactly the training map.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symcli.core.errors import UserError
from symcli.core.paths import atomic_write_bytes

KINDS = ("pca", "random", "sparse-sign", "pls", "none")


@dataclass
class Projection:
    """A linear map fitted on training data: transform(X (n, D)) -> (n, d). See the module docstring."""

    kind: str = "pca"
    dim: int | None = None  # d; None only for kind 'none' (d = D)
    standardize: bool = False
    seed: int = 0
    sparsity: int = 4  # nonzeros per input coordinate of 'sparse-sign'
    mean: np.ndarray | None = field(default=None, repr=False)  # (D,)
    scale: np.ndarray | None = field(default=None, repr=False)  # (D,)
    center: np.ndarray | None = field(default=None, repr=False)  # (D,)
    W: np.ndarray | None = field(default=None, repr=False)  # (D, d)
    n_fit: int | None = None  # rows of the training data the map was fitted on

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"projection must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.dim is not None and self.dim < 1:
            raise UserError(f"projection dimension must be positive, got {self.dim}")
        if self.kind != "none" and self.dim is None:
            raise UserError(f"projection {self.kind} needs a target dimension")
        if self.sparsity < 1:
            raise UserError(f"sparse-sign sparsity must be positive, got {self.sparsity}")

    @property
    def fitted(self) -> bool:
        return self.W is not None

    def fit(self, X_train: np.ndarray, y: np.ndarray | None = None) -> Projection:
        """Fit on the training split X_train (n, D) only (and its targets y (n,) for kind 'pls'); returns self."""
        X = np.asarray(X_train, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 1:
            raise UserError(f"projection needs a 2-D training array with rows, got shape {X.shape}")
        n, D = X.shape
        d = D if self.kind == "none" else int(self.dim)
        if self.kind == "pca" and d > min(n, D):
            raise UserError(f"pca to {d} dimensions needs at least {d} training rows and features, got {n} x {D}")
        if self.kind == "pls":
            y = _pls_targets(y, n)
            if d > min(n - 1, D):
                raise UserError(
                    f"pls to {d} dimensions needs at least {d + 1} training rows and {d} features, got {n} x {D}"
                )
        if self.kind in ("random", "sparse-sign") and d > D:
            raise UserError(f"projection to {d} dimensions exceeds the input dimension {D}")
        if self.kind == "none" and self.dim not in (None, D):
            raise UserError(f"projection none keeps all {D} dimensions; drop the dimension {self.dim} or pick a kind")
        if self.standardize:
            self.mean = X.mean(axis=0)
            sd = X.std(axis=0)
            self.scale = np.where(sd > 0, sd, 1.0)
        else:
            self.mean, self.scale = np.zeros(D), np.ones(D)
        Xs = (X - self.mean) / self.scale
        self.center = np.zeros(D)
        rng = np.random.default_rng(self.seed)
        if self.kind == "pca":
            self.center = Xs.mean(axis=0)
            _, _, Vt = np.linalg.svd(Xs - self.center, full_matrices=False)
            W = Vt[:d].T.copy()
            self.W = _sign_columns(W)
        elif self.kind == "pls":
            self.center = Xs.mean(axis=0)
            self.W = _sign_columns(_pls1(Xs - self.center, y - y.mean(), d))
        elif self.kind == "random":
            self.W = rng.standard_normal((D, d)) / np.sqrt(d)
        elif self.kind == "sparse-sign":
            s = min(d, self.sparsity)
            W = np.zeros((D, d))
            for i in range(D):
                cols = rng.choice(d, size=s, replace=False)
                W[i, cols] = rng.choice([-1.0, 1.0], size=s) / np.sqrt(s)
            self.W = W
        else:
            self.W = np.eye(D)
        self.dim, self.n_fit = d, n
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Z (n, d) = ((X - mean) / scale - center) @ W with the training fit; X (n, D)."""
        if not self.fitted:
            raise UserError("projection is not fitted; call fit on the training split first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.W.shape[0]:
            raise UserError(f"projection expects arrays (n, {self.W.shape[0]}), got shape {X.shape}")
        return ((X - self.mean) / self.scale - self.center) @ self.W

    def fit_transform(self, X_train: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """fit(X_train, y) then transform(X_train): (n, d)."""
        return self.fit(X_train, y).transform(X_train)

    # ------------------------------------------------------------------------------------------ storage

    _ARRAYS = ("mean", "scale", "center", "W")
    _SCALARS = ("kind", "dim", "standardize", "seed", "sparsity", "n_fit")

    def to_dict(self) -> dict:
        """JSON-ready dict: the settings and the fitted arrays as nested lists (float64 round-trips exactly)."""
        out = {k: getattr(self, k) for k in self._SCALARS}
        out.update({k: None if getattr(self, k) is None else getattr(self, k).tolist() for k in self._ARRAYS})
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Projection:
        """Inverse of to_dict."""
        p = cls(**{k: d[k] for k in cls._SCALARS if k != "n_fit"})
        p.n_fit = d.get("n_fit")
        for k in cls._ARRAYS:
            if d.get(k) is not None:
                setattr(p, k, np.asarray(d[k], dtype=np.float64))
        return p

    def save(self, path: str | Path) -> None:
        """Write the projection to an .npz file (settings as JSON, arrays as float64), atomically."""
        if not self.fitted:
            raise UserError("cannot save a projection that is not fitted")
        buf = io.BytesIO()
        settings = json.dumps({k: getattr(self, k) for k in self._SCALARS})
        np.savez(buf, settings=np.array(settings), **{k: getattr(self, k) for k in self._ARRAYS})
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Projection:
        """Read a projection written by save."""
        with np.load(Path(path), allow_pickle=False) as z:
            settings = json.loads(str(z["settings"]))
            p = cls(**{k: settings[k] for k in cls._SCALARS if k != "n_fit"})
            p.n_fit = settings.get("n_fit")
            for k in cls._ARRAYS:
                setattr(p, k, np.array(z[k], dtype=np.float64))
        return p


def _sign_columns(W: np.ndarray) -> np.ndarray:
    """W (D, d) with each column signed so that its largest-magnitude entry is positive."""
    signs = np.sign(W[np.argmax(np.abs(W), axis=0), np.arange(W.shape[1])])
    return W * np.where(signs == 0, 1.0, signs)


def _pls_targets(y: np.ndarray | None, n: int) -> np.ndarray:
    """The targets of a pls fit as float64 (n,); UserError when missing, misshapen, non-finite or constant."""
    if y is None:
        raise UserError("projection pls is supervised: fit it with the training targets y")
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,) or not np.isfinite(y).all():
        raise UserError(f"projection pls needs finite targets of shape ({n},), got shape {y.shape}")
    if np.all(y == y[0]):
        raise UserError("projection pls needs targets that vary; all training targets are equal")
    return y


def _pls1(Xc: np.ndarray, yc: np.ndarray, d: int) -> np.ndarray:
    """PLS1 by NIPALS on centred Xc (n, D), yc (n,): R = W (P^T W)^{-1} (D, d), so that Xc @ R = the scores T."""
    n, D = Xc.shape
    Xk, yk = Xc.copy(), yc.copy()
    W, P = np.zeros((D, d)), np.zeros((D, d))
    tiny = 1e-12 * max(np.linalg.norm(Xc), 1e-300)
    for k in range(d):
        w = Xk.T @ yk
        if np.linalg.norm(w) <= tiny * max(np.linalg.norm(yc), 1e-300):  # y explained: X_k's top direction
            w = np.linalg.svd(Xk, full_matrices=False)[2][0]
        w = w / np.linalg.norm(w)
        t = Xk @ w
        tt = float(t @ t)
        if tt <= tiny**2:
            raise UserError(f"pls to {d} dimensions: the training rows span only {k} dimension(s) after centring")
        p = Xk.T @ t / tt
        Xk = Xk - np.outer(t, p)
        yk = yk - t * (t @ yk) / tt
        W[:, k], P[:, k] = w, p
    return np.linalg.solve((P.T @ W).T, W.T).T


def project_splits(
    splits: dict[str, np.ndarray],
    kind: str,
    dim: int | None,
    standardize: bool = False,
    seed: int = 0,
    train: str = "train",
    y: np.ndarray | None = None,
) -> tuple[Projection, dict[str, np.ndarray]]:
    """Fit a Projection on splits[train] (n, D) only (with its targets y (n,) for pls) and apply it to every split:
    {name: (n_split, d)}."""
    if train not in splits:
        raise UserError(f"no {train!r} split to fit the projection on (have {', '.join(splits)})")
    proj = Projection(kind=kind, dim=dim, standardize=standardize, seed=seed).fit(splits[train], y)
    return proj, {name: proj.transform(X) for name, X in splits.items()}
