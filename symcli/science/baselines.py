"""Reference scores for a fitted cell: the majority (constant) predictor and cross-validated linear probes.

Everything is float64 numpy plus scikit-learn; every random choice takes an explicit seed. Shapes: X (n, d)
projected features, E (n, D) full embeddings, y (n,) targets: +-1 for task 'classification', floats for
'regression'. Scores are held-out accuracy (classification) or held-out R^2 = 1 - SS_res / SS_tot with SS_tot
about the held-out mean (regression; can be <= 0). When SS_tot = 0, R^2 is 1.0 for a perfect fit and 0.0
otherwise (scikit-learn's convention).

- majority_score: always predict the training majority class (ties -> +1) or the training mean.
- probe_score: a linear probe tuned by cross-validation on the training rows only, on standardised features:
  LogisticRegressionCV (L2, lbfgs, Cs = logspace(-3, 3, 13), stratified folds, log-loss scoring) or RidgeCV
  (alphas = logspace(-3, 3, 13), efficient leave-one-out). Where no probe can be fitted it is the majority
  predictor (see probe_score).
- baselines: both, on projected features and on the full embeddings, as one dict.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

TASKS = ("classification", "regression")
GRID = np.logspace(-3, 3, 13)  # Cs of the logistic probe and alphas of the ridge probe
MAX_ITER = 10_000


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")


def _signs(y: np.ndarray) -> np.ndarray:
    """Classification targets (n,) as float64 +-1; anything else is refused."""
    y = np.asarray(y, dtype=np.float64).ravel()
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("classification targets must be +-1")
    return y


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    """R^2 of predictions (n,) against y (n,), SS_tot about y's mean; 1.0 / 0.0 when y is constant."""
    y = np.asarray(y, dtype=np.float64).ravel()
    pred = np.broadcast_to(np.asarray(pred, dtype=np.float64), y.shape)
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def majority_score(y_train: np.ndarray, y_test: np.ndarray, task: str) -> float:
    """Held-out score of the constant predictor fitted on y_train (n,): majority class (ties -> +1) or mean."""
    _check_task(task)
    if task == "classification":
        ytr, yte = _signs(y_train), _signs(y_test)
        majority = 1.0 if np.sum(ytr > 0) >= np.sum(ytr < 0) else -1.0
        return float(np.mean(yte == majority))
    ytr = np.asarray(y_train, dtype=np.float64).ravel()
    return _r2(np.full(len(np.ravel(y_test)), ytr.mean()), y_test)


def _logistic_kwargs(seed: int, folds: int) -> dict:
    """LogisticRegressionCV settings: pure L2, lbfgs, explicit across scikit-learn 1.4 .. 1.9+ (no FutureWarning)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    kw = {
        "Cs": GRID,
        "cv": StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        "scoring": "neg_log_loss",  # smooth where accuracy ties on tiny folds; scikit-learn's default from 1.11
        "solver": "lbfgs",
        "max_iter": MAX_ITER,
    }
    params = inspect.signature(LogisticRegressionCV).parameters
    if params["l1_ratios"].default == "warn":  # >= 1.8: `penalty` is deprecated, l1_ratio 0 is L2
        kw["l1_ratios"] = (0.0,)
    if "use_legacy_attributes" in params:
        kw["use_legacy_attributes"] = False
    return kw


def probe_score(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, task: str, seed: int
) -> float:
    """Held-out score of a linear probe tuned by cross-validation on (X_train (n, d), y_train (n,)) only.

    Classification: StandardScaler + LogisticRegressionCV (see the module docstring), folds =
    StratifiedKFold(min(5, smallest class count), shuffled with `seed`). Regression: StandardScaler + RidgeCV.
    Falls back to majority_score (the probe cannot be fitted or could only learn an intercept) when the
    training rows hold a single class or a class with a single member (no stratified split exists), when
    every feature is constant on the training rows, or for regression with fewer than 3 training rows.
    scikit-learn's ConvergenceWarning (lbfgs at the weakest penalties on separable data, even after
    MAX_ITER iterations) is suppressed inside this function; the fit it returns is used as it is. BLAS runs
    single-threaded during the fit (symcli.lasso.solvers.single_thread_blas): these problems are tiny, and
    threaded OpenBLAS made each probe about 10 times slower on a busy 2-core machine.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from symcli.lasso.solvers import single_thread_blas

    _check_task(task)
    Xtr = np.asarray(X_train, dtype=np.float64)
    Xte = np.asarray(X_test, dtype=np.float64)
    if Xtr.ndim == 1:
        Xtr = Xtr[:, None]
    if Xte.ndim == 1:
        Xte = Xte[:, None]
    if Xtr.shape[0] != len(np.ravel(y_train)) or Xte.shape[0] != len(np.ravel(y_test)) or Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"shapes do not match: X_train {Xtr.shape}, y_train, X_test {Xte.shape}, y_test")
    constant = bool(np.all(Xtr.max(axis=0) == Xtr.min(axis=0))) if Xtr.shape[0] else True
    if task == "classification":
        ytr, yte = _signs(y_train), _signs(y_test)
        smallest = min(int(np.sum(ytr > 0)), int(np.sum(ytr < 0)))
        if smallest < 2 or constant:
            return majority_score(ytr, yte, task)
        model = make_pipeline(StandardScaler(), LogisticRegressionCV(**_logistic_kwargs(seed, min(5, smallest))))
        with warnings.catch_warnings(), single_thread_blas():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Xtr, ytr)
        return float(np.mean(model.predict(Xte) == yte))
    ytr = np.asarray(y_train, dtype=np.float64).ravel()
    if len(ytr) < 3 or constant:
        return majority_score(ytr, y_test, task)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=GRID))
    with single_thread_blas():
        model.fit(Xtr, ytr)
    return _r2(model.predict(Xte), y_test)


