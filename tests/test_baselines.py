"""Baselines: the majority predictor, cross-validated linear probes, score and spearman on computed values."""

from __future__ import annotations

import numpy as np
import pytest

from symcli.science.baselines import baselines, majority_score, probe_score, score, spearman


def separable(n: int, D: int, seed: int, gap: float = 4.0):
    """+-1 labels (n,) and X (n, D) = N(0, 1) + y * gap * e_0: the classes are far apart along the first axis."""
    g = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    X = g.standard_normal((n, D))
    X[:, 0] = y * gap + 0.3 * g.standard_normal(n)
    return X, y


def test_majority_score_on_hand_arrays():
    assert majority_score(np.array([1, 1, -1]), np.array([1, -1, -1, -1]), "classification") == 0.25
    assert majority_score(np.array([-1, -1, 1]), np.array([1, -1, -1, -1]), "classification") == 0.75
    assert majority_score(np.array([1, -1]), np.array([1, 1, -1]), "classification") == 2 / 3  # tie -> +1
    # training mean 2; held-out [0, 4]: SS_res = 8 = SS_tot -> 0; held-out [2, 4]: SS_res 4, SS_tot 2 -> -1
    assert majority_score(np.array([1.0, 2.0, 3.0]), np.array([0.0, 4.0]), "regression") == 0.0
    assert majority_score(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0]), "regression") == -1.0
    with pytest.raises(ValueError, match="must be \\+-1"):
        majority_score(np.array([0, 1]), np.array([1]), "classification")
    with pytest.raises(ValueError, match="task must be one of"):
        majority_score(np.array([1]), np.array([1]), "ranking")


def test_probe_separates_a_separable_set_and_fits_a_noiseless_line():
    X, y = separable(30, 8, seed=0)
    Xt, yt = separable(200, 8, seed=1)
    assert probe_score(X, y, Xt, yt, "classification", seed=0) == 1.0
    assert majority_score(y, yt, "classification") == 0.5
    g = np.random.default_rng(2)
    beta = np.array([1.5, -2.0, 0.5, 0.0, 3.0])
    X, Xt = g.standard_normal((30, 5)), g.standard_normal((200, 5))
    r2 = probe_score(X, X @ beta + 1.0, Xt, Xt @ beta + 1.0, "regression", seed=0)
    assert 0.99 < r2 <= 1.0


def test_probe_on_constant_features_is_exactly_the_majority():
    g = np.random.default_rng(3)
    y = np.r_[np.ones(12), -np.ones(18)]
    yt = np.where(g.random(100) < 0.5, 1.0, -1.0)
    X, Xt = np.full((30, 4), 2.5), g.standard_normal((100, 4))
    assert probe_score(X, y, Xt, yt, "classification", 0) == majority_score(y, yt, "classification") == np.mean(yt < 0)
    yr, yrt = g.standard_normal(30), g.standard_normal(100)
    assert probe_score(X, yr, Xt, yrt, "regression", 0) == majority_score(yr, yrt, "regression")


def test_probe_on_features_independent_of_the_labels_stays_at_the_majority():
    """Held-out accuracy within 0.1 of the majority on each of 5 seeds and within 0.03 on average (measured:
    differences 0 on most seeds, at most 0.09, mean about -0.01: the tuned penalty mostly removes noise features)."""
    diffs = []
    for seed in range(5):
        g = np.random.default_rng(10 + seed)
        y, yt = np.r_[np.ones(20), -np.ones(10)], np.r_[np.ones(100), -np.ones(50)]
        X, Xt = g.standard_normal((30, 3)), g.standard_normal((150, 3))
        diffs.append(probe_score(X, y, Xt, yt, "classification", seed) - majority_score(y, yt, "classification"))
    assert max(abs(d) for d in diffs) <= 0.1
    assert abs(np.mean(diffs)) <= 0.03


def test_probe_with_a_singleton_class_falls_back_to_the_majority():
    X, y = separable(20, 5, seed=4)
    y = np.ones(20)
    y[3] = -1.0  # one member of class -1: no stratified split exists
    Xt, yt = separable(50, 5, seed=5)
    assert probe_score(X, y, Xt, yt, "classification", 0) == 0.5 == majority_score(y, yt, "classification")
    assert probe_score(X, np.ones(20), Xt, yt, "classification", 0) == 0.5  # one class only


@pytest.mark.parametrize(("n", "D"), [(16, 768), (30, 1024), (20, 1)])
def test_probe_survives_tiny_wide_and_one_dimensional_inputs(n, D):
    """No warning escapes (the suite turns warnings into errors), scores are valid, d = 1 accepts (n,) too."""
    g = np.random.default_rng(n + D)
    y = np.where(np.arange(n) % 3 == 0, -1.0, 1.0)
    X = g.standard_normal((n, D)) + np.outer(y, np.r_[3.0, np.zeros(D - 1)])
    X[:, -1] = 1.0 if D > 1 else X[:, -1]  # a constant feature among informative ones
    Xt = g.standard_normal((60, D)) + np.outer(np.ones(60), np.r_[3.0, np.zeros(D - 1)])
    yt = np.ones(60)
    acc = probe_score(X, y, Xt, yt, "classification", seed=1)
    assert 0.0 <= acc <= 1.0
    r2 = probe_score(X, X[:, 0], Xt, Xt[:, 0] + 0.1 * g.standard_normal(60), "regression", seed=1)
    assert np.isfinite(r2)
    if D == 1:
        assert acc == 1.0 and r2 > 0.9
        assert probe_score(X[:, 0], y, Xt[:, 0], yt, "classification", seed=1) == acc


def test_baselines_dict():
    X, y = separable(30, 6, seed=6)
    Xt, yt = separable(80, 6, seed=7)
    none = baselines(X[:, :2], y, None, None, X, None, "classification", 0)
    assert none == {"majority_score": None, "probe_score": None, "probe_full_score": None, "task": "classification"}
    out = baselines(X[:, 1:3], y, Xt[:, 1:3], yt, X, Xt, "classification", 0)  # projected: noise columns only
    assert out["task"] == "classification" and out["majority_score"] == 0.5
    assert out["probe_full_score"] == 1.0
    assert out["probe_score"] == probe_score(X[:, 1:3], y, Xt[:, 1:3], yt, "classification", 0) < 0.8
    assert baselines(X, y, Xt, yt, None, None, "classification", 0)["probe_full_score"] is None


def test_score_and_spearman_on_hand_values():
    f, y = np.array([0.5, -1.0, 0.0, 2.0]), np.array([1.0, -1.0, -1.0, 1.0])
    assert score(f, y, "classification") == 0.75  # sign(0) counts as +1
    # R^2 of [1, 2, 2] against [1, 2, 3]: SS_res 1, SS_tot 2
    assert score(np.array([1.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0]), "regression") == 0.5
    assert spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)
    assert spearman(np.array([4.0, 3.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(-1.0)
    assert spearman(np.ones(5), np.arange(5.0)) is None
    assert spearman(np.arange(5.0), np.full(5, 2.0)) is None
    assert spearman(np.array([1.0]), np.array([2.0])) is None
    assert spearman(np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, 3.0])) is None
