"""Reflection-Lasso solvers side by side (issue 6): symcli's streaming solver on the implicit dictionary,
symcli's fast solver, skglm and cvxpy + Clarabel on the materialised matrix, for depths 2 and 3,
d = 1, 2, 3 and growing N (spanned directions; `all` pins for d = 1, `paper` for d >= 2).

    python benchmarks/lasso.py                 # the default grid (tens of minutes on 2 cores)
    python benchmarks/lasso.py --quick         # the two smallest sizes of each (depth, d)
    python benchmarks/lasso.py --goals         # the issues' goal configurations only (N = 1000 takes minutes)
    python benchmarks/lasso.py --depths 3 --dims 2 --sizes 60,100 --methods stream,skglm

    min_(z, xi)  1/2 || A z + xi 1 - y ||^2 + beta ||z||_1

Each (method, problem) runs in a fresh process (peak memory = that process's peak RSS, imports
included; a hard time limit). Columns: build s (directions and, for the materialised methods, the
dictionary), solve s, peak MB, objective, relative duality gap over the full dictionary (computed by
symcli for every method, in float64), and per problem the ratios of solve times to symcli-stream and the
objectives' relative differences. skglm (Lasso, alpha = beta / N, on the centred matrix) is run at
tol 1e-4, 1e-5, ... (warm-started) until its relative gap reaches --gap; the cumulative time is reported
(or the last finished step's, when the time limit stops it). Requires
the `bench` extra (skglm) for the skglm rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

SIZES = {
    (2, 1): [100, 400, 1600],
    (2, 2): [60, 100, 200, 400],
    (2, 3): [20, 40, 60],
    (3, 1): [50, 100, 200],
    (3, 2): [30, 60, 100, 200, 400],
    (3, 3): [15, 25, 40],
}
GOALS = [(3, 2, 60), (3, 2, 100), (3, 2, 400), (3, 2, 1000)]
METHODS = ("stream", "fast", "skglm", "cvxpy")


def problem(N: int, d: int, seed: int):
    """Seeded data: X (N, d) standard normal, y = +-1 labels of a random direction plus noise."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((N, d))
    y = np.where(X @ g.standard_normal(d) + 0.5 * g.standard_normal(N) > 0, 1.0, -1.0)
    return X, y


