"""Null models and within-cell tests of the symmetry statistics (symcli/science/nulls.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from symcli.core.numerics import rng
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import direction_set
from symcli.lasso.features import PLANE, REFLECTION
from symcli.lasso.solvers import beta_max, solve
from symcli.science.nulls import (
    combine_pvalues,
    family_share_statistic,
    kink_chance,
    kink_statistic,
    kink_tolerance,
    mirror_symmetry_statistic,
    offset_statistic,
    pinning_statistic,
    random_hyperplanes,
    seed_interval,
)
from symcli.science.symmetry import held_out_points, kinks_1d, network_symmetry, symmetry_error


def _anchors(x: np.ndarray) -> np.ndarray:
    refl = 2 * x[:, None] - x[None, :]
    return np.concatenate([x, refl[~np.eye(len(x), dtype=bool)]])


def _rejection_rate(pvalues, alpha: float = 0.05) -> float:
    return float(np.mean(np.array(pvalues) < alpha))


# ------------------------------------------------------------------------------------------ 1-D kinks


@pytest.mark.parametrize("seed", range(5))
def test_kink_chance_matches_monte_carlo(seed):
    g = rng(seed)
    x = g.standard_normal(int(g.integers(5, 41)))
    tol0 = kink_tolerance(x)
    assert kink_chance(x, tol0) <= 0.5 + 1e-12  # the default keeps the chance level informative
    a = np.sort(_anchors(x))
    for tol in (tol0, 5 * tol0, 0.02 * np.ptp(x)):  # the last two: many overlapping intervals
        k = g.uniform(x.min(), x.max(), 200_000)
        i = np.clip(np.searchsorted(a, k), 1, len(a) - 1)
        mc = np.mean(np.minimum(np.abs(a[i] - k), np.abs(k - a[i - 1])) <= tol)
        assert abs(mc - kink_chance(x, tol)) <= 0.01


def test_kink_chance_limits():
    x = np.array([0.0, 1.0, 3.0])
    # anchors: points 0, 1, 3 and reflections -1, -3, 2, -1, 6, 5; inside [0, 3]: 0, 1, 2, 3. At tol 0.1
    # they cover [0, .1] + [.9, 1.1] + [1.9, 2.1] + [2.9, 3]: 0.6 of the range 3
    assert kink_chance(x, 0.1) == pytest.approx(0.2, abs=1e-12)
    assert kink_tolerance(x) == pytest.approx(0.5 * 3 / (2 * 4))
    assert kink_chance(x, 10.0) == 1.0
    assert kink_chance(x, 0.0) == 0.0
    assert kink_chance(np.ones(4), 0.1) == 1.0 and kink_tolerance(np.ones(4)) == 0.0


def test_kink_statistic_counts_match_brute_force():
    g = rng(7)
    x = g.standard_normal(25)
    tol = kink_tolerance(x)
    kinks = np.concatenate([g.uniform(-4, 4, 2000), _anchors(x)[:50] + g.uniform(-tol, tol, 50)])
    inside = kinks[(kinks >= x.min()) & (kinks <= x.max())]
    near = np.min(np.abs(inside[:, None] - _anchors(x)[None, :]), axis=1) <= tol
    st = kink_statistic(kinks, x, tol)
    assert st["n"] == len(inside) and st["k"] == int(near.sum())
    assert st["observed"] == pytest.approx(near.mean())
    assert st["p_value"] == pytest.approx(stats.binom.sf(st["k"] - 1, st["n"], st["null"]), rel=1e-9)
    assert kink_statistic(np.array([x.max() + 1.0]), x, tol)["observed"] is None


def test_kinks_at_anchors_reject_and_uniform_kinks_do_not():
    g = rng(3)
    x = g.standard_normal(20)
    tol = kink_tolerance(x)
    a = _anchors(x)
    at = g.choice(a[(a > x.min()) & (a < x.max())], 15, replace=False)
    st = kink_statistic(at, x, tol)
    assert st["observed"] == 1.0 and st["null"] < 0.5 and st["p_value"] < 1e-3
    st = kink_statistic(g.uniform(x.min(), x.max(), 30), x, tol)
    assert st["p_value"] > 0.05
    ps = [kink_statistic(rng(s).uniform(x.min(), x.max(), 30), x, tol)["p_value"] for s in range(200)]
    assert _rejection_rate(ps) <= 0.09  # a valid test rejects about 5% of chance kinks


def test_pinned_network_kinks_reject():
    """A depth-3 1-D network whose units are reflections about training points: kinks at x_j, x_k and
    2 x_j - x_k, all anchors."""
    g = rng(11)
    x = g.standard_normal(15)
    j, k = g.integers(15, size=8), g.integers(15, size=8)
    W, b1, U = np.ones((8, 1)), -x[j], np.ones((8, 1))
    B = -np.abs(x[k] - x[j])[:, None]
    st = kink_statistic(kinks_1d(W, b1, U, B), x, kink_tolerance(x))
    assert st["observed"] == 1.0 and st["n"] >= 8 and st["p_value"] < 1e-3


# ------------------------------------------------------------------------------------------ hyperplanes


def test_random_hyperplanes():
    X = rng(0).standard_normal((30, 3))
    w, a = random_hyperplanes(X, 500, seed=1)
    assert w.shape == (500, 3) and a.shape == (500,)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1.0)
    T = X @ w.T + a
    assert np.all(T.min(0) <= 0) and np.all(T.max(0) >= 0)  # every plane crosses the data along w
    assert abs(np.mean(w[:, 0])) < 0.1  # directions not biased
    w2, a2 = random_hyperplanes(X, 500, seed=1, through_points=True)
    assert np.all(np.min(np.abs(X @ w2.T + a2), axis=0) < 1e-12)  # through a training point
    np.testing.assert_array_equal(random_hyperplanes(X, 5, seed=4)[1], random_hyperplanes(X, 5, seed=4)[1])


def _near(X, w, a, eps):
    return (np.abs(X @ w.T + a) <= eps).sum(0)


def test_pinning_planes_through_points_reject_random_planes_do_not():
    g = rng(5)
    X = g.standard_normal((40, 2))
    eps = 0.05
    pairs = np.array([g.choice(40, 2, replace=False) for _ in range(20)])
    v = X[pairs[:, 1]] - X[pairs[:, 0]]
    w = np.stack([-v[:, 1], v[:, 0]], axis=1) / np.linalg.norm(v, axis=1, keepdims=True)
    a = -np.sum(w * X[pairs[:, 0]], axis=1)
    st = pinning_statistic(_near(X, w, a, eps), X, eps, seed=0)
    assert st["observed"] == 1.0 and 0 < st["null"] < 0.5 and st["p_value"] < 1e-6
    ps = []
    for s in range(40):
        wr, ar = random_hyperplanes(X, 20, seed=100 + s)
        ps.append(pinning_statistic(_near(X, wr, ar, eps), X, eps, seed=s)["p_value"])
    assert ps[0] > 0.05 and _rejection_rate(ps) <= 0.15
    assert pinning_statistic(np.array([], int), X, eps, seed=0)["p_value"] is None


def _network(w, a, c):
    """Parallel |.| network arrays (W, b1, U, B, alpha) whose units are psi_c(w^T x + a)."""
    m = len(w)
    return w, a, np.ones((m, c.shape[1])), -c, np.ones(m)


def _pinned_offsets(T, depth, g):
    """Offsets c (m, L-2) pinned at random training points: c_l = psi_(c_2..c_(l-1))(t_k + a)."""
    c = np.zeros((T.shape[1], 0))
    for _ in range(depth - 2):
        k = g.integers(T.shape[0], size=T.shape[1])
        h = np.abs(T[k, np.arange(T.shape[1])])
        for l in range(c.shape[1]):
            h = np.abs(h - c[:, l])
        c = np.concatenate([c, h[:, None]], axis=1)
    return c


@pytest.mark.parametrize("depth", [3, 4])
def test_offsets_pinned_reject_random_do_not(depth):
    g = rng(depth)
    X = g.standard_normal((30, 2))
    w, a = random_hyperplanes(X, 12, seed=9)
    c = _pinned_offsets(X @ w.T + a, depth, g)
    offs = [o for u in network_symmetry(*_network(w, a, c), X)["units"] for o in u["offset_to_pinned"]]
    assert len(offs) == 12 * (depth - 2) and max(offs) < 1e-9
    st = offset_statistic(offs, X, depth, seed=0)
    assert st["observed"] < 1e-9 < st["null"] and st["p_value"] < 1e-6
    ps = []
    for s in range(20):
        wr, ar = random_hyperplanes(X, 12, seed=200 + s)
        cr, gs = np.zeros((12, 0)), rng(300 + s)
        for _ in range(depth - 2):  # each offset uniform on [0, the largest pinned value]
            h = np.abs(X @ wr.T + ar).T
            for l in range(cr.shape[1]):
                h = np.abs(h - cr[:, l, None])
            cr = np.concatenate([cr, gs.uniform(0, h.max(1))[:, None]], axis=1)
        units = network_symmetry(*_network(wr, ar, cr), X)["units"]
        ps.append(offset_statistic([o for u in units for o in u["offset_to_pinned"]], X, depth, seed=s)["p_value"])
    assert ps[0] > 0.05 and _rejection_rate(ps) <= 0.2


def test_offsets_degenerate():
    X = rng(0).standard_normal((10, 2))
    assert offset_statistic([0.1], X, 2, seed=0)["observed"] is None
    st = offset_statistic([None, float("nan")], X, 3, seed=0)
    assert st["observed"] is None and st["p_value"] is None and st["null"] > 0


def test_mirror_symmetry_known_mirrors_reject():
    g = rng(21)
    X = g.standard_normal((40, 2))
    X_eval = held_out_points(X, 400, seed=1)
    w0 = np.array([0.6, 0.8])
    w1 = np.array([-0.8, 0.6])  # orthogonal: f is symmetric about both planes

    def f(P):
        return np.abs(P @ w0 - 0.3) + 0.5 * (P @ w1 + 0.2) ** 2

    errs = [symmetry_error(f, X_eval, w0, -0.3), symmetry_error(f, X_eval, w1, 0.2)]
    assert max(errs) < 1e-12
    st = mirror_symmetry_statistic(f, X, X_eval, errs, seed=0)
    assert st["observed"] < 1e-12 < st["null"] and st["p_value"] < 0.05


def test_mirror_symmetry_random_mirrors_do_not_reject():
    g = rng(22)
    X = g.standard_normal((40, 2))
    X_eval = held_out_points(X, 400, seed=2)

    def f(P):
        return np.exp(0.7 * P[:, 0]) + np.sin(2 * P[:, 1]) + P[:, 0] * P[:, 1]

    ps = []
    for s in range(20):
        w, a = random_hyperplanes(X, 5, seed=500 + s, through_points=True)
        errs = [symmetry_error(f, X_eval, w[i], a[i]) for i in range(5)]
        ps.append(mirror_symmetry_statistic(f, X, X_eval, errs, seed=s)["p_value"])
    assert ps[0] > 0.05 and _rejection_rate(ps) <= 0.2
    assert mirror_symmetry_statistic(f, X, X_eval, [], seed=0)["p_value"] is None


# ------------------------------------------------------------------------------------------ Lasso families


def test_family_share_pvalue_is_exact():
    """Monte Carlo p-value against exhaustive enumeration of every ordered draw of 4 of 12 columns."""
    fam = np.array([REFLECTION] * 5 + [PLANE] * 7)
    mass = np.array([3.0, 2.0, 1.0, 0.5])
    selected = np.array([0, 1, 6, 7])  # masses 3 and 2 on reflection columns
    st = family_share_statistic(fam, selected, mass, {REFLECTION}, seed=0, n_draws=20_000)
    assert st["observed"] == pytest.approx(5 / 6.5) and st["null"] == pytest.approx(5 / 12)
    shares = [mass[fam[list(cols)] == REFLECTION].sum() / 6.5 for cols in itertools.permutations(range(12), 4)]
    exact = np.mean(np.array(shares) >= 5 / 6.5 - 1e-12)
    assert abs(st["p_value"] - exact) < 0.01


def test_family_share_large_dictionary_planted_and_random():
    g = rng(8)
    fam = np.where(g.random(1_000_000) < 0.1, REFLECTION, PLANE)
    refl = np.flatnonzero(fam == REFLECTION)
    mass = g.uniform(0.1, 1.0, 12)
    st = family_share_statistic(fam, g.choice(refl, 12, replace=False), mass, {REFLECTION}, seed=0)
    assert st["observed"] == 1.0 and st["null"] == pytest.approx(0.1, abs=0.002) and st["p_value"] < 0.01
    ps = [
        family_share_statistic(fam, rng(s).choice(len(fam), 12, replace=False), mass, {REFLECTION}, seed=s)["p_value"]
        for s in range(40)
    ]
    assert ps[0] > 0.05 and _rejection_rate(ps) <= 0.15
    st = family_share_statistic(np.full(100, PLANE), np.arange(3), np.ones(3), {REFLECTION}, seed=0)
    assert st["observed"] == 0.0 and st["null"] == 0.0 and st["p_value"] is None and "depth 2" in st["test"]


def _paper_lasso(y_of, seed):
    g = rng(seed)
    X = g.standard_normal((40, 2))
    D = build_dictionary(X, 3, direction_set(["spanned"], X, "l2", None, 0), "paper", "l2", 4e9)
    y = y_of(X, D, g)
    res = solve(D.A, y, 0.01 * beta_max(D.A, y))
    S = np.flatnonzero(np.abs(res.z) > 1e-9 * np.abs(res.z).max())
    return D, family_share_statistic(D.family, S, np.abs(res.z[S]), {REFLECTION}, seed=seed)


def test_family_share_lasso_linear_target_not_rejected():
    D, st = _paper_lasso(lambda X, D, g: X @ np.array([1.0, -0.5]), seed=0)
    assert st["n"] > 0 and st["observed"] <= st["null"] and st["p_value"] > 0.05


def test_family_share_paper_dictionary_cannot_reject():
    """The paper dictionary is ~97% reflection columns, so even when every selected column is a reflection
    the p-value is at least P(k uniform columns are all reflections) > 0.01 for k <= N + 1: the family
    share cannot detect a planted mirror there (it is a chance-level statistic, reported with its null)."""

    def planted(X, D, g):
        cols = g.choice(np.flatnonzero(D.family == REFLECTION), 3, replace=False)
        return D.A[:, cols] @ g.uniform(0.5, 1.5, 3)

    D, st = _paper_lasso(planted, seed=1)
    R, p = int(np.sum(D.family == REFLECTION)), D.n_columns
    assert st["null"] == pytest.approx(R / p) and st["null"] > 0.95
    floor = stats.hypergeom.pmf(41, p, R, 41)  # all N + 1 = 41 draws on reflection columns
    assert floor > 0.01 and st["p_value"] >= floor


# ------------------------------------------------------------------------------------------ across seeds


def test_combine_pvalues():
    # Fisher over 0.01 and 0.2: X = 2 ln 500 on 4 degrees of freedom, sf = (1 + ln 500) / 500
    assert combine_pvalues([0.01, None, 0.2, float("nan")]) == pytest.approx((1 + np.log(500)) / 500, rel=1e-9)
    assert combine_pvalues([0.3]) == pytest.approx(0.3)
    assert combine_pvalues([None]) is None and combine_pvalues([]) is None


def test_seed_interval():
    mean, lo, hi = seed_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert hi - mean == pytest.approx(4.302652729 / np.sqrt(3), rel=1e-8)
    assert mean - lo == pytest.approx(4.303 / np.sqrt(3), rel=1e-4)
    assert seed_interval([5.0]) == (5.0, 5.0, 5.0)
    mean, lo, hi = seed_interval([1.0, None, float("nan"), 3.0], level=0.9)
    assert mean == 2.0 and hi - mean == pytest.approx(6.313751515, rel=1e-8)  # t_0.95,1 * sqrt(2) / sqrt(2)
    assert seed_interval([None]) == (None, None, None)
