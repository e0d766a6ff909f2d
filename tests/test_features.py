"""Features, dictionaries, direction sets and geometry against closed forms (theory.md sections 2-3).

Every expected value here is computed in the test from the formulas of theory.md (nested absolute values,
point-to-line distances, determinants), never taken from the package.
"""

from __future__ import annotations

import math
import tracemalloc
from itertools import combinations, product

import numpy as np
import pytest
from helpers import random_problem

from symcli.core.errors import UserError
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import direction_set
from symcli.lasso.features import FAMILIES, psi
from symcli.lasso.geometry import generalized_cross_product

PLANE = FAMILIES.index("plane")
REFLECTION = FAMILIES.index("reflection")
MIDPOINT = FAMILIES.index("midpoint")
TOL = 1e-12


# ----------------------------------------------------------------------------------------------- helpers


def nested_abs(u: np.ndarray, *c: float) -> np.ndarray:
    """psi_c(u) written out: |u|, ||u| - c2|, |||u| - c2| - c3|."""
    h = np.abs(u)
    for cl in c:
        h = np.abs(h - cl)
    return h


def build_1d(X: np.ndarray, depth: int):
    return build_dictionary(X, depth, direction_set(["spanned"], X, "l2", None, 0), "all", "l2", 4e9)


def data_1d(seed: int, N: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N, 1))


def canonical(A: np.ndarray) -> np.ndarray:
    """Columns of A (N, p) centred and signed so that the largest-magnitude entry is positive: two columns
    are the same Lasso feature iff they agree up to an additive constant (xi) and a sign (z)."""
    C = A - A.mean(axis=0)
    return C * np.sign(C[np.argmax(np.abs(C), axis=0), np.arange(C.shape[1])])


def has_column(A: np.ndarray, v: np.ndarray, tol: float = TOL) -> bool:
    """v (N,) equals some column of A (N, p) to tol, up to a constant and a sign."""
    return bool((np.abs(canonical(A) - canonical(v[:, None])).max(axis=0) <= tol).any())


def missing_columns(A: np.ndarray, V: np.ndarray, tol: float = TOL) -> np.ndarray:
    """Indices of the non-constant rows of V (m, N) that are not columns of A (N, p), up to constant and sign."""
    nonconst = np.ptp(V, axis=1) > 1e-9
    A, V = canonical(A), canonical(V.T).T
    diff = np.abs(V[:, :, None] - A[None, :, :]).max(axis=1)  # (m, p)
    found = (diff <= tol).any(axis=1)
    return np.flatnonzero(nonconst & ~found)


def zero_set(xj: float, c2: float, c3: float) -> np.ndarray:
    """Zeros of |||x - xj| - c2| - c3| (c2, c3 >= 0): xj +- (c2 + c3), and xj +- (c2 - c3) when c3 <= c2."""
    r = [c2 + c3] + ([c2 - c3] if c3 <= c2 else [])
    return xj + np.array([s * v for v in r for s in (1.0, -1.0)])


