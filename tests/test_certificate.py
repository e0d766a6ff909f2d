"""The 2-D angle-sweep certificate against a dense angle grid, and column generation (--refine)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_problem

from symcli.fit import FitOptions, fit
from symcli.lasso.certificate import certify, price
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import direction_set
from symcli.lasso.features import psi
from symcli.lasso.geometry import normalize
from symcli.lasso.solvers import beta_max, residual, solve
from symcli.problem import Problem


def _dual_point(X, y, depth, norm, frac=0.05):
    D = build_dictionary(X, depth, direction_set(["spanned"], X, norm, None, 0), "paper", norm, 4e9)
    beta = frac * beta_max(D.A, y)
    res = solve(D.A, y, beta)
    return D, beta, residual(D.A, y, res.z)[0]


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("seed", [0, 1])
def test_angle_sweep_agrees_with_dense_grid(depth, norm, seed):
    N = 6 if depth == 4 else 8
    X, y = random_problem(seed + 17 * depth, N, 2, labels=seed == 0)
    D, beta, lam = _dual_point(X, y, depth, norm)
    cert = certify(X, lam, beta, depth, norm, D.directions.W)
    theta = np.linspace(0.0, np.pi, 20_001 if depth < 4 else 4_001)
    W = normalize(np.stack([np.cos(theta), np.sin(theta)], axis=1), norm)
    grid, _, _ = price(W @ X.T, lam, depth)
    assert cert.exact and cert.method == "angle-sweep"
    # the sweep is the exact maximum: never below a grid point, and the fine grid comes close to it
    assert grid.max() <= cert.V * (1 + 1e-12)
    assert grid.max() >= cert.V * (1 - (1e-5 if depth < 4 else 1e-4))
    # the best candidate is a genuine feature with that value and a unit first-layer weight
    best = cert.candidates[0]
    assert np.all(best.c >= 0)
    assert abs(psi(X @ best.w + best.a, best.c) @ lam) == pytest.approx(cert.V, rel=1e-9)
    assert np.linalg.norm(best.w, ord=2 if norm == "l2" else 1) == pytest.approx(1.0, rel=1e-12)
    assert cert.certificate == pytest.approx(cert.V / beta - 1, rel=1e-12)


def test_sampled_certificate_is_a_lower_bound_in_3d():
    X, y = random_problem(5, 7, 3)
    D, beta, lam = _dual_point(X, y, 3, "l2")
    cert = certify(X, lam, beta, 3, "l2", D.directions.W, seed=0)
    assert not cert.exact and cert.method == "sampled-ascent"
    # every reported value is attained by its feature, and beats all dictionary directions
    for c in cert.candidates:
        assert abs(psi(X @ c.w + c.a, c.c) @ lam) == pytest.approx(c.value, rel=1e-9)
    own, _, _ = price(D.directions.W @ X.T, lam, 3)
    assert cert.V >= own.max() * (1 - 1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_refine_certifies_and_beats_spanned(seed):
    X, y = random_problem(1000 + seed, 10, 2)
    out = fit(Problem(X, y), FitOptions(depth=2, beta=0.1, refine=True))
    assert out["guarantee"] == "certified"
    assert out["certificate"] <= 1e-6
    assert out["objective"] <= out["objective_before_refine"] * (1 + 1e-12)
    assert out["network_objective"] == pytest.approx(out["objective"], rel=1e-9)
    unrefined = fit(Problem(X, y), FitOptions(depth=2, beta=0.1))
    assert unrefined["objective"] == pytest.approx(out["objective_before_refine"], rel=1e-12)
    assert unrefined["guarantee"] in ("upper-bound", "certified")


def test_refine_depth3_lowers_the_objective():
    X, y = random_problem(77, 9, 2)
    out = fit(Problem(X, y), FitOptions(depth=3, beta=0.05, refine=True))
    assert out["guarantee"] == "certified"
    assert out["objective"] < out["objective_before_refine"]


def test_one_dimensional_all_dictionary_is_exact():
    X, y = random_problem(3, 8, 1)
    for depth in (2, 3, 4):
        out = fit(Problem(X, y), FitOptions(depth=depth, beta=0.05))
        assert out["guarantee"] == "exact"
        assert out["certificate"] <= 1e-6
    paper = fit(Problem(X, y), FitOptions(depth=3, beta=0.05, pins="paper", refine=True))
    assert paper["guarantee"] == "certified"
