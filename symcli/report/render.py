"""The report document: what it shows (Content), its blocks, and their HTML, Markdown and LaTeX renderings."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from symcli.report.content import (
    contradiction_lines,
    contradictions,
    failed_table,
    metrics_table,
    mirror_rows,
    mirrors_table,
    nets_summary_table,
    nets_table,
    summary_table,
    symmetry_tables,
)
from symcli.report.figures import MAX_CELL_FIGURES, FigureInfo
from symcli.report.findings_tables import findings_table, run_findings, scores_table, targets_table
from symcli.report.fitplots import cell_title
from symcli.report.loading import Cell, read_json
from symcli.report.meta import LEGEND, header
from symcli.report.tables import Table, md_escape, tex_escape


@dataclass
class Content:
    """Everything a document shows."""

    run: str
    header: list[tuple[str, str]]
    cells: list[Cell]
    findings: Table
    scores: Table
    targets: Table
    summary: Table
    metrics: Table
    failed: Table
    by_depth: Table
    per_cell: Table
    mirrors: list[dict]
    nets: Table
    nets_by_cell: Table
    bad: list[dict]
    figures: list[FigureInfo]
    notes: list[str]


def build_content(root: Path, cells: list[Cell], figures: list[FigureInfo], notes: list[str]) -> Content:
    run = read_json(root / "run.json") or {}
    beta_mode = ((run.get("config") or {}).get("fit") or {}).get("beta_mode", "fraction")
    by_depth, per_cell = symmetry_tables(cells)
    return Content(
        run=root.name,
        header=header(root, cells),
        cells=cells,
        findings=findings_table(run_findings(cells)),
        scores=scores_table(cells),
        targets=targets_table(cells),
        summary=summary_table(cells),
        metrics=metrics_table(cells, beta_mode),
        failed=failed_table(cells),
        by_depth=by_depth,
        per_cell=per_cell,
        mirrors=mirror_rows(cells),
        nets=nets_table(cells),
        nets_by_cell=nets_summary_table(cells),
        bad=contradictions(cells),
        figures=figures,
        notes=notes,
    )


def tables_of(c: Content) -> list[Table]:
    """The tables written as csv."""
    firsts = [c.findings, c.scores, c.targets, c.summary, c.metrics, c.failed]
    return firsts + [c.by_depth, c.per_cell, mirrors_table(c.mirrors), c.nets, c.nets_by_cell]


def blocks(c: Content) -> list[tuple]:
    """The document as blocks: ('h', level, text), ('p', text), ('table', Table), ('alert', title, lines),
    ('ok', text), ('meta', pairs), ('legend', pairs), ('figures', [FigureInfo])."""
    b: list[tuple] = [("meta", c.header)]
    if c.bad:
        b.append(
            (
                "alert",
                f"⚠ {len(c.bad)} contradiction(s) with the theory: a trained network ended below an exact or "
                "certified Lasso optimum",
                contradiction_lines(c.bad),
            )
        )
    elif c.nets.rows:
        n = sum(r["model"].startswith("parallel") for r in c.nets.rows)
        b.append(("ok", f"No contradictions: none of the {n} trained networks ended below its Lasso optimum."))
    if c.findings.rows:
        b += [("h", 2, c.findings.title), ("table", c.findings), ("p", c.findings.note)]
    if c.scores.rows:
        b += [("h", 2, c.scores.title), ("table", c.scores), ("p", c.scores.note)]
    if c.targets.rows:
        b += [("h", 3, c.targets.title), ("table", c.targets)]
    b.append(("legend", LEGEND))
    grouped = any(r["cells"] > 1 for r in c.summary.rows)
    overview = [f for f in c.figures if f.cell is None]
    b.append(("h", 2, "Headline metrics"))
    b += [("h", 3, c.summary.title), ("table", c.summary)] if grouped else [("table", c.metrics)]
    if overview:
        b += [("h", 2, "Overview figures"), ("figures", overview)]
    if grouped:
        b += [("h", 2, "Headline metrics per cell"), ("table", c.metrics)]
    if c.failed.rows:
        b += [("h", 3, f"Failed or damaged cells ({len(c.failed.rows)})"), ("table", c.failed)]
    if c.by_depth.rows:
        b += [("h", 2, "Symmetry"), ("h", 3, c.by_depth.title), ("table", c.by_depth), ("p", c.by_depth.note)]
        if grouped:
            b += [("h", 3, c.per_cell.title), ("table", c.per_cell)]
        b.append(("h", 3, "Top mirrors and the training texts that pin them"))
        b.append(
            (
                "p",
                "Largest |z| first. Mirror H = {wᵀx + a = 0}; offsets c give the nested mirrors "
                "wᵀx + a = ±c₂ (±c₃ …); pins are training-point indices of the cell, shown with the row id in the "
                "dataset's split and the label y of each pinning text.",
            )
        )
        names = list(dict.fromkeys(r["cell"] for r in c.mirrors))
        for name in names[:MAX_CELL_FIGURES]:
            cell = next(x for x in c.cells if x.name == name)
            rows = [r for r in c.mirrors if r["cell"] == name]
            b += [("h", 4, f"{name}: {cell_title(cell)}"), ("table", mirrors_table(rows))]
        if len(names) > MAX_CELL_FIGURES:
            b.append(("p", f"Top mirrors of the other {len(names) - MAX_CELL_FIGURES} cells: tables/top_mirrors.csv"))
    if c.nets_by_cell.rows:
        b += [("h", 2, c.nets_by_cell.title), ("table", c.nets_by_cell), ("p", c.nets_by_cell.note)]
    fits = [f for f in c.figures if f.cell is not None]
    if fits or c.notes:
        b += [("h", 2, "Fit figures")] + [("p", n) for n in c.notes] + [("figures", fits)]
    return b


CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1250px;margin:24px auto;
padding:0 18px;color:#222}
h1{font-size:24px;margin-bottom:4px}h2{margin-top:34px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{margin-top:22px;font-size:15px}h4{margin:16px 0 4px;font-size:13.5px}
table{border-collapse:collapse;margin:8px 0 14px;font-size:12.5px}
th,td{border:1px solid #d4d4d4;padding:3px 7px;vertical-align:top}th{background:#f0f3f7;text-align:left}
tbody tr:nth-child(even){background:#fafafa}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fff0f0}
table.mirrors td:last-child{max-width:560px;font-size:12px}
.meta td:first-child{font-weight:600;background:#f6f6f6}
.alert{border:3px solid #c00;background:#fff0f0;padding:10px 16px;margin:16px 0;border-radius:6px}
.alert h2{color:#c00;border:none;margin:4px 0;font-size:18px}
.ok{border-left:4px solid #3a3;background:#f3fbf3;padding:6px 12px}
.note{color:#555;font-size:12.5px}
dl.legend{font-size:12.5px;border-left:4px solid #bbb;background:#f8f8f8;padding:6px 12px;margin:12px 0}
dl.legend dt{font-weight:600;float:left;clear:left;width:90px}dl.legend dd{margin:0 0 3px 100px}
td div+div{margin-top:4px}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:18px}
figure{margin:0;border:1px solid #ddd;padding:8px;background:#fff}figure img{width:100%;height:auto}
figcaption{font-size:12px;color:#444;margin-top:4px}
"""


