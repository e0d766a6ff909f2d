"""Report tables: columns and rows with their csv, Markdown, HTML and LaTeX forms; formatting and escaping."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Col:
    """A table column: row key, header, and a format spec ('.3f', '.2e', 'd', ...) or a function."""

    key: str
    head: str
    fmt: str | Callable[[object], str] = ""


@dataclass
class Table:
    """Rows (dicts) shown with columns cols; written to tables/<name>.csv with csv_cols (default: the keys)."""

    name: str
    title: str
    cols: list[Col]
    rows: list[dict]
    note: str = ""
    csv_cols: list[str] | None = None
    css: str = ""

    def text(self, row: dict, col: Col) -> str | list[str]:
        return fmt_value(row.get(col.key), col.fmt)

    def csv(self) -> bytes:
        import pandas as pd

        keys = self.csv_cols or [c.key for c in self.cols]
        rows = [{k: _csv_value(r.get(k)) for k in keys} for r in self.rows]
        return pd.DataFrame(rows, columns=keys).to_csv(index=False).encode()

    def markdown(self) -> str:
        esc = md_escape
        lines = ["| " + " | ".join(esc(c.head) for c in self.cols) + " |", "|" + "---|" * len(self.cols)]
        for r in self.rows:
            cells = [self.text(r, c) for c in self.cols]
            lines.append("| " + " | ".join(esc(_join(v, " / ")) for v in cells) + " |")
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(c.head)}</th>" for c in self.cols)
        body = []
        for r in self.rows:
            tds = []
            for c in self.cols:
                v = self.text(r, c)
                num = isinstance(r.get(c.key), (int, float, np.number)) and not isinstance(r.get(c.key), bool)
                inner = "".join(f"<div>{html_text(s)}</div>" for s in v) if isinstance(v, list) else html_text(v)
                tds.append(f'<td class="num">{inner}</td>' if num else f"<td>{inner}</td>")
            cls = ' class="failed"' if r.get("status") == "failed" else ""
            body.append(f"<tr{cls}>{''.join(tds)}</tr>")
        css = f' class="{self.css}"' if self.css else ""
        return f"<table{css}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def latex(self) -> str:
        spec = "".join("r" if c.fmt and not callable(c.fmt) else "l" for c in self.cols)
        out = [
            "\\begin{center}\\resizebox{\\linewidth}{!}{%",
            f"\\begin{{tabular}}{{{spec}}}",
            "\\hline",
            " & ".join(tex_escape(c.head) for c in self.cols) + " \\\\",
            "\\hline",
        ]
        for r in self.rows:
            out.append(" & ".join(tex_escape(_join(self.text(r, c), "; ")) for c in self.cols) + " \\\\")
        out += ["\\hline", "\\end{tabular}}\\end{center}"]
        return "\n".join(out)


def _join(v: str | list[str], sep: str) -> str:
    return sep.join(v) if isinstance(v, list) else v


def _csv_value(v):
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return v


def missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_value(v, spec: str | Callable[[object], str] = "") -> str | list[str]:
    """A table entry as text: '' for missing values, spec applied to numbers, lists kept as lists."""
    if callable(spec):
        return spec(v)
    if missing(v):
        return ""
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    if spec and isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return format(int(v) if spec == "d" else float(v), spec)
    return str(v)


#: Shown for a line break where a format has none (Markdown table rows, LaTeX tabular cells).
BREAK = " ¶ "


def html_text(s: str) -> str:
    """Plain text as HTML: escaped, its line breaks kept as <br>."""
    return html.escape(str(s)).replace("\n", "<br>")


def tex_escape(s: str) -> str:
    """Escape LaTeX's special characters in plain text; line breaks become a visible ¶."""
    rep = {
        "\n": BREAK,
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(rep.get(ch, ch) for ch in s)


def md_escape(s: str) -> str:
    """Text (dataset texts, names) as inert Markdown, as html.escape and tex_escape do for the other formats:
    no raw HTML (& < > become entities), no links, images or code spans ([ ] ` escaped), and nothing that
    breaks a table row or line (backslash and | escaped, line breaks shown as ¶)."""
    s = str(s).replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "|[]`":
        s = s.replace(ch, "\\" + ch)
    return BREAK.join(s.splitlines())
