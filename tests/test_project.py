"""Projections: fitted on the training split only, the same map for every split, exact storage round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symcli.core.errors import UserError
from symcli.projections import KINDS, Projection, project_splits


def splits(seed: int = 0, D: int = 12):
    """Train (60, D) with a dominant direction and a shifted test split (25, D)."""
    g = np.random.default_rng(seed)
    scales = np.linspace(3.0, 0.5, D)
    train = g.standard_normal((60, D)) * scales + 1.0
    test = g.standard_normal((25, D)) * scales[::-1] - 2.0
    return train, test


def test_pca_is_fitted_on_train_only():
    train, test = splits()
    proj, out = project_splits({"train": train, "test": test}, "pca", 3)
    assert np.allclose(proj.center, train.mean(axis=0))
    evals, evecs = np.linalg.eigh(np.cov(train.T))
    top = evecs[:, ::-1][:, :3]
    assert np.allclose(np.abs(top.T @ proj.W), np.eye(3), atol=1e-8)  # train covariance eigenvectors
    assert np.allclose(out["test"], (test - train.mean(axis=0)) @ proj.W)
    # another test split changes nothing in the map; fitting on train + test would give another map
    _, out2 = project_splits({"train": train, "test": test * 5.0}, "pca", 3)
    assert np.array_equal(out2["train"], out["train"])
    both = Projection("pca", 3).fit(np.vstack([train, test]))
    assert not np.allclose(both.center, proj.center)
    assert proj.n_fit == 60
    assert np.allclose(out["train"].mean(axis=0), 0.0, atol=1e-10)
    assert not np.allclose(out["test"].mean(axis=0), 0.0, atol=1e-3)


def test_standardisation_uses_train_statistics():
    train, test = splits(1)
    proj, out = project_splits({"train": train, "test": test}, "none", None, standardize=True)
    assert np.allclose(out["train"].mean(axis=0), 0.0, atol=1e-10)
    assert np.allclose(out["train"].std(axis=0), 1.0)
    assert np.allclose(out["test"], (test - train.mean(axis=0)) / train.std(axis=0))
    constant = np.hstack([train, np.full((60, 1), 4.0)])
    z = Projection("none", standardize=True).fit_transform(constant)
    assert np.all(np.isfinite(z)) and np.allclose(z[:, -1], 0.0)


def test_random_maps_are_seeded_gaussian_and_norm_preserving_on_average():
    train, _ = splits(2, D=40)
    a = Projection("random", 20, seed=5).fit(train)
    b = Projection("random", 20, seed=5).fit(train * 3.0)  # the map does not depend on the data
    c = Projection("random", 20, seed=6).fit(train)
    assert np.array_equal(a.W, b.W) and not np.allclose(a.W, c.W)
    assert a.W.shape == (40, 20) and abs(a.W.var() * 20 - 1.0) < 0.2
    assert np.allclose(a.transform(train), train @ a.W)
    big = Projection("random", 400, seed=0).fit(np.zeros((1, 1000)))
    x = np.random.default_rng(0).standard_normal((50, 1000))
    ratio = np.linalg.norm(big.transform(x), axis=1) / np.linalg.norm(x, axis=1)
    assert abs(ratio.mean() - 1.0) < 0.05


def test_sparse_sign_has_s_signed_entries_per_input_coordinate():
    train, _ = splits(3, D=30)
    p = Projection("sparse-sign", 10, seed=1, sparsity=3).fit(train)
    nnz = (p.W != 0).sum(axis=1)
    assert np.all(nnz == 3)
    assert np.allclose(np.abs(p.W[p.W != 0]), 1 / np.sqrt(3))
    assert np.allclose((p.W**2).sum(axis=1), 1.0)  # every input coordinate keeps its norm
    assert np.array_equal(Projection("sparse-sign", 10, seed=1, sparsity=3).fit(train[:5]).W, p.W)
    assert np.all((Projection("sparse-sign", 2, sparsity=4).fit(train).W != 0).sum(axis=1) == 2)


@pytest.mark.parametrize("kind", KINDS)
def test_storage_round_trips_exactly(kind, tmp_path):
    train, test = splits(4)
    dim = None if kind == "none" else 4
    y = train[:, 0] - 2.0 * train[:, 5]  # targets: used by pls only
    p = Projection(kind, dim, standardize=True, seed=9).fit(train, y)
    q = Projection.from_dict(json.loads(json.dumps(p.to_dict())))
    p.save(tmp_path / "proj.npz")
    r = Projection.load(tmp_path / "proj.npz")
    for other in (q, r):
        assert np.array_equal(other.transform(test), p.transform(test))
        assert (other.kind, other.dim, other.seed, other.standardize, other.n_fit) == (kind, p.dim, 9, True, 60)


def test_bad_settings_are_user_errors():
    train, _ = splits()
    with pytest.raises(UserError, match="projection must be one of"):
        Projection("umap", 2)
    with pytest.raises(UserError, match="needs a target dimension"):
        Projection("pca")
    with pytest.raises(UserError, match="needs at least 20 training rows"):
        Projection("pca", 20).fit(train[:10])
    with pytest.raises(UserError, match="exceeds the input dimension"):
        Projection("random", 13).fit(train)
    with pytest.raises(UserError, match="not fitted"):
        Projection("pca", 2).transform(train)
    with pytest.raises(UserError, match=r"expects arrays \(n, 12\)"):
        Projection("pca", 2).fit(train).transform(train[:, :5])
    with pytest.raises(UserError, match="no 'train' split"):
        project_splits({"test": train}, "pca", 2)


def planted(n: int, D: int = 50, seed: int = 0, strength: float = 2.0):
    """X (n, D) = N(0, 1) noise + y * strength * v with +-1 labels y (n,) and a unit direction v (D,)."""
    g = np.random.default_rng(seed)
    v = g.standard_normal(D)
    v /= np.linalg.norm(v)
    y = np.where(g.random(n) < 0.5, 1.0, -1.0)
    return g.standard_normal((n, D)) + np.outer(y, strength * v), y, v


def test_pls_recovers_a_planted_label_direction():
    X, y, v = planted(200)
    p = Projection("pls", 3).fit(X, y)
    assert p.W.shape == (50, 3) and p.n_fit == 200
    cos = abs(p.W[:, 0] @ v) / np.linalg.norm(p.W[:, 0])
    assert cos > 0.9
    pca_cos = abs(Projection("pca", 1).fit(X).W[:, 0] @ v)  # unsupervised: the label direction is one of 50
    assert cos > pca_cos
    # the first pls direction is X_c^T y normalised; its score separates the classes
    Xc = X - X.mean(axis=0)
    w1 = Xc.T @ (y - y.mean())
    assert np.allclose(p.W[:, 0], w1 / np.linalg.norm(w1) * np.sign(p.W[:, 0] @ w1))
    z = p.transform(X)[:, 0] * np.sign(p.W[:, 0] @ v)
    assert np.mean(np.sign(z) == y) > 0.95
    assert all(np.abs(c).argmax() == c.argmax() for c in p.W.T)  # each column's largest entry is positive


def test_pls_matches_scikit_learn_and_gives_orthogonal_scores():
    from sklearn.cross_decomposition import PLSRegression

    g = np.random.default_rng(3)
    X = g.standard_normal((40, 20)) @ g.standard_normal((20, 20))
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + g.standard_normal(40)
    p = Projection("pls", 4).fit(X, y)
    R = PLSRegression(4, scale=False).fit(X, y).x_rotations_
    assert np.allclose(np.abs(p.W), np.abs(R), atol=1e-10)
    Z = p.transform(X)
    gram = Z.T @ Z
    assert np.allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-8 * gram.max())
    assert np.allclose(Z.mean(axis=0), 0.0, atol=1e-10)


def test_pls_transforms_held_out_rows_with_the_train_fit_only():
    X, y, _ = planted(80, D=30, seed=1)
    test = np.random.default_rng(9).standard_normal((25, 30)) * 3.0 + 1.0
    proj, out = project_splits({"train": X, "test": test}, "pls", 2, y=y)
    assert np.allclose(proj.center, X.mean(axis=0))
    assert np.allclose(out["test"], (test - X.mean(axis=0)) @ proj.W)
    _, out2 = project_splits({"train": X, "test": test * 5.0}, "pls", 2, y=y)
    assert np.array_equal(out2["train"], out["train"])
    both = Projection("pls", 2).fit(np.vstack([X, test]), np.concatenate([y, np.ones(25)]))
    assert not np.allclose(both.W, proj.W)
    assert not np.allclose(Projection("pls", 2).fit(X, -y[::-1]).W, proj.W)  # the map depends on the targets
    # standardised: the same pls on (X - mean) / sd
    s = Projection("pls", 2, standardize=True).fit(X, y)
    ref = Projection("pls", 2).fit((X - X.mean(axis=0)) / X.std(axis=0), y)
    assert np.allclose(s.transform(test), ref.transform((test - X.mean(axis=0)) / X.std(axis=0)))


def test_pls_round_trips_and_other_kinds_ignore_targets(tmp_path):
    X, y, _ = planted(60, D=12, seed=2)
    p = Projection("pls", 3, seed=4).fit(X, y)
    p.save(tmp_path / "pls.npz")
    for q in (Projection.load(tmp_path / "pls.npz"), Projection.from_dict(json.loads(json.dumps(p.to_dict())))):
        assert (q.kind, q.dim, q.n_fit) == ("pls", 3, 60)
        assert np.array_equal(q.W, p.W) and np.array_equal(q.center, p.center)
        assert np.array_equal(q.transform(X), p.transform(X))
    for kind in ("pca", "random", "sparse-sign"):
        assert np.array_equal(Projection(kind, 3, seed=1).fit(X, y).W, Projection(kind, 3, seed=1).fit(X).W)


def test_pls_needs_targets_and_enough_rows():
    X, y, _ = planted(10, D=12)
    with pytest.raises(UserError, match="pls is supervised: fit it with the training targets y"):
        Projection("pls", 2).fit(X)
    with pytest.raises(UserError, match="pls is supervised"):
        project_splits({"train": X}, "pls", 2)
    with pytest.raises(UserError, match=r"targets of shape \(10,\)"):
        Projection("pls", 2).fit(X, y[:5])
    with pytest.raises(UserError, match="targets that vary"):
        Projection("pls", 2).fit(X, np.ones(10))
    with pytest.raises(UserError, match="needs at least 11 training rows"):
        Projection("pls", 10).fit(X, y)
    assert Projection("pls", 9).fit(X, y).W.shape == (12, 9)  # d = n - 1 works
    with pytest.raises(UserError, match="span only 1 dimension"):
        Projection("pls", 2).fit(np.outer(y, np.arange(1.0, 13.0)), y)  # rank 1 after centring
