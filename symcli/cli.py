"""The symcli command line (Typer). Parses options, calls the library, prints; nothing scientific here.

Bad input raises UserError, printed as one line `error: ...` with exit code 2.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Annotated

import typer

from symcli.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Deep |.| networks as convex reflection Lassos: fit, certify, rebuild the network.",
)


@app.callback()
def _root() -> None:
    """symcli: multilevel symmetry experiments (see README)."""


def parse_bytes(text: str) -> float:
    """'4GB', '500MB', '2.5G' or a plain number of bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)[bB]?\s*", text)
    if not m:
        raise UserError(f"cannot read memory size {text!r}; write e.g. 4GB or 500MB")
    return float(m.group(1)) * 1000 ** " KMGT".index(m.group(2).upper() or " ")


def _fail(e: Exception) -> None:
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)


@app.command()
def fit(
    input: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="Training data: .npz (X, y[, X_test, y_test]) or .csv/.parquet with a label column."
        ),
    ],
    depth: Annotated[int, typer.Option(help="Number of weight layers L: 2, 3 or 4.")],
    beta: Annotated[float, typer.Option(help="Regularisation strength beta > 0.")],
    directions: Annotated[
        str, typer.Option(help="Comma-separated direction sets: spanned, axis, grid, random.")
    ] = "spanned",
    pins: Annotated[
        str | None, typer.Option(help="Pin rule: paper or all (default: all for d = 1, paper for d >= 2).")
    ] = None,
    norm: Annotated[str, typer.Option(help="First-layer norm: l2 or l1.")] = "l2",
    solver: Annotated[str, typer.Option(help="fast (working set) or cvxpy (cvxpy + Clarabel reference).")] = "fast",
    refine: Annotated[bool, typer.Option("--refine", help="Column generation until the certificate holds.")] = False,
    n_directions: Annotated[
        int | None, typer.Option(help="Sample this many spanned (or grid/random) directions.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampled directions and certificates.")] = 0,
    max_memory: Annotated[str, typer.Option(help="Refuse dictionaries needing more memory than this.")] = "4GB",
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
    """Fit the reflection Lasso of a depth-L |.| network to a data file and certify it; optionally train
    ordinary networks beside it (--nets) and compare."""
    from symcli.fit import FitOptions, NetsOptions
    from symcli.fit import fit as run_fit
    from symcli.nets import TrainConfig
    from symcli.problem import load_problem

    try:
        opts = FitOptions(
            depth=depth,
            beta=beta,
            directions=[s.strip() for s in directions.split(",") if s.strip()],
            pins=pins,
            norm=norm,
            solver=solver,
            refine=refine,
            max_memory=parse_bytes(max_memory),
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
        if nets < 0:
            raise UserError(f"--nets must be 0 or more, got {nets}")
        result = run_fit(load_problem(input), opts, NetsOptions(count=nets, cfg=cfg, baseline=baseline))
    except UserError as e:
        _fail(e)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_summary(result)


def _print_summary(r: dict) -> None:
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
    """Console entry point: usage errors (unknown option, bad value) become one line with exit code 2."""
    try:
        rc = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except Exception as e:  # the CLI framework's usage errors carry format_message() and exit_code
        if not (hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)):
            raise
        if e.format_message():  # empty when only the help was shown (no arguments)
            print(f"error: {e.format_message()}", file=sys.stderr)
        sys.exit(e.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)
