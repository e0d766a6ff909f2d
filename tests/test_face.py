"""The optimal face (symcli/lasso/face.py): the share of a column subset over every optimum, not the solver's
pick. Checked on faces with known ends (duplicated columns), on a unique optimum, and against a reference that
solves the two extreme problems with cvxpy + Clarabel."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from symcli.core.numerics import OBJECTIVE_RTOL, rel_diff, rng
from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.lasso.face import share_range
from symcli.lasso.solvers import beta_max, primal_dual, residual, solve

FACE_ATOL = 1e-7  # the LP ends agree with the known ends to this (HiGHS' feasibility tolerance is 1e-7)


def _objective(A, y, z, beta):
    return primal_dual(A, y, z, beta)[0]


def _is_optimal(A, y, z, beta, objective):
    r, _ = residual(A, y, z)
    kkt = np.abs(A.T @ r).max() <= beta * (1 + 1e-6)
    return kkt and rel_diff(_objective(A, y, z, beta), objective) < OBJECTIVE_RTOL


def _share(z, subset):
    return float(np.abs(z[subset]).sum() / np.abs(z).sum())


@pytest.mark.parametrize("seed", range(5))
def test_duplicated_columns_span_the_whole_range(seed):
    """Each column twice: every optimum's mass on a column can move to its twin, so the twins' share runs from 0
    to 1 whatever the solver picked, and both ends are optima."""
    g = rng(seed)
    A0 = g.normal(size=(25, 10))
    y = A0[:, :3] @ g.normal(size=3) + 0.3 * g.normal(size=25)
    A = np.hstack([A0, A0])
    twins = np.arange(20) >= 10
    beta = 0.1 * beta_max(A, y)
    res = solve(A, y, beta)
    sr = share_range(A, y, res.z, beta, twins)
    assert sr.min == pytest.approx(0.0, abs=FACE_ATOL) and sr.max == pytest.approx(1.0, abs=FACE_ATOL)
    assert sr.min - FACE_ATOL <= _share(res.z, twins) <= sr.max + FACE_ATOL
    assert sr.face_columns >= 2 * np.count_nonzero(res.z[:10] + res.z[10:])
    for z in (sr.z_min, sr.z_max):
        assert _is_optimal(A, y, z, beta, res.objective)
    assert _share(sr.z_min, twins) == pytest.approx(sr.min, abs=FACE_ATOL)
    assert _share(sr.z_max, twins) == pytest.approx(sr.max, abs=FACE_ATOL)


@pytest.mark.parametrize("seed", range(5))
def test_a_unique_optimum_has_one_share(seed):
    """Generic columns, fewer than rows: the optimum is unique and the range is the solver's own share."""
    g = rng(100 + seed)
    A = g.normal(size=(30, 12))
    y = A[:, :4] @ g.normal(size=4) + 0.2 * g.normal(size=30)
    beta = 0.05 * beta_max(A, y)
    res = solve(A, y, beta)
    subset = np.arange(12) % 2 == 0
    sr = share_range(A, y, res.z, beta, subset)
    assert sr.min == pytest.approx(_share(res.z, subset), abs=1e-9)
    assert sr.max == pytest.approx(_share(res.z, subset), abs=1e-9)


def _reference_min_share(A, y, beta, subset, mu=1e-6):
    """The subset's share at the optimum of the Lasso with the subset's columns penalised by beta (1 + mu)
    (cvxpy + Clarabel): as mu -> 0 it tends to the optimum with the least mass on the subset."""
    z, xi = cp.Variable(A.shape[1]), cp.Variable()
    weights = beta * (1 + mu * subset)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ z + xi - y) + cp.sum(cp.multiply(weights, cp.abs(z)))))
    prob.solve(solver=cp.CLARABEL)
    return _share(z.value, subset)


