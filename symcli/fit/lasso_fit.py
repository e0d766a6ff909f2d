"""One Lasso fit end to end: dictionary -> solve -> certificate (-> column generation) -> network.

The returned dict is the `symcli fit --json` object.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import dataclass, field, replace

import numpy as np

from symcli.core.errors import UserError
from symcli.core.numerics import BETA_MIN_FRACTION, CERTIFICATE_TOL, REFINE_TOL, SEED_MAX, SUPPORT_TOL
from symcli.core.sizes import human_bytes
from symcli.fit.compare_nets import NetsOptions, check_training_memory, compare_nets
from symcli.fit.problem import Problem
from symcli.lasso.certificate import Certificate, certify, exact_certificate, hot_violators
from symcli.lasso.dictionary import PIN_RULES, Dictionary, build_dictionary
from symcli.lasso.directions import USER_DIRECTION_SETS, direction_set_bytes, with_fallback
from symcli.lasso.face import share_range
from symcli.lasso.features import FAMILIES, family_set_name, psi
from symcli.lasso.solvers import SOLVERS, LassoResult, beta_max, check_beta, residual, solve
from symcli.lasso.streaming import plan_streaming
from symcli.science.baselines import accuracy, held_out_scores
from symcli.science.evidence import lasso_statistics
from symcli.science.symmetry import held_out_points, lasso_function, lasso_symmetry

DEPTHS = (2, 3, 4)
NORMS = ("l2", "l1")
GUARANTEES = ("exact", "certified", "upper-bound")


@dataclass
class FitOptions:
    """Options of one fit. pins None: `all` for d = 1, `paper` for d >= 2 (theory.md section 3).
    beta_is_fraction: beta is a fraction of beta_max of the built dictionary (resolved in fit())."""

    depth: int
    beta: float
    beta_is_fraction: bool = False
    directions: list[str] = field(default_factory=lambda: ["spanned"])
    pins: str | None = None
    norm: str = "l2"
    solver: str = "fast"
    refine: bool | None = False  # None: where the certificate is exact (exact_certificate) and nothing is ablated
    max_memory: float = 4e9
    stream_memory: float | None = None  # chunk bound of the streaming solver (None: max_memory / 4, <= 256 MB)
    n_directions: int | None = None
    seed: int = 0
    max_refine_rounds: int = 100
    families: tuple[str, ...] = FAMILIES  # the ablation: columns of these families only (beta_max of all)

    @property
    def ablated(self) -> bool:
        """Whether some family of the depth's dictionary is left out."""
        return set(self.families) != set(FAMILIES)

    def validate(self) -> None:
        """UserError for any option out of range; needs no data (run before anything is read or written)."""
        if self.depth not in DEPTHS:
            raise UserError(f"unsupported depth {self.depth}; choose 2, 3 or 4")
        if not np.isfinite(self.beta) or self.beta <= 0:
            raise UserError(f"beta must be a positive number, got {self.beta}; pass e.g. --beta 0.05")
        if self.beta < np.finfo(np.float64).tiny:
            raise UserError(f"beta {self.beta:g} is subnormal (below 2.2e-308); pass e.g. --beta 0.05")
        if self.beta_is_fraction and self.beta < BETA_MIN_FRACTION:
            raise UserError(
                f"beta fraction {self.beta:g} is below {BETA_MIN_FRACTION:g} of beta_max, where the Lasso is "
                "interpolation up to rounding; pass a larger fraction"
            )
        if not self.directions:
            raise UserError("no direction set given; pass e.g. --directions spanned or --directions spanned,axis")
        unknown = [s for s in self.directions if s not in USER_DIRECTION_SETS]
        if unknown:
            raise UserError(
                f"unknown direction set {unknown[0]!r}; choose from {', '.join(USER_DIRECTION_SETS)} (comma-separated)"
            )
        if not 0 <= self.seed <= SEED_MAX:
            raise UserError(f"--seed must be an integer from 0 to {SEED_MAX}, got {self.seed}")
        if self.max_refine_rounds < 0:
            raise UserError(f"max_refine_rounds must be 0 or more, got {self.max_refine_rounds}")
        if self.pins is not None and self.pins not in PIN_RULES:
            raise UserError(f"unknown pin rule {self.pins!r}; choose paper or all")
        if self.norm not in NORMS:
            raise UserError(f"unknown first-layer norm {self.norm!r}; choose l2 or l1")
        if self.solver not in SOLVERS:
            raise UserError(f"unknown solver {self.solver!r}; choose fast, cvxpy or stream")
        if self.stream_memory is not None and not (0 < self.stream_memory < math.inf):
            raise UserError(f"--stream-memory must be a positive finite size, e.g. 256MB, got {self.stream_memory:g}")
        if not (0 < self.max_memory < math.inf):
            raise UserError(f"--max-memory must be a positive finite size, e.g. 4GB, got {self.max_memory:g}")
        if self.n_directions is not None and self.n_directions < 1:
            raise UserError(f"--n-directions must be at least 1, got {self.n_directions}")
        if not self.families or any(f not in FAMILIES for f in self.families):
            raise UserError(f"unknown feature families {self.families}; choose from {', '.join(FAMILIES)}")
        if self.ablated and self.refine is True:
            raise UserError(
                "--refine adds the full dictionary's best features, which undoes --families; drop one of them "
                "(an ablated fit is measured against the full dictionary in its `ablation` entry)"
            )


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None


