"""Symmetry measures (theory.md section 6) on Lasso fits and networks."""

from __future__ import annotations

import numpy as np
import pytest

from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.lasso.features import psi
from symcli.lasso.geometry import reflect
from symcli.lasso.network import reconstruct
from symcli.science.evidence import nets_statistics
from symcli.science.symmetry import held_out_points, kinks_1d, network_symmetry, symmetry_error, unit_features

X4 = np.array([[0.0], [2.0], [6.0], [7.0]])
Y4 = np.array([0.0, 0.0, 3.0, 3.0])


@pytest.mark.parametrize("c", [[], [0.7], [0.9, 0.3], [0.2, 1.1]])
def test_a_deep_feature_is_symmetric_about_its_own_mirror(c):
    g = np.random.default_rng(len(c))
    w = g.standard_normal(2)
    w /= np.linalg.norm(w)
    a = 0.3
    c = np.array(c)
    X_e = g.uniform(-2, 2, (500, 2))

    def f(P):
        return psi(P @ w + a, c)

    assert symmetry_error(f, X_e, w, a) < 1e-12
    # reflection is an involution and maps the mirror's sides onto each other
    np.testing.assert_allclose(reflect(reflect(X_e, w, a), w, a), X_e, atol=1e-12)
    np.testing.assert_allclose(reflect(X_e, w, a) @ w + a, -(X_e @ w + a), atol=1e-12)
    # about an oblique mirror the same function is not symmetric (a mirror perpendicular to H would be:
    # the feature depends on w^T x only)
    oblique = (w + np.array([w[1], -w[0]])) / np.sqrt(2)
    assert symmetry_error(f, X_e, oblique, 0.1) > 0.05


def test_family_and_level_counts_match_the_features():
    out = fit(Problem(X4, Y4), FitOptions(depth=4, beta=0.1))
    feats = out["features"]
    mass = np.array([abs(f["z"]) for f in feats])
    x = X4[:, 0]
    # classify each selected feature by hand from its offsets and pins (theory.md section 3)
    hand_family, hand_level = [], []
    for f in feats:
        c = np.array(f["c"])
        hand_level.append(int((c > 1e-9).sum()))
        j = f["pins"][0]
        center_pinned = abs(f["a"] + x[j]) < 1e-9
        levels = [abs(c[0] - abs(x[k] - x[j])) < 1e-9 for k in range(4)]
        if not np.any(c > 1e-9):
            hand_family.append("plane")
        elif (
            center_pinned
            and any(levels)
            and (len(c) < 2 or c[1] < 1e-9 or any(abs(c[1] - abs(abs(x[k] - x[j]) - c[0])) < 1e-9 for k in range(4)))
        ):
            hand_family.append("reflection")
        else:
            hand_family.append("midpoint")
    sym = out["symmetry"]["lasso"]
    for fam in ("plane", "reflection", "midpoint"):
        sel = np.array([h == fam for h in hand_family])
        assert sym["families"][fam]["count"] == sel.sum()
        assert sym["families"][fam]["mass_share"] == pytest.approx(mass[sel].sum() / mass.sum(), abs=1e-12)
    for lvl in range(3):
        sel = np.array([h == lvl for h in hand_level])
        assert sym["nesting"][str(lvl)]["count"] == sel.sum()
    assert [f["family"] for f in feats] == hand_family
    # on this data the depth-4 fit nests two mirror levels
    assert sym["nesting"]["2"]["count"] >= 1


def test_depth4_selects_a_kink_at_a_reflection_point():
    x = X4[:, 0]
    out = fit(Problem(X4, Y4), FitOptions(depth=4, beta=0.1))
    reflections = {round(2 * x[j] - x[k], 9) for j in range(4) for k in range(4) if j != k} - set(np.round(x, 9))
    found = []
    for f in out["features"]:
        p0, (c2, c3) = -f["a"], f["c"]
        kinks = [p0] + [p0 + s * c2 for s in (1, -1)] + [p0 + s * (c2 + t * c3) for s in (1, -1) for t in (1, -1)]
        found += [k for k in np.round(kinks, 9) if k in reflections]
    assert found, "no selected feature has a kink at a reflection 2 x_j - x_k"


def test_unit_features_and_kinks_of_a_reconstructed_network():
    g = np.random.default_rng(0)
    W = np.ones((3, 1))
    a = np.array([-0.5, 1.0, 0.2])
    c = np.array([[0.7, 0.2], [1.5, 0.4], [0.3, 0.9]])
    z = np.array([0.8, -1.2, 0.5])
    net = reconstruct(W, a, c, z, 0.1, 4)
    arrays = [p.detach().numpy() for p in (net.W, net.b1, net.U, net.B)]
    w_hat, a_hat, c_hat, scale = unit_features(*arrays)
    np.testing.assert_allclose(w_hat, W, atol=1e-12)
    np.testing.assert_allclose(a_hat, a, atol=1e-12)
    np.testing.assert_allclose(c_hat, c, atol=1e-12)
    np.testing.assert_allclose(scale * np.abs(net.alpha.detach().numpy()), np.abs(z), rtol=1e-12)
    # kinks: -a, -a +- c2, and -a +- (c2 +- c3) where that radius is >= 0
    expect = []
    for ai, (c2, c3) in zip(a, c, strict=True):
        expect += [-ai, -ai + c2, -ai - c2]
        expect += [-ai + s * r for r in (c2 + c3, c2 - c3) if r >= 0 for s in (1, -1)]
    np.testing.assert_allclose(kinks_1d(*arrays), np.unique(np.round(expect, 12)), atol=1e-12)
    X = g.uniform(-2, 2, (9, 1))
    sym = network_symmetry(*arrays, net.alpha.detach().numpy(), X)
    assert sym["live_units"] == 3 and len(sym["kinks"]) == len(np.unique(np.round(expect, 12)))


def test_trained_units_pinned_by_data_on_exact_reconstruction():
    # paper pins: every feature's mirror passes through a training point (with `all` pins an equally optimal
    # solution may use midpoint mirrors between two points, which no training point pins)
    out = fit(Problem(X4, Y4), FitOptions(depth=3, beta=0.1, pins="paper"))
    S = out["features"]
    net = reconstruct(
        np.array([f["w"] for f in S]),
        np.array([f["a"] for f in S]),
        np.array([f["c"] for f in S]),
        np.array([f["z"] for f in S]),
        out["xi"],
        3,
    )
    arrays = [p.detach().numpy() for p in (net.W, net.b1, net.U, net.B, net.alpha)]
    sym = network_symmetry(*arrays, X4)
    # every unit of a Lasso reconstruction has a training point on its mirror and pinned deeper offsets
    assert sym["share_units_pinned"] == 1.0
    assert max(max(u["offset_to_pinned"]) for u in sym["units"]) < 1e-9
    # its kinks in the data range sit exactly at data points or reflections: far above the chance level
    st = nets_statistics([sym], X4, 3, seed=0)["share_kinks_near"]
    assert st["observed"] == 1.0 and st["null"] < 0.5
    assert st["p_value"] == pytest.approx(st["null"] ** st["n"])  # every one of n kinks near: P(Bin = n)


def test_held_out_points_cover_the_data_box():
    X = np.random.default_rng(1).standard_normal((30, 2))
    P = held_out_points(X, 400, seed=3)
    assert P.shape == (400, 2)
    assert np.all(P.min(0) < X.min(0)) and np.all(P.max(0) > X.max(0))
    np.testing.assert_array_equal(P, held_out_points(X, 400, seed=3))
