"""The exact 3-D certificate (great-circle sweeps, sphere.py) against an independent vertex enumeration, dense
direction samples, the sampled lower bound, and column generation (--refine)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import random_problem

from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.lasso import certificate
from symcli.lasso.certificate import certify, certify_3d, certify_sampled, price
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import direction_set
from symcli.lasso.features import psi
from symcli.lasso.geometry import normalize
from symcli.lasso.solvers import beta_max, residual, solve
from symcli.lasso.sphere import n_sphere_entries, sphere_max
from symcli.lasso.sweep import _anchors, families, family_tuples


def _dual_point(X, y, depth, norm, frac=0.05):
    D = build_dictionary(X, depth, direction_set(["spanned"], X, norm, None, 0), "paper", norm, 4e9)
    beta = frac * beta_max(D.A, y)
    res = solve(D.A, y, beta)
    return D, beta, residual(D.A, y, res.z)[0]


def _problem(seed, N, kind):
    """Data (N, 3) and a dual point lam (1^T lam = 0): generic, ties (a half grid), coplanar, repeated points,
    or the residual of a fit over the paper dictionary (`fitted`, depth 3)."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((N, 3))
    if kind == "ties":
        X = np.round(2 * X) / 2
    elif kind == "coplanar":
        X[:, 2] = 0.5 * X[:, 0] - 0.2 * X[:, 1] + 0.3
    elif kind == "repeated":
        X[3], X[5] = X[1], X[0]
    if kind == "fitted":
        return X, _dual_point(X, np.where(g.standard_normal(N) > 0, 1.0, -1.0), 3, "l2")[2]
    lam = g.standard_normal(N)
    return X, lam - lam.mean()


def _reference(X, lam, depth, norm, max_free=10):
    """V by brute force, independent of the sweeps: per tuple, kink normals merged when parallel, every vertex
    (cross products of two normals or coordinate axes) with the signs of the terms vanishing there enumerated
    (k <= max_free: a cell or edge with a vertex of more also reaches one with fewer in these problems), and
    |F| / ||w|| evaluated at the vertices and, for `l2`, at G / ||G|| and P_u G of every sign pattern G."""
    best = 0.0
    for fam in families(depth):
        C, s = _anchors(fam)
        for pins in family_tuples(fam, len(X)):
            U = (X[None] - (C @ X[pins])[:, None]).reshape(-1, 3)
            coef = (s[:, None] * lam).ravel()
            dirs, c = [], []
            for u, ci in zip(U, coef, strict=True):
                n = np.linalg.norm(u)
                if n <= 1e-12:
                    continue
                hits = [k for k, v in enumerate(dirs) if np.linalg.norm(np.cross(v, u / n)) < 1e-9]
                if hits:
                    c[hits[0]] += ci * n  # |u . w| = |u| |d . w| for u = +-|u| d
                else:
                    dirs.append(u / n)
                    c.append(ci * n)
            D, c = np.array(dirs).reshape(-1, 3), np.array(c)
            circles = np.vstack([D, np.eye(3)])
            V = np.cross(circles[:, None], circles[None]).reshape(-1, 3)
            V = normalize(V[np.linalg.norm(V, axis=1) > 1e-9], "l2")
            cands = [V]
            if norm == "l2":
                S = V @ D.T
                free = np.abs(S) <= 1e-9
                G0 = (np.where(free, 0.0, np.sign(S)) * c) @ D
                for r in np.flatnonzero(free.sum(1) <= max_free):
                    f = np.flatnonzero(free[r])
                    pats = np.array(list(itertools.product((-1.0, 1.0), repeat=len(f)))).reshape(2 ** len(f), len(f))
                    G = G0[r] + (pats * c[f]) @ D[f]
                    cands += [G] + [G - np.outer(G @ D[j], D[j]) for j in f]
            W = np.vstack(cands)
            W = W[np.linalg.norm(W, axis=1) > 1e-12]
            F = np.abs(np.abs(W @ D.T) @ c) / np.linalg.norm(W, ord=1 if norm == "l1" else 2, axis=1)
            best = max(best, float(F.max(initial=0.0)))
    return best