def guarantee(cert: Certificate, d: int, pin_rule: str, refined: bool, converged: bool) -> str:
    """`exact`: a 1-D `all` dictionary (exact by construction) solved to convergence (converged: the
    solver's own KKT test passed), with a certificate that confirms it (or was skipped as too large);
    `certified`: an exactly computed certificate (certify's exact methods) at most CERTIFICATE_TOL, however the solver
    stopped (the certificate is a proof about the returned point, see converged_field); else `upper-bound`."""
    if d == 1 and pin_rule == "all" and not refined and converged:
        if np.isnan(cert.certificate) or cert.certificate <= CERTIFICATE_TOL:
            return "exact"
    if cert.exact and cert.certificate <= CERTIFICATE_TOL:
        return "certified"
    return "upper-bound"


def converged_field(res: LassoResult, guarantee_: str) -> bool:
    """`converged` of the fit JSON: true when the solver's own test passed (stop_reason 'converged') or when
    the guarantee is `certified`, i.e. an exact certificate proves the returned point optimal to within the
    stated gap (`global_gap`), even if the solver stopped on its iteration budget or at the rounding floor
    ('stalled', 'max_iterations'): near-interpolating fits chase KKT violations of 1e-9 relative that are
    rounding noise, and the point is then optimal all the same. Calling such a fit unconverged while
    certifying it contradicted itself; calling it uncertified would deny a valid proof. `stop_reason` keeps
    the solver's own account. A fit neither converged nor certified reports false."""
    return bool(res.converged or guarantee_ == "certified")


def dual_gap(y: np.ndarray, lam: np.ndarray, objective: float, beta: float, V: float) -> float:
    """P - D(s lam) with s = min(1, beta / V), V = max |lambda^T phi| over a dictionary: the residual lam scaled
    into that dictionary's dual feasible set, so the objective is at most this above its optimum."""
    yc = y - y.mean()
    s = min(1.0, beta / V) if V > 0 else 1.0
    dual = 0.5 * float(yc @ yc) - 0.5 * float((yc - s * lam) @ (yc - s * lam))
    return max(objective - dual, 0.0)


def global_gap(y: np.ndarray, lam: np.ndarray, objective: float, beta: float, cert: Certificate) -> float | None:
    """dual_gap over the continuous dictionary (every depth-L network): only where V is exact (the
    certificate's method is exact); None for a sampled lower bound or a skipped certificate."""
    if not (cert.exact and np.isfinite(cert.V)):
        return None
    return dual_gap(y, lam, objective, beta, cert.V)


def ablation_report(full: Dictionary, y: np.ndarray, lam: np.ndarray, objective: float, beta: float) -> dict:
    """An ablated fit (residual lam (N,), objective P) measured against the full built dictionary `full`:
    certificate_full_dictionary = max(0, V / beta - 1) with V = max_j |A_j^T lam| over every column (0: the
    ablated fit is optimal for the full dictionary as well; below 0 is solver rounding, the selected columns
    sit at V = beta), and gap_to_full_dictionary = dual_gap over it (P minus a lower bound on the full
    dictionary's optimum)."""
    V = float(np.abs(full.A.T @ lam).max(initial=0.0))
    return {
        "n_columns_full": full.n_columns,
        "certificate_full_dictionary": max(V / beta - 1.0, 0.0),
        "gap_to_full_dictionary": dual_gap(y, lam, objective, beta, V),
    }


#: continuous_beta_max of this process's latest data (at most CONTINUOUS_MEMO entries): the cells of a run that
#: differ only in beta share it (one full certificate each, a minute at depth 4 and N = 100 in 2-D).
CONTINUOUS_MEMO = 16
_continuous: dict = {}


