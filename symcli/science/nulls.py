"""Chance levels and within-cell tests for the symmetry statistics of symmetry.py (theory.md section 6).

Each statistic is reported as a dict: "observed", its chance level "null" (the same statistic under a
stated null model), "n" (sample size), "p_value" (one-sided: observed more symmetric than chance; None
when there is nothing to test) and "test" (the test, in words). Everything is float64 numpy/scipy and
every random draw comes from an explicit seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from symcli.core.numerics import rng
from symcli.lasso.features import data_scale, psi
from symcli.science.symmetry import symmetry_error

#: Entries of a (points x hyperplanes) matrix handled at once in the null simulations.
_CHUNK = 4_000_000


def _clean(values) -> np.ndarray:
    """Finite float64 values of a sequence that may hold None or NaN."""
    v = np.array([np.nan if x is None else x for x in values], dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def _less(x: np.ndarray, y: np.ndarray) -> float | None:
    """One-sided Mann-Whitney U p-value that x is stochastically smaller than y (None if undefined)."""
    if len(x) == 0 or len(y) == 0:
        return None
    p = float(stats.mannwhitneyu(x, y, alternative="less").pvalue)
    return p if np.isfinite(p) else None


def _binom_greater(k: int, n: int, p0: float) -> float | None:
    """P(Bin(n, p0) >= k), None when n = 0."""
    if n == 0:
        return None
    return float(stats.binomtest(k, n, min(max(p0, 0.0), 1.0), alternative="greater").pvalue)


# ------------------------------------------------------------------------------------------ 1-D kinks


def _anchors(x: np.ndarray) -> np.ndarray:
    """Sorted anchors of 1-D data x (N,): the points x_j and every reflection 2 x_j - x_k (j != k)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    refl = 2.0 * x[:, None] - x[None, :]
    return np.sort(np.concatenate([x, refl[~np.eye(len(x), dtype=bool)]]))


def kink_tolerance(x: np.ndarray, n_anchors_target: float = 0.5) -> float:
    """Scale-free kink tolerance for 1-D data x (N,): tol = n_anchors_target * range / (2 * A), with A the
    number of distinct anchors (points and reflections 2 x_j - x_k) inside [min x, max x].

    The intervals [a - tol, a + tol] of the A anchors then have total length n_anchors_target * range,
    so the chance level kink_chance is at most about n_anchors_target (union bound; about
    1 - exp(-n_anchors_target) = 0.39 at the default when anchors are spread out), never near 1.
    0.0 for constant x."""
    x = np.asarray(x, dtype=np.float64).ravel()
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return 0.0
    a = _anchors(x)
    a = a[(a >= lo) & (a <= hi)]
    distinct = 1 + int(np.sum(np.diff(a) > 1e-12 * (hi - lo)))
    return float(n_anchors_target * (hi - lo) / (2 * distinct))