def render_html(c: Content, files: list[str]) -> str:
    """A self-contained page (inline CSS, relative image paths, no scripts or external resources)."""
    e = html.escape
    p = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>symcli report: {e(c.run)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>symcli report: {e(c.run)}</h1>",
    ]
    for blk in blocks(c):
        kind = blk[0]
        if kind == "meta":
            p.append('<table class="meta">' + "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in blk[1]))
            p.append("</table>")
        elif kind == "legend":
            items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in blk[1])
            p.append(f'<dl class="legend" id="legend">{items}</dl>')
        elif kind == "alert":
            items = "".join(f"<li>{e(s)}</li>" for s in blk[2])
            p.append(f'<div class="alert" id="contradictions"><h2>{e(blk[1])}</h2><ul>{items}</ul></div>')
        elif kind == "ok":
            p.append(f'<p class="ok">{e(blk[1])}</p>')
        elif kind == "h":
            p.append(f"<h{blk[1]}>{e(blk[2])}</h{blk[1]}>")
        elif kind == "p":
            p.append(f'<p class="note">{e(blk[1])}</p>')
        elif kind == "table":
            p.append(blk[1].html())
        elif kind == "figures":
            p.append('<div class="figs">')
            for f in blk[1]:
                src = f"figures/{quote(f.file)}"
                p.append(
                    f'<figure><a href="{src}"><img src="{src}" alt="{e(f.caption)}"></a>'
                    f"<figcaption>{e(f.caption)}</figcaption></figure>"
                )
            p.append("</div>")
    links = " · ".join(f'<a href="{quote(x)}">{e(x)}</a>' for x in files)
    p += ["<h2>Files</h2>", f'<p class="note">{links}</p>', "</body></html>"]
    return "\n".join(p) + "\n"


