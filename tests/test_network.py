"""Reconstruction: the network rebuilt from a Lasso solution has P(theta) equal to the Lasso objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_problem

from symcli.core.numerics import IDENTITY_RTOL, rel_diff
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import direction_set
from symcli.lasso.network import network_objective, predict, reconstruct
from symcli.lasso.solvers import beta_max, solve


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_reconstruction_identity(depth, norm, d):
    X, y = random_problem(depth * 10 + d, 8 if d < 3 else 6, d)
    X_new = np.random.default_rng(1).standard_normal((25, d))
    pins = "all" if d == 1 else "paper"
    D = build_dictionary(X, depth, direction_set(["spanned", "axis"], X, norm, None, 0), pins, norm, 4e9)
    beta = 0.05 * beta_max(D.A, y)
    res = solve(D.A, y, beta)
    S = np.flatnonzero(res.z)
    assert len(S) >= 2
    net = reconstruct(D.directions.W[D.direction[S]], D.a[S], D.c[S], res.z[S], res.xi, depth, norm)
    assert rel_diff(network_objective(net, X, y, beta), res.objective) < IDENTITY_RTOL
    # predictions equal the Lasso model A z + xi, on the data and on new points
    np.testing.assert_allclose(predict(net, X), D.A @ res.z + res.xi, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(predict(net, X_new), D.evaluate(X_new, S) @ res.z[S] + res.xi, rtol=1e-12, atol=1e-12)
    # the penalty is beta ||z||_1 exactly (AM-GM equality: every layer has the same scale)
    with torch.no_grad():
        pen = float(net.penalty()) * beta / depth
    assert pen == pytest.approx(beta * np.abs(res.z).sum(), rel=1e-12)
    # units are normalised in the chosen first-layer norm
    ord_ = 2 if norm == "l2" else 1
    s = np.abs(res.z[S]) ** (1 / depth)
    np.testing.assert_allclose(np.linalg.norm(net.W.detach().numpy(), ord=ord_, axis=1), s, rtol=1e-12)