def kink_chance(x: np.ndarray, tol: float) -> float:
    """Chance that a kink uniform on [min x, max x] lies within tol of an anchor of x (N,): the exact
    length of (union of [a - tol, a + tol]) within the range, divided by the range (1.0 for constant x)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return 1.0
    a = _anchors(x)
    a = a[(a >= lo - tol) & (a <= hi + tol)]
    s, e = np.clip(a - tol, lo, hi), np.clip(a + tol, lo, hi)  # equal widths: both stay sorted
    prev_end = np.concatenate([[lo], e[:-1]])
    return float(np.sum(np.maximum(0.0, e - np.maximum(s, prev_end))) / (hi - lo))


def kink_statistic(kinks: np.ndarray, x: np.ndarray, tol: float) -> dict:
    """Share of the kinks (K,) inside the range of the 1-D data x (N,) that lie within tol of an anchor,
    against kink_chance (null: kinks independent and uniform on the data range); one-sided binomial test."""
    x = np.asarray(x, dtype=np.float64).ravel()
    k = np.asarray(kinks, dtype=np.float64).ravel()
    k = k[(k >= x.min()) & (k <= x.max())]
    a = np.concatenate([[-np.inf], _anchors(x), [np.inf]])
    i = np.searchsorted(a, k)  # a[i - 1] < k <= a[i]: the nearest anchor is one of the two
    dist = np.minimum(a[i] - k, k - a[i - 1])
    near = int(np.sum(dist <= tol))
    null = kink_chance(x, tol)
    return {
        "observed": near / len(k) if len(k) else None,
        "null": null,
        "n": len(k),
        "k": near,
        "p_value": _binom_greater(near, len(k), null),
        "test": "one-sided binomial, kinks uniform on the data range",
        "tol": float(tol),
    }


# ------------------------------------------------------------------------------------------ hyperplanes


def random_hyperplanes(X: np.ndarray, n: int, seed: int, through_points: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """n random hyperplanes {w^T x + a = 0} for data X (N, d): w (n, d) uniform on the unit sphere; a (n,)
    = -t with t uniform on [min_n w^T x_n, max_n w^T x_n] (the plane crosses the data along w) or, with
    through_points, a = -w^T x_s for a uniformly drawn training point x_s."""
    g = rng(seed)
    X = np.asarray(X, dtype=np.float64)
    w = g.standard_normal((n, X.shape[1]))
    w /= np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-300)
    if through_points:
        return w, -np.einsum("ij,ij->i", w, X[g.integers(len(X), size=n)])
    T = X @ w.T  # (N, n)
    return w, -g.uniform(T.min(0), T.max(0))


def _null_planes(X: np.ndarray, n: int, seed: int):
    """Projections T (N, chunk) = X w^T + a of n random hyperplanes (not through points), in chunks."""
    w, a = random_hyperplanes(X, n, seed)
    step = max(1, _CHUNK // max(len(X), 1))
    for s in range(0, n, step):
        yield X @ w[s : s + step].T + a[s : s + step]


def pinning_statistic(near_counts: np.ndarray, X: np.ndarray, eps: float, seed: int, n_null: int = 4000) -> dict:
    """Share of m units pinned (near_counts (m,) training points of X (N, d) within eps of the unit's
    hyperplane, pinned when >= d) against the same share for n_null random hyperplanes crossing the data
    (null: units' planes are such random planes); one-sided binomial test at the null share."""
    X = np.asarray(X, dtype=np.float64)
    d = X.shape[1]
    near = np.asarray(near_counts).ravel()
    pinned = int(np.sum(near >= d))
    hits = sum(int(np.sum((np.abs(T) <= eps).sum(0) >= d)) for T in _null_planes(X, n_null, seed))
    p0 = hits / n_null
    return {
        "observed": pinned / len(near) if len(near) else None,
        "null": p0,
        "n": len(near),
        "k": pinned,
        "p_value": _binom_greater(pinned, len(near), max(p0, 1.0 / (n_null + 1))),
        "test": f"one-sided binomial vs the pinned share of {n_null} random hyperplanes crossing the data",
        "eps": float(eps),
    }


def pin_distance_statistic(distances: Sequence[float], X: np.ndarray, seed: int, n_null: int = 2000) -> dict:
    """Median pinning distance of m units (distances: each unit's d-th smallest |w^T x_n + a| over data_scale(X),
    from network_symmetry) against the same for n_null random hyperplanes crossing the data X (N, d);
    one-sided Mann-Whitney U (units closer to d training points than random planes are)."""
    X = np.asarray(X, dtype=np.float64)
    obs = _clean(distances)
    k = min(X.shape[1], len(X)) - 1
    scale = data_scale(X)
    null = np.concatenate([np.sort(np.abs(T), axis=0)[k] / scale for T in _null_planes(X, n_null, seed)])
    return {
        "observed": float(np.median(obs)) if len(obs) else None,
        "null": float(np.median(null)),
        "n": len(obs),
        "p_value": _less(obs, null),
        "test": f"one-sided Mann-Whitney U vs {n_null} random hyperplanes crossing the data",
    }


def offset_statistic(offsets: Sequence[float], X: np.ndarray, depth: int, seed: int, n_null: int = 2000) -> dict:
    """Median distance of the units' deeper offsets c_l to their nearest pinned value (offsets: the pooled
    offset_to_pinned of network_symmetry) against random units on X (N, d): random hyperplanes crossing
    the data, each offset c_l uniform on [0, max_n psi_(c_2..c_(l-1))(t_n + a)]; one-sided Mann-Whitney U."""
    obs = _clean(offsets)
    test = "one-sided Mann-Whitney U (distances smaller than for random offsets)"
    if depth <= 2:
        return {"observed": None, "null": None, "n": 0, "p_value": None, "test": "depth 2: no deeper offsets"}
    g = rng([seed, 1])  # offsets: a stream independent of the planes' (drawn from seed)
    null = []
    for T in _null_planes(np.asarray(X, dtype=np.float64), n_null, seed):
        c = np.zeros((T.shape[1], 0))
        for _ in range(depth - 2):
            pinned = psi(T.T, c)  # (chunk, N)
            cl = g.uniform(0.0, pinned.max(1))
            null.append(np.min(np.abs(pinned - cl[:, None]), axis=1))
            c = np.concatenate([c, cl[:, None]], axis=1)
    null = np.concatenate(null)
    return {
        "observed": float(np.median(obs)) if len(obs) else None,
        "null": float(np.median(null)),
        "n": len(obs),
        "p_value": _less(obs, null),
        "test": test,
    }


def mirror_symmetry_statistic(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    X_eval: np.ndarray,
    observed_errors: Sequence[float],
    seed: int,
    n_null: int = 50,
) -> dict:
    """Mean symmetry error E_H of f about its top mirrors (observed_errors) against the mean E_H of the
    same f about n_null random hyperplanes through training points of X (N, d), on X_eval (M, d)
    (null: the top mirrors are such random planes); one-sided Mann-Whitney U."""
    obs = _clean(observed_errors)
    w, a = random_hyperplanes(X, n_null, seed, through_points=True)
    null = np.array([symmetry_error(f, X_eval, w[i], float(a[i])) for i in range(n_null)])
    return {
        "observed": float(obs.mean()) if len(obs) else None,
        "null": float(null.mean()) if n_null else None,
        "n": len(obs),
        "p_value": _less(obs, null),
        "test": "one-sided Mann-Whitney U (E_H smaller than about random planes through training points)",
    }


# ------------------------------------------------------------------------------------------ Lasso families


def family_share_statistic(
    dictionary_families: np.ndarray,
    selected: np.ndarray,
    mass: np.ndarray,
    reflection_codes: set[int],
    seed: int,
    n_draws: int = 2000,
) -> dict:
    """l1-mass share of the selected columns (k,) with |z| = mass (k,) whose family (dictionary_families
    (p,)) is in reflection_codes, against the same masses put on k columns drawn uniformly without
    replacement (null share = the dictionary's share of reflection-family columns); Monte Carlo p-value.

    A draw needs only which of the k masses land on reflection columns: their number is hypergeometric
    (R reflection columns among p) and their positions a uniform subset, so p never enters the cost."""
    fam = np.asarray(dictionary_families).ravel()
    is_refl = np.isin(fam, list(reflection_codes))
    p, R = len(fam), int(is_refl.sum())
    sel = np.asarray(selected, dtype=np.int64).ravel()
    m = np.abs(np.asarray(mass, dtype=np.float64).ravel())
    total = float(m.sum())
    test = f"Monte Carlo ({n_draws} draws): the same masses on columns drawn uniformly without replacement"
    if R == 0:
        return {"observed": 0.0, "null": 0.0, "n": len(sel), "p_value": None, "test": "no reflection column (depth 2)"}
    null = R / p
    if len(sel) == 0 or total <= 0:
        return {"observed": None, "null": null, "n": len(sel), "p_value": None, "test": test}
    obs = float(m[is_refl[sel]].sum() / total)
    g, k = rng(seed), len(sel)
    h = g.hypergeometric(R, p - R, k, size=n_draws)
    step = max(1, _CHUNK // k)
    shares = []
    for s in range(0, n_draws, step):
        rank = np.argsort(g.random((len(h[s : s + step]), k)), axis=1)  # a uniform permutation per draw
        shares.append(((rank < h[s : s + step, None]) * m).sum(1) / total)
    exceed = int(np.sum(np.concatenate(shares) >= obs - 1e-12))
    return {"observed": obs, "null": null, "n": k, "p_value": (1 + exceed) / (1 + n_draws), "test": test}


# ------------------------------------------------------------------------------------------ across seeds


def combine_pvalues(ps: Sequence[float | None]) -> float | None:
    """Fisher's combination of the p-values that are not None/NaN (None when there are none)."""
    v = _clean(ps)
    if len(v) == 0:
        return None
    return float(stats.combine_pvalues(np.clip(v, 1e-300, 1.0), method="fisher").pvalue)


def seed_interval(values: Sequence[float | None], level: float = 0.95) -> tuple:
    """(mean, lo, hi): the mean over seeds and its Student-t interval at `level` (None/NaN ignored;
    lo = hi = mean for one value; (None, None, None) for none)."""
    v = _clean(values)
    if len(v) == 0:
        return None, None, None
    mean = float(v.mean())
    if len(v) == 1:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half