# ----------------------------------------------------------------------------------------------- children


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(spec: dict) -> dict:
    """One method on one problem, in this (fresh) process."""
    from symcli.lasso.dictionary import build_dictionary, count_candidates
    from symcli.lasso.directions import direction_set
    from symcli.lasso.implicit import ImplicitDictionary
    from symcli.lasso.solvers import primal_dual, solve_cvxpy, solve_fast
    from symcli.lasso.streaming import solve_stream

    depth, d, N, beta, method = spec["depth"], spec["d"], spec["N"], spec["beta"], spec["method"]
    X, y = problem(N, d, spec["seed"])
    pins = "all" if d == 1 else "paper"
    if method == "skglm":  # compile numba outside the clock
        from skglm import Lasso

        Lasso(alpha=0.1, fit_intercept=False).fit(np.random.default_rng(0).standard_normal((20, 30)), np.ones(20))
    t0 = time.perf_counter()
    dirs = direction_set(["spanned"], X, "l2", None, 0)
    out = {"columns": count_candidates(dirs, N, depth, pins)}
    if method == "stream":
        idict = ImplicitDictionary(X, depth, dirs, pins, "l2")
        build = time.perf_counter() - t0
        memory = spec["stream_memory"]  # the rows' sort orders may take what --max-memory leaves, as in fit
        cache = spec["max_memory"] - idict.fixed_bytes(memory) - memory
        st = solve_stream(idict, y, beta, memory=memory, cache_memory=cache)
        res = st.result
        z_info = {"passes": st.passes, "partial_passes": st.partial_passes, "cached_orders": idict.cached_orders}
    else:
        D = build_dictionary(X, depth, dirs, pins, "l2", spec["max_memory"])
        build = time.perf_counter() - t0
        out["columns_distinct"] = D.n_columns
        z_info = {}
        if method == "fast":
            res = solve_fast(D.A, y, beta)
        elif method == "cvxpy":
            res = solve_cvxpy(D.A, y, beta)
        else:
            from skglm import Lasso

            A = D.A - D.A.mean(axis=0)
            yc = y - y.mean()
            # warm-started tolerance ladder; the cumulative time to the first step within --gap (a line per
            # step, so a run stopped by the time limit still reports its last step)
            m = Lasso(alpha=beta / N, fit_intercept=False, warm_start=True, max_iter=1000, max_epochs=100_000)
            seconds = 0.0
            for tol in (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10):
                t1 = time.perf_counter()
                m.tol = tol
                m.fit(A, yc)
                seconds += time.perf_counter() - t1
                z = np.asarray(m.coef_, dtype=float)
                P, gap, xi, _ = primal_dual(D.A, y, z, beta)
                step = dict(out, build_s=build, solve_s=seconds, objective=P, relative_gap=gap / P, tol=tol)
                step.update(nnz=int(np.count_nonzero(z)), peak_mb=_peak_mb())
                print(json.dumps(step), flush=True)
                if gap / P <= spec["gap"]:
                    break
            return step
    out.update(
        build_s=build,
        solve_s=res.seconds,
        objective=res.objective,
        relative_gap=res.relative_gap,
        nnz=res.nnz,
        peak_mb=_peak_mb(),
        **z_info,
    )
    return out


