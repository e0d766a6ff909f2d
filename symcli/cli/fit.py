"""The `symcli fit` command (registered on the app in symcli/cli/app.py): one fit on a data file or a dataset.

Bad input raises UserError, printed as one line `error: ...` with exit code 2.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from symcli.cli.text import fail
from symcli.core.errors import UserError
from symcli.core.sizes import parse_bytes


class Projection(str, Enum):
    pca = "pca"
    pls = "pls"
    random = "random"
    sparse_sign = "sparse-sign"
    none = "none"


class Pins(str, Enum):
    paper = "paper"
    all = "all"


class Norm(str, Enum):
    l2 = "l2"
    l1 = "l1"


class Solver(str, Enum):
    fast = "fast"
    stream = "stream"
    cvxpy = "cvxpy"


class Optimizer(str, Enum):
    adam = "adam"
    adamw = "adamw"
    lbfgs = "lbfgs"


class Activation(str, Enum):
    abs = "abs"
    relu = "relu"
    srelu = "srelu"


class NetDevice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


DATA, DICTIONARY, SOLVER, NETWORKS, OUTPUT = "Data", "Dictionary", "Solver", "Networks (--nets)", "Output"


def fit(
    dataset: Annotated[
        str | None, typer.Argument(help="A dataset (imdb, glue/sst2, ...) to fit on its embeddings, or use --input.")
    ] = None,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="Training data: .npz (X, y[, X_test, y_test]) or .csv/.parquet with a label column.",
            rich_help_panel=DATA,
        ),
    ] = None,
    dim: Annotated[int | None, typer.Option(help="Dataset mode: projected dimension d.", rich_help_panel=DATA)] = None,
    projection: Annotated[
        Projection,
        typer.Option(
            help="Dataset mode: how to project the embeddings to d dimensions (pls: supervised, fitted on the "
            "training texts' labels only).",
            rich_help_panel=DATA,
        ),
    ] = Projection.pca,
    n_train: Annotated[
        int, typer.Option(help="Dataset mode: training texts (seeded, label-stratified).", rich_help_panel=DATA)
    ] = 40,
    n_test: Annotated[int, typer.Option(help="Dataset mode: held-out texts.", rich_help_panel=DATA)] = 500,
    model: Annotated[
        str, typer.Option(help="Dataset mode: embedding model.", rich_help_panel=DATA)
    ] = "all-MiniLM-L6-v2",
    depth: Annotated[int, typer.Option(help="Number of weight layers L: 2, 3 or 4.", rich_help_panel=DICTIONARY)] = 3,
    directions: Annotated[
        str,
        typer.Option(help="Comma-separated direction sets: spanned, axis, grid, random.", rich_help_panel=DICTIONARY),
    ] = "spanned",
    pins: Annotated[
        Pins | None,
        typer.Option(help="Pin rule (default: all for d = 1, paper for d >= 2).", rich_help_panel=DICTIONARY),
    ] = None,
    norm: Annotated[Norm, typer.Option(help="First-layer norm.", rich_help_panel=DICTIONARY)] = Norm.l2,
    n_directions: Annotated[
        int | None,
        typer.Option(help="Sample this many spanned (or grid/random) directions.", rich_help_panel=DICTIONARY),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed for sampled directions and certificates.", rich_help_panel=DICTIONARY)
    ] = 0,
    families: Annotated[
        str,
        typer.Option(
            help="Ablation: feature families kept, a set (all, no-reflection, planes-only) or comma-separated "
            "families (plane, reflection, midpoint); measured against the full dictionary.",
            rich_help_panel=DICTIONARY,
        ),
    ] = "all",
    beta: Annotated[
        float | None, typer.Option(help="Regularisation strength beta > 0 (absolute).", rich_help_panel=SOLVER)
    ] = None,
    betas: Annotated[
        int | None,
        typer.Option(help="Dataset mode: K betas, fractions 0.3 .. 0.003 of beta_max.", rich_help_panel=SOLVER),
    ] = None,
    solver: Annotated[
        Solver,
        typer.Option(
            help="fast (working set), stream (implicit dictionary priced in chunks; taken automatically when the "
            "dictionary exceeds --max-memory) or cvxpy (cvxpy + Clarabel reference).",
            rich_help_panel=SOLVER,
        ),
    ] = Solver.fast,
    refine: Annotated[
        bool | None,
        typer.Option(
            "--refine/--no-refine",
            help="Column generation until the certificate proves optimality; default: on wherever the certificate "
            "is exact (d = 1; d = 2 up to N = 1,130, depth 4 up to N = 101; d = 3 at depths 2-3 up to N = 41).",
            rich_help_panel=SOLVER,
        ),
    ] = None,
    max_memory: Annotated[
        str, typer.Option(help="Refuse dictionaries needing more memory than this.", rich_help_panel=SOLVER)
    ] = "4GB",
    stream_memory: Annotated[
        str | None,
        typer.Option(
            help="Streaming solver: memory of its pricing chunks (default: max-memory / 4).", rich_help_panel=SOLVER
        ),
    ] = None,
    nets: Annotated[
        int,
        typer.Option(help="Train this many seeds of the same network from random starts.", rich_help_panel=NETWORKS),
    ] = 0,
    optimizer: Annotated[Optimizer, typer.Option(help="Trainer.", rich_help_panel=NETWORKS)] = Optimizer.adam,
    epochs: Annotated[
        int, typer.Option(help="Maximum training epochs (stops earlier on a plateau).", rich_help_panel=NETWORKS)
    ] = 2000,
    lr: Annotated[float, typer.Option(help="Learning rate.", rich_help_panel=NETWORKS)] = 1e-2,
    width: Annotated[
        str | None,
        typer.Option(
            help="Units per network (40) or a multiple of the Lasso's nnz (4x); default max(2 nnz, 20).",
            rich_help_panel=NETWORKS,
        ),
    ] = None,
    activation: Annotated[
        Activation,
        typer.Option(help="Activation of the parallel networks (abs: the theory's).", rich_help_panel=NETWORKS),
    ] = Activation.abs,
    restarts: Annotated[
        int, typer.Option(help="Random restarts per seed (the best is kept).", rich_help_panel=NETWORKS)
    ] = 1,
    batch_size: Annotated[
        int | None, typer.Option(help="Minibatch size (default: full batch).", rich_help_panel=NETWORKS)
    ] = None,
    device: Annotated[
        NetDevice, typer.Option(help="Where to train (auto: cuda when present).", rich_help_panel=NETWORKS)
    ] = NetDevice.auto,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="Also train a ReLU MLP with weight decay.", rich_help_panel=NETWORKS),
    ] = False,
    run: Annotated[
        str, typer.Option(help="Dataset mode: run name under $SYMCLI_RESULTS_DIR.", rich_help_panel=OUTPUT)
    ] = "fit",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout.", rich_help_panel=OUTPUT)
    ] = False,
) -> None:
    """Fit the reflection Lasso of a depth-L |.| network to a data file (--input) or to a dataset's
    embeddings (DATASET --dim d), certify it, and optionally train ordinary networks beside it (--nets)."""
    args = {k: v.value if isinstance(v, Enum) else v for k, v in locals().items()}  # the library takes strings
    from symcli.fit.compare_nets import NetsOptions, parse_width
    from symcli.fit.lasso_fit import FitOptions, first_nonfinite
    from symcli.fit.lasso_fit import fit as run_fit
    from symcli.fit.problem import load_problem
    from symcli.nets.training import TrainConfig

    try:
        if dataset is None and input is None:
            raise UserError("no data: give --input FILE (.npz/.csv/.parquet) or a DATASET such as imdb --dim 2")
        if dataset is not None and input is not None:
            raise UserError("give either a DATASET (e.g. glue/sst2 --dim 2) or --input FILE, not both or neither")
        if dataset is None and (beta is None or betas is not None):
            raise UserError("--input needs --beta B (an absolute beta > 0); --betas is for datasets")
        # every option is checked here, in both modes, before any data is read, downloaded or written
        opts = FitOptions(
            depth=depth,
            beta=beta if beta is not None else 0.05,  # dataset mode without --beta: fractions of beta_max
            beta_is_fraction=beta is None,
            directions=[s.strip() for s in directions.split(",") if s.strip()],
            pins=args["pins"],
            norm=args["norm"],
            solver=args["solver"],
            refine=refine,
            max_memory=parse_bytes(max_memory),
            stream_memory=parse_bytes(stream_memory) if stream_memory is not None else None,
            n_directions=n_directions,
            seed=seed,
            families=_families(families),
        )
        opts.validate()
        units, multiple, args["width"] = parse_width(width)
        cfg = TrainConfig(
            optimizer=args["optimizer"],
            epochs=epochs,
            lr=lr,
            width=units,
            restarts=restarts,
            batch_size=batch_size,
            device=args["device"],
        )
        cfg.validate()
        nets_opts = NetsOptions(
            count=nets, cfg=cfg, baseline=baseline, activation=args["activation"], width_multiple=multiple
        )
        if nets < 0:
            raise UserError(f"--nets must be 0 or more, got {nets}")
        if dataset is not None:
            result = _fit_dataset(args)
        else:
            result = run_fit(load_problem(input), opts, nets_opts)
    except UserError as e:
        fail(e)
    bad = first_nonfinite(result)
    if bad is not None:  # never NaN/Infinity in the output: a bug, not bad input (exit 1)
        typer.echo(f"error: the result has a non-finite value at {bad}; please report this", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(result, allow_nan=False))
    else:
        _print_summary(result)
    cells = result.get("cells", [result])
    for r in cells:
        note = _gap_note(r)
        if note:
            where = f"beta {r['beta']:g}: " if len(cells) > 1 else ""
            typer.echo(f"note: {where}{note}", err=True)


def _fit_dataset(args: dict) -> dict:
    """`symcli fit DATASET`: a one-cell (or K-beta) run through the experiment runner; returns the cell's
    metrics (or {"cells": [...]} for several betas). args: the fit command's parameters by name."""
    import numpy as np
    from pydantic import ValidationError

    from symcli.runs.config import RunConfig, check_feasible
    from symcli.runs.runner import read_status, run_config

    a = args
    if a["dim"] is None:
        raise UserError("dataset mode needs --dim d (the projected dimension), e.g. --dim 2")
    if a["beta"] is not None and a["betas"] is not None:
        raise UserError("give --beta or --betas, not both")
    if a["betas"] is not None and a["betas"] < 1:
        raise UserError(f"--betas must be at least 1, got {a['betas']}")
    if a["beta"] is not None:
        values = [a["beta"]]
    else:
        values = list(np.geomspace(0.3, 0.003, a["betas"])) if a["betas"] and a["betas"] > 1 else [0.05]
    grid_keys = ("dataset", "depth", "dim", "projection", "n_train", "seed", "families")
    fit_keys = ("n_test", "pins", "norm", "solver", "refine", "n_directions", "max_memory")
    net_keys = ("optimizer", "epochs", "lr", "width", "restarts", "baseline", "device", "activation")
    try:
        cfg = RunConfig.model_validate(
            {
                "name": a["run"],
                "embedding": {"model": a["model"]},
                "grid": {k: [a[k]] for k in grid_keys} | {"beta": [float(v) for v in values]},
                "fit": {k: a[k] for k in fit_keys}
                | {
                    "beta_mode": "absolute" if a["beta"] is not None else "fraction",
                    "directions": [s.strip() for s in a["directions"].split(",") if s.strip()],
                },
                # one fit, not a study: no nets on shuffled labels (runs train them for the findings' nulls)
                "nets": {k: a[k] for k in net_keys} | {"count": a["nets"], "shuffled": False},
            }
        )
    except ValidationError as e:
        from symcli.runs.config import describe_error

        raise UserError(describe_error(e)) from None
    check_feasible(cfg, "fit")
    summary = run_config(cfg, force=True, log=lambda s: typer.echo(s, err=True))
    for f in summary["failures"]:
        raise UserError(f"{f['cell']} failed: {f['error']}")
    metrics = []
    for cell in cfg.cells():
        folder = Path(summary["run"]) / cell.name
        state, status = read_status(folder)
        if state != "done":
            raise UserError(f"{cell.name} is {state}: {status.get('error') or status.get('problem')}")
        metrics.append(json.loads((folder / "metrics.json").read_text()))
    return metrics[0] if len(metrics) == 1 else {"cells": metrics}


