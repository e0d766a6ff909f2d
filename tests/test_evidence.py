"""A fit's symmetry statistics against their nulls, end to end (symcli.fit.lasso_fit with trained nets ->
symcli.science.evidence): a planted mirror is found, a target without one is not."""

from __future__ import annotations

import numpy as np
import pytest

from symcli.fit.compare_nets import NetsOptions
from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.nets.training import TrainConfig
from symcli.science.evidence import flatten


def planted(seed: int):
    """30 seeded points in 2-D, the mirror H through x_0 and x_1, and held-out points."""
    r = np.random.default_rng(seed)
    X = r.standard_normal((30, 2))
    d = X[1] - X[0]
    w = np.array([-d[1], d[0]]) / np.linalg.norm(d)
    return X, w, -w @ X[0], r.uniform(-2, 2, (300, 2))


def fitted(X, y, X_eval, seed):
    opts = FitOptions(depth=2, beta=0.05, beta_is_fraction=True, seed=seed)
    return fit(Problem(X, y, X_eval, np.zeros(len(X_eval))), opts, NetsOptions(count=3, cfg=TrainConfig(epochs=1000)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nets_pin_a_planted_mirror_and_not_a_linear_target(seed):
    X, w, a, X_eval = planted(seed)
    mirror = fitted(X, np.abs(X @ w + a), X_eval, seed)["nulls"]
    # |w^T x + a| with H through two training points: the trained units' planes sit on those points
    pin = mirror["pin_distance"]
    assert pin["observed"] < 0.1 * pin["null"] and pin["p_value"] < 1e-3
    assert mirror["mean_E_H"]["observed"] < mirror["mean_E_H"]["null"] and mirror["mean_E_H"]["p_value"] < 0.01
    # a linear target has no mirror in the data: no unit's plane cuts the data, so nothing rejects the null
    linear = fitted(X, X @ np.array([1.0, 0.5]), X_eval, seed)["nulls"]
    assert linear["pin_distance"]["n"] == 0 and linear["pin_distance"]["p_value"] is None
    assert linear["share_units_pinned"]["units_outside_data"] > 0 and linear["share_units_pinned"]["p_value"] is None


def test_flatten_names_each_null_beside_its_statistic():
    stats = {"pin_distance": {"observed": 0.1, "null": 0.5, "p_value": 0.01, "test": "t"}}
    shuffled = {"pin_distance": {"observed": 0.2}}
    assert flatten(stats, shuffled) == {
        "pin_distance": 0.1,
        "pin_distance_null": 0.5,
        "pin_distance_p": 0.01,
        "pin_distance_shuffled": 0.2,
    }
