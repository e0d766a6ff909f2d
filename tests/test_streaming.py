"""The streaming working-set solver over implicit dictionaries (lasso/streaming.py, theory.md section 7):
its columns against build_dictionary and the closed form psi_c(w^T x + a), sorted pricing (sorting each
time or by cached orders, over every pair or some) against the naive product, its solutions (with coarse
levels and hot pairs) against the materialised solve, the gap recomputed by hand over the full
dictionary, the chunk memory bound measured with tracemalloc, fit/CLI integration, the inner active-set
solve and its factorisation updates, and the torch path (CPU here; cuda under the `gpu` marker)."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from helpers import random_problem
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.errors import UserError
from symcli.core.numerics import OBJECTIVE_RTOL, rel_diff
from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.lasso.dictionary import build_dictionary, dictionary_bytes
from symcli.lasso.directions import direction_set
from symcli.lasso.features import psi
from symcli.lasso.implicit import ImplicitDictionary
from symcli.lasso.pricing import NumpyOps
from symcli.lasso.solvers import beta_max, solve_fast
from symcli.lasso.streaming import plan_streaming, solve_stream

# (depth, d, pins, N): both pin rules where the size allows
CASES = [
    (2, 1, "all", 9),
    (3, 1, "all", 9),
    (4, 1, "all", 6),
    (3, 1, "paper", 8),
    (4, 1, "paper", 7),
    (2, 2, "paper", 10),
    (3, 2, "paper", 10),
    (4, 2, "paper", 7),
    (2, 2, "all", 7),
    (3, 2, "all", 6),
    (4, 2, "all", 4),
]


def _problem(depth, d, pins, N, seed=0, labels=True):
    X, y = random_problem(1000 * depth + 100 * d + 10 * N + seed, N, d, labels=labels)
    dirs = direction_set(["spanned"], X, "l2", None, 0)
    return X, y, dirs, ImplicitDictionary(X, depth, dirs, pins, "l2")


def canonical(A: np.ndarray) -> np.ndarray:
    """Columns (N, p) centred and signed by their largest-magnitude entry: equal columns up to a constant
    (xi) and a sign (z) become equal."""
    C = A - A.mean(axis=0)
    return C * np.sign(C[np.argmax(np.abs(C), axis=0), np.arange(C.shape[1])])


def _full(idict):
    """Every implicit column (values, ids) and the genuine ones."""
    ids = np.arange(idict.n_columns)
    cols = idict.columns(ids)
    return cols, ids


# ----------------------------------------------------------------------------------------- the columns


@pytest.mark.parametrize("case", CASES, ids=lambda c: "L{}-d{}-{}-N{}".format(*c))
def test_columns_are_the_built_dictionary(case):
    X, y, dirs, idict = _problem(*case)
    depth = case[0]
    D = build_dictionary(X, depth, dirs, case[2], "l2", 4e9)
    assert idict.n_columns == D.n_candidates
    cols, ids = _full(idict)
    # each column is psi_c(w^T x + a) of its own metadata (theory.md section 2)
    W = dirs.W[cols.direction]
    assert np.abs(cols.F - psi(W @ X.T + cols.a[:, None], cols.c).T).max() <= 1e-12 * max(1.0, np.abs(X).max())
    # the deduplicated set is build_dictionary's, column for column up to a constant and a sign
    S = idict.dictionary(ids)
    assert S.n_columns == D.n_columns
    a = canonical(S.A)
    b = canonical(D.A)
    ka = np.lexsort(np.round(a, 8)[::-1])
    kb = np.lexsort(np.round(b, 8)[::-1])
    assert np.abs(a[:, ka] - b[:, kb]).max() <= 1e-9
    # metadata read back through the Dictionary agree with the values
    assert np.allclose(S.evaluate(X), S.A, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "L{}-d{}-{}-N{}".format(*c))
def test_sorted_pricing_equals_naive(case):
    X, y, dirs, idict = _problem(*case)
    cols, ids = _full(idict)
    r = np.random.default_rng(5).standard_normal(idict.N)
    r -= r.mean()
    naive = np.where(cols.valid, np.abs(cols.F.T @ r), 0.0)
    for threads in (1, 2):
        pr = idict.price(r, k=idict.n_columns, threshold=-1.0, memory=4e4, ops=NumpyOps(threads=threads))
        got = np.full(idict.n_columns, np.nan)
        got[pr.ids] = pr.values
        assert len(pr.ids) == idict.n_columns
        assert np.abs(got - naive).max() <= 1e-12 * np.abs(naive).max()
        assert pr.max_value == pytest.approx(naive.max(), rel=1e-13)
        assert naive[pr.max_id] == pytest.approx(naive.max(), rel=1e-13)
    # top-k above a threshold, with exclusions and one per row
    thr = np.quantile(naive, 0.9)
    excl = np.argsort(-naive)[:3]
    pr = idict.price(r, k=20, threshold=thr, exclude=excl, memory=4e4)
    expect = np.argsort(-np.where(np.isin(ids, excl), -np.inf, naive))[:20]
    expect = expect[naive[expect] > thr]
    assert np.allclose(np.sort(naive[pr.ids]), np.sort(naive[expect]), rtol=1e-12)
    assert not np.isin(pr.ids, excl).any()


PAPER = [c for c in CASES if c[2] == "paper"]


@pytest.mark.parametrize("case", PAPER, ids=lambda c: "L{}-d{}-{}-N{}".format(*c))
def test_cached_orders_and_pair_subsets_price_exactly(case):
    """Rows sorted once and gathered after (cache_orders), and pricing restricted to some pairs (coarse
    levels, hot pairs), give the naive prices of exactly those columns, and each priced pair's max."""
    X, y, dirs, idict = _problem(*case)
    cols, ids = _full(idict)
    pair = ids // idict.per_pair
    sorts = idict.depth >= 3
    assert (idict.order_bytes() > 0) == sorts
    if sorts:  # a budget below the orders' bytes keeps nothing
        assert not ImplicitDictionary(X, idict.depth, dirs, "paper", "l2").cache_orders(idict.order_bytes() - 1)
    assert idict.cache_orders(idict.order_bytes()) == sorts and idict.cached_orders == sorts

    def naive_pair_max(naive):
        out = np.full(idict.n_pairs, -np.inf)
        np.maximum.at(out, pair, naive)
        return out

    g = np.random.default_rng(7)
    for _ in range(2):  # the first pass sorts and keeps the orders, the second gathers by them
        r = g.standard_normal(idict.N)
        r -= r.mean()
        naive = np.abs(cols.F.T @ r)
        pair_max = np.full(idict.n_pairs, np.nan)
        pr = idict.price(r, k=idict.n_columns, threshold=-1.0, memory=4e4, pair_max=pair_max)
        got = np.full(idict.n_columns, np.nan)
        got[pr.ids] = pr.values
        assert np.abs(got - naive).max() <= 1e-12 * naive.max()
        assert np.allclose(pair_max, naive_pair_max(naive), rtol=1e-12)
    # a data subset: the pairs whose spanning points (or, unspanned, anchor) all lie in it
    points = np.zeros(idict.N, bool)
    points[: idict.N // 2] = True
    first = np.arange(idict.n_pairs) * idict.per_pair
    span, anchor = dirs.span[cols.direction[first]], cols.pins[first, 0]
    inside = np.where(span >= 0, points[np.maximum(span, 0)], True).all(axis=1) & points[anchor]
    pairs = idict.level_pairs(points)
    assert np.array_equal(pairs, np.flatnonzero(inside)) and 0 < len(pairs) < idict.n_pairs
    pair_max = np.full(idict.n_pairs, np.nan)
    pr = idict.price(r, k=idict.n_columns, threshold=-1.0, memory=4e4, pairs=pairs, pair_max=pair_max)
    assert np.array_equal(np.unique(pair[pr.ids]), pairs) and len(pr.ids) == len(pairs) * idict.per_pair
    assert np.allclose(pr.values, naive[pr.ids], rtol=1e-12)
    assert np.allclose(pair_max[pairs], naive_pair_max(naive)[pairs], rtol=1e-12)
    assert np.isnan(np.delete(pair_max, pairs)).all()


# ------------------------------------------------------------------------------------------ the solver


@pytest.mark.parametrize("case", CASES, ids=lambda c: "L{}-d{}-{}-N{}".format(*c))
@pytest.mark.parametrize("seed", [0, 1])
def test_stream_matches_materialised_solve(case, seed):
    X, y, dirs, idict = _problem(*case, seed=seed, labels=seed == 0)
    D = build_dictionary(X, case[0], dirs, case[2], "l2", 4e9)
    beta = [0.03, 0.2][seed] * beta_max(D.A, y)
    ref = solve_fast(D.A, y, beta)
    out = solve_stream(idict, y, beta, memory=2e5, grow=4)
    res = out.result
    assert res.converged and ref.converged
    assert rel_diff(res.objective, ref.objective) < OBJECTIVE_RTOL
    assert res.relative_gap < 1e-9
    assert out.beta_max == pytest.approx(beta_max(D.A, y), rel=1e-12)
    # the support dictionary reproduces the objective with the reported xi
    S = out.dictionary
    assert S.n_columns == len(res.z) == len(out.ids)
    r = y - S.A @ res.z - res.xi
    assert 0.5 * r @ r + beta * np.abs(res.z).sum() == pytest.approx(res.objective, rel=1e-12)


def test_gap_is_over_the_full_dictionary():
    X, y, dirs, idict = _problem(3, 2, "paper", 9)
    cols, ids = _full(idict)
    A = cols.F
    beta = 0.05 * beta_max(A, y)
    yc = y - y.mean()
    for max_outer in (1, 500):  # stopped early (a gap to see), and converged
        out = solve_stream(idict, y, beta, grow=3, max_outer=max_outer)
        z = np.zeros(idict.n_columns)
        z[out.ids] = out.result.z
        r = y - A @ z
        xi = r.mean()
        r -= xi
        primal = 0.5 * r @ r + beta * np.abs(z).sum()
        lam = r * min(1.0, beta / np.abs(A.T @ r).max())
        gap = primal - (0.5 * yc @ yc - 0.5 * (yc - lam) @ (yc - lam))
        assert out.result.objective == pytest.approx(primal, rel=1e-12)
        assert out.result.xi == pytest.approx(xi, rel=1e-12, abs=1e-12)
        assert out.result.duality_gap == pytest.approx(max(gap, 0.0), rel=1e-8, abs=1e-13 * primal)
        if max_outer == 1:
            # over its own support this point is optimal (gap 0): the reported gap is not
            B = out.dictionary.A[:, out.result.z != 0]
            assert np.abs((B - B.mean(axis=0)).T @ r).max() == pytest.approx(beta, rel=1e-9)
            assert out.result.relative_gap > 1e-3 and not out.result.converged
        else:
            assert out.result.converged and out.result.relative_gap < 1e-9


def test_beta_above_beta_max_gives_zero():
    X, y, dirs, idict = _problem(3, 2, "paper", 9)
    bmax = beta_max(idict.columns(np.arange(idict.n_columns)).F, y)
    out = solve_stream(idict, y, 1.001 * bmax)
    assert out.result.nnz == 0 and out.dictionary.n_columns == 0 and out.result.converged
    yc = y - y.mean()
    assert out.result.objective == pytest.approx(0.5 * yc @ yc, rel=1e-14)
    assert out.result.xi == pytest.approx(y.mean())
    assert solve_stream(idict, y, 0.999 * bmax).result.nnz >= 1


def test_float32_pricing_ends_in_float64():
    X, y, dirs, idict = _problem(3, 2, "paper", 30, labels=False)
    beta = 0.02 * beta_max(idict.columns(np.arange(idict.n_columns)).F, y)
    a = solve_stream(idict, y, beta)
    b = solve_stream(idict, y, beta, precision="float32")
    # float32 over a coarse level and on rows sorted once, in float64 (the first pass)
    c = solve_stream(idict, y, beta, precision="float32", levels=1, cache_memory=1e9)
    for out in (b, c):
        assert out.result.converged
        assert rel_diff(a.result.objective, out.result.objective) < 1e-9
        assert out.result.relative_gap < 1e-9


@pytest.mark.parametrize("case", PAPER + [(3, 2, "paper", 24)], ids=lambda c: "L{}-d{}-{}-N{}".format(*c))
@pytest.mark.parametrize("fraction", [0.03, 0.2])
def test_levels_and_hot_pairs_reach_the_full_optimum(case, fraction):
    """Coarse levels and hot pairs only choose what enters the working set: the solve still ends at the
    optimum over every column (no column of the materialised dictionary violates at its final point)."""
    X, y, dirs, idict = _problem(*case, seed=3, labels=False)
    A = idict.columns(np.arange(idict.n_columns)).F
    beta = fraction * beta_max(A, y)
    ref = solve_fast(A, y, beta)
    out = solve_stream(idict, y, beta, memory=2e5, grow=3, levels=2, cache_memory=1e9)
    res = out.result
    assert res.converged and out.partial_passes > 0
    assert rel_diff(res.objective, ref.objective) < 1e-9
    assert res.relative_gap < 1e-9
    z = np.zeros(idict.n_columns)
    z[out.ids] = res.z
    r = y - A @ z
    r -= r.mean()
    assert np.abs(A.T @ r).max() <= beta * (1 + 1e-9)


def test_stream_plan_keeps_orders_within_max_memory():
    """fit()'s streaming path sorts each row once when what max_memory leaves holds the orders."""
    X, y = random_problem(8, 30, 2)
    dirs = direction_set(["spanned"], X, "l2", None, 0)
    roomy = plan_streaming(X, 3, dirs, "paper", "l2", "stream", max_memory=4e9, stream_memory=1e6)
    need = roomy.idict.fixed_bytes(1e6) + 1e6 + roomy.idict.order_bytes()
    tight = plan_streaming(X, 3, dirs, "paper", "l2", "stream", max_memory=need - 1, stream_memory=1e6)
    for plan, cached in ((roomy, True), (tight, False)):
        plan.solve(y, 0.05)
        assert plan.report()["streaming"]["cached_orders"] == cached
    assert rel_diff(roomy.last.result.objective, tight.last.result.objective) < 1e-9


def test_memory_bound_holds_where_the_matrix_would_not_fit():
    """N = 60, d = 2, depth 3 (106,200 columns; 153 MB to materialise): pricing chunks within 2 MB."""
    X, y, dirs, idict = _problem(3, 2, "paper", 60)
    bound = 2e6
    assert dictionary_bytes(dirs, 60, 3, "paper") > 50 * bound
    assert idict.n_columns * idict.N * 8 > 20 * bound  # not even the values alone fit
    r = y - y.mean()
    tracemalloc.start()
    try:
        idict.price(r, k=400, threshold=0.0, memory=bound, per_row=True)
        pricing_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        out = solve_stream(idict, y, 0.05, memory=bound)
        solve_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.result.converged and out.result.relative_gap < 1e-9
    assert pricing_peak <= bound
    assert solve_peak <= bound + idict.fixed_bytes(bound)
    assert solve_peak < dictionary_bytes(dirs, 60, 3, "paper") / 40


# ----------------------------------------------------------------------------------------- fit and CLI


def test_fit_streams_when_asked_or_when_too_big():
    X, y = random_problem(3, 14, 2)
    base = fit(Problem(X, y), FitOptions(depth=3, beta=0.05))
    asked = fit(Problem(X, y), FitOptions(depth=3, beta=0.05, solver="stream"))
    need = dictionary_bytes(direction_set(["spanned"], X, "l2", None, 0), 14, 3, "paper")
    auto = fit(Problem(X, y), FitOptions(depth=3, beta=0.05, max_memory=need / 2, stream_memory=need / 200))
    assert "streaming" not in base and base["solver"] == "fast"
    assert asked["streaming"]["reason"] == "solver" and asked["solver"] == "stream"
    assert auto["streaming"]["reason"] == "max-memory" and auto["streaming"]["stream_memory"] == need / 200
    for out in (asked, auto):
        assert rel_diff(out["objective"], base["objective"]) < OBJECTIVE_RTOL
        assert out["network_objective"] == pytest.approx(out["objective"], rel=1e-9)
        assert out["n_columns"] == base["n_candidates"] == out["n_candidates"]
        assert out["beta_max"] == pytest.approx(base["beta_max"], rel=1e-12)
        assert out["certificate"] == pytest.approx(base["certificate"], rel=1e-5, abs=1e-8)
    frac = fit(Problem(X, y), FitOptions(depth=3, beta=0.1, beta_is_fraction=True, solver="stream"))
    assert frac["beta"] == pytest.approx(0.1 * base["beta_max"], rel=1e-12)


def test_streaming_refuses_what_cannot_fit():
    X, y = random_problem(4, 60, 2)
    dirs = direction_set(["spanned"], X, "l2", None, 0)
    with pytest.raises(UserError, match="--max-memory"):
        plan_streaming(X, 3, dirs, "paper", "l2", "fast", max_memory=1e5)
    with pytest.raises(UserError, match="--stream-memory"):
        plan_streaming(X, 4, dirs, "paper", "l2", "stream", max_memory=4e9, stream_memory=1e3)
    assert plan_streaming(X, 3, dirs, "paper", "l2", "fast", max_memory=4e9) is None
    assert plan_streaming(X, 3, dirs, "paper", "l2", "cvxpy", max_memory=1e6) is None  # cvxpy builds (refuses)


def test_cli_solver_stream(tmp_path):
    X, y = random_problem(6, 12, 2)
    np.savez(tmp_path / "p.npz", X=X, y=y)
    # without refinement: a refined fit re-solves its grown dictionary with `fast`
    args = ["fit", "--input", str(tmp_path / "p.npz"), "--depth", "3", "--beta", "0.1", "--json", "--no-refine"]
    res = CliRunner().invoke(app, args + ["--solver", "stream", "--stream-memory", "1MB"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # stderr may hold a note (an upper-bound fit)
    ref = json.loads(CliRunner().invoke(app, args).stdout)
    assert out["solver"] == "stream" and out["streaming"]["stream_memory"] == 1e6
    assert rel_diff(out["objective"], ref["objective"]) < OBJECTIVE_RTOL


# ------------------------------------------------------------------------------------------ inner solve


def _near_copies(seed, N=30, k=80):
    g = np.random.default_rng(seed)
    B = g.standard_normal((N, k))
    B[:, k // 2 :] = B[:, : k // 2] + 1e-3 * g.standard_normal((N, k // 2))  # as in reflection dictionaries
    B -= B.mean(axis=0)
    y = g.standard_normal(N)
    return B, y - y.mean()


def test_active_qr_updates_match_a_fresh_factorisation():
    """The working-set factorisation after in-place insertions and deletions: Q orthonormal, Q_1 R = B_P,
    R^T R = B_P^T B_P + rho^2 I, the stationary point that of the normal equations."""
    from symcli.lasso.solvers import _ActiveQR

    B, y = _near_copies(1)
    rho = 1e-8 * np.linalg.norm(B, axis=0).max()
    fac = _ActiveQR(B, rho, refresh=40)
    g = np.random.default_rng(2)
    s = np.sign(g.standard_normal(B.shape[1]))
    for step in range(200):
        out = [j for j in range(B.shape[1]) if j not in fac.P]
        if len(fac.P) < 3 or (g.random() < 0.6 and len(fac.P) < B.shape[0] - 1):
            fac.insert(int(g.choice(out)))
        else:
            fac.delete(set(g.choice(fac.P, size=int(g.integers(1, 3)), replace=False).tolist()))
        P, Q, R = fac.P, fac.Q, fac.R
        assert np.abs(Q.T @ Q - np.eye(len(P))).max() < 1e-10
        assert np.abs(Q[: B.shape[0]] @ R - B[:, P]).max() < 1e-10
        G = B[:, P].T @ B[:, P] + rho**2 * np.eye(len(P))
        assert np.abs(R.T @ R - G).max() < 1e-10 * np.abs(G).max()
        if step % 20 == 0:
            zP = fac.stationary(y, 0.3, s)  # backward stable: near-copies make G ill-conditioned
            res = G @ zP - (B[:, P].T @ y - 0.3 * s[P])
            assert np.abs(res).max() <= 1e-12 * np.abs(G).max() * np.abs(zP).max()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_active_set_batches_are_exact(seed):
    """The active-set inner solve, INSERT_BATCH violators per gradient, on near-copies from cold and from
    a poor warm start: every KKT condition to 1e-9 relative."""
    from symcli.lasso.solvers import active_set_lasso

    B, y = _near_copies(seed, k=200)
    g = np.random.default_rng(seed)
    for beta in (0.05, 0.5, 2.0):
        cold, _ = active_set_lasso(B, y, beta, np.zeros(B.shape[1]))
        warm, _ = active_set_lasso(B, y, beta, np.where(g.random(B.shape[1]) < 0.1, g.standard_normal(B.shape[1]), 0))
        for z in (cold, warm):
            c = B.T @ (y - B @ z)
            nz = z != 0
            assert np.abs(c).max() <= beta * (1 + 1e-9)
            assert np.allclose(c[nz], beta * np.sign(z[nz]), rtol=1e-9, atol=0)

        def obj(z, beta=beta):
            return 0.5 * np.sum((y - B @ z) ** 2) + beta * np.abs(z).sum()

        assert rel_diff(obj(warm), obj(cold)) < 1e-12


# ---------------------------------------------------------------------------------------------- torch


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("case", [c for c in CASES if c[3] <= 9], ids=lambda c: "L{}-d{}-{}-N{}".format(*c))
def test_torch_cpu_matches_numpy(case):
    from symcli.lasso.streaming_torch import TorchOps

    X, y, dirs, idict = _problem(*case, labels=False)
    r = np.random.default_rng(2).standard_normal(idict.N)
    r -= r.mean()
    a = idict.price(r, k=50, threshold=0.0, memory=4e4)
    b = idict.price(r, k=50, threshold=0.0, memory=4e4, ops=TorchOps(np.float64, "cpu"))
    assert b.max_value == pytest.approx(a.max_value, rel=1e-12)
    assert np.allclose(b.values, a.values, rtol=1e-12)
    beta = 0.05 * a.max_value
    ref = solve_stream(idict, y, beta).result
    out = solve_stream(idict, y, beta, backend="torch", device="cpu")
    assert out.backend == "torch" and out.result.solver == "stream-torch-cpu"
    assert rel_diff(out.result.objective, ref.objective) < 1e-5
    assert out.result.relative_gap < 1e-9
    assert out.inner_stats["solves"] >= 1


def test_torch_fista_inner_solver_is_exact():
    """The FISTA inner solver (restarts, polish, active-set finish) against the numpy active set."""
    from symcli.lasso.solvers import active_set_lasso
    from symcli.lasso.streaming_torch import TorchOps, fista_lasso_solver

    g = np.random.default_rng(0)
    B = g.standard_normal((30, 80))
    B[:, 40:] = B[:, :40] + 1e-3 * g.standard_normal((30, 40))  # near-copies, as in reflection dictionaries
    B -= B.mean(axis=0)
    y = g.standard_normal(30)
    y -= y.mean()
    solve = fista_lasso_solver(TorchOps(np.float64, "cpu"))
    for beta in (0.5, 2.0):
        z, _ = solve(B, y, beta, np.zeros(80))
        ref, _ = active_set_lasso(B, y, beta, np.zeros(80))

        def obj(z, beta=beta):
            return 0.5 * np.sum((y - B @ z) ** 2) + beta * np.abs(z).sum()

        assert rel_diff(obj(z), obj(ref)) < 1e-12
        assert np.abs(B.T @ (y - B @ z)).max() <= beta * (1 + 1e-9)
    assert solve.stats["solves"] == 2 and solve.stats["polished"] + solve.stats["active_set"] == 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    X, y, dirs, idict = _problem(3, 2, "paper", 40, labels=False)
    r = y - y.mean()
    from symcli.lasso.streaming_torch import TorchOps

    a = idict.price(r, k=100, threshold=0.0)
    for dtype in (np.float64, np.float32):
        b = idict.price(r, k=100, threshold=0.0, ops=TorchOps(dtype, "cuda"))
        assert b.max_value == pytest.approx(a.max_value, rel=1e-12 if dtype == np.float64 else 1e-5)
    beta = 0.02 * a.max_value
    ref = solve_stream(idict, y, beta).result
    for precision in ("float64", "float32"):
        out = solve_stream(idict, y, beta, backend="torch", device="cuda", precision=precision)
        assert out.result.solver == "stream-torch-cuda"
        assert rel_diff(out.result.objective, ref.objective) < 1e-5
        assert out.result.relative_gap < 1e-9