def render_markdown(c: Content) -> str:
    e = md_escape
    p = [f"# symcli report: {e(c.run)}", ""]
    for blk in blocks(c):
        kind = blk[0]
        if kind == "meta":
            p += [f"- **{e(k)}**: {e(v)}" for k, v in blk[1]] + [""]
        elif kind == "legend":
            p += ["**Legend**", ""] + [f"- **{e(k)}**: {e(v)}" for k, v in blk[1]] + [""]
        elif kind == "alert":
            p += [f"> **{e(blk[1])}**", ">"] + [f"> - {e(s)}" for s in blk[2]] + [""]
        elif kind in ("ok", "p"):
            p += [e(blk[1]), ""]
        elif kind == "h":
            p += ["#" * blk[1] + " " + e(blk[2]), ""]
        elif kind == "table":
            p += [blk[1].markdown(), ""]
        elif kind == "figures":
            p += [f"![{e(f.caption)}](figures/{quote(f.file)})\n\n_{e(f.caption)}_\n" for f in blk[1]]
    return "\n".join(p) + "\n"


LATEX_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\usepackage[margin=2cm]{geometry}
\usepackage{graphicx}
\DeclareUnicodeCharacter{03B2}{$\beta$}
\DeclareUnicodeCharacter{2212}{-}
\DeclareUnicodeCharacter{00B1}{$\pm$}
\DeclareUnicodeCharacter{1D40}{$^T$}
\DeclareUnicodeCharacter{2082}{$_2$}
\DeclareUnicodeCharacter{2083}{$_3$}
\DeclareUnicodeCharacter{201C}{``}
\DeclareUnicodeCharacter{201D}{''}
\DeclareUnicodeCharacter{2026}{\ldots}
\DeclareUnicodeCharacter{2014}{---}
\DeclareUnicodeCharacter{00B7}{$\cdot$}
\DeclareUnicodeCharacter{26A0}{!}
\DeclareUnicodeCharacter{00B6}{\P{}}
\DeclareUnicodeCharacter{2265}{$\geq$}
\DeclareUnicodeCharacter{00D7}{$\times$}
\DeclareUnicodeCharacter{03BB}{$\lambda$}
\DeclareUnicodeCharacter{03C6}{$\varphi$}
\begin{document}
"""


def render_latex(c: Content) -> str:
    """A standalone LaTeX document (pdflatex; graphicx) with the tables and figures."""
    t = tex_escape
    p = [LATEX_PREAMBLE + f"\\section*{{symcli report: {t(c.run)}}}"]
    heads = {2: "subsection*", 3: "subsubsection*", 4: "paragraph"}
    for blk in blocks(c):
        kind = blk[0]
        if kind == "meta":
            p += ["\\begin{itemize}", *[f"\\item \\textbf{{{t(k)}}}: {t(v)}" for k, v in blk[1]], "\\end{itemize}"]
        elif kind == "legend":
            p += ["\\paragraph{Legend}", "\\begin{description}"]
            p += [f"\\item[{t(k)}] {t(v)}" for k, v in blk[1]] + ["\\end{description}"]
        elif kind == "alert":
            p += [f"\\subsection*{{{t(blk[1])}}}", "\\begin{itemize}", *[f"\\item {t(s)}" for s in blk[2]]]
            p.append("\\end{itemize}")
        elif kind in ("ok", "p"):
            p += [t(blk[1]), ""]
        elif kind == "h":
            p.append(f"\\{heads[blk[1]]}{{{t(blk[2])}}}")
        elif kind == "table":
            p.append(blk[1].latex())
        elif kind == "figures":
            for f in blk[1]:
                p += [
                    "\\begin{figure}[htbp]\\centering",
                    f"\\includegraphics[width=0.95\\linewidth]{{figures/{f.file}}}",
                    f"\\caption{{{t(f.caption)}}}",
                    "\\end{figure}",
                ]
    p.append("\\end{document}")
    return "\n".join(p) + "\n"
