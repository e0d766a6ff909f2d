"""The 2-D angle-sweep certificate against a dense angle grid, and column generation (--refine)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_problem

from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.lasso.certificate import (
    _linear_forms,
    _sweep_candidate,
    _tuples,
    _vertex_vectors,
    certify,
    certify_2d,
    certify_sampled,
    hot_violators,
    price,
)
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import direction_set
from symcli.lasso.features import psi, vertex_systems
from symcli.lasso.geometry import normalize
from symcli.lasso.solvers import beta_max, residual, solve
from symcli.lasso.sweep import Found, _best, families, family_tuples, sweep, sweep_all
from symcli.lasso.sweep_kernel import _order


def _dual_point(X, y, depth, norm, frac=0.05):
    D = build_dictionary(X, depth, direction_set(["spanned"], X, norm, None, 0), "paper", norm, 4e9)
    beta = frac * beta_max(D.A, y)
    res = solve(D.A, y, beta)
    return D, beta, residual(D.A, y, res.z)[0]


def _reference_sweep(X, lam, depth, norm):
    """V by the previous implementation of the exact sweep, kept here as an independent reference: for every
    vertex system and point tuple, the angles where a sign inside psi (offsets unclipped) changes, and on each
    interval the linear form G from all N points at its midpoint (O(N) per interval, O(N^(L+1)) per tuple)."""
    N, best = X.shape[0], 0.0
    for s in vertex_systems(depth):
        tup = _tuples(N, len(s.point_rows))
        V = _vertex_vectors(X, s, tup)  # (n, L-1, 2): (p0, c_2, ...) = V . w
        level = [X[None] - V[:, None, 0, :]]
        vec = list(level)
        for l in range(1, V.shape[1]):
            level = [sg * v - V[:, None, l, :] for v in level for sg in (1.0, -1.0)]
            vec.extend(level)
        bv = np.concatenate(vec, axis=1)
        ang = np.mod(np.arctan2(bv[..., 1], bv[..., 0]) + np.pi / 2, np.pi)
        extra = [0.0, np.pi] + ([np.pi / 2] if norm == "l1" else [])
        ang = np.sort(np.concatenate([ang, np.tile(extra, (len(tup), 1))], axis=1), axis=1)
        lo, hi = ang[:, :-1], ang[:, 1:]
        mid = 0.5 * (lo + hi)
        wm = np.stack([np.cos(mid), np.sin(mid)], axis=-1)
        g = _linear_forms(X, np.broadcast_to(V[:, None], (len(tup), wm.shape[1]) + V.shape[1:]), wm)
        G = np.einsum("tinx,n->tix", g, lam)
        for th in (lo, hi):
            w = np.stack([np.cos(th), np.sin(th)], axis=-1)
            v = np.abs(np.einsum("tix,tix->ti", G, w)) / (np.abs(w).sum(-1) if norm == "l1" else 1.0)
            best = max(best, v.max())
        if norm == "l2":
            star = np.mod(np.arctan2(G[..., 1], G[..., 0]), np.pi)
            inside = (star >= lo) & (star <= hi)
            best = max(best, np.linalg.norm(G, axis=-1)[inside].max(initial=0.0))
    return best


def _sweep_problem(seed, N, kind):
    """Data and a dual point lam (1^T lam = 0): generic, ties (coordinates on a half grid: vertical kink
    normals), collinear, or a sparse lam."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((N, 2))
    if kind == "ties":
        X = np.round(2 * X) / 2
    elif kind == "collinear":
        X[:, 1] = 0.3 * X[:, 0] + 0.1
    lam = g.standard_normal(N) * (g.random(N) < 0.5 if kind == "sparse" else 1.0)
    return X, lam - lam.mean()


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("kind", ["generic", "ties", "collinear", "sparse"])
def test_sweep_equals_the_reference_sweep(depth, norm, kind):
    for seed in range(3):
        X, lam = _sweep_problem(100 * depth + seed, 5 if depth == 4 else 8, kind)
        ref = _reference_sweep(X, lam, depth, norm)
        cert = certify_2d(X, lam, 1.0, depth, norm)
        assert cert.V == pytest.approx(ref, rel=1e-9, abs=1e-12)
        assert sweep_all(X, lam, depth, norm, 1)[0].value == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("depth, seed", [(2, 0), (2, 1), (3, 0), (3, 1), (4, 0)])  # depth 4: 7 s a problem
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_angle_sweep_agrees_with_dense_grid(depth, norm, seed):
    N = 5 if depth == 4 else 8
    X, y = random_problem(seed + 17 * depth, N, 2, labels=seed == 0)
    D, beta, lam = _dual_point(X, y, depth, norm)
    cert = certify(X, lam, beta, depth, norm, D.directions.W)
    assert cert.exact and cert.method == "angle-sweep"
    best = cert.candidates[0]
    theta = np.r_[np.linspace(0.0, np.pi, 20_001), np.mod(np.arctan2(best.w[1], best.w[0]), np.pi)]
    W = normalize(np.stack([np.cos(theta), np.sin(theta)], axis=1), norm)
    grid, _, _ = price(W @ X.T, lam, depth)  # exact per direction: every vertex of section 3
    # the sweep is the exact maximum: no direction beats it, its own direction attains it, the grid comes close
    assert grid.max() <= cert.V * (1 + 1e-9)
    assert grid[-1] == pytest.approx(cert.V, rel=1e-9)
    assert grid[:-1].max() >= cert.V * (1 - (1e-5 if depth < 4 else 1e-4))
    # the best candidate is a genuine feature with that value and a unit first-layer weight
    assert np.all(best.c >= 0)
    assert abs(psi(X @ best.w + best.a, best.c) @ lam) == pytest.approx(cert.V, rel=1e-9)
    assert np.linalg.norm(best.w, ord=2 if norm == "l2" else 1) == pytest.approx(1.0, rel=1e-12)
    assert cert.certificate == pytest.approx(cert.V / beta - 1, rel=1e-12)


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_every_tuple_function_is_its_feature(norm):
    """Each family's swept maximum is attained by the feature rebuilt from it (offsets >= 0), tuple by tuple."""
    X, lam = _sweep_problem(7, 5, "generic")
    for fam in families(4):
        tup = family_tuples(fam, len(X))
        val, w = sweep(X, lam, fam, tup, norm)
        for v, wi, t in zip(val, w, tup, strict=True):
            wi = wi / (np.abs(wi).sum() if norm == "l1" else np.linalg.norm(wi))
            c = _sweep_candidate(X, lam, 4, Found(v, wi, fam, t))
            assert np.all(c.c >= 0) and c.value == pytest.approx(v, rel=1e-9, abs=1e-12), fam.name


