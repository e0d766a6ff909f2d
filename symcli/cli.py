"""The symcli command line (Typer). Parses options, calls the library, prints; nothing scientific here.

Bad input raises UserError, printed as one line `error: ...` with exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from symcli.cli_text import download, embed, fail
from symcli.config import MAX_CELLS
from symcli.errors import UserError
from symcli.sizes import parse_bytes

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Deep |.| networks as convex reflection Lassos: fit, certify, rebuild the network.",
)


@app.callback()
def _root() -> None:
    """symcli: multilevel symmetry experiments (see README)."""


@app.command()
def fit(
    dataset: Annotated[
        str | None, typer.Argument(help="A dataset (imdb, glue/sst2, ...) to fit on its embeddings, or use --input.")
    ] = None,
    input: Annotated[
        str | None,
        typer.Option(
            "--input", "-i", help="Training data: .npz (X, y[, X_test, y_test]) or .csv/.parquet with a label column."
        ),
    ] = None,
    depth: Annotated[int, typer.Option(help="Number of weight layers L: 2, 3 or 4.")] = 3,
    beta: Annotated[float | None, typer.Option(help="Regularisation strength beta > 0 (absolute).")] = None,
    betas: Annotated[
        int | None, typer.Option(help="Dataset mode: K betas, fractions 0.3 .. 0.003 of beta_max.")
    ] = None,
    dim: Annotated[int | None, typer.Option(help="Dataset mode: projected dimension d.")] = None,
    projection: Annotated[str, typer.Option(help="Dataset mode: pca, random, sparse-sign or none.")] = "pca",
    n_train: Annotated[int, typer.Option(help="Dataset mode: training texts (seeded, label-stratified).")] = 40,
    n_test: Annotated[int, typer.Option(help="Dataset mode: held-out texts.")] = 500,
    model: Annotated[str, typer.Option(help="Dataset mode: embedding model.")] = "all-MiniLM-L6-v2",
    run: Annotated[str, typer.Option(help="Dataset mode: run name under $SYMCLI_RESULTS_DIR.")] = "fit",
    directions: Annotated[
        str, typer.Option(help="Comma-separated direction sets: spanned, axis, grid, random.")
    ] = "spanned",
    pins: Annotated[
        str | None, typer.Option(help="Pin rule: paper or all (default: all for d = 1, paper for d >= 2).")
    ] = None,
    norm: Annotated[str, typer.Option(help="First-layer norm: l2 or l1.")] = "l2",
    solver: Annotated[
        str,
        typer.Option(
            help="fast (working set), stream (implicit dictionary priced in chunks; taken automatically when the "
            "dictionary exceeds --max-memory) or cvxpy (cvxpy + Clarabel reference)."
        ),
    ] = "fast",
    refine: Annotated[bool, typer.Option("--refine", help="Column generation until the certificate holds.")] = False,
    n_directions: Annotated[
        int | None, typer.Option(help="Sample this many spanned (or grid/random) directions.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampled directions and certificates.")] = 0,
    max_memory: Annotated[str, typer.Option(help="Refuse dictionaries needing more memory than this.")] = "4GB",
    stream_memory: Annotated[
        str | None, typer.Option(help="Streaming solver: memory of its pricing chunks (default: max-memory / 4).")
    ] = None,
    nets: Annotated[int, typer.Option(help="Train this many seeds of the same network from random starts.")] = 0,
    optimizer: Annotated[str, typer.Option(help="Trainer for --nets: adam, adamw or lbfgs.")] = "adam",
    epochs: Annotated[int, typer.Option(help="Maximum training epochs (stops earlier on a plateau).")] = 2000,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-2,
    width: Annotated[int | None, typer.Option(help="Units per network (default max(2 nnz, 20)).")] = None,
    restarts: Annotated[int, typer.Option(help="Random restarts per seed (the best is kept).")] = 1,
    batch_size: Annotated[int | None, typer.Option(help="Minibatch size (default: full batch).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (auto: cuda when present).")] = "auto",
    baseline: Annotated[bool, typer.Option("--baseline", help="Also train a ReLU MLP with weight decay.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Fit the reflection Lasso of a depth-L |.| network to a data file (--input) or to a dataset's
    embeddings (DATASET --dim d), certify it, and optionally train ordinary networks beside it (--nets)."""
    args = dict(locals())
    from symcli.fit import FitOptions, NetsOptions, first_nonfinite
    from symcli.fit import fit as run_fit
    from symcli.nets import TrainConfig
    from symcli.problem import load_problem

    try:
        if (dataset is None) == (input is None):
            raise UserError("give either a DATASET (e.g. glue/sst2 --dim 2) or --input FILE, not both or neither")
        if dataset is None and (beta is None or betas is not None):
            raise UserError("--input needs --beta B (an absolute beta > 0); --betas is for datasets")
        # every option is checked here, in both modes, before any data is read, downloaded or written
        opts = FitOptions(
            depth=depth,
            beta=beta if beta is not None else 0.05,  # dataset mode without --beta: fractions of beta_max
            beta_is_fraction=beta is None,
            directions=[s.strip() for s in directions.split(",") if s.strip()],
            pins=pins,
            norm=norm,
            solver=solver,
            refine=refine,
            max_memory=parse_bytes(max_memory),
            stream_memory=parse_bytes(stream_memory) if stream_memory is not None else None,
            n_directions=n_directions,
            seed=seed,
        )
        opts.validate()
        cfg = TrainConfig(
            optimizer=optimizer,
            epochs=epochs,
            lr=lr,
            width=width,
            restarts=restarts,
            batch_size=batch_size,
            device=device,
        )
        cfg.validate()
        nets_opts = NetsOptions(count=nets, cfg=cfg, baseline=baseline)
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


