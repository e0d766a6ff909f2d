"""The paper's empirical claims, measured (theory.md sections 5-6): trained networks against the Lasso, and
symmetry by depth, on the 1-D set X = (0, 2, 6, 7), y = (0, 0, 3, 3) and on a mirror-symmetric 2-D target.

    python benchmarks/symmetry.py [--seeds 10] [--epochs 3000]

Per data set and depth: the Lasso's guarantee; the trained P / Lasso optimum over the seeds (min, median);
the share of trained-network kinks within 0.1 of a data point or a reflection 2 x_j - x_k (1-D), or the
share of live units whose hyperplane has a training point within 0.1 (2-D); E_H of the Lasso fit about its
top mirror; and E_H of the Lasso fit and of the trained nets (median) about the target's own mirror x1 = 0
(2-D). Nothing here is asserted: these are empirical claims.
"""

from __future__ import annotations

import argparse

import numpy as np

from symcli.fit.compare_nets import NetsOptions
from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.lasso.features import psi
from symcli.nets.training import TrainConfig, predict, train_parallel
from symcli.science.nulls import kink_statistic, kink_tolerance
from symcli.science.symmetry import network_symmetry_of, symmetry_error


def symmetric_2d(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]^2 with a target mirror symmetric about x1 = 0, with nested mirrors at x1 = +-0.5."""
    X = np.random.default_rng(seed).uniform(-1, 1, (n, 2))
    return X, np.abs(np.abs(X[:, 0]) - 0.5) - 0.25 + 0.3 * X[:, 1]


def lasso_function(out: dict):
    """The fitted Lasso function x -> sum_j z_j psi_(c_j)(w_j^T x + a_j) + xi from a fit's features."""
    feats = out["features"]
    W = np.array([f["w"] for f in feats])
    a = np.array([f["a"] for f in feats])
    c = np.array([f["c"] for f in feats]).reshape(len(feats), -1)
    z = np.array([f["z"] for f in feats])
    return lambda P: psi(W @ P.T + a[:, None], c).T @ z + out["xi"]


def run(name: str, X: np.ndarray, y: np.ndarray, beta: float, seeds: int, epochs: int) -> None:
    d = X.shape[1]
    X_e = np.random.default_rng(1).uniform(X.min(0) - 0.1, X.max(0) + 0.1, (2000, d))
    for depth in (2, 3, 4):
        refine = d == 2 and depth < 4  # the exact 2-D sweep at depth 4 is too slow for a benchmark
        opts = FitOptions(depth=depth, beta=beta, refine=refine)
        out = fit(Problem(X, y, X_e, np.zeros(len(X_e))), opts, NetsOptions(count=0))
        width = max(2 * out["nnz"], 20)
        ratios, shares, e_nets = [], [], []
        for s in range(seeds):
            res = train_parallel(X, y, beta, depth, width, "l2", TrainConfig(epochs=epochs, lr=1e-2), seed=s)
            ratios.append(res.objective / out["objective"])
            m = res.model
            sym = network_symmetry_of(m, X, eps=0.1)
            x = X[:, 0]
            kinks = kink_statistic(np.asarray(sym.get("kinks", [])), x, kink_tolerance(x)) if d == 1 else None
            shares.append(kinks["observed"] if d == 1 else sym["share_units_pinned"])
            if d == 2:
                e_nets.append(symmetry_error(lambda P, m=m: predict(m, P), X_e, np.array([1.0, 0.0]), 0.0))
        top = out["symmetry"]["lasso"]["top_mirrors"][0]["E_H"]
        row = (
            f"{name:>10} {depth:>5} {out['guarantee']:>11} {min(ratios):>9.5f} {np.median(ratios):>9.5f} "
            f"{np.median(shares):>10.2f} {top:>10.3f}"
        )
        if d == 2:
            e_lasso = symmetry_error(lasso_function(out), X_e, np.array([1.0, 0.0]), 0.0)
            row += f" {e_lasso:>11.3f} {np.median(e_nets):>11.3f}"
        print(row, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3000)
    args = ap.parse_args()
    print(
        f"{'data':>10} {'depth':>5} {'guarantee':>11} {'min P/L':>9} {'med P/L':>9} {'kink share':>10} "
        f"{'E_H(top)':>10} {'E_H(x1=0) L':>11} {'E_H(x1=0) N':>11}"
    )
    run("1-D", np.array([[0.0], [2.0], [6.0], [7.0]]), np.array([0.0, 0.0, 3.0, 3.0]), 0.1, args.seeds, args.epochs)
    X, y = symmetric_2d()
    run("sym 2-D", X, y, 0.02, args.seeds, args.epochs)


if __name__ == "__main__":
    main()