def _families(spec: str) -> tuple[str, ...]:
    """--families parsed (UserError naming the choices)."""
    from symcli.lasso.features import parse_families

    try:
        return parse_families(spec)
    except ValueError as e:
        raise UserError(f"--families: {e}") from None


def _num(x: float | None, fmt: str) -> str:
    return "not computed" if x is None else format(x, fmt)


def _optimum_floor(r: dict) -> float | None:
    """A lower bound on the global optimum (over the continuous dictionary: every depth-L network) for an
    `upper-bound` fit whose certificate c = V/beta - 1 is exact (it then has a global_gap): the residual scaled
    by 1/(1 + c) is dual feasible, so optimum >= (objective - duality gap) / (1 + c). None otherwise."""
    c = r.get("certificate")
    if r["guarantee"] != "upper-bound" or c is None or r.get("global_gap") is None:
        return None
    return (r["objective"] - max(r["duality_gap"], 0.0)) / (1 + c)


def _gap_note(r: dict) -> str | None:
    """What an `upper-bound` fit with an exact certificate proves about its distance from optimal (else None)."""
    low = _optimum_floor(r)
    if low is None:
        return None
    note = (
        f"guarantee upper-bound: the exact certificate {r['certificate']:.3g} proves the global optimum is at least "
        f"{low:.6g}, so this objective ({r['objective']:.6g}) is at most {r['objective'] / low - 1:.2%} above it"
    )
    if "objective_before_refine" not in r:
        note += "; --refine adds the violating features until the certificate proves optimality"
    return note