def dist_to_line(P: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distance of points P (n, 2) to the line through p and q: |cross(q - p, x - p)| / ||q - p||."""
    u = q - p
    v = P - p
    return np.abs(u[0] * v[:, 1] - u[1] * v[:, 0]) / math.hypot(u[0], u[1])


def metadata_values(D, X: np.ndarray) -> np.ndarray:
    """psi_c(w^T x + a) from the metadata (direction, a, c) with the test's own nested |.|, (N, p)."""
    W = D.directions.W[D.direction]  # (p, d)
    h = np.abs(X @ W.T + D.a[None, :])
    for l in range(D.c.shape[1]):
        h = np.abs(h - D.c[None, :, l])
    return h


# ---------------------------------------------------------------------------------- 1-D closed-form families


@pytest.mark.parametrize("L", [2, 3, 4, 5])
def test_psi_is_nested_absolute_value(L):
    g = np.random.default_rng(L)
    u = g.standard_normal((7, 11)) * 2
    c = np.abs(g.standard_normal((7, L - 2)))
    expect = np.stack([nested_abs(u[i], *c[i]) for i in range(7)])
    np.testing.assert_allclose(psi(u, c), expect, atol=1e-15, rtol=0)
    # one offset vector broadcast against a batch
    np.testing.assert_allclose(psi(u, c[0]), np.stack([nested_abs(r, *c[0]) for r in u]), atol=1e-15, rtol=0)


@pytest.mark.parametrize("seed", range(4))
def test_depth2_columns_are_planes_at_every_point(seed):
    X = data_1d(seed)
    x = X[:, 0]
    D = build_1d(X, 2)
    # the depth-2 family is exactly {|x - x_j|}: N - 1 distinct features (the planes at the two extreme
    # points are both linear on the data, equal up to sign and constant), each the closed form of its pin
    assert D.n_columns == len(x) - 1
    assert np.all(D.family == PLANE)
    for j in range(D.n_columns):
        p = D.pins[j, 0]
        np.testing.assert_allclose(D.A[:, j], np.abs(x - x[p]), atol=TOL, rtol=0)
        assert D.a[j] == pytest.approx(-x[p], abs=TOL)
    for j in range(len(x)):
        assert has_column(D.A, np.abs(x - x[j])), f"|x - x_{j}| missing"


@pytest.mark.parametrize("seed", range(4))
def test_depth3_reflection_and_midpoint_closed_forms(seed):
    X = data_1d(seed)
    x = X[:, 0]
    N = len(x)
    D = build_1d(X, 3)
    counts = np.bincount(D.family, minlength=len(FAMILIES))
    assert counts[PLANE] == N - 1 and counts[REFLECTION] > 0 and counts[MIDPOINT] > 0

    # each column equals the closed form of its family and pins
    for col in range(D.n_columns):
        j, k = D.pins[col]
        fam = D.family[col]
        if fam == PLANE:
            expect = np.abs(x - x[j])
            assert D.c[col, 0] == pytest.approx(0.0, abs=1e-9)
        elif fam == REFLECTION:
            expect = nested_abs(x - x[j], abs(x[k] - x[j]))
            assert D.a[col] == pytest.approx(-x[j], abs=TOL)
            assert D.c[col, 0] == pytest.approx(abs(x[k] - x[j]), abs=TOL)
        else:
            expect = nested_abs(x - (x[j] + x[k]) / 2, abs(x[j] - x[k]) / 2)
            assert D.a[col] == pytest.approx(-(x[j] + x[k]) / 2, abs=TOL)
            assert D.c[col, 0] == pytest.approx(abs(x[j] - x[k]) / 2, abs=TOL)
        np.testing.assert_allclose(D.A[:, col], expect, atol=TOL, rtol=0, err_msg=f"column {col} {FAMILIES[fam]}")

    # the identities of theory.md, checked on the data and on a dense grid
    t = np.concatenate([x, np.linspace(x.min() - 2, x.max() + 2, 401)])
    refl, mid = [], []
    for j, k in product(range(N), repeat=2):
        r = nested_abs(t - x[j], abs(x[k] - x[j]))
        np.testing.assert_allclose(r, np.minimum(np.abs(t - x[k]), np.abs(t - (2 * x[j] - x[k]))), atol=1e-12)
        m = nested_abs(t - (x[j] + x[k]) / 2, abs(x[j] - x[k]) / 2)
        np.testing.assert_allclose(m, np.minimum(np.abs(t - x[j]), np.abs(t - x[k])), atol=1e-12)
        refl.append(r[:N])
        mid.append(m[:N])
    # every closed-form column is present in the dictionary
    for name, V in (("reflection", refl), ("midpoint", mid), ("plane", [np.abs(x - xj) for xj in x])):
        miss = missing_columns(D.A, np.array(V))
        assert len(miss) == 0, f"{name} columns {miss.tolist()} missing"


@pytest.mark.parametrize("seed", range(3))
def test_depth4_reflections_of_reflections_present(seed):
    X = data_1d(seed)
    x = X[:, 0]
    N = len(x)
    D = build_1d(X, 4)
    grid = np.linspace(x.min() - 3, x.max() + 3, 997)
    closed, params = [], []
    for j, k, l in product(range(N), repeat=3):
        c2 = abs(x[k] - x[j])
        c3 = abs(abs(x[l] - x[j]) - c2)
        closed.append(nested_abs(x - x[j], c2, c3))
        params.append((x[j], c2, c3))
        # zeros at x_j +- (c2 + c3) and, when c3 <= c2, at x_j +- (c2 - c3); x_l is one of them
        zeros = zero_set(x[j], c2, c3)
        assert np.abs(zeros - x[l]).min() <= 1e-12
        assert np.abs(nested_abs(zeros - x[j], c2, c3)).max() <= 1e-12
        # and nowhere else: psi is 1-Lipschitz, vanishing exactly on that set
        near = np.abs(grid[:, None] - zeros[None, :]).min(axis=1)
        val = nested_abs(grid - x[j], c2, c3)
        assert np.all(val <= near + 1e-12)
        assert np.all(val[near > 1e-9] > 0)
    closed = np.array(closed)
    miss = missing_columns(D.A, closed)
    assert len(miss) == 0, f"reflection-of-reflection columns {miss.tolist()} missing"

    # columns that are reflections of reflections vanish (via D.evaluate) at x_j +- c2 +- c3
    checked = 0
    for idx in range(len(closed)):
        hit = np.flatnonzero(np.abs(D.A - closed[idx][:, None]).max(axis=0) <= TOL)
        if len(hit) == 0:
            continue
        xj, c2, c3 = params[idx]
        col = hit[0]
        if not (np.isclose(D.a[col], -xj, atol=TOL) and np.allclose(D.c[col], [c2, c3], atol=TOL)):
            continue  # an equal-on-the-data representative with other metadata
        pts = zero_set(xj, c2, c3)
        assert np.abs(D.evaluate(pts[:, None], [col])).max() <= 1e-12
        checked += 1
    assert checked >= N


@pytest.mark.parametrize("seed", [0])
def test_depth4_metadata_pins_lie_on_kinks(seed):
    X = data_1d(seed)
    x = X[:, 0]
    D = build_1d(X, 4)
    bad = []
    for col in range(D.n_columns):
        a, (c2, c3), pins = D.a[col], D.c[col], D.pins[col]
        if D.family[col] == REFLECTION and (pins >= 0).all():
            j, k, l = pins
            if not (
                np.isclose(a, -x[j], atol=1e-9)
                and np.isclose(c2, abs(x[k] - x[j]), atol=1e-9)
                and np.isclose(c3, abs(abs(x[l] - x[j]) - c2), atol=1e-9)
            ):
                bad.append((col, "reflection closed form"))
        for n in pins[pins >= 0]:
            u = x[n] + a
            if min(abs(u), abs(abs(u) - c2), abs(abs(abs(u) - c2) - c3)) > 1e-9:
                bad.append((col, f"point {n} on no kink"))
    assert not bad, f"{len(bad)} of {D.n_columns} columns with inconsistent metadata, e.g. {bad[:3]}"


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_pins_lie_on_kinks_depth_2_3(depth, seed):
    X = data_1d(seed, N=7)
    x = X[:, 0]
    D = build_1d(X, depth)
    for col in range(D.n_columns):
        a, c = D.a[col], D.c[col]
        for n in D.pins[col][D.pins[col] >= 0]:
            u = x[n] + a
            gaps = [abs(u)] + ([abs(abs(u) - c[0])] if depth == 3 else [])
            assert min(gaps) <= 1e-12, f"column {col}: point {n} is on no kink"


@pytest.mark.parametrize(
    ("d", "depth", "pins"),
    [(1, 2, "all"), (1, 3, "all"), (1, 4, "all"), (2, 2, "paper"), (2, 3, "paper"), (3, 3, "paper"), (2, 2, "all")],
)
def test_metadata_reproduces_columns(d, depth, pins):
    X, _ = random_problem(11 + d + depth, 6, d)
    D = build_dictionary(X, depth, direction_set(["spanned"], X, "l2", None, 0), pins, "l2", 4e9)
    assert D.A.shape == (len(X), D.n_columns) and D.n_columns > 0
    assert D.c.shape == (D.n_columns, depth - 2) and D.pins.shape == (D.n_columns, depth - 1)
    # psi(w^T x + a, c) from the metadata, with the test's own nested |.|
    np.testing.assert_allclose(metadata_values(D, X), D.A, atol=1e-12, rtol=0)
    # evaluate() at the training points reproduces A; at new points it matches the metadata too
    np.testing.assert_allclose(D.evaluate(X), D.A, atol=1e-12, rtol=0)
    Xn = np.random.default_rng(5).standard_normal((9, d)) * 3
    np.testing.assert_allclose(D.evaluate(Xn), metadata_values(D, Xn), atol=1e-12, rtol=0)
    np.testing.assert_allclose(D.evaluate(Xn, [0, D.n_columns - 1]), metadata_values(D, Xn)[:, [0, -1]], atol=1e-12)
    # unit directions, offsets c >= 0, family codes valid and `plane` exactly when every offset is zero
    np.testing.assert_allclose(np.linalg.norm(D.directions.W, axis=1), 1.0, atol=1e-12)
    assert np.all(D.c >= 0)
    assert np.all((D.family >= 0) & (D.family < len(FAMILIES)))
    zero_c = np.all(D.c <= 1e-9, axis=1)
    np.testing.assert_array_equal(D.family == PLANE, zero_c)


# ------------------------------------------------------------------------------- duplicates and constants


@pytest.mark.parametrize(
    ("d", "depth", "pins"), [(1, 2, "all"), (1, 3, "all"), (1, 4, "all"), (2, 3, "paper"), (2, 4, "paper")]
)
@pytest.mark.parametrize("seed", range(2))
def test_no_duplicate_or_constant_columns(d, depth, pins, seed):
    X, _ = random_problem(100 + seed, 6, d)
    D = build_dictionary(X, depth, direction_set(["spanned"], X, "l2", None, 0), pins, "l2", 4e9)
    assert np.ptp(D.A, axis=0).min() > 1e-9, "a constant column survived"
    A = canonical(D.A)
    diff = np.abs(A[:, :, None] - A[:, None, :]).max(axis=0)
    np.fill_diagonal(diff, np.inf)
    i, j = np.unravel_index(np.argmin(diff), diff.shape)
    assert diff[i, j] > 1e-9, f"columns {i} and {j} are equal on the data up to constant and sign"
    assert D.n_columns <= D.n_candidates


def test_duplicates_removed_in_data_with_ties():
    # a repeated point and symmetric data make many candidate columns coincide
    X = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0], [1.0]])
    for depth in (2, 3, 4):
        D = build_1d(X, depth)
        A = canonical(D.A)
        diff = np.abs(A[:, :, None] - A[:, None, :]).max(axis=0)
        np.fill_diagonal(diff, np.inf)
        assert diff.min() > 1e-9
        assert np.ptp(D.A, axis=0).min() > 1e-9
    # depth 2 on 5 distinct values gives 5 planes, the two extreme ones equal up to sign and constant
    assert build_1d(X, 2).n_columns == 4