def continuous_beta_max(X: np.ndarray, y: np.ndarray, opts: FitOptions, W: np.ndarray, cert: Certificate):
    """The continuous threshold: the dual value V at lambda = y - mean(y), i.e. the smallest beta at which
    z = 0 is optimal over every depth-L network (not only the built dictionary). Computed only where the
    fit's own certificate was exact (exact_certificate: then V depends on X, y, depth and norm alone); else
    None."""
    if not cert.exact:
        return None
    key = (hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest(), X.shape, opts.depth, opts.norm)
    if key not in _continuous:
        V = certify(X, y - y.mean(), 1.0, opts.depth, opts.norm, W, seed=opts.seed).V
        while len(_continuous) >= CONTINUOUS_MEMO:
            _continuous.pop(next(iter(_continuous)))
        _continuous[key] = float(V) if np.isfinite(V) else None
    return _continuous[key]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _refine(X, y, beta, D: Dictionary, res: LassoResult, cert: Certificate, opts: FitOptions, log=_stderr):
    """Column generation: add the violating candidates of the certificate, re-solve warm, repeat until the
    certificate is below REFINE_TOL, or it stalls once below CERTIFICATE_TOL (rounding floor). Between full
    certificates, 2-D rounds first re-sweep only the last certificate's best tuples (hot_violators) and take
    their violators; a full certificate runs when they have none, and always last, so the returned certificate
    is the final point's. Each round logs one line (round, certificate or hot tuples, columns added)."""
    rounds, threshold = 0, beta * (1 + REFINE_TOL)
    new = [c for c in cert.candidates if c.value > threshold] if cert.certificate > REFINE_TOL else []
    while new and rounds < opts.max_refine_rounds:
        previous = res.objective
        W = np.array([k.w for k in new])
        a = np.array([k.a for k in new])
        c = np.array([k.c for k in new]).reshape(len(new), D.depth - 2)
        pins = np.array([k.pins for k in new])
        A_new = psi((W @ X.T) + a[:, None], c).T
        D.extend(W, np.full(W.shape, -1), a, c, pins, np.array([k.family for k in new]), A_new)
        res = solve(D.A, y, beta, opts.solver, z0=np.concatenate([res.z, np.zeros(len(new))]))
        lam, _ = residual(D.A, y, res.z)
        rounds += 1
        added = f"{len(new)} column{'s' * (len(new) != 1)} added ({D.n_columns:,} in all)"
        new = hot_violators(X, lam, threshold, D.depth, D.norm, cert.hot) if cert.hot else []
        if new and rounds < opts.max_refine_rounds:
            log(f"refine round {rounds}: {len(new)} hot tuples still violate, {added}")
            continue
        cert = certify(X, lam, beta, D.depth, D.norm, D.directions.W, seed=opts.seed)
        log(f"refine round {rounds}: certificate {cert.certificate:.3g}, {added}")
        if cert.certificate <= REFINE_TOL or (
            cert.certificate <= CERTIFICATE_TOL and res.objective >= previous * (1 - 1e-14)
        ):
            break
        new = [c for c in cert.candidates if c.value > threshold]
    return res, cert, rounds


def _dictionary(X: np.ndarray, opts: FitOptions, dirs, pin_rule: str):
    """(stream, None) when the dictionary is priced in chunks (lasso/streaming.py), else (None, the built one)."""
    stream = plan_streaming(X, opts.depth, dirs, pin_rule, opts.norm, opts.solver, opts.max_memory, opts.stream_memory)
    return stream, None if stream else build_dictionary(X, opts.depth, dirs, pin_rule, opts.norm, opts.max_memory)


@dataclass
class Solved:
    """One Lasso on a dictionary, solved, certified and (where asked) refined: the final dictionary D (--refine
    adds columns), the result, its residual lam (N,), the final point's certificate and guarantee, the refine
    rounds, and the objective and column count before refinement."""

    D: Dictionary
    res: LassoResult
    lam: np.ndarray
    cert: Certificate
    guarantee: str
    refine: bool
    rounds: int
    base_objective: float
    base_columns: int


def solve_and_certify(X: np.ndarray, y: np.ndarray, opts: FitOptions, D, stream, pin_rule: str, log=_stderr) -> Solved:
    """Minimise 0.5 ||A z + xi - y||^2 + beta ||z||_1 (opts.beta absolute) over the dictionary D (or the streamed
    one), certify the point over the continuous depth-L dictionary, and refine where opts asks (None: where the
    certificate is exact and nothing is ablated); refine rounds go to `log`."""
    N, d = X.shape
    D, res = stream.solve(y, opts.beta) if stream else (D, solve(D.A, y, opts.beta, opts.solver))
    lam, _ = residual(D.A, y, res.z)
    cert = certify(X, lam, opts.beta, opts.depth, opts.norm, D.directions.W, seed=opts.seed)
    base_objective, base_columns, rounds = res.objective, D.n_columns, 0
    refine = opts.refine if opts.refine is not None else exact_certificate(N, d, opts.depth) and not opts.ablated
    if refine:
        res, cert, rounds = _refine(X, y, opts.beta, D, res, cert, opts, log)
        lam, _ = residual(D.A, y, res.z)
    g = guarantee(cert, d, pin_rule, rounds > 0, res.converged)
    return Solved(D, res, lam, cert, g, bool(refine), rounds, base_objective, base_columns)


