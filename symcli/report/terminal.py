"""The summary `symcli report` prints before writing files: headline metrics by dataset, dimension and depth,
the guarantees, and the contradictions; rich tables on a terminal, plain text otherwise."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from symcli.report.content import contradiction_lines, contradictions, summary_table
from symcli.report.findings_tables import findings_table, run_findings
from symcli.report.loading import Cell
from symcli.report.tables import Table

#: The summary table's columns shown, with shorter headers.
SHOWN = {
    "dataset": "dataset",
    "dim": "d",
    "depth": "L",
    "cells": "cells",
    "failed": "failed",
    "train_accuracy": "train acc",
    "test_accuracy": "test acc",
    "objective": "objective",
    "nnz": "nnz",
    "guarantees": "guarantees",
    "max_certificate": "max cert.",
}
TITLE = "Headline metrics by dataset, dimension d and depth L (means over cells)"


@dataclass
class Overview:
    """What the terminal summary shows."""

    findings: Table
    summary: Table
    guarantees: dict[str, int]
    contradictions: list[str]


def overview(cells: list[Cell]) -> Overview:
    from symcli.fit.lasso_fit import GUARANTEES

    got = [c.row.get("guarantee") for c in cells if c.done]
    counts = {g: got.count(g) for g in (*GUARANTEES, *sorted({str(x) for x in got} - set(GUARANTEES))) if g in got}
    found = findings_table(run_findings(cells))
    return Overview(found, summary_table(cells), counts, contradiction_lines(contradictions(cells)))


#: The findings table's columns shown in the terminal.
FINDINGS_SHOWN = {
    "claim": "claim",
    "dataset": "dataset",
    "depth_shown": "L",
    "observed_shown": "observed [95% CI]",
    "null_shown": "null [95% CI]",
    "p_value": "p",
    "p_adjusted": "p (BH)",
    "verdict": "verdict",
}
FINDINGS_TITLE = "Findings (verdict rules: symcli report's findings note; every row in tables/findings.csv)"


def _rows(t: Table, shown: dict[str, str]) -> tuple[list[str], list[list[str]], list[bool]]:
    failed = any(r.get("failed") for r in t.rows)
    cols = [c for c in t.cols if c.key in shown and (failed or c.key != "failed")]
    cells = [[s if isinstance(s, str) else ", ".join(s) for s in (t.text(r, c) for c in cols)] for r in t.rows]
    numeric = [bool(c.fmt) and not callable(c.fmt) for c in cols]
    return [shown[c.key] for c in cols], cells, numeric


def _print_table(title: str, heads: list[str], rows: list[list[str]], numeric: list[bool], con) -> None:
    """One table: rich when con (a rich Console) is given, aligned plain text otherwise."""
    if con is not None:
        from rich import box
        from rich.table import Table as RichTable

        table = RichTable(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
        for i, (h, num) in enumerate(zip(heads, numeric, strict=True)):
            longest = max((len(r[i]) for r in rows), default=0)
            table.add_column(h, justify="right" if num else "left", no_wrap=num, min_width=min(longest, 20))
        for r in rows:
            table.add_row(*r)
        con.print(table)
        return
    widths = [max(len(x) for x in col) for col in zip(heads, *rows, strict=True)]

    def line(vals: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    print("\n".join([title, line(heads), line(["-" * w for w in widths])] + [line(r) for r in rows]))


def print_overview(view: Overview) -> None:
    """Print the findings and the summary on stdout: rich tables when stdout is a terminal, plain text otherwise."""
    counts = ", ".join(f"{g} {n}" for g, n in view.guarantees.items()) or "none (no finished cell)"
    bad = view.contradictions
    con = None
    if sys.stdout.isatty():
        from rich.console import Console

        con = Console()
    if view.findings.rows:
        _print_table(FINDINGS_TITLE, *_rows(view.findings, FINDINGS_SHOWN), con)
    _print_table(TITLE, *_rows(view.summary, SHOWN), con)
    if con is not None:
        con.print(f"guarantees: {counts}", markup=False, highlight=False)
        if bad:
            con.print(f"⚠ {len(bad)} contradiction(s) with the theory:", style="bold red")
            for line in bad:
                con.print(f"  {line}", style="red", markup=False, highlight=False)
        return
    out = [f"guarantees: {counts}"]
    if bad:
        out += [f"contradictions with the theory ({len(bad)}):"] + [f"  {x}" for x in bad]
    print("\n".join(out))