# ------------------------------------------------------------------------------------ paper pins in 2-D


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("seed", range(2))
def test_paper_pins_are_distances_to_spanning_lines(depth, seed):
    X, _ = random_problem(200 + seed, 6, 2)
    N = len(X)
    D = build_dictionary(X, depth, direction_set(["spanned"], X, "l2", None, 0), "paper", "l2", 4e9)
    assert len(D.directions) == math.comb(N, 2)
    for col in range(D.n_columns):
        s1, s2 = D.directions.span[D.direction[col]]
        dist = dist_to_line(X, X[s1], X[s2])
        if depth == 2:
            expect = dist
        elif depth == 3:
            k = D.pins[col, 1]
            expect = np.abs(dist - dist[k])
        else:
            k, l = D.pins[col, 1], D.pins[col, 2]
            c2 = dist[k]
            expect = np.abs(np.abs(dist - c2) - abs(dist[l] - c2))
        np.testing.assert_allclose(D.A[:, col], expect, atol=1e-12, rtol=0, err_msg=f"column {col}")
        assert D.pins[col, 0] in (s1, s2)
    # and every such distance column (non-constant) is in the dictionary
    want = []
    for s1, s2 in combinations(range(N), 2):
        dist = dist_to_line(X, X[s1], X[s2])
        if depth == 2:
            want.append(dist)
        elif depth == 3:
            want.extend(np.abs(dist - dist[k]) for k in range(N))
    if want:
        miss = missing_columns(D.A, np.array(want))
        assert len(miss) == 0, f"paper columns {miss.tolist()} missing"