def _ascend(X, lam, depth, norm, w, seed=0, steps=60, n=64):
    """Random local search from w on the unit sphere of `norm` (exact pricing of every point): a lower bound."""
    g = np.random.default_rng(seed)
    best, r = price((w @ X.T)[None], lam, depth)[0][0], 1e-2
    for _ in range(steps):
        W = normalize(w + r * g.standard_normal((n, 3)), norm)
        v = price(W @ X.T, lam, depth)[0]
        if v.max() > best:
            best, w = v.max(), W[np.argmax(v)]
        else:
            r /= 2
    return best


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("kind", ["generic", "ties", "coplanar", "repeated", "fitted"])
def test_sphere_sweep_equals_brute_force_enumeration(depth, norm, kind):
    for seed in range(2):
        X, lam = _problem(10 * depth + seed, 6 + seed, kind)
        ref = _reference(X, lam, depth, norm)
        assert sphere_max(X, lam, depth, norm)[2] == pytest.approx(ref, rel=1e-9, abs=1e-12)
        assert certify_3d(X, lam, 1.0, depth, norm).V == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("depth, N, seed", [(2, 12, 0), (2, 10, 1), (3, 7, 0), (3, 6, 1)])
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_exact_3d_certificate_against_dense_sample(depth, N, seed, norm):
    X, y = random_problem(seed + 31 * depth, N, 3, labels=seed == 0)
    D, beta, lam = _dual_point(X, y, depth, norm)
    cert = certify(X, lam, beta, depth, norm, D.directions.W)
    assert cert.exact and cert.method == "sphere-arrangement"
    W = normalize(np.random.default_rng(seed).standard_normal((200_000, 3)), norm)
    grid, _, _ = price(W @ X.T, lam, depth)  # exact per direction: every vertex of section 3
    # no direction beats V; local ascent from the best sampled ones closes the gap to rounding
    assert grid.max() <= cert.V * (1 + 1e-9)
    top = np.argsort(-grid)[:3]
    assert max(_ascend(X, lam, depth, norm, W[i], seed=i) for i in top) >= cert.V * (1 - 1e-6)
    # the sampled lower bound stays below it
    sampled = certify_sampled(X, lam, beta, depth, norm, D.directions.W, seed=seed)
    assert not sampled.exact and sampled.V <= cert.V * (1 + 1e-9)
    # every candidate is a genuine feature with its value and a unit first-layer weight; the best attains V
    for c in cert.candidates:
        assert np.all(c.c >= 0)
        assert abs(psi(X @ c.w + c.a, c.c) @ lam) == pytest.approx(c.value, rel=1e-9, abs=1e-12)
        assert np.linalg.norm(c.w, ord=2 if norm == "l2" else 1) == pytest.approx(1.0, rel=1e-12)
    assert cert.candidates[0].value == cert.V
    assert cert.certificate == pytest.approx(cert.V / beta - 1, rel=1e-12)


@pytest.mark.parametrize("kind", ["coplanar", "repeated"])
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_degenerate_data_stay_above_the_sample(kind, norm):
    X, lam = _problem(5, 10, kind)
    if kind == "coplanar":
        X[:, 2] = 0.0  # every kink circle passes through the pole e_3, itself on two coordinate circles
    for depth in (2, 3):
        cert = certify(X, lam, 1.0, depth, norm, np.eye(3))
        assert cert.exact and np.isfinite(cert.V)
        W = normalize(np.random.default_rng(1).standard_normal((50_000, 3)), norm)
        assert price(W @ X.T, lam, depth)[0].max() <= cert.V * (1 + 1e-9)


def test_flat_problems_give_zero_not_nan():
    same = np.ones((5, 3))  # every kink vector zero: F_t = 0 everywhere
    lam = np.array([1.0, -1.0, 0.0, 0.5, -0.5])
    for norm in ("l2", "l1"):
        for X, lm in ((same, lam), (_problem(0, 6, "generic")[0], np.zeros(6))):
            cert = certify_3d(X, lm, 1.0, 3, norm)
            assert cert.V == 0.0 and np.all(np.isfinite(cert.candidates[0].w))


def test_certify_dispatch_in_3d(monkeypatch):
    X, lam = _problem(3, 7, "generic")
    monkeypatch.setattr(certificate, "CERTIFICATE_BUDGET", 1e7)  # fewer sampled directions: faster
    assert certify(X, lam, 1.0, 3, "l2", np.eye(3)).method == "sphere-arrangement"
    assert certify(X, lam, 1.0, 4, "l2", np.eye(3)).method == "sampled-ascent"  # depth 4: no sweep yet
    monkeypatch.setattr(certificate, "SPHERE_BUDGET", n_sphere_entries(3, 7) - 1)
    over = certify(X, lam, 1.0, 3, "l2", np.eye(3))
    assert not over.exact and over.method == "sampled-ascent"
    assert certify(X, lam, 1.0, 2, "l2", np.eye(3)).method == "sphere-arrangement"  # depth 2 is cheaper
    X2 = X[:, :2]  # d = 2 unchanged
    assert certify(X2, lam, 1.0, 3, "l2", np.eye(2)).method == "angle-sweep"


@pytest.mark.parametrize("seed", [0, 1])
def test_refine_certifies_depth3_in_3d(seed):
    X, y = random_problem(2000 + seed, 10, 3)
    opts = dict(depth=3, beta=0.1, beta_is_fraction=True)
    out = fit(Problem(X, y), FitOptions(**opts, refine=True))
    assert out["guarantee"] == "certified" and out["certificate_method"] == "sphere-arrangement"
    assert out["certificate"] <= 1e-6
    spanned = fit(Problem(X, y), FitOptions(**opts))
    assert spanned["objective"] == pytest.approx(out["objective_before_refine"], rel=1e-12)
    assert out["objective"] <= spanned["objective"] * (1 + 1e-9)
    assert out["network_objective"] == pytest.approx(out["objective"], rel=1e-9)
    assert out["global_gap"] is not None and out["beta_max_continuous"] >= out["beta_max"] * (1 - 1e-12)