def test_sampled_certificate_is_a_lower_bound_in_3d():
    X, y = random_problem(5, 7, 3)
    D, beta, lam = _dual_point(X, y, 3, "l2")
    cert = certify_sampled(X, lam, beta, 3, "l2", D.directions.W, seed=0)  # certify is exact here (sphere.py)
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


@pytest.mark.slow
def test_refine_certifies_depth4_in_2d():
    """The exact depth-4 sweep is affordable at N = 30 (it was skipped: 25 million entries per direction)."""
    X, y = random_problem(0, 30, 2)
    out = fit(Problem(X, y), FitOptions(depth=4, beta=0.2, beta_is_fraction=True, refine=True))
    assert out["guarantee"] == "certified" and out["certificate_method"] == "angle-sweep"
    assert out["certificate"] <= 1e-6
    assert out["objective"] < out["objective_before_refine"]
    assert out["network_objective"] == pytest.approx(out["objective"], rel=1e-9)


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


@pytest.mark.parametrize("depth", [3, 4])
def test_hot_violators_are_genuine_and_the_refined_fit_certifies(depth):
    """The hot re-sweep returns only features above the threshold, each with its exact dual value, never above
    the full certificate's V; --refine, which uses it between full certificates, still ends certified with its
    certificate computed at the final point."""
    X, y = random_problem(7, 12, 2)
    _, _, lam0 = _dual_point(X, y, depth, "l2")
    cert = certify(X, lam0, 1.0, depth, "l2", np.zeros((0, 2)))
    assert cert.hot and sum(len(p) for _, p in cert.hot) >= 10
    lam = lam0 + 0.05 * np.random.default_rng(0).standard_normal(len(lam0)) * np.abs(lam0).max()
    lam -= lam.mean()
    full = certify(X, lam, 1.0, depth, "l2", np.zeros((0, 2)))
    threshold = 0.5 * full.V
    hot = hot_violators(X, lam, threshold, depth, "l2", cert.hot)
    assert hot and all(c.value > threshold for c in hot)
    for c in hot:
        phi = psi(X @ c.w + c.a, c.c)
        assert abs(phi @ lam) == pytest.approx(c.value, rel=1e-9)
        assert c.value <= full.V * (1 + 1e-9)
    out = fit(Problem(X, y), FitOptions(depth=depth, beta=0.05, beta_is_fraction=True, refine=True))
    assert out["guarantee"] == "certified" and out["certificate_method"] == "angle-sweep"


@pytest.mark.parametrize(
    "keys",
    [
        np.zeros(50),  # every key in one bucket
        np.r_[np.full(20, -1e150), np.full(20, 1e150), np.linspace(-3, 3, 11)],  # theta = 0 and pi, bunched
        np.random.default_rng(0).standard_normal(500) ** 5,  # heavy tails: crowded buckets near 0
        np.random.default_rng(1).integers(-3, 4, 300).astype(float),  # many ties
        np.array([2.5]),
    ],
)
def test_bucket_order_is_an_argsort(keys):
    """The compiled sweep's bucket sort orders any finite keys: its sorted keys are np.sort's."""
    n = len(keys)
    idx, bucket, count = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n + 1, np.int64)
    _order(keys, n, count, idx, bucket)
    assert sorted(idx) == list(range(n))
    np.testing.assert_array_equal(keys[idx], np.sort(keys))


def test_best_keeps_the_largest_values_across_parts():
    """sweep._best keeps exactly the `top` largest tuple maxima, however ties at the cut fall across parts."""
    rng = np.random.default_rng(3)
    fam = families(3)[1]
    values = [np.array([5.0, 5.0]), np.array([6.0]), rng.integers(0, 7, 40).astype(float), np.array([5.0])]
    parts = [(fam, v, np.zeros((len(v), 2)), np.zeros((len(v), 2), int)) for v in values]
    for top in (1, 2, 3, 10, 43, 100):
        kept = np.concatenate([p[1] for p in _best(parts, top)])
        assert len(kept) == min(top, 44)
        np.testing.assert_array_equal(np.sort(kept)[::-1], np.sort(np.concatenate(values))[::-1][:top])