@pytest.mark.parametrize("seed", range(4))
def test_the_ends_match_a_reference_solver(seed):
    """A face with an inner point: c = (a1 + a2) / 2 is tied with a1 and a2 whenever both are, and mass t on c
    fits like t / 2 on each with the same l1 norm. The ends agree with Clarabel's optima of the Lasso with the
    subset (for the minimum) or its complement (for the maximum) penalised a millionth more."""
    g = rng(200 + seed)
    A0 = g.normal(size=(20, 6))
    A = np.hstack([A0, (A0[:, [0]] + A0[:, [1]]) / 2, (A0[:, [2]] + A0[:, [3]]) / 2])
    y = A0[:, :4] @ np.abs(g.normal(size=4)) + 0.05 * g.normal(size=20)
    beta = 0.02 * beta_max(A, y)
    res = solve(A, y, beta)
    subset = np.arange(8) >= 6
    sr = share_range(A, y, res.z, beta, subset)
    lo = _reference_min_share(A, y, beta, subset)
    hi = 1 - _reference_min_share(A, y, beta, ~subset)
    assert sr.max - sr.min > 0.1  # the face is not a point
    # an interior-point optimum of the perturbed problem places the share to about 1e-4
    assert sr.min == pytest.approx(lo, abs=1e-3) and sr.max == pytest.approx(hi, abs=1e-3)
    assert sr.min <= _share(res.z, subset) + FACE_ATOL <= sr.max + 2 * FACE_ATOL


def test_no_mass_no_share():
    A = rng(0).normal(size=(10, 4))
    y = rng(1).normal(size=10)
    assert share_range(A, y, np.zeros(4), 2 * beta_max(A, y), np.ones(4, bool)) is None


def test_fit_reports_the_reflection_share_range():
    """`symcli fit --json` carries reflection_share_min <= the solver's reflection mass <= reflection_share_max;
    depth 2 has no reflection columns (both 0)."""
    g = rng(7)
    X = g.uniform(-1, 1, size=(24, 2))
    y = np.abs(X[:, 0] - 0.2) - np.abs(X[:, 1]) + 0.05 * g.normal(size=24)
    p = Problem(X, y, None, None)
    shallow = fit(p, FitOptions(depth=2, beta=0.05, beta_is_fraction=True))
    assert shallow["reflection_share_min"] == shallow["reflection_share_max"] == 0.0
    deep = fit(p, FitOptions(depth=3, beta=0.05, beta_is_fraction=True))
    fams = deep["symmetry"]["lasso"]["families"]
    share = 1 - fams["plane"]["mass_share"]
    assert deep["reflection_share_min"] - FACE_ATOL <= share <= deep["reflection_share_max"] + FACE_ATOL
    assert deep["face_columns"] >= deep["nnz"]


def _planted(seed: int, kind: str, n: int = 40):
    g = rng(seed)
    X = g.uniform(-1, 1, size=(n, 2))
    f = np.abs(np.abs(X[:, 0]) - 0.5) if kind == "reflection" else np.abs(X[:, 0] - 0.3) - 0.5 * np.abs(X[:, 1] + 0.2)
    return Problem(X, f + 0.02 * g.normal(size=n))


@pytest.mark.parametrize("seed", range(2))
def test_depth_gain_between_certified_optima(seed):
    """The depth gain (P_2 - P_3) / P_2 at the same absolute beta, both optima certified: large for a target with
    a planted reflection (|(|x1| - 0.5)| needs a mirror inside a mirror), small for one that planes fit (depth 3
    then only fits the noise better), never below 0 beyond the certificates' gaps. objective_depth2 is the
    depth-2 fit at the deep fit's absolute beta."""
    gains = {}
    for kind in ("reflection", "planes"):
        problem = _planted(seed, kind)
        deep = fit(problem, FitOptions(depth=3, beta=0.01, beta_is_fraction=True, seed=seed, refine=None))
        assert deep["depth_gain_proven"] and deep["guarantee"] == deep["depth2_guarantee"] == "certified"
        shallow = fit(problem, FitOptions(depth=2, beta=deep["beta"], beta_is_fraction=False, seed=seed, refine=None))
        assert deep["objective_depth2"] == pytest.approx(shallow["objective"], rel=1e-9)
        gain = (shallow["objective"] - deep["objective"]) / shallow["objective"]
        assert deep["depth_gain"] == pytest.approx(gain, rel=1e-12)
        assert gain >= -(deep["global_relative_gap"] + shallow["global_relative_gap"])
        gains[kind] = gain
    assert gains["reflection"] > 0.3 and gains["planes"] < 0.05