app.command()(download)
app.command()(embed)


@app.command("run")
def run_cmd(
    config: Annotated[str, typer.Argument(help="Experiment config (YAML), e.g. configs/quickstart.yaml.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the cells and their status; compute nothing.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Recompute finished cells too.")] = False,
    backend: Annotated[str, typer.Option(help="local (this process) or ray (one Ray task per cell).")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address to join (default: start a local one).")
    ] = None,
    max_cells: Annotated[int, typer.Option(help="Refuse grids with more cells than this.")] = MAX_CELLS,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: cells, computed, skipped, failed, damaged.")
    ] = False,
) -> None:
    """Run an experiment grid (dataset x depth x dim x projection x n_train x beta x seed); finished cells are
    skipped, damaged ones recomputed, failures are recorded and the run goes on; results.parquet holds one row
    per cell. Exits with code 1 when any cell failed."""
    from symcli.config import load_config
    from symcli.runs import run_config

    try:
        if max_cells < 1:
            raise UserError(f"--max-cells must be at least 1, got {max_cells}")
        cfg = load_config(config)
        summary = run_config(
            cfg,
            force=force,
            dry_run=dry_run,
            log=lambda s: typer.echo(s, err=True),
            backend=backend,
            address=address,
            max_cells=max_cells,
        )
    except UserError as e:
        fail(e)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        for p in summary.get("plan", []):
            typer.echo(f"{p['status']:>7}  {p['cell']}")
        typer.echo(
            f"{summary['cells']} cells: {summary['computed']} computed, {summary['skipped']} skipped, "
            f"{summary['failed']} failed, {summary['damaged']} damaged -> {summary['run']}"
        )
    if summary["failed"]:
        typer.echo(f"error: {summary['failed']} of {summary['cells']} cells failed; see above", err=True)
        raise typer.Exit(1)


