"""The exact 2-D and 3-D certificates against the solve, and --refine ending certified (issue 13, goals 1 and 2).

    python benchmarks/certificate.py [--budget 120] [--sizes 30,60,100,200,400] [--refine-seeds 2]
                                     [--refine-sizes 2:30,3:30,...] [--sizes-3d 10,20,40] [--skip-2d]

For each depth 2, 3, 4 and N (d = 2, seeded +-1 labels, beta = 0.05 beta_max, `l2`, spanned directions and
paper pins; the streaming solver where the dictionary is too big): one `fit`, its solve seconds and, in the
same run, the seconds of its exact certificate (the angle sweep, symcli/lasso/sweep.py) with their ratio. A
size is skipped, with the reason, when its sweep is over SWEEP_BUDGET (no exact certificate) or its estimated
seconds (breakpoints x the rate measured first) are over --budget. The fit's second certificate, the
continuous beta_max at lambda = y - mean(y), is not run here (it costs as much again). Then --refine fits at
N = 30, 60 and 100 (depths 2, 3, 4; --refine-sizes, depth:N): the share ending `certified`. Then d = 3 (seeded
+-1 labels, beta = 0.05 beta_max, `l2`): for depths 2, 3 and each of --sizes-3d, one fit with its solve and
exact certificate seconds (the great-circle sweeps, symcli/lasso/sphere.py; sizes over SPHERE_BUDGET are
skipped), and one --refine fit: whether it ends `certified`, its rounds, its certificates' seconds and its own.
The machine and its load are printed first and last.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import symcli.fit.lasso_fit as fit_module
from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.lasso.certificate import SPHERE_BUDGET, SWEEP_BUDGET, Certificate
from symcli.lasso.sphere import n_sphere_entries
from symcli.lasso.sweep import n_entries, sweep_all


def problem(N: int, seed: int, d: int = 2) -> Problem:
    g = np.random.default_rng(seed)
    X = g.standard_normal((N, d))
    return Problem(X, np.where(g.standard_normal(N) > 0, 1.0, -1.0))


def rate() -> float:
    """Seconds per swept breakpoint on this machine now (depth 4, N = 20: 1e7 breakpoints)."""
    g = np.random.default_rng(0)
    X, lam = g.standard_normal((20, 2)), g.standard_normal(20)
    sweep_all(X, lam - lam.mean(), 4, "l2")  # compiles the sweep (sweep_kernel.py) unless cached
    t = time.perf_counter()
    sweep_all(X, lam - lam.mean(), 4, "l2")
    return (time.perf_counter() - t) / n_entries(4, 20)


def timed_fit(p: Problem, depth: int, refine: bool = False):
    """fit() with its certificates timed; without --refine the second one (continuous beta_max) is skipped."""
    calls, real = [], fit_module.certify
    yc = p.y - p.y.mean()

    def spy(X, lam, beta, *args, **kw):
        if not refine and np.array_equal(lam, yc):
            return Certificate(float("nan"), float("nan"), False, "skipped (benchmark)", [])
        t = time.perf_counter()
        cert = real(X, lam, beta, *args, **kw)
        calls.append((time.perf_counter() - t, cert))
        return cert

    fit_module.certify = spy
    try:
        t = time.perf_counter()
        out = fit(p, FitOptions(depth=depth, beta=0.05, beta_is_fraction=True, refine=refine))
        return out, calls, time.perf_counter() - t
    finally:
        fit_module.certify = real


def two_d(args) -> None:
    """d = 2: solve vs exact certificate seconds per depth and N, then --refine ending certified."""
    spb = rate()
    print(f"sweep rate: {spb * 1e9:.0f} ns per breakpoint; budget {args.budget:g} s per certificate\n")
    cols = ("columns", "breakpoints", "solve s", "cert s", "cert/solve")
    print(f"{'depth':>5} {'N':>4} {cols[0]:>12} {cols[1]:>12} {cols[2]:>8} {cols[3]:>8} {cols[4]:>10}  result")
    for depth in (2, 3, 4):
        for N in (int(n) for n in args.sizes.split(",")):
            entries = n_entries(depth, N)
            head = f"{depth:>5} {N:>4}"
            if entries > SWEEP_BUDGET:
                print(f"{head}  skipped: {entries:.2e} breakpoints, over SWEEP_BUDGET {SWEEP_BUDGET:.2g} (not exact)")
                continue
            if entries * spb > args.budget:
                print(f"{head}  skipped: estimated {entries * spb:.0f} s ({entries:.2e} breakpoints), over --budget")
                continue
            out, calls, _ = timed_fit(problem(N, 0), depth)
            cert_s, cert = calls[0]
            print(
                f"{head} {out['n_columns']:>12,} {entries:>12.3g} {out['solve_s']:>8.2f} {cert_s:>8.2f} "
                f"{cert_s / out['solve_s']:>10.2f}  {cert.method}, certificate {cert.certificate:.3g}"
            )
    print("\n--refine: fits ending certified")
    print(f"{'depth':>5} {'N':>4} {'certified':>10} {'rounds':>14} {'certificates s':>15} {'fit s':>8}")
    for depth, N in (map(int, row.split(":")) for row in args.refine_sizes.split(",")):
        done, rounds, cert_s, fit_s = 0, [], 0.0, 0.0
        for seed in range(args.refine_seeds):
            out, calls, total = timed_fit(problem(N, 100 + seed), depth, refine=True)
            done += out["guarantee"] == "certified"
            rounds.append(out["refine_rounds"])
            cert_s += sum(c[0] for c in calls)
            fit_s += total
        n = args.refine_seeds
        print(f"{depth:>5} {N:>4} {done:>4}/{n:<5} {str(rounds):>14} {cert_s / n:>15.1f} {fit_s / n:>8.1f}")


def three_d(sizes: str) -> None:
    """d = 3: solve vs exact certificate seconds, and --refine ending certified, for depths 2 and 3."""
    print("\nd = 3: solve vs exact certificate (sphere sweeps), and --refine")
    cols = ("columns", "entries", "solve s", "cert s", "cert/solve", "certificate", "refine", "rounds", "certs s")
    print(f"{'depth':>5} {'N':>4} " + " ".join(f"{c:>11}" for c in cols + ("fit s",)))
    for depth in (2, 3):
        for N in (int(n) for n in sizes.split(",")):
            entries = n_sphere_entries(depth, N)
            head = f"{depth:>5} {N:>4}"
            if entries > SPHERE_BUDGET:
                print(f"{head}  skipped: {entries:.2e} entries, over SPHERE_BUDGET {SPHERE_BUDGET:.0e} (not exact)")
                continue
            out, calls, _ = timed_fit(problem(N, 0, 3), depth)
            cert_s, cert = calls[0]
            ref, rcalls, total = timed_fit(problem(N, 0, 3), depth, refine=True)
            print(
                f"{head} {out['n_columns']:>11,} {entries:>11.3g} {out['solve_s']:>11.2f} {cert_s:>11.2f} "
                f"{cert_s / out['solve_s']:>11.2f} {cert.certificate:>11.3g} {ref['guarantee']:>11} "
                f"{ref['refine_rounds']:>11} {sum(c[0] for c in rcalls):>11.1f} {total:>11.1f}  {cert.method}"
            )


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = platform.processor() or platform.machine()
    return f"{platform.platform()}, {cpu}: os.cpu_count() {os.cpu_count()} ({cpus} usable), load {load}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=120.0, help="seconds one certificate may be estimated to take")
    ap.add_argument("--sizes", default="30,60,100,200,400")
    ap.add_argument("--refine-seeds", type=int, default=2)
    ap.add_argument("--refine-sizes", default="2:30,3:30,4:30,2:60,3:60,4:60,2:100,3:100,4:100", help="depth:N rows")
    ap.add_argument("--sizes-3d", default="10,20,40")
    ap.add_argument("--skip-2d", action="store_true", help="only the d = 3 rows")
    args = ap.parse_args()
    t_start = time.perf_counter()
    print(f"machine: {machine()}")
    if not args.skip_2d:
        two_d(args)
    three_d(args.sizes_3d)
    print(f"\nmachine at the end: {machine()}; {time.perf_counter() - t_start:.0f} s in all")


if __name__ == "__main__":
    main()
