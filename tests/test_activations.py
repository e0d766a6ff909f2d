"""The parallel network with activation abs, relu or srelu: training, the embeddings of abs and relu in srelu,
and the symmetry statistics of each (symcli.science.symmetry.network_symmetry) on hand-built units."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import random_problem

from symcli.lasso.activations import preactivations
from symcli.lasso.features import psi
from symcli.lasso.network import ACTIVATIONS, ParallelNet, network_objective
from symcli.nets.training import TrainConfig, init_parallel, train_parallel, training_bytes
from symcli.science.symmetry import kinks_1d, network_symmetry, network_symmetry_of, unit_features

UNIT_KEYS = {
    "w",
    "a",
    "c",
    "points_within_eps",
    "pin_distance",
    "crosses_data",
    "offset_to_pinned",
    "offset_cuts_data",
}
KEYS = {"units", "eps", "live_units", "units_outside_data", "share_units_pinned"}
SQRT2 = math.sqrt(2.0)


def _net(activation: str, d: int, m: int, depth: int, **params) -> ParallelNet:
    """A ParallelNet with the given parameters (numpy arrays, by name) and the rest zero."""
    net = ParallelNet(d, m, depth, activation=activation)
    with torch.no_grad():
        for name, value in params.items():
            getattr(net, name).copy_(torch.as_tensor(np.asarray(value, dtype=np.float64)))
    return net


def _random_net(activation: str, X: np.ndarray, depth: int, m: int, seed: int) -> ParallelNet:
    net = ParallelNet(X.shape[1], m, depth, activation=activation)
    init_parallel(net, torch.tensor(X), torch.Generator().manual_seed(seed))
    return net


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_activation_trains_and_reports_symmetry(activation):
    X, y = random_problem(7, 20, 2)
    beta, seed = 0.05, 3
    start = network_objective(_random_net(activation, X, 3, 20, seed * 1000), X, y, beta)  # train_parallel's start
    cfg = TrainConfig(epochs=300, lr=1e-2, device="cpu")
    res = train_parallel(X, y, beta, 3, 20, "l2", cfg, seed, activation=activation)
    assert res.model.activation == activation and next(res.model.parameters()).dtype == torch.float64
    assert math.isfinite(res.objective) and res.objective < 0.9 * start
    assert network_objective(res.model, X, y, beta) == pytest.approx(res.objective, rel=1e-12)
    sym = network_symmetry_of(res.model, X)
    assert set(sym) == KEYS and sym["live_units"] == len(sym["units"]) >= 1
    for u in sym["units"]:
        assert set(u) == UNIT_KEYS and len(u["offset_to_pinned"]) == len(u["offset_cuts_data"]) == 1
        assert u["offset_to_pinned"][0] >= 0 and len(u["w"]) == 2


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="activation"):
        ParallelNet(2, 3, 3, activation="tanh")


@pytest.mark.parametrize("inner", ["abs", "relu"])
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_srelu_contains_abs_and_relu_with_the_same_objective_and_symmetry(inner, depth):
    """srelu with u- = u+, alpha- = alpha+ is the abs network, with u- = alpha- = 0 the relu network: the same
    f, P and symmetry statistics, exactly."""
    X, y = random_problem(5, 30, 3, labels=False)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    net = _random_net(inner, X, depth, 12, seed=depth)
    with torch.no_grad():
        net.alpha.normal_(generator=torch.Generator().manual_seed(1))  # weights of both signs and sizes
        net.U.mul_(torch.rand(net.U.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.5)
        net.xi.fill_(0.3)
    p = {k: net.arrays()[k] for k in ("W", "b1", "U", "B", "alpha")}
    mirror = (p["U"], p["alpha"]) if inner == "abs" else (np.zeros_like(p["U"]), np.zeros_like(p["alpha"]))
    twin = _net("srelu", 3, 12, depth, **p, U2=mirror[0], alpha2=mirror[1], xi=0.3)
    with torch.no_grad():
        assert torch.equal(twin(Xt), net(Xt))
        assert float(twin.objective(Xt, yt, 0.1)) == float(net.objective(Xt, yt, 0.1))
    assert network_symmetry_of(twin, X) == network_symmetry_of(net, X)


# Training points in 2-D: p = (1, 1) and q = (2, 0) lie on the plane x1 + x2 = 2; the others at
# s_1 = x1 + x2 - 2 = 2, 3, -3, -4.
X2 = np.array([[1.0, 1.0], [2.0, 0.0], [2.0, 2.0], [3.0, 2.0], [0.0, -1.0], [0.0, -2.0]])
W2 = np.array([[1.0, 1.0], [1.0, 1.0]])  # ||w|| = sqrt 2: w_hat = (1, 1) / sqrt 2, a = -sqrt 2
B1 = np.array([-2.0, -2.0])


def _check_plane(u):
    np.testing.assert_allclose(u["w"], [1 / SQRT2, 1 / SQRT2], rtol=1e-15)
    assert u["a"] == pytest.approx(-SQRT2, rel=1e-15)
    assert u["points_within_eps"] == 2 and u["pin_distance"] == 0.0 and u["crosses_data"]


def test_relu_units_pinned_and_not():
    """Unit 0: s_2 = 1.5 relu(s_1) - 3, zero at the training point (2, 2) (s_1 = 2); unit 1: s_2 = relu(s_1) - 2.5,
    a kink between the data values 2 and 3 of relu(s_1), at distance 0.5 / g_2 = 0.5 / sqrt 2 from them."""
    net = _net("relu", 2, 2, 3, W=W2, b1=B1, U=[[1.5], [1.0]], B=[[-3.0], [-2.5]], alpha=[1.0, -1.0])
    sym = network_symmetry_of(net, X2)
    assert sym["live_units"] == 2 and sym["share_units_pinned"] == 1.0 and sym["units_outside_data"] == 0
    pinned, away = sym["units"]
    for u in sym["units"]:
        _check_plane(u)
        assert u["offset_cuts_data"] == [True]  # s_2 < 0 at p, q and > 0 at (3, 2)
    assert abs(pinned["offset_to_pinned"][0]) <= 1e-12
    assert away["offset_to_pinned"][0] == pytest.approx(0.5 / SQRT2, rel=1e-12)
    # c: the kink's value of relu(t), t = w_hat^T x + a: sqrt 2 (= 2 / sqrt 2) and 2.5 / sqrt 2
    np.testing.assert_allclose([pinned["c"][0], away["c"][0]], [SQRT2, 2.5 / SQRT2], rtol=1e-12)


def test_srelu_units_pinned_and_not():
    """s_2 = relu(s_1) + 2 relu(-s_1) + b_2, gain g_2 = max(1, 2) sqrt 2. Unit 0 (b_2 = -6): zero at the training
    point (0, -1) (s_1 = -3); unit 1 (b_2 = -7): nearest |s_2| = 1 (at (0, -1) and (0, -2)), distance 1 / g_2."""
    net = _net("srelu", 2, 2, 3, W=W2, b1=B1, U=[[1.0], [1.0]], U2=[[2.0], [2.0]], B=[[-6.0], [-7.0]], alpha=[1.0, 1.0])
    sym = network_symmetry_of(net, X2)
    assert sym["live_units"] == 2 and sym["share_units_pinned"] == 1.0
    pinned, away = sym["units"]
    for u in sym["units"]:
        _check_plane(u)
        assert u["offset_cuts_data"] == [True]  # s_2 > 0 at (0, -2), < 0 at p and q
    assert abs(pinned["offset_to_pinned"][0]) <= 1e-12
    assert away["offset_to_pinned"][0] == pytest.approx(1 / (2 * SQRT2), rel=1e-12)
    # u*_2 = u- = 2 (the larger): c = -b_2 / (2 sqrt 2)
    np.testing.assert_allclose([pinned["c"][0], away["c"][0]], [6 / (2 * SQRT2), 7 / (2 * SQRT2)], rtol=1e-12)
    # a kink outside the data (b_2 = -20: s_2 < 0 at every training point) does not cut it
    far = _net("srelu", 2, 1, 3, W=W2[:1], b1=B1[:1], U=[[1.0]], U2=[[2.0]], B=[[-20.0]], alpha=[1.0])
    u = network_symmetry_of(far, X2)["units"][0]
    assert u["offset_cuts_data"] == [False] and u["offset_to_pinned"][0] == pytest.approx(12 / (2 * SQRT2), rel=1e-12)


def test_dead_units_are_not_live():
    # unit 1 has alpha = 0; for srelu unit 2's coefficient is max(|alpha+|, |alpha-|) g, alive through alpha-
    net = _net(
        "srelu",
        2,
        3,
        3,
        W=np.ones((3, 2)),
        b1=-2 * np.ones(3),
        U=np.ones((3, 1)),
        U2=np.ones((3, 1)),
        B=-np.ones((3, 1)),
        alpha=[1.0, 0.0, 0.0],
        alpha2=[0.0, 0.0, 0.5],
    )
    assert network_symmetry_of(net, X2)["live_units"] == 2


def test_abs_offsets_are_the_distance_to_pinned_psi_values():
    """For abs, offset_to_pinned = min_n |psi_(c_2..c_(l-1))(t_n) - c_l| (theory.md section 6) to rounding."""
    X, _ = random_problem(9, 25, 2)
    net = _random_net("abs", X, 5, 10, seed=4)
    with torch.no_grad():
        net.U.mul_(-1.7)  # negative and non-unit weights
        net.B.mul_(-1.7)
    sym = network_symmetry_of(net, X)
    a = net.arrays()
    w_hat, off, c, _ = unit_features(a["W"], a["b1"], a["U"], a["B"])
    T = X @ w_hat.T + off
    for i, u in enumerate(sym["units"]):
        for l in range(3):
            pinned = psi(T[:, i], c[i, :l])
            assert u["offset_to_pinned"][l] == pytest.approx(np.min(np.abs(pinned - c[i, l])), rel=1e-12, abs=1e-14)
            assert u["offset_cuts_data"][l] == bool(pinned.min() < c[i, l] < pinned.max())


def test_kinks_of_hand_built_1d_units():
    # relu, depth 4: s_1 = 2x - 1 (x = 0.5); s_2 = -relu(s_1) + 3 (s_1 = 3: x = 2); s_3 = relu(s_2) - 1 (s_2 = 1:
    # s_1 = 2, x = 1.5; for x >= 2 s_3 = -1 has no zero)
    W, b1, U, B = np.array([[2.0]]), np.array([-1.0]), np.array([[-1.0, 1.0]]), np.array([[3.0, -1.0]])
    np.testing.assert_allclose(kinks_1d(W, b1, U, B, "relu"), [0.5, 1.5, 2.0], atol=1e-15)
    # a relu level with b = 0 is identically 0 on the dead side: only the first kink
    np.testing.assert_allclose(kinks_1d(W, b1, np.array([[1.0, 1.0]]), np.zeros((1, 2)), "relu"), [0.5])
    # srelu, depth 3: s_1 = x; s_2 = relu(x) + 2 relu(-x) - 2: zeros at x = 2 and x = -1
    k = kinks_1d(np.array([[1.0]]), np.zeros(1), np.ones((1, 1)), np.array([[-2.0]]), "srelu", np.array([[2.0]]))
    np.testing.assert_allclose(k, [-1.0, 0.0, 2.0], atol=1e-15)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_kinks_are_the_zeros_of_the_preactivations(activation):
    """On random 1-D nets of depth 4: every kink zeroes a pre-activation, and every sign change of one on a
    fine grid has a kink inside it."""
    X, _ = random_problem(2, 15, 1)
    net = _random_net(activation, X, 4, 6, seed=11)
    a = net.arrays()
    sym = network_symmetry(X=X, **a)
    kinks = np.array(sym["kinks"])
    assert len(kinks) >= 6

    def levels(x):
        return np.stack(preactivations(x[:, None], a["W"], a["b1"], a["U"], a["B"], activation, a["U2"]))

    scale = np.abs(levels(X[:, 0])).max()
    assert np.all(np.min(np.abs(levels(kinks)), axis=(0, 2)) <= 1e-9 * scale)
    grid = np.linspace(kinks.min() - 1, kinks.max() + 1, 20001)
    v = levels(grid)
    changes = np.nonzero((v[:, :-1] * v[:, 1:] < 0).any(axis=(0, 2)))[0]
    assert len(changes) >= 6
    assert all(np.any((kinks >= grid[i]) & (kinks <= grid[i + 1])) for i in changes)


def test_training_bytes_counts_srelu_weights():
    abs_b, srelu_b = training_bytes(100, 3, 4, 20), training_bytes(100, 3, 4, 20, activation="srelu")
    assert srelu_b == abs_b + 8.0 * (4 * 20 * 3 + 100 * 20 * 4)
    assert training_bytes(100, 3, 4, 20, activation="relu") == abs_b