def run_child(spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        lines = (e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or "").strip().splitlines()
        if not lines:
            return {"status": f"timeout {timeout:.0f}s"}
        out = json.loads(lines[-1])  # the last finished step (skglm's ladder)
        out["status"], out["timeout"] = "ok", timeout
        return out
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": f"failed: {last[:80]}"}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["status"], out["wall_s"] = "ok", time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------------------------------- main


def beta_for(depth: int, d: int, N: int, seed: int, args) -> float:
    """Absolute beta: --beta, or --beta-fraction of beta_max over the implicit dictionary."""
    if args.beta_fraction is None:
        return args.beta
    from symcli.lasso.directions import direction_set
    from symcli.lasso.implicit import ImplicitDictionary

    X, y = problem(N, d, seed)
    idict = ImplicitDictionary(
        X, depth, direction_set(["spanned"], X, "l2", None, 0), "all" if d == 1 else "paper", "l2"
    )
    return args.beta_fraction * idict.price(y - y.mean()).max_value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--depths", default="2,3")
    ap.add_argument("--dims", default="1,2,3")
    ap.add_argument("--sizes", help="comma-separated N for every (depth, d) (default: a grid per (depth, d))")
    ap.add_argument("--quick", action="store_true", help="the two smallest default sizes of each (depth, d)")
    ap.add_argument("--goals", action="store_true", help="only the goals: depth 3, d = 2, N = 60, 100, 400, 1000")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--beta", type=float, default=0.05, help="absolute beta (theory.md section 7 uses 0.05)")
    ap.add_argument("--beta-fraction", type=float, help="beta as this fraction of beta_max instead")
    ap.add_argument("--gap", type=float, default=1e-6, help="relative duality gap skglm must reach")
    ap.add_argument("--max-memory", type=float, default=4e9, help="largest materialised build (bytes)")
    ap.add_argument("--stream-memory", type=float, default=256e6, help="streaming chunk bound (bytes)")
    ap.add_argument("--cvxpy-max-entries", type=float, default=8e6, help="largest matrix (columns x N) for cvxpy")
    ap.add_argument("--cvxpy-timeout", type=float, default=600)
    ap.add_argument("--skglm-timeout", type=float, default=240)
    ap.add_argument("--timeout", type=float, default=900, help="time limit of any other run (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="runs per (method, problem); the fastest is kept")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return

    from symcli.lasso.dictionary import count_candidates, dictionary_bytes
    from symcli.lasso.directions import direction_set

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.goals:
        grid = GOALS
    else:
        grid = []
        for depth in map(int, args.depths.split(",")):
            for d in map(int, args.dims.split(",")):
                sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else SIZES[(depth, d)]
                grid += [(depth, d, n) for n in (sizes[:2] if args.quick and not args.sizes else sizes)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {platform.node()} {os.cpu_count()} cores, load {load:.1f}, python {platform.python_version()}, "
        f"numpy {np.__version__}, beta {args.beta_fraction or args.beta:g}{' x beta_max' if args.beta_fraction else ''}"
        f", skglm to relative gap {args.gap:g}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    head = (
        f"{'L':>1} {'d':>1} {'N':>5} {'columns':>11} {'method':>7} {'build s':>8} {'solve s':>8} {'peak MB':>8} "
        f"{'objective':>17} {'rel gap':>8} {'nnz':>4}  note"
    )
    print(head)
    print("-" * len(head))
    summary = []
    for depth, d, N in grid:
        X, _ = problem(N, d, args.seed)
        pins = "all" if d == 1 else "paper"
        dirs = direction_set(["spanned"], X, "l2", None, 0) if math.comb(N, d) <= 5e6 else None
        cols = count_candidates(dirs, N, depth, pins) if dirs is not None else math.comb(N, d) * N ** (depth - 2)
        fits = dirs is not None and dictionary_bytes(dirs, N, depth, pins) <= args.max_memory
        beta = beta_for(depth, d, N, args.seed, args)
        rows = {}
        for method in methods:
            if method != "stream" and not fits:
                note = f"skipped: over --max-memory {args.max_memory / 1e9:g} GB materialised"
                _blank(depth, d, N, cols, method, note)
                continue
            if method == "cvxpy" and cols * N > args.cvxpy_max_entries:
                note = f"skipped: over --cvxpy-max-entries {args.cvxpy_max_entries:g}"
                _blank(depth, d, N, cols, method, note)
                continue
            spec = dict(
                method=method, depth=depth, d=d, N=N, seed=args.seed, beta=beta, gap=args.gap,
                max_memory=args.max_memory, stream_memory=args.stream_memory,
            )  # fmt: skip
            timeout = {"cvxpy": args.cvxpy_timeout, "skglm": args.skglm_timeout}.get(method, args.timeout)
            runs = [run_child(spec, timeout) for _ in range(args.repeat)]
            ok = [r for r in runs if r["status"] == "ok"]
            r = min(ok, key=lambda r: r["solve_s"]) if ok else runs[0]
            rows[method] = r
            if r["status"] != "ok":
                _blank(depth, d, N, cols, method, r["status"])
                continue
            note = f"tol {r['tol']:g}" if "tol" in r else _passes(r) if "passes" in r else ""
            if "timeout" in r:
                note += f", stopped at the {r['timeout']:.0f} s limit (next tol running)"
            if len(ok) > 1:
                times = ", ".join(f"{x['solve_s']:.2f}" for x in ok)
                note += f" (fastest of {len(ok)}: {times})"
            print(
                f"{depth:>1} {d:>1} {N:>5} {cols:>11,} {method:>7} {r['build_s']:>8.2f} {r['solve_s']:>8.2f} "
                f"{r['peak_mb']:>8.0f} {r['objective']:>17.12g} {r['relative_gap']:>8.1e} {r['nnz']:>4}  {note}",
                flush=True,
            )
        s = rows.get("stream")
        if s and s["status"] == "ok":
            parts = []
            for m in ("fast", "skglm", "cvxpy"):
                o = rows.get(m)
                if o and o["status"] == "ok":
                    rel = abs(o["objective"] - s["objective"]) / max(abs(s["objective"]), 1e-300)
                    tot = (o["build_s"] + o["solve_s"]) / (s["build_s"] + s["solve_s"])
                    parts.append(
                        f"{m}/stream solve {o['solve_s'] / s['solve_s']:.1f}x, build+solve {tot:.1f}x "
                        f"(objective rel diff {rel:.1e})"
                    )
            if parts:
                print(f"    ratios L={depth} d={d} N={N}: " + "; ".join(parts))
            summary.append((depth, d, N, rows))
    goals(summary)


def goals(summary) -> None:
    """The issue's goals, read off the rows above."""
    found = {(L, d, N): rows for L, d, N, rows in summary}
    lines = []
    r = found.get((3, 2, 60))
    if r and r["stream"]["status"] == "ok" and r.get("cvxpy", {}).get("status") == "ok":
        s, c = r["stream"], r["cvxpy"]
        ratio = c["solve_s"] / s["solve_s"]
        rel = abs(c["objective"] - s["objective"]) / s["objective"]
        ok = ratio >= 50 and rel <= 1e-6
        lines.append(f"N=60 d=2 L=3: cvxpy/stream {ratio:.0f}x (goal >= 50x), objective rel diff {rel:.1e}: {_met(ok)}")
        f = r.get("fast", {})
        if f.get("status") == "ok":
            tot = (c["build_s"] + c["solve_s"]) / (f["build_s"] + f["solve_s"])
            lines.append(f"  (materialised: cvxpy / fast, build + solve each, {tot:.0f}x)")
    r = found.get((3, 2, 100))
    if r and r["stream"]["status"] == "ok" and r.get("skglm", {}).get("status") == "ok":
        s, k = r["stream"], r["skglm"]
        ratio = k["solve_s"] / s["solve_s"]
        ok = ratio >= 2 and s["relative_gap"] <= k["relative_gap"]
        lines.append(
            f"N=100 d=2 L=3: skglm/stream {ratio:.1f}x (goal >= 2x) at gaps stream {s['relative_gap']:.1e} <= skglm "
            f"{k['relative_gap']:.1e}: {_met(ok)}"
        )
    r = found.get((3, 2, 400))
    if r and r["stream"]["status"] == "ok":
        s = r["stream"]
        total = s["build_s"] + s["solve_s"]
        ok = s["relative_gap"] <= 1e-6 and total < 600 and s["peak_mb"] < 4000
        lines.append(
            f"N=400 d=2 L=3 ({s['columns']:,} columns): gap {s['relative_gap']:.1e} (<= 1e-6), {total:.0f} s (< 600), "
            f"peak {s['peak_mb']:.0f} MB (< 4000): {_met(ok)}"
        )
    r = found.get((3, 2, 1000))
    if r and r["stream"]["status"] == "ok":
        s = r["stream"]
        total = s["build_s"] + s["solve_s"]
        ok = s["relative_gap"] <= 1e-6 and total < 300
        lines.append(
            f"N=1000 d=2 L=3 ({s['columns']:,} columns): gap {s['relative_gap']:.1e} (<= 1e-6), {total:.0f} s (< 300), "
            f"{_passes(s)}, peak {s['peak_mb']:.0f} MB: {_met(ok)}"
        )
    if lines:
        print("\n# goals\n" + "\n".join(lines))


def _passes(r: dict) -> str:
    """The stream row's pricing passes: over every column, and over some pairs only (levels, hot pairs)."""
    cached = ", rows sorted once" if r.get("cached_orders") else ""
    return f"{r['passes']} full + {r.get('partial_passes', 0)} partial pricing passes{cached}"


def _blank(depth: int, d: int, N: int, cols: int, method: str, note: str) -> None:
    print(f"{depth:>1} {d:>1} {N:>5} {cols:>11,} {method:>7} " + " " * 58 + f" {note}", flush=True)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
