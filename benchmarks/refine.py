"""How far the paper's reflection planes are from exact in 2-D: --refine (column generation with the exact
angle-sweep certificate) against the `spanned` dictionary with `paper` pins, on seeded random problems.

    python benchmarks/refine.py [--instances 20] [--n 10]

Prints per depth and norm: instances ending certified, and the median / max relative objective decrease
(spanned - refined) / spanned.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=20)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--beta", type=float, default=0.05)
    args = ap.parse_args()
    print(f"{'depth':>5} {'norm':>4} {'certified':>10} {'median decrease':>16} {'max decrease':>13} {'s/inst':>7}")
    for depth in (2, 3):
        for norm in ("l2", "l1"):
            dec, cert, t0 = [], 0, time.perf_counter()
            for seed in range(args.instances):
                g = np.random.default_rng(seed)
                X = g.standard_normal((args.n, 2))
                y = np.where(g.standard_normal(args.n) > 0, 1.0, -1.0)
                out = fit(Problem(X, y), FitOptions(depth=depth, beta=args.beta, norm=norm, refine=True))
                cert += out["guarantee"] == "certified"
                dec.append(1 - out["objective"] / out["objective_before_refine"])
            sec = (time.perf_counter() - t0) / args.instances
            print(
                f"{depth:>5} {norm:>4} {cert:>4}/{args.instances:<5} {np.median(dec):>15.2%} {np.max(dec):>12.2%} "
                f"{sec:>7.2f}"
            )


if __name__ == "__main__":
    main()