@app.command()
def report(
    run: Annotated[str, typer.Argument(help="A run folder, or a run name under $SYMCLI_RESULTS_DIR.")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Write only this document beside the csv tables: md (report.md), html (index.html), latex "
            "(report.tex) or csv (tables only, no figures). Default: all of them plus the figures.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: files, figures, cells.")] = False,
) -> None:
    """Tables (accuracy, objective, nnz, guarantee, certificate, time; failed cells), the symmetry report
    (family and nesting shares, top mirrors with their pinning texts, E_H, nets/Lasso ratios, contradictions)
    and figures of a run, written to RUN/report/ (rebuilt on each call); prints the main file's path."""
    from symcli.report import build_report

    try:
        out = build_report(run, format)
    except UserError as e:
        fail(e)
    if as_json:
        typer.echo(json.dumps(out))
        return
    for note in out["notes"]:
        typer.echo(f"note: {note}", err=True)
    for name in out["damaged"]:
        typer.echo(f"warning: cell {name} is damaged (see the report); `symcli run CONFIG` recomputes it", err=True)
    if out["contradictions"]:
        n = out["contradictions"]
        typer.echo(f"warning: {n} trained network(s) contradict the theory; see the report", err=True)
    typer.echo(
        f"{out['cells']} cells ({out['done']} done, {out['failed']} failed), {len(out['figures'])} figures "
        f"-> {out['primary']}"
    )


@app.command()
def info(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Versions, device, and where data, caches and results live."""
    from symcli.paths import data_dir, results_dir
    from symcli.runs import provenance

    prov = provenance()
    try:
        import torch

        cuda = torch.cuda.is_available()
        device = torch.cuda.get_device_name(0) if cuda else "cpu"
    except ImportError:  # pragma: no cover - torch is a dependency
        cuda, device = False, "cpu"
    out = {
        "versions": prov["versions"],
        "python": prov["python"],
        "platform": prov["platform"],
        "git_sha": prov["git_sha"],
        "cuda": cuda,
        "device": device,
        "data_dir": str(data_dir().resolve()),
        "embedding_cache": str((data_dir() / "cache" / "embeddings").resolve()),
        "results_dir": str(results_dir().resolve()),
        "mirror": os.environ.get("SYMCLI_MIRROR"),
        "hf_home": os.environ.get("HF_HOME"),
    }
    if as_json:
        typer.echo(json.dumps(out))
        return
    for k, v in out.items():
        typer.echo(f"{k:>16}: {v}")


def _fit_dataset(args: dict) -> dict:
    """`symcli fit DATASET`: a one-cell (or K-beta) run through the experiment runner; returns the cell's
    metrics (or {"cells": [...]} for several betas). args: the fit command's parameters by name."""
    import numpy as np
    from pydantic import ValidationError

    from symcli.config import RunConfig, check_feasible
    from symcli.runs import read_status, run_config

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
    grid_keys = ("dataset", "depth", "dim", "projection", "n_train", "seed")
    fit_keys = ("n_test", "pins", "norm", "solver", "refine", "n_directions", "max_memory")
    net_keys = ("optimizer", "epochs", "lr", "width", "restarts", "baseline", "device")
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
                "nets": {k: a[k] for k in net_keys} | {"count": a["nets"]},
            }
        )
    except ValidationError as e:
        from symcli.config import describe_error

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
        ("certificate V/beta - 1", f"{r['certificate']:.3e} ({r['certificate_method']})"),
        ("relative duality gap", f"{r['relative_gap']:.2e}"),
        ("columns (candidates)", f"{r['n_columns']:,} ({r['n_candidates']:,})"),
        ("nnz", str(r["nnz"])),
        ("solver", r["solver"]),
        ("time", f"{r['time_s']:.2f} s"),
    ]
    if "objective_before_refine" in r:
        rows.insert(1, ("objective before --refine", f"{r['objective_before_refine']:.10g}"))
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
                kind_name = "parallel" if kind == "nets" else "MLP+wd"
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


def main() -> None:
    """Console entry point: usage errors (unknown option, bad value) become one line with exit code 2; faults of
    the environment (a full disk, a path that is a file, no permission) one line naming the path, exit 1."""
    try:
        rc = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}; free space or fix the path, then run again", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # the CLI framework's usage errors carry format_message() and exit_code
        if not (hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)):
            raise
        if e.format_message():  # empty when only the help was shown (no arguments)
            print(f"error: {e.format_message()}", file=sys.stderr)
        sys.exit(e.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)