def fit(problem: Problem, opts: FitOptions, nets: NetsOptions | None = None, texts: list[str] | None = None) -> dict:
    """Fit the reflection Lasso to problem and report it (the keys of `symcli fit --json`); with nets,
    train non-convex networks beside it. texts (one per training point) label the mirrors' pins."""
    from symcli.lasso.network import network_objective, predict, reconstruct

    opts.validate()
    t0 = time.perf_counter()
    X, y = problem.X, problem.y
    N, d = X.shape
    if nets is not None and (nets.count or nets.baseline) and nets.cfg is not None and nets.cfg.width:
        check_training_memory(X.shape, opts, nets, nets.cfg.width)  # a fixed width: refused before the fit
    if np.ptp(y) == 0:
        raise UserError(f"the targets are constant (every y = {y[0]:g}): there is nothing to fit; give varying targets")
    pin_rule = opts.pins or ("all" if d == 1 else "paper")
    need = direction_set_bytes(opts.directions, N, d, opts.n_directions)
    if need > opts.max_memory:  # every direction adds columns too: the dictionary could never fit either
        raise UserError(
            f"the direction set alone would need {human_bytes(need)} for N = {N}, d = {d}, over --max-memory "
            f"{human_bytes(opts.max_memory)}; sample fewer directions with --n-directions, or lower N"
        )
    dirs, fallback_note = with_fallback(opts.directions, X, opts.norm, opts.n_directions, opts.seed)
    if fallback_note:
        print(f"warning: {fallback_note}", file=sys.stderr)
    # too large to materialise (or --solver stream): price it in chunks instead (lasso/streaming.py)
    stream, D = _dictionary(X, opts, dirs, pin_rule)
    if stream and opts.ablated:
        raise UserError(
            "--families needs the dictionary built in memory, but this one is priced in chunks (--solver stream or "
            "over --max-memory); use --solver fast, raise --max-memory or lower N"
        )
    t_build = time.perf_counter() - t0
    fraction = opts.beta if opts.beta_is_fraction else None
    bmax = None if stream else beta_max(D.A, y)  # over the built dictionary, before any --refine column
    if fraction is not None:
        bmax = stream.beta_max(y) if stream else bmax
        if bmax <= 0:
            raise UserError("beta_max is 0 (no feature varies with the targets on the training subset); nothing to fit")
        opts = replace(opts, beta=fraction * bmax, beta_is_fraction=False)
    if not stream:  # the streaming solver checks after its first pricing pass (no extra pass)
        check_beta(opts.beta, bmax)
    full = D
    if opts.ablated:  # same beta as the full fit (beta_max above is the full dictionary's)
        D = D.restrict(opts.families)
        if D.n_columns == 0:
            raise UserError(
                f"the depth-{opts.depth} dictionary has no column of the families {', '.join(opts.families)} "
                f"(its families: {', '.join(sorted({FAMILIES[k] for k in full.family}))}); choose others"
            )
    s = solve_and_certify(X, y, opts, D, stream, pin_rule)
    D, res, lam, cert, g, rounds = s.D, s.res, s.lam, s.cert, s.guarantee, s.rounds
    bmax_continuous = continuous_beta_max(X, y, opts, D.directions.W, cert)
    gap = global_gap(y, lam, res.objective, opts.beta, cert)
    support = np.flatnonzero(np.abs(res.z) > SUPPORT_TOL * max(np.abs(res.z).max(initial=0.0), 1e-300))
    support = support[np.argsort(-np.abs(res.z[support]))]
    net = reconstruct(
        D.directions.W[D.direction[support]], D.a[support], D.c[support], res.z[support], res.xi, opts.depth, opts.norm
    )
    out = {
        "objective": res.objective,
        "xi": res.xi,
        "nnz": len(support),
        "n_columns": D.n_columns,
        "n_candidates": D.n_candidates,
        "guarantee": g,
        "certificate": _finite(cert.certificate),
        "certificate_method": cert.method,
        "global_gap": gap,
        "global_relative_gap": None if gap is None else gap / max(res.objective, 1e-300),
        "solver": res.solver,
        "converged": converged_field(res, g),
        "stop_reason": res.stop_reason,
        "duality_gap": res.duality_gap,
        "relative_gap": res.relative_gap,
        "iterations": res.iterations,
        "time_s": time.perf_counter() - t0,
        "build_s": t_build,
        "solve_s": res.seconds,
        "network_objective": network_objective(net, X, y, opts.beta),
        "beta": opts.beta,
        "beta_fraction": fraction,
        "beta_max": bmax,
        "beta_max_source": "dictionary",
        "beta_max_continuous": bmax_continuous,
        "depth": opts.depth,
        "n_train": N,
        "d": d,
        "pins": pin_rule,
        "directions": list(opts.directions),
        "norm": opts.norm,
        "seed": opts.seed,
        "refine": s.refine,
        "refine_rounds": rounds,
        "families": family_set_name(opts.families),
        "direction_fallback": fallback_note,
    }
    if stream:
        out.update(stream.report())
    if opts.ablated:
        out["ablation"] = ablation_report(full, y, lam, res.objective, opts.beta)
    # the reflection families' share of the l1 mass over every optimum of the fit's dictionary (the built one and
    # the columns --refine added): above 0 at its minimum, every optimum needs reflection features
    shares = None if stream else share_range(D.A, y, res.z, opts.beta, D.family != FAMILIES.index("plane"))
    out["reflection_share_min"] = None if shares is None else shares.min
    out["reflection_share_max"] = None if shares is None else shares.max
    out["face_columns"] = None if shares is None else shares.face_columns
    if s.refine:
        out["objective_before_refine"] = s.base_objective
        out["n_columns_before_refine"] = s.base_columns
    if problem.is_classification:
        out["train_accuracy"] = accuracy(predict(net, X), y)
    if problem.X_test is not None:
        f_test = predict(net, problem.X_test)
        out.update(held_out_scores(problem.y_test, f_test))
    feats = D.records(support, res.z)
    out["features"] = feats
    out["family_counts"] = {f: sum(r["family"] == f for r in feats) for f in FAMILIES}
    X_eval = problem.X_test if problem.X_test is not None else held_out_points(X, seed=opts.seed)
    out["symmetry"] = {"lasso": lasso_symmetry(D, res.z, res.xi, X, X_eval, texts)}
    errors = [m["E_H"] for m in out["symmetry"]["lasso"]["top_mirrors"]]
    selected = np.flatnonzero(res.z)
    out["nulls"] = lasso_statistics(
        None if stream else D.family,
        selected,
        res.z,
        lasso_function(D, res.z, res.xi),
        X,
        X_eval,
        errors,
        opts.seed,
    )
    if opts.depth > 2 and not opts.ablated:
        out.update(depth_gain(X, y, opts, dirs, pin_rule, out))
    if nets is not None and (nets.count or nets.baseline):
        compare_nets(problem, out, opts, nets)
    return out


