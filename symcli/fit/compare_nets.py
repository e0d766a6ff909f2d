"""Non-convex training beside a Lasso fit (theory.md section 5): the parallel networks (abs, relu or srelu;
symcli.nets.training) from random starts, on the labels and on shuffled labels (a null for their symmetry), and the
weight-decay MLP baseline, with their objectives against the Lasso optimum and their symmetry statistics.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from symcli.core.errors import UserError
from symcli.core.sizes import human_bytes
from symcli.fit.problem import Problem
from symcli.science.baselines import accuracy, held_out_scores
from symcli.science.evidence import nets_statistics

SHUFFLE_STREAM = 1  # second word of the seed of the label permutation of shuffled-label nets: [seed, 1]


@dataclass
class NetsOptions:
    """Non-convex training beside the Lasso: `count` seeds of the parallel network with `activation` (abs,
    relu or srelu; symcli.lasso.network) and width cfg.width, else width_multiple x the Lasso's nnz, else
    max(2 nnz, 20); with `shuffled` as many on label-shuffled targets, and, with `baseline`, the weight-decay
    MLP (activation baseline_activation) for the same seeds.
    cfg is a symcli.nets.training.TrainConfig (imported lazily: torch)."""

    count: int = 0
    cfg: object = None
    baseline: bool = False
    baseline_activation: str = "relu"
    shuffled: bool = False  # also train `count` nets on label-shuffled targets (a null for their symmetry)
    activation: str = "abs"
    width_multiple: float | None = None


def parse_width(spec) -> tuple[int | None, float | None, str | None]:
    """A width spec: units (40) or a multiple of the Lasso's nnz (4x), None for the default width. Returns
    (units, multiple, canonical text), (None, None, None) for None; UserError for anything else."""
    if spec is None:
        return None, None, None
    text = str(spec).strip().lower()
    try:
        if text.endswith("x"):
            k = float(text[:-1])
            if math.isfinite(k) and k > 0:
                return None, k, f"{k:g}x"
        elif int(text) >= 1 and str(int(text)) == text:
            return int(text), None, text
    except ValueError:
        pass
    raise UserError(f"--width {spec!r} is neither a number of units (e.g. 40) nor a multiple of the Lasso's nnz (4x)")


def net_width(nets: NetsOptions, nnz: int) -> int:
    """Units of the trained networks (see NetsOptions)."""
    if nets.cfg is not None and nets.cfg.width:
        return nets.cfg.width
    if nets.width_multiple is not None:
        return max(1, math.ceil(nets.width_multiple * nnz))
    return max(2 * nnz, 20)


def _run_record(
    problem: Problem, model, objective: float, lasso_objective: float, seed: int, seconds: float, epochs: int
) -> dict:
    from symcli.nets.training import predict

    rec = {
        "seed": seed,
        "objective": objective,
        "ratio_to_lasso": objective / lasso_objective,
        "time_s": seconds,
        "epochs": epochs,
    }
    if problem.is_classification:
        rec["train_accuracy"] = accuracy(predict(model, problem.X), problem.y)
    if problem.X_test is not None:
        rec.update(held_out_scores(problem.y_test, predict(model, problem.X_test)))
    return rec


def check_training_memory(shape: tuple[int, int], opts, nets: NetsOptions, width: int) -> None:
    """UserError when training nets of this width on data of this shape (N, d) would exceed --max-memory (opts: the
    fit's symcli.fit.lasso_fit.FitOptions: depth, max_memory)."""
    from symcli.nets.training import training_bytes

    need = training_bytes(*shape, opts.depth, width, nets.baseline, activation=nets.activation)
    if need > opts.max_memory:
        raise UserError(
            f"training networks of width {width:,} on {shape[0]} points needs about {human_bytes(need)}, over "
            f"--max-memory {human_bytes(opts.max_memory)}; lower --width or raise --max-memory"
        )


def compare_nets(problem: Problem, out: dict, opts, nets: NetsOptions) -> None:
    """Train nets.count parallel networks (and baselines) from random starts; add `nets`, `baseline`,
    `contradictions` and `symmetry.nets` to out. A |.| network (activation abs) below the Lasso optimum by more
    than 1e-6 (relative) when the guarantee is exact or certified contradicts the theory: it is recorded and
    warned about, never hidden. relu and srelu nets have no such bound (their ratio to the |.| optimum is the
    measurement). opts: the fit's symcli.fit.lasso_fit.FitOptions (beta, depth, norm, seed, max_memory); out: its result
    (objective, nnz, guarantee, symmetry, nulls)."""
    from symcli.nets.training import TrainConfig, train_baseline, train_parallel
    from symcli.science.symmetry import network_symmetry_of

    cfg = nets.cfg or TrainConfig()
    cfg.validate()
    if nets.count < 0:
        raise UserError(f"--nets must be 0 or more, got {nets.count}")
    width = net_width(nets, out["nnz"])
    X, y, lasso = problem.X, problem.y, out["objective"]
    check_training_memory(X.shape, opts, nets, width)

    def train(y_fit: np.ndarray, seed: int):
        return train_parallel(X, y_fit, opts.beta, opts.depth, width, opts.norm, cfg, seed, activation=nets.activation)

    def finite(res, what: str, seed: int) -> None:
        if not math.isfinite(res.objective):
            raise UserError(
                f"training the {what} (seed {seed}, --optimizer {cfg.optimizer}, --lr {cfg.lr:g}) diverged to "
                f"P = {res.objective}; lower --lr (or rescale the data)"
            )

    out["nets"], out["contradictions"], net_sym = [], [], []
    for k in range(nets.count):
        seed = opts.seed + k
        res = train(y, seed)
        finite(res, f"{nets.activation} parallel network", seed)
        rec = _run_record(problem, res.model, res.objective, lasso, seed, res.seconds, res.epochs)
        rec.update(width=width, activation=nets.activation)
        out["nets"].append(rec)
        net_sym.append(network_symmetry_of(res.model, X))
        bound = nets.activation == "abs" and out["guarantee"] in ("exact", "certified")
        if bound and res.objective < lasso * (1 - 1e-6):
            out["contradictions"].append(rec)
            print(
                f"warning: trained network (seed {seed}) reached P = {res.objective:.10g} below the "
                f"{out['guarantee']} Lasso optimum {lasso:.10g}: this contradicts the theory",
                file=sys.stderr,
            )
    out["symmetry"]["nets"] = [
        {k: v for k, v in s.items() if k != "units"} | {"units": len(s["units"])} for s in net_sym
    ]
    out["nulls"].update(nets_statistics(net_sym, X, opts.depth, opts.seed))
    if nets.shuffled and nets.count:  # the same training on label-shuffled targets: symmetry without signal
        shuffled = []
        for k in range(nets.count):
            seed = opts.seed + k
            y_perm = np.random.default_rng([seed, SHUFFLE_STREAM]).permutation(y)
            res = train(y_perm, seed)
            finite(res, f"{nets.activation} parallel network on shuffled labels", seed)
            shuffled.append(network_symmetry_of(res.model, X))
        out["nulls_shuffled"] = nets_statistics(shuffled, X, opts.depth, opts.seed)
    if nets.baseline:
        out["baseline"] = []
        for k in range(nets.count or 1):
            seed = opts.seed + k
            res = train_baseline(X, y, opts.beta, opts.depth, width, cfg, seed, nets.baseline_activation)
            finite(res, f"{nets.baseline_activation} MLP", seed)
            rec = _run_record(problem, res.model, res.objective, lasso, seed, res.seconds, res.epochs)
            rec["objective_kind"] = f"{nets.baseline_activation} MLP, weight decay (beta/2) sum w^2"
            out["baseline"].append(rec)
