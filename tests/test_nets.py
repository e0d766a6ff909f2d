"""Networks beside the Lasso: stationarity of the reconstruction, training from it and from random starts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import random_problem
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.numerics import rel_diff
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import direction_set
from symcli.lasso.network import network_objective, reconstruct
from symcli.lasso.solvers import beta_max, solve
from symcli.nets.training import MLP, TrainConfig, stationarity, train, train_parallel


def _lasso_net(X, y, depth, pins, frac=0.05, directions=("spanned",)):
    D = build_dictionary(X, depth, direction_set(list(directions), X, "l2", None, 0), pins, "l2", 4e9)
    beta = frac * beta_max(D.A, y)
    res = solve(D.A, y, beta)
    S = np.flatnonzero(res.z)
    return reconstruct(D.directions.W[D.direction[S]], D.a[S], D.c[S], res.z[S], res.xi, depth), beta, res


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reconstruction_is_stationary_and_adam_does_not_go_below(depth, seed):
    X, y = random_problem(40 + seed, 8, 1, labels=seed != 2)
    net, beta, res = _lasso_net(X, y, depth, "all")
    assert stationarity(net, X, y, beta) < 1e-6
    out = train(net, X, y, beta, TrainConfig(epochs=300, lr=1e-3, patience=1000), seed=seed)
    assert out.objective >= res.objective * (1 - 1e-6)


def test_stationarity_detects_a_suboptimal_network():
    # the `paper` dictionary in 2-D is not exact: its solution is not stationary for the network
    X, y = random_problem(3, 8, 2)
    net, beta, res = _lasso_net(X, y, 3, "paper")
    assert stationarity(net, X, y, beta) > 1e-3
    # and a perturbed exact reconstruction is not stationary either
    X1, y1 = random_problem(4, 8, 1)
    net1, beta1, _ = _lasso_net(X1, y1, 3, "all")
    with torch.no_grad():
        net1.alpha.mul_(1.1)
    assert stationarity(net1, X1, y1, beta1) > 1e-3


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "lbfgs"])
def test_random_starts_do_not_beat_the_exact_lasso(optimizer):
    X, y = random_problem(11, 8, 1)
    _, beta, res = _lasso_net(X, y, 3, "all")
    cfg = TrainConfig(
        optimizer=optimizer, epochs=300 if optimizer != "lbfgs" else 60, lr=1e-2 if optimizer != "lbfgs" else 1.0
    )
    run = train_parallel(X, y, beta, 3, 20, "l2", cfg, seed=0)
    assert run.objective >= res.objective * (1 - 1e-6)
    assert run.objective < 0.5 * np.sum((y - y.mean()) ** 2)  # it did learn something
    # training is reproducible from the seed
    again = train_parallel(X, y, beta, 3, 20, "l2", cfg, seed=0)
    assert again.objective == run.objective


def test_minibatch_float32_and_baseline_objective():
    X, y = random_problem(2, 40, 2)
    net = MLP(2, 8, 3)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    with torch.no_grad():
        r = net(Xt) - yt
        by_hand = 0.5 * float(r @ r) + 0.05 * sum(
            float((p**2).sum()) for n, p in net.named_parameters() if "weight" in n
        )
        assert float(net.objective(Xt, yt, 0.1)) == pytest.approx(by_hand, rel=1e-12)
    out = train(net, X, y, 0.1, TrainConfig(epochs=50, batch_size=8, dtype="float32", device="cpu"), seed=0)
    assert np.isfinite(out.objective) and out.history[-1] <= out.history[0]
    assert next(net.parameters()).dtype == torch.float32


def test_reconstructed_objective_equals_lasso_in_float64():
    X, y = random_problem(8, 8, 1)
    net, beta, res = _lasso_net(X, y, 4, "all")
    assert rel_diff(network_objective(net, X, y, beta), res.objective) < 1e-9


def test_fit_with_nets_reports_runs_and_symmetry(tmp_path):
    path = tmp_path / "p.npz"
    X = np.array([[0.0], [2.0], [6.0], [7.0]])
    np.savez(path, X=X, y=np.array([0.0, 0.0, 3.0, 3.0]))
    res = CliRunner().invoke(
        app,
        [
            "fit",
            "--input",
            str(path),
            "--depth",
            "3",
            "--beta",
            "0.1",
            "--nets",
            "2",
            "--epochs",
            "200",
            "--baseline",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["nets"]) == 2 and len(out["baseline"]) == 2
    for run in out["nets"] + out["baseline"]:
        assert {"seed", "objective", "ratio_to_lasso", "time_s"} <= run.keys()
        assert run["ratio_to_lasso"] == pytest.approx(run["objective"] / out["objective"], rel=1e-12)
    assert out["contradictions"] == [r for r in out["nets"] if r["ratio_to_lasso"] < 1 - 1e-6]
    assert {"lasso", "nets"} <= out["symmetry"].keys()
    assert len(out["symmetry"]["nets"]) == 2


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--nets", "2", "--width", "0"], "width '0' is neither"),
        (["--nets", "2", "--epochs", "0"], "--epochs"),
        (["--nets", "2", "--optimizer", "sgd"], "optimizer"),
        (["--nets", "2", "--lr", "-1"], "--lr"),
        (["--nets", "-1"], "--nets"),
        (["--nets", "1", "--device", "tpu"], "device"),
    ],
)
def test_bad_training_options_exit_2(tmp_path, args, hint):
    path = tmp_path / "p.npz"
    np.savez(path, X=np.array([[0.0], [2.0], [6.0], [7.0]]), y=np.array([0.0, 0.0, 3.0, 3.0]))
    res = CliRunner().invoke(app, ["fit", "--input", str(path), "--depth", "3", "--beta", "0.1", *args])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and hint in lines[0]
