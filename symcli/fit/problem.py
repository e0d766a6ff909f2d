"""Training problems read from files: X (N, d), y (N,), optional X_test, y_test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symcli.core.errors import UserError
from symcli.core.numerics import DATA_MAX, DATA_MIN, DTYPE


@dataclass
class Problem:
    """X: (N, d) training inputs; y: (N,) targets; X_test: (M, d) and y_test: (M,) or None."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def is_classification(self) -> bool:
        """Targets are +-1 labels (accuracies are then reported)."""
        return bool(np.all(np.isin(self.y, (-1.0, 1.0))))


def _array(a, name: str, path: Path, ndim: int) -> np.ndarray:
    if np.iscomplexobj(a):
        raise UserError(f"{path}: {name} is complex; store real numbers only")
    try:
        a = np.array(a, dtype=DTYPE)  # a writable copy
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{path}: {name} is not numeric; store numbers only") from None
    if a.ndim != ndim:
        shape = "(N, d)" if ndim == 2 else "(N,)"
        raise UserError(f"{path}: {name} has shape {a.shape}, expected {shape}; reshape it")
    if not np.all(np.isfinite(a)):
        raise UserError(f"{path}: {name} contains NaN or inf; remove or impute those rows")
    if ndim == 2 and a.shape[1] == 0:
        raise UserError(f"{path}: {name} has no feature columns (shape {a.shape}); add at least one numeric feature")
    if len(a) == 0:
        raise UserError(f"{path}: {name} has no rows; add data")
    top = float(np.abs(a).max())
    if top > DATA_MAX or 0 < top < DATA_MIN:
        raise UserError(
            f"{path}: the largest |value| in {name} is {top:.3g}, outside [{DATA_MIN:g}, {DATA_MAX:g}] where "
            "float64 squares and products stay accurate; rescale it (and beta with it)"
        )
    return a


def _table(path: Path):
    import pandas as pd

    try:
        df = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as e:  # pandas raises many types for unreadable files
        raise UserError(f"{path}: cannot read it as {path.suffix[1:]} ({type(e).__name__}); check the file") from None
    if "label" not in df.columns:
        raise UserError(f"{path}: no 'label' column; add the targets as a column named label")
    feats = df.drop(columns="label")
    if feats.shape[1] == 0:
        raise UserError(f"{path}: no feature columns besides 'label'; add at least one numeric feature column")
    bad = [c for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
    if bad:
        raise UserError(f"{path}: non-numeric feature column(s) {', '.join(map(str, bad))}; drop or encode them")
    return {"X": feats.to_numpy(), "y": df["label"].to_numpy()}


def load_problem(path: str | Path) -> Problem:
    """Read .npz (X, y, optional X_test, y_test) or .csv/.parquet (a 'label' column, numeric features)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"input {path} is a folder; pass a .npz, .csv or .parquet file")
    if not path.is_file():
        raise UserError(f"input file {path} does not exist; pass an existing .npz, .csv or .parquet file")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except Exception as e:
            raise UserError(f"{path}: cannot read it as .npz ({type(e).__name__}); check the file") from None
        missing = [k for k in ("X", "y") if k not in data]
        if missing:
            raise UserError(f"{path}: missing array(s) {', '.join(missing)}; save X (N, d) and y (N,)")
    elif path.suffix in (".csv", ".parquet"):
        data = _table(path)
    else:
        raise UserError(f"input file {path} has suffix {path.suffix!r}; use .npz, .csv or .parquet")
    X, y = _array(data["X"], "X", path, 2), _array(data["y"], "y", path, 1)
    if len(y) != len(X):
        raise UserError(f"{path}: X has {len(X)} rows but y has {len(y)}; give one target per row")
    if len(X) < 2:
        raise UserError(f"{path}: {len(X)} training point(s); at least 2 are needed")
    X_test = y_test = None
    if ("X_test" in data) != ("y_test" in data):
        raise UserError(f"{path}: X_test and y_test come together; save both or neither")
    if "X_test" in data:
        X_test, y_test = _array(data["X_test"], "X_test", path, 2), _array(data["y_test"], "y_test", path, 1)
        if X_test.shape[1] != X.shape[1] or len(X_test) != len(y_test):
            raise UserError(
                f"{path}: X_test {X_test.shape} / y_test {y_test.shape} do not match X's {X.shape[1]} columns; "
                "fix the shapes"
            )
    return Problem(X, y, X_test, y_test)
