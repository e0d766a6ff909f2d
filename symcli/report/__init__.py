"""`symcli report RUN`: tables, symmetry report and figures of a run folder, in RUN/report/.

Written (staged, then renamed into RUN/report/: each folder replaced as a whole, each document alone; what a
call does not write, such as another format's document, stays):

- tables/*.csv (always): summary (by dataset, dim, depth), metrics (one row per cell), failed, symmetry
  (per cell), symmetry_by_depth, top_mirrors (one row per cell and mirror, with the pinning texts), nets (one
  row per trained network) and nets_by_cell.
- report.md, report.tex and index.html (all by default; only the one named by `fmt` otherwise).
- figures/*.png (matplotlib, Agg): a fit per 1-D and 2-D cell (capped at MAX_CELL_FIGURES), family and
  nesting-level shares by depth, symmetry errors by depth, trained-network/Lasso objective ratios by depth.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from symcli.core.errors import UserError
from symcli.core.paths import atomic_write_bytes, clean_stale, publish_dir, staging_dir
from symcli.report.figures import make_figures
from symcli.report.loading import load_cells, resolve_run
from symcli.report.render import build_content, render_html, render_latex, render_markdown, tables_of
from symcli.report.terminal import Overview, overview

FORMATS = ("md", "html", "csv", "latex")
#: The keys of each finding in `symcli report RUN --json` (a list of objects).
FINDING_KEYS = (
    "claim",
    "kind",
    "dataset",
    "depth",
    "observed",
    "observed_ci",
    "null",
    "null_ci",
    "p_value",
    "p_adjusted",
    "n",
    "verdict",
    "test",
)
DOCS = {"md": "report.md", "latex": "report.tex", "html": "index.html"}


def _parse_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    f = fmt.strip().lower()
    f = {"tex": "latex", "markdown": "md", "htm": "html"}.get(f, f)
    if f not in FORMATS:
        raise UserError(f"unknown report format {fmt!r}; choose md, html, csv or latex (or omit --format for all)")
    return f


def build_report(run: str | Path, fmt: str | None = None, show: Callable[[Overview], None] | None = None) -> dict:
    """Write into RUN/report/ and return {report, primary, files, figures, cells, done, failed, contradictions, ...}.

    fmt None writes everything (csv tables, report.md, report.tex, index.html, figures) with index.html as the
    primary file; 'md', 'latex' or 'html' writes the csv tables plus that document and the figures; 'csv'
    writes only the csv tables (no figures). What is not written this time (another format's document, the
    figures of an earlier call) stays. show(overview) is called with the summary before anything is written."""
    fmt = _parse_format(fmt)
    root = resolve_run(run)
    cells = load_cells(root)
    final = root / "report"
    if show is not None:
        show(overview(cells))
    clean_stale(root)  # staging of killed commands (dead processes only)
    clean_stale(final)
    stage = staging_dir(final)
    written: list[str] = []

    def write(rel: str, data: bytes) -> None:
        atomic_write_bytes(stage / rel, data)
        written.append(rel)

    try:
        if fmt != "csv":
            (stage / "figures").mkdir()  # replaces the old figures even when there are none to draw
        figures, notes = make_figures(cells, write) if fmt != "csv" else ([], [])
        content = build_content(root, cells, figures, notes)
        tables = tables_of(content)
        for tab in tables:
            write(f"tables/{tab.name}.csv", tab.csv())
        wanted = list(DOCS) if fmt is None else ([fmt] if fmt in DOCS else [])
        present = [k for k in DOCS if k in wanted or (final / DOCS[k]).is_file()]
        links = [f"tables/{tab.name}.csv" for tab in tables] + [DOCS[k] for k in present if k != "html"]
        for k in wanted:
            if k == "md":
                write(DOCS[k], render_markdown(content).encode())
            elif k == "latex":
                write(DOCS[k], render_latex(content).encode())
            else:
                write(DOCS[k], render_html(content, links).encode())
        _publish(stage, final, ["figures"] * (fmt != "csv") + ["tables"] + [DOCS[k] for k in wanted])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    primary = {None: "index.html", "md": "report.md", "latex": "report.tex", "html": "index.html"}.get(fmt)
    return {
        "report": str(final),
        "primary": str(final / (primary or "tables/metrics.csv")),
        "files": sorted(written),
        "figures": [f"figures/{f.file}" for f in figures],
        "cells": len(cells),
        "done": sum(c.done for c in cells),
        "failed": sum(c.row.get("status") == "failed" for c in cells),
        "damaged": [c.name for c in cells if c.row.get("status") == "damaged"],
        "contradictions": len(content.bad),
        "notes": notes,
        "findings": [{k: r[k] for k in FINDING_KEYS} for r in content.findings.rows],
    }


def _publish(stage: Path, final: Path, parts: list[str]) -> None:
    """Move each staged part (a folder, replaced as a whole, or a file) into final; the rest of final stays."""
    final.mkdir(parents=True, exist_ok=True)
    for part in parts:
        src = stage / part
        if src.is_dir():
            publish_dir(src, final / part)
        else:
            os.replace(src, final / part)