def _print_summary(r: dict) -> None:
    if "cells" in r:
        for cell in r["cells"]:
            _print_summary(cell)
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=f"depth-{r['depth']} reflection Lasso, N = {r['n_train']}, d = {r['d']}, beta = {r['beta']:g}")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    rows = [
        ("objective", f"{r['objective']:.10g}"),
        ("network objective P(theta)", f"{r['network_objective']:.10g}"),
        ("guarantee", r["guarantee"]),
        ("certificate V/beta - 1", f"{_num(r['certificate'], '.3e')} ({r['certificate_method']})"),
        ("relative duality gap", f"{r['relative_gap']:.2e}"),
        ("columns (candidates)", f"{r['n_columns']:,} ({r['n_candidates']:,})"),
        ("nnz", str(r["nnz"])),
        ("solver", r["solver"]),
        ("time", f"{r['time_s']:.2f} s"),
    ]
    if "objective_before_refine" in r:
        rows.insert(1, ("objective before --refine", f"{r['objective_before_refine']:.10g}"))
    if "ablation" in r:
        ab = r["ablation"]
        kept = f"{r['families']}: {r['n_columns']:,} of {ab['n_columns_full']:,} columns"
        rows.insert(1, ("families (ablation)", kept))
        rows.insert(2, ("certificate vs full dictionary", f"{ab['certificate_full_dictionary']:.3e}"))
        rows.insert(3, ("gap to full dictionary", f"{ab['gap_to_full_dictionary']:.6g}"))
    low = _optimum_floor(r)
    if low is not None:
        rows.insert(4, ("global optimum at least", f"{low:.10g} (this fit <= {r['objective'] / low - 1:.2%} above)"))
    for k in ("train_accuracy", "test_accuracy"):
        if k in r:
            rows.append((k.replace("_", " "), f"{r[k]:.3f}"))
    for row in rows:
        t.add_row(*row)
    con.print(t)
    ft = Table(title="selected features (largest |z| first)")
    for col in ("family", "nesting", "z", "a", "c", "pins", "w"):
        ft.add_column(col)
    for f in r["features"][:10]:
        ft.add_row(
            f["family"],
            str(f["nesting"]),
            f"{f['z']:.4g}",
            f"{f['a']:.4g}",
            ", ".join(f"{v:.3g}" for v in f["c"]),
            ", ".join(map(str, f["pins"])),
            ", ".join(f"{v:.3g}" for v in f["w"]),
        )
    con.print(ft)
    if r.get("nets") or r.get("baseline"):
        nt = Table(title=f"trained networks (Lasso optimum {r['objective']:.6g})")
        for col in ("model", "seed", "objective", "P / Lasso", "train acc", "test acc", "epochs", "time s"):
            nt.add_column(col)
        for kind in ("nets", "baseline"):
            for run in r.get(kind, []):
                acc = [f"{run[k]:.3f}" if k in run else "-" for k in ("train_accuracy", "test_accuracy")]
                kind_name = f"parallel {run.get('activation', 'abs')}" if kind == "nets" else "MLP+wd"
                nt.add_row(
                    kind_name,
                    str(run["seed"]),
                    f"{run['objective']:.6g}",
                    f"{run['ratio_to_lasso']:.6f}",
                    *acc,
                    str(run["epochs"]),
                    f"{run['time_s']:.2f}",
                )
        con.print(nt)