def score(f: np.ndarray, y: np.ndarray, task: str) -> float:
    """Accuracy of sign(f) (0 -> +1) against +-1 y, or R^2 of f against y; f, y (n,)."""
    _check_task(task)
    f = np.asarray(f, dtype=np.float64).ravel()
    if task == "classification":
        return float(np.mean(np.where(f >= 0, 1.0, -1.0) == _signs(y)))
    return _r2(f, y)


def spearman(f: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman rank correlation of f (n,) and y (n,); None when either is constant, n < 2 or the result is NaN."""
    from scipy.stats import spearmanr

    f = np.asarray(f, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(f) != len(y):
        raise ValueError(f"spearman needs arrays of one length, got {len(f)} and {len(y)}")
    if len(f) < 2 or not (np.isfinite(f).all() and np.isfinite(y).all()):
        return None
    if np.all(f == f[0]) or np.all(y == y[0]):
        return None
    rho = float(spearmanr(f, y).statistic)
    return None if np.isnan(rho) else rho


def baselines(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray | None,
    y_test: np.ndarray | None,
    E_train: np.ndarray | None,
    E_test: np.ndarray | None,
    task: str,
    seed: int,
) -> dict:
    """{majority_score, probe_score (on X (n, d)), probe_full_score (on E (n, D)), task}; the scores are None
    without held-out rows (X_test None); probe_full_score is None without full embeddings."""
    _check_task(task)
    out = {"majority_score": None, "probe_score": None, "probe_full_score": None, "task": task}
    if X_test is None or y_test is None or len(np.ravel(y_test)) == 0:
        return out
    out["majority_score"] = majority_score(y_train, y_test, task)
    out["probe_score"] = probe_score(X_train, y_train, X_test, y_test, task, seed)
    if E_train is not None and E_test is not None:
        out["probe_full_score"] = probe_score(E_train, y_train, E_test, y_test, task, seed)
    return out


def accuracy(f: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of sign(f) (0 counted as +1) against +-1 targets y."""
    return float(np.mean(np.where(f >= 0, 1.0, -1.0) == y))


def held_out_scores(y: np.ndarray, f_test: np.ndarray) -> dict:
    """Held-out scores of predictions f_test (n_test,) against y (n_test,): test_score (accuracy for +-1 targets,
    else R^2), test_accuracy or test_spearman, and test_mse."""
    task = "classification" if np.all(np.isin(y, (-1.0, 1.0))) else "regression"
    out = {"test_score": score(f_test, y, task), "test_mse": float(np.mean((f_test - y) ** 2))}
    if task == "classification":
        out["test_accuracy"] = out["test_score"]
    else:
        out["test_spearman"] = spearman(f_test, y)
    return out