def depth_gain(X: np.ndarray, y: np.ndarray, opts: FitOptions, dirs, pin_rule: str, deep: dict) -> dict:
    """The depth-2 optimum at the same absolute beta as the depth-L fit `deep` (same directions, pins, norm, solver
    and refinement), and the depth gain (P_2 - P_L) / P_2 (theory.md section 2: depth L fits better than depth 2
    exactly when the optimum needs features that depth 2 lacks). depth_gain_proven: both optima carry an exact
    or certified guarantee, so the gain is between optima (to within their global gaps), not solver points."""
    shallow = replace(opts, depth=2, beta=deep["beta"], beta_is_fraction=False)
    stream, D = _dictionary(X, shallow, dirs, pin_rule)
    s = solve_and_certify(X, y, shallow, D, stream, pin_rule, log=lambda line: None)  # the deep fit's rounds suffice
    P2, PL = s.res.objective, deep["objective"]
    return {
        "objective_depth2": P2,
        "depth2_guarantee": s.guarantee,
        "depth_gain": (P2 - PL) / P2,
        "depth_gain_proven": {s.guarantee, deep["guarantee"]} <= {"exact", "certified"},
    }


def first_nonfinite(obj, where: str = "") -> str | None:
    """The path (e.g. 'nets[0].objective') of the first NaN or infinite number in a JSON-like result, or
    None: such a value must never reach `--json` output (JSON has no NaN or Infinity)."""
    if isinstance(obj, float | np.floating):
        return None if math.isfinite(obj) else where or "."
    if isinstance(obj, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in obj.items())
    elif isinstance(obj, list | tuple):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    return next((bad for key, v in items if (bad := first_nonfinite(v, key)) is not None), None)