@pytest.mark.parametrize("d", [2, 3, 4])
def test_generalized_cross_product_orthogonal(d):
    g = np.random.default_rng(d)
    V = g.standard_normal((50, d - 1, d))
    n = generalized_cross_product(V)
    assert n.shape == (50, d)
    norms = np.linalg.norm(n, axis=1)
    assert norms.min() > 1e-6
    dots = np.einsum("bkd,bd->bk", V, n)
    assert np.abs(dots).max() <= 1e-12 * max(1.0, np.abs(V).max() ** d)
    # the norm of the normal is the (d-1)-volume of the rows: sqrt(det Gram)
    gram = np.einsum("bkd,bld->bkl", V, V)
    np.testing.assert_allclose(norms, np.sqrt(np.linalg.det(gram)), rtol=1e-10)
    # linearly dependent rows (for d = 2: a zero row) give zero
    Vdep = V.copy()
    Vdep[:, -1] = 2.0 * Vdep[:, 0] if d > 2 else 0.0
    assert np.abs(generalized_cross_product(Vdep)).max() <= 1e-12
    if d == 3:
        np.testing.assert_allclose(n, np.cross(V[:, 0], V[:, 1]), atol=1e-12)


def test_hyperplane_distance_is_wedge_volume_ratio_3d():
    g = np.random.default_rng(3)
    for _ in range(20):
        x1, x2, x3 = g.standard_normal((3, 3))
        P = g.standard_normal((15, 3)) * 2
        n = generalized_cross_product(np.stack([x2 - x1, x3 - x1])[None])[0]
        w = n / np.linalg.norm(n)
        a = -w @ x1
        lhs = np.abs(P @ w + a)
        cross = np.linalg.norm(np.cross(x2 - x1, x3 - x1))
        rhs = np.array([abs(np.linalg.det(np.stack([p - x1, x2 - x1, x3 - x1]))) for p in P]) / cross
        np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-12)
        # the spanning points themselves are at distance 0
        assert np.abs(np.stack([x1, x2, x3]) @ w + a).max() <= 1e-12


