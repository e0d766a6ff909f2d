"""The fast working-set solver against cvxpy + Clarabel, beta_max, and the duality gap by hand."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_problem

from symcli.core.numerics import OBJECTIVE_RTOL, rel_diff
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import direction_set
from symcli.lasso.solvers import active_set_lasso, beta_max, solve

SIZES = {1: 8, 2: 8, 3: 7}


def _dictionary(X, depth):
    d = X.shape[1]
    return build_dictionary(
        X, depth, direction_set(["spanned"], X, "l2", None, 0), "all" if d == 1 else "paper", "l2", 4e9
    )


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_matches_cvxpy_clarabel(depth, d, seed):
    X, y = random_problem(100 * depth + 10 * d + seed, SIZES[d] - (depth == 4 and d == 3), d, labels=seed != 1)
    D = _dictionary(X, depth)
    beta = [0.02, 0.1, 0.3][seed] * beta_max(D.A, y)
    fast = solve(D.A, y, beta, "fast")
    ref = solve(D.A, y, beta, "cvxpy")
    assert fast.converged and ref.converged
    assert rel_diff(fast.objective, ref.objective) < OBJECTIVE_RTOL
    assert fast.relative_gap < 1e-9
    assert ref.solver == "cvxpy+clarabel"


def _gap_by_hand(A, y, z, beta):
    xi = np.mean(y - A @ z)
    r = y - A @ z - xi
    primal = 0.5 * r @ r + beta * np.abs(z).sum()
    lam = r * min(1.0, beta / np.max(np.abs(A.T @ r)))
    yc = y - y.mean()
    dual = 0.5 * yc @ yc - 0.5 * (yc - lam) @ (yc - lam)
    return primal, primal - dual


def test_objective_and_gap_by_hand():
    X, y = random_problem(7, 12, 2)
    D = _dictionary(X, 3)
    beta = 0.05 * beta_max(D.A, y)
    res = solve(D.A, y, beta, "fast")
    primal, gap = _gap_by_hand(D.A, y, res.z, beta)
    assert res.objective == pytest.approx(primal, rel=1e-12)
    assert res.duality_gap == pytest.approx(max(gap, 0.0), abs=1e-12 * primal)
    assert res.xi == pytest.approx(np.mean(y - D.A @ res.z), rel=1e-12)
    # a perturbed point has a strictly positive gap, so the gap does measure suboptimality
    z = res.z.copy()
    z[np.argmax(np.abs(z))] *= 0.9
    assert _gap_by_hand(D.A, y, z, beta)[1] > 1e-6 * primal


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_beta_max_gives_zero(depth):
    X, y = random_problem(depth, 7, 1, labels=False)
    D = _dictionary(X, depth)
    bmax = beta_max(D.A, y)
    yc = y - y.mean()
    assert bmax == pytest.approx(np.max(np.abs((D.A - D.A.mean(0)).T @ yc)), rel=1e-12)
    for b in (bmax * 1.0001, 2 * bmax):
        assert solve(D.A, y, b, "fast").nnz == 0
        # the interior-point reference returns z = 0 up to its tolerance
        assert np.abs(solve(D.A, y, b, "cvxpy").z).max() < 1e-6
    res = solve(D.A, y, 0.99 * bmax, "fast")
    assert res.nnz >= 1
    zero_obj = 0.5 * yc @ yc
    assert res.objective < zero_obj


def test_active_set_warm_start_equals_cold():
    X, y = random_problem(3, 10, 2)
    D = _dictionary(X, 3)
    B = D.A - D.A.mean(0)
    yc = y - y.mean()
    beta = 0.05 * beta_max(D.A, y)
    cold, _ = active_set_lasso(B, yc, beta, np.zeros(B.shape[1]))
    g = np.random.default_rng(0)
    start = np.where(g.random(B.shape[1]) < 0.01, g.standard_normal(B.shape[1]), 0.0)
    warm, _ = active_set_lasso(B, yc, beta, start)

    def obj(z):
        r = yc - B @ z
        return 0.5 * r @ r + beta * np.abs(z).sum()

    assert rel_diff(obj(cold), obj(warm)) < 1e-12
    r = yc - B @ cold
    assert np.max(np.abs(B.T @ r)) <= beta * (1 + 1e-8)
