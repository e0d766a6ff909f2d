"""The symcli command line (Typer). Parses options, calls the library, prints; nothing scientific here.

Bad input raises UserError, printed as one line `error: ...` with exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from symcli.cli.fit import fit
from symcli.cli.text import Backend, download, embed, fail
from symcli.core.errors import UserError
from symcli.runs.config import MAX_CELLS


def _no_flag_types(params: list) -> list:
    """Flags take no value: give them an empty metavar so --help shows no `<bool>` (Typer prints one)."""
    for p in params:
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx):
        return _no_flag_types(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx):
        return _no_flag_types(super().get_params(ctx))

    def invoke(self, ctx):
        """Run the command; its usage errors (bad choice, missing argument) print one line `error: ...` with
        their exit code (2) however the app is called, as main() does for the rest."""
        try:
            return super().invoke(ctx)
        except Exception as e:
            if not (_usage_error(e) and e.format_message()):
                raise
            typer.echo(f"error: {e.format_message()}", err=True)
            raise typer.Exit(e.exit_code) from None


def _usage_error(e: Exception) -> bool:
    """Whether e is a usage error of the CLI framework: those carry format_message() and an int exit_code."""
    return hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Deep |.| networks as convex reflection Lassos: fit, certify, rebuild the network.",
)


def _version(show: bool) -> None:
    if show:
        import importlib.metadata as md

        typer.echo(f"symcli {md.version('symcli')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """symcli: multilevel symmetry experiments (see README)."""


app.command(cls=_Command)(fit)
app.command(cls=_Command)(download)
app.command(cls=_Command)(embed)


@app.command("run", cls=_Command)
def run_cmd(
    config: Annotated[str, typer.Argument(help="Experiment config (YAML), e.g. configs/quickstart.yaml.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the cells and their status; compute nothing.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Recompute finished cells too.")] = False,
    backend: Annotated[
        Backend, typer.Option(help="local (this process) or ray (one Ray task per cell).")
    ] = Backend.local,
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
    from symcli.runs.config import load_config
    from symcli.runs.runner import run_config

    try:
        if max_cells < 1:
            raise UserError(f"--max-cells must be at least 1, got {max_cells}")
        cfg = load_config(config)
        summary = run_config(
            cfg,
            force=force,
            dry_run=dry_run,
            log=lambda s: typer.echo(s, err=True),
            backend=backend.value,
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
        if "estimate" in summary:
            from symcli.runs.estimate import estimate_line

            typer.echo(estimate_line(summary["estimate"], summary["cells"] - summary["skipped"]))
        typer.echo(
            f"{summary['cells']} cells: {summary['computed']} computed, {summary['skipped']} skipped, "
            f"{summary['failed']} failed, {summary['damaged']} damaged -> {summary['run']}"
        )
    if summary["failed"]:
        typer.echo(f"error: {summary['failed']} of {summary['cells']} cells failed; see above", err=True)
        raise typer.Exit(1)


@app.command(cls=_Command)
def runs(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of the runs.")] = False) -> None:
    """The runs under $SYMCLI_RESULTS_DIR, newest first: name, cells done and failed, datasets, created, path."""
    from symcli.core.paths import results_dir
    from symcli.runs.listing import COLUMNS, list_runs, run_fields, runs_text

    try:
        found = list_runs()
    except UserError as e:
        fail(e)
    if as_json:
        typer.echo(json.dumps(found))
        return
    if not found:
        typer.echo(
            f"no runs under {results_dir().resolve()}; start one with `symcli run CONFIG` (e.g. configs/smoke.yaml)"
        )
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if not con.is_terminal:  # piped or redirected: plain aligned text
        for line in runs_text(found):
            typer.echo(line)
        return
    t = Table(title=f"runs under {results_dir().resolve()}, newest first")
    for col in COLUMNS:
        t.add_column(col, justify="right" if col in ("done", "failed") else "left")
    for r in found:
        t.add_row(*run_fields(r))
    con.print(t)


@app.command(cls=_Command)
def report(
    run: Annotated[
        str | None,
        typer.Argument(help="A run folder, or a run name under $SYMCLI_RESULTS_DIR (default: the newest run)."),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="<md|html|csv|latex>",  # a string, not an Enum: the library also takes tex and markdown
            help="Write only this document beside the csv tables: md (report.md), html (index.html), latex "
            "(report.tex) or csv (tables only, no figures). Default: all of them plus the figures. Documents "
            "this call does not write stay.",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the findings as a JSON list of objects (claim, dataset, depth, observed, null, p_value, "
            "verdict, and the intervals and test), instead of the tables.",
        ),
    ] = False,
) -> None:
    """The findings first (each claim of the paper per dataset and depth: observed vs null, p-value, verdict),
    then tables (accuracy, objective, nnz, guarantee, certificate, time; failed cells), the symmetry report
    (family and nesting shares, top mirrors with their pinning texts, E_H, nets/Lasso ratios, contradictions)
    and figures of a run, written to RUN/report/ (what this call does not write stays); prints a summary of the
    headline metrics, guarantees and contradictions first, and the main file's path last."""
    from symcli.core.paths import results_dir
    from symcli.report import build_report
    from symcli.report.terminal import print_overview
    from symcli.runs.listing import newest_run

    try:
        if run is None:
            newest = newest_run()
            if newest is None:
                raise UserError(f"no runs under {results_dir().resolve()}; run symcli run CONFIG first")
        show = None if as_json else print_overview
        out = build_report(str(newest) if run is None else run, format, show=show)
    except UserError as e:
        fail(e)
    if run is None:
        typer.echo(f"note: no RUN given: reported the newest run, {newest.name}", err=True)
    if as_json:
        typer.echo(json.dumps(out["findings"]))
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


@app.command(cls=_Command)
def info(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Versions, device, and where data, caches and results live."""
    from symcli.core.paths import data_dir, results_dir
    from symcli.runs.runner import provenance

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
    lines = {
        "versions": ", ".join(f"{name} {version}" for name, version in out["versions"].items()),
        "python": f"{out['python']} on {out['platform']}",
        "git sha": out["git_sha"] or "not set (not a git checkout)",
        "device": f"{device} (CUDA)" if cuda else "cpu (no CUDA device)",
        "data dir": out["data_dir"],
        "embedding cache": out["embedding_cache"],
        "results dir": out["results_dir"],
        "SYMCLI_MIRROR": out["mirror"] or "not set",
        "HF_HOME": out["hf_home"] or "not set",
    }
    width = max(map(len, lines)) + 2
    for k, v in lines.items():
        typer.echo(f"{k + ':':<{width}}{v}")


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
    except Exception as e:  # usage errors before a command runs (an unknown command or root option)
        if not _usage_error(e):
            raise
        if e.format_message():  # empty when only the help was shown (no arguments)
            print(f"error: {e.format_message()}", file=sys.stderr)
        sys.exit(e.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)