def test_spanned_directions_3d_give_distances_to_planes():
    X, _ = random_problem(17, 6, 3)
    D = build_dictionary(X, 2, direction_set(["spanned"], X, "l2", None, 0), "paper", "l2", 4e9)
    for col in range(D.n_columns):
        s1, s2, s3 = D.directions.span[D.direction[col]]
        v, w_ = X[s2] - X[s1], X[s3] - X[s1]
        vol = np.array([abs(np.linalg.det(np.stack([x - X[s1], v, w_]))) for x in X])
        np.testing.assert_allclose(D.A[:, col], vol / np.linalg.norm(np.cross(v, w_)), atol=1e-12, rtol=1e-10)


# ------------------------------------------------------------------------------------------ memory refusal


def test_memory_refusal_before_allocating():
    X, _ = random_problem(0, 400, 2)
    dirs = direction_set(["spanned"], X, "l2", None, 0)
    n_cand = math.comb(400, 2) * 400  # paper depth 3: C(N, 2) * N columns
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match="--max-memory") as info:
            build_dictionary(X, 3, dirs, "paper", "l2", 1e6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5e6, f"allocated {peak} bytes before refusing"  # refused before building (no wall-clock bound)
    assert f"{n_cand:,}" in str(info.value)
    # the same request with enough memory is not refused up front (checked on a small N)
    Xs = X[:8]
    small = direction_set(["spanned"], Xs, "l2", None, 0)
    need = 3 * 8 * math.comb(8, 2) * 8 * 8
    D = build_dictionary(Xs, 3, small, "paper", "l2", need)
    assert D.n_candidates == math.comb(8, 2) * 8
    with pytest.raises(UserError, match="--max-memory"):
        build_dictionary(Xs, 3, small, "paper", "l2", need - 1)


def test_memory_refusal_all_pins_1d():
    X = np.linspace(-1, 1, 300)[:, None]
    dirs = direction_set(["spanned"], X, "l2", None, 0)
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match="--max-memory"):
            build_dictionary(X, 4, dirs, "all", "l2", 1e6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5e6, f"allocated {peak} bytes before refusing"  # refused before building (no wall-clock bound)


# ------------------------------------------------------------------------------------------ direction sets


@pytest.mark.parametrize(("N", "d"), [(7, 2), (6, 3), (6, 4)])
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_spanned_all_combinations(N, d, norm):
    X, _ = random_problem(N * d, N, d)
    D = direction_set(["spanned"], X, norm, None, 0)
    assert len(D) == math.comb(N, d)
    assert {tuple(s) for s in D.span} == set(combinations(range(N), d))
    ord_ = 2 if norm == "l2" else 1
    np.testing.assert_allclose(np.linalg.norm(D.W, ord=ord_, axis=1), 1.0, atol=1e-12)
    for w, S in zip(D.W, D.span, strict=True):
        edges = X[S[1:]] - X[S[0]]
        assert np.abs(edges @ w).max() <= 1e-10  # normal to the hyperplane through S
    assert set(D.source) == {"spanned"}


def test_spanned_drops_degenerate_sets():
    X, _ = random_problem(1, 6, 2)
    X[5] = X[2]  # a repeated point: the "line" through x_2 and x_5 is undefined
    D = direction_set(["spanned"], X, "l2", None, 0)
    assert len(D) == math.comb(6, 2) - 1
    assert (2, 5) not in {tuple(s) for s in D.span}
    X3, _ = random_problem(2, 6, 3)
    X3[4] = 0.3 * X3[0] + 0.7 * X3[1]  # x_0, x_1, x_4 collinear: no plane through them
    D3 = direction_set(["spanned"], X3, "l2", None, 0)
    assert len(D3) == math.comb(6, 3) - 1
    assert (0, 1, 4) not in {tuple(s) for s in D3.span}


def test_spanned_1d_is_one_unspanned_direction():
    X = data_1d(0)
    D = direction_set(["spanned"], X, "l2", None, 0)
    np.testing.assert_array_equal(D.W, [[1.0]])
    assert (D.span == -1).all()


def test_spanned_sample_is_seeded():
    X, _ = random_problem(4, 30, 2)
    a = direction_set(["spanned"], X, "l2", 40, seed=7)
    b = direction_set(["spanned"], X, "l2", 40, seed=7)
    c = direction_set(["spanned"], X, "l2", 40, seed=8)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.span, b.span)
    assert 0 < len(a) <= 40
    assert not (len(a) == len(c) and np.array_equal(a.span, c.span))
    spans = [tuple(s) for s in a.span]
    assert len(set(spans)) == len(spans) and all(s[0] < s[1] for s in spans)
    for w, (i, j) in zip(a.W, a.span, strict=True):
        assert abs((X[j] - X[i]) @ w) <= 1e-12
    # asking for at least C(N, d) gives them all
    assert len(direction_set(["spanned"], X, "l2", math.comb(30, 2), seed=7)) == math.comb(30, 2)


