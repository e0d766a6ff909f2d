"""`symcli report RUN`: tables, symmetry report and figures of a run folder, in RUN/report/.

Written (RUN/report/ is rebuilt as a whole on each call: staged, then renamed into place):

- tables/*.csv (always): summary (by dataset, dim, depth), metrics (one row per cell), failed, symmetry
  (per cell), symmetry_by_depth, top_mirrors (one row per cell and mirror, with the pinning texts), nets (one
  row per trained network) and nets_by_cell.
- report.md, report.tex and index.html (all by default; only the one named by `fmt` otherwise).
- figures/*.png (matplotlib, Agg): a fit per 1-D and 2-D cell (capped at MAX_CELL_FIGURES), family and
  nesting-level shares by depth, symmetry errors by depth, trained-network/Lasso objective ratios by depth.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from symcli.errors import UserError
from symcli.paths import atomic_write_bytes, clean_stale, publish_dir, staging_dir
from symcli.report.figures import make_figures
from symcli.report.loading import load_cells, resolve_run
from symcli.report.render import build_content, render_html, render_latex, render_markdown, tables_of

FORMATS = ("md", "html", "csv", "latex")


def _parse_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    f = fmt.strip().lower()
    f = {"tex": "latex", "markdown": "md", "htm": "html"}.get(f, f)
    if f not in FORMATS:
        raise UserError(f"unknown report format {fmt!r}; choose md, html, csv or latex (or omit --format for all)")
    return f


def build_report(run: str | Path, fmt: str | None = None) -> dict:
    """Write RUN/report/ and return {report, primary, files, figures, cells, done, failed, contradictions}.

    fmt None writes everything (csv tables, report.md, report.tex, index.html, figures) with index.html as the
    primary file; 'md', 'latex' or 'html' writes the csv tables plus that document and the figures; 'csv'
    writes only the csv tables (no figures)."""
    fmt = _parse_format(fmt)
    root = resolve_run(run)
    cells = load_cells(root)
    final = root / "report"
    clean_stale(root)  # staging of killed commands (dead processes only)
    stage = staging_dir(final)
    written: list[str] = []

    def write(rel: str, data: bytes) -> None:
        atomic_write_bytes(stage / rel, data)
        written.append(rel)

    try:
        figures, notes = make_figures(cells, write) if fmt != "csv" else ([], [])
        content = build_content(root, cells, figures, notes)
        tables = tables_of(content)
        for tab in tables:
            write(f"tables/{tab.name}.csv", tab.csv())
        docs = {"md": "report.md", "latex": "report.tex", "html": "index.html"}
        wanted = list(docs) if fmt is None else ([fmt] if fmt in docs else [])
        links = [f"tables/{tab.name}.csv" for tab in tables] + [docs[k] for k in wanted if k != "html"]
        for k in wanted:
            if k == "md":
                write(docs[k], render_markdown(content).encode())
            elif k == "latex":
                write(docs[k], render_latex(content).encode())
            else:
                write(docs[k], render_html(content, links).encode())
        publish_dir(stage, final)
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
    }