@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_axis_directions(norm, d):
    D = direction_set(["axis"], np.zeros((3, d)), norm, None, 0)
    np.testing.assert_array_equal(D.W, np.eye(d))
    assert D.span.shape == (d, d) and (D.span == -1).all()


@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize(("d", "n", "expect"), [(2, None, 360), (2, 17, 17), (3, None, 1000), (3, 50, 50)])
def test_grid_directions(norm, d, n, expect):
    D = direction_set(["grid"], np.zeros((3, d)), norm, n, 0)
    assert D.W.shape == (expect, d)
    ord_ = 2 if norm == "l2" else 1
    np.testing.assert_allclose(np.linalg.norm(D.W, ord=ord_, axis=1), 1.0, atol=1e-12)
    # no direction repeated, also not up to sign (w and -w give the same features)
    U = D.W / np.linalg.norm(D.W, axis=1, keepdims=True)
    G = np.abs(U @ U.T)
    np.fill_diagonal(G, 0.0)
    assert G.max() < 1 - 1e-9
    if d == 2:
        # a uniform grid on the half circle: consecutive angles differ by pi / n
        theta = np.sort(np.mod(np.arctan2(U[:, 1], U[:, 0]), np.pi))
        np.testing.assert_allclose(np.diff(theta), np.pi / expect, atol=1e-9)


def test_grid_refuses_d4():
    with pytest.raises(UserError, match="d <= 3"):
        direction_set(["grid"], np.zeros((3, 4)), "l2", None, 0)


@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize(("d", "n"), [(2, None), (3, 25), (6, 40)])
def test_random_directions(norm, d, n):
    X = np.zeros((3, d))
    D = direction_set(["random"], X, norm, n, 3)
    assert D.W.shape == (n or 100, d)
    ord_ = 2 if norm == "l2" else 1
    np.testing.assert_allclose(np.linalg.norm(D.W, ord=ord_, axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(D.W, direction_set(["random"], X, norm, n, 3).W)
    assert not np.array_equal(D.W, direction_set(["random"], X, norm, n, 4).W)


def test_direction_union_and_unknown_name():
    X, _ = random_problem(5, 5, 2)
    D = direction_set(["spanned", "axis", "grid"], X, "l2", None, 0)
    assert len(D) == math.comb(5, 2) + 2 + 360
    assert list(D.source).count("axis") == 2
    with pytest.raises(UserError):
        direction_set(["nope"], X, "l2", None, 0)
