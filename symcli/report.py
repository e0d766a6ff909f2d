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

import html
import io
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from symcli.errors import UserError
from symcli.lasso.features import psi
from symcli.paths import atomic_write_bytes, clean_stale, publish_dir, results_dir, staging_dir

FORMATS = ("md", "html", "csv", "latex")
MAX_CELL_FIGURES = 24
TOP_IN_FIGURES = 3
TEXT_CHARS = 200
FAMILY_NAMES = ("plane", "reflection", "midpoint")
FAMILY_COLORS = {"plane": "#4c72b0", "reflection": "#dd8452", "midpoint": "#55a868"}
LEVEL_COLORS = ("#8c8c8c", "#c44e52", "#8172b3")
FEATURE_COLORS = ("#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
POS_COLOR, NEG_COLOR = "#2166ac", "#b2182b"
KEYS = ("dataset", "dim", "depth", "projection", "n_train", "beta_grid", "seed")


# ------------------------------------------------------------------------------------------------ tables


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
                inner = "<br>".join(html.escape(s) for s in v) if isinstance(v, list) else html.escape(v)
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


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_value(v, spec: str | Callable[[object], str] = "") -> str | list[str]:
    """A table entry as text: '' for missing values, spec applied to numbers, lists kept as lists."""
    if callable(spec):
        return spec(v)
    if _missing(v):
        return ""
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    if spec and isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return format(int(v) if spec == "d" else float(v), spec)
    return str(v)


def tex_escape(s: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    rep = {
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


def _short(t: str) -> str:
    t = " ".join(str(t).split())
    return t if len(t) <= TEXT_CHARS else t[: TEXT_CHARS - 1] + "…"


# ------------------------------------------------------------------------------------------------ loading


@dataclass
class Cell:
    """One row of results.parquet with its folder's metrics and solution (when done)."""

    row: dict
    folder: Path
    metrics: dict | None = None
    solution: dict | None = None
    pin_texts: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.row["cell"])

    @property
    def done(self) -> bool:
        return self.row.get("status") == "done" and self.metrics is not None


def resolve_run(run: str | Path) -> Path:
    """The run folder of a path or name; UserError when it is missing or has no results.parquet."""
    from symcli.runs import run_dir

    root = run_dir(str(run))
    if not root.is_dir():
        raise UserError(
            f"no run {str(run)!r}: {root} is not a folder; give a run folder or a run name under "
            f"$SYMCLI_RESULTS_DIR ({results_dir()})"
        )
    if not (root / "results.parquet").is_file():
        raise UserError(f"run {root} has no results.parquet; run `symcli run CONFIG` first")
    return root


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_cells(root: Path) -> list[Cell]:
    """The cells of results.parquet, sorted by dataset, dim, depth and the other grid axes."""
    import pandas as pd

    try:
        df = pd.read_parquet(root / "results.parquet")
    except Exception as e:  # a truncated or foreign file
        raise UserError(f"cannot read {root / 'results.parquet'} ({type(e).__name__}: {e})") from None
    if df.empty or "cell" not in df.columns:
        raise UserError(f"{root / 'results.parquet'} lists no cells; run `symcli run CONFIG` first")
    from symcli.runs import read_status

    cells = []
    for rec in df.to_dict("records"):
        row = {k: (None if _missing(v) else (v.item() if isinstance(v, np.generic) else v)) for k, v in rec.items()}
        folder = root / str(row["cell"])
        c = Cell(row, folder)
        state, status = read_status(folder)
        if state == "damaged":  # named in the report; its files are not read
            row["status"], row["error"] = "damaged", f"{status['problem']}; `symcli run` recomputes it"
        cfg = _read_json(folder / "config.json") or {}
        row["beta_grid"] = (cfg.get("cell") or {}).get("beta", row.get("beta"))
        if row.get("status") == "done":
            c.metrics = _read_json(folder / "metrics.json")
            if c.metrics is not None:
                row["beta_grid"] = c.metrics.get("cell", {}).get("beta", row["beta_grid"])
                row["beta"] = c.metrics.get("beta", row.get("beta"))
            if (folder / "solution.npz").is_file():
                with np.load(folder / "solution.npz") as z:
                    c.solution = {k: z[k] for k in z.files}
            c.pin_texts = _feature_texts(folder / "features.csv")
        else:
            row["beta"] = None  # the absolute beta is known only once a cell has run
        cells.append(c)
    order = {d: i for i, d in enumerate(dict.fromkeys(c.row.get("dataset") for c in cells))}  # config order
    cells.sort(key=lambda c: (order[c.row.get("dataset")], *(_sort_key(c.row.get(k)) for k in KEYS[1:])))
    return cells


def _sort_key(v):
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


def _feature_texts(path: Path) -> dict:
    """{(family, rounded a, pinning points): texts} from features.csv (empty when absent)."""
    import pandas as pd

    if not path.is_file():
        return {}
    df = pd.read_csv(path, keep_default_na=False)
    out = {}
    for r in df.to_dict("records"):
        try:
            out[(r["family"], round(float(r["a"]), 9), tuple(json.loads(r["pins"])))] = json.loads(r["pin_texts"])
        except (KeyError, ValueError, TypeError):
            continue
    return out


def mirror_texts(cell: Cell, m: dict) -> list[str]:
    """Texts of the training points that pin a top mirror (metrics first, features.csv otherwise)."""
    if m.get("texts"):
        return list(m["texts"])
    pts = tuple(m.get("pinning_points") or sorted(set(m.get("pins", [])) | set(m.get("span", []))))
    return list(cell.pin_texts.get((m.get("family"), round(float(m.get("a", 0.0)), 9), pts), []))


# ------------------------------------------------------------------------------------------------ math


def cell_function(sol: dict) -> Callable[[np.ndarray], np.ndarray]:
    """f(x) = sum_j z_j psi_(c_j)(w_j^T x + a_j) + xi from solution.npz arrays; f maps (M, d) to (M,)."""
    W, a, c, z, xi = (np.asarray(sol[k], dtype=float) for k in ("W", "a", "c", "z", "xi"))

    def f(P: np.ndarray) -> np.ndarray:
        if len(z) == 0:
            return np.full(len(P), float(xi))
        return z @ psi(W @ np.asarray(P, float).T + a[:, None], c) + float(xi)

    return f


def kink_offsets(c) -> list[tuple[float, int]]:
    """Values u of the pre-activation w^T x + a where psi_c kinks, with their nesting level: 0 at u = 0,
    level l where the l-th nested argument vanishes (u = +-c_2, +-(c_2 +- c_3), ...; only real ones)."""
    c = [float(v) for v in c]
    out = [(0.0, 0)]
    for lvl in range(1, len(c) + 1):
        t = np.array([c[lvl - 1]])
        for j in range(lvl - 1, 0, -1):  # |h_(j-1) - c_j| = t  =>  h_(j-1) = c_j +- t  (>= 0)
            t = np.concatenate([c[j - 1] + t, c[j - 1] - t])
            t = t[t >= 0]
        out += [(float(u), lvl) for u in np.unique(np.concatenate([t, -t]))]
    return out


def kinks_1d(w: float, a: float, c) -> list[tuple[float, int]]:
    """Kink positions x (and levels) of psi_c(w x + a) on the line."""
    return [((u - a) / w, lvl) for u, lvl in kink_offsets(c)] if w else []


# ------------------------------------------------------------------------------------------------ figures


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def cell_title(cell: Cell) -> str:
    r, m = cell.row, cell.metrics or {}
    beta = r.get("beta")
    frac = m.get("beta_fraction")
    b = f"β={beta:.3g}" + (f" ({frac:g}·β_max)" if frac else "") if beta is not None else ""
    return f"{r['dataset']} · depth L={r['depth']} · dim d={r['dim']} · {b}"


def cell_subtitle(cell: Cell) -> str:
    r = cell.row
    parts = [f"{r.get('projection')}, N={r.get('n_train')}, seed {r.get('seed')}"]
    if r.get("nnz") is not None:
        parts.append(f"nnz={int(r['nnz'])}")
    if r.get("objective") is not None:
        parts.append(f"objective {r['objective']:.5g} ({r.get('guarantee')})")
    if r.get("train_accuracy") is not None:
        test = r.get("test_accuracy")
        parts.append(f"acc train {r['train_accuracy']:.2f}" + (f" / test {test:.2f}" if test is not None else ""))
    return ", ".join(parts)


def _is_labels(y: np.ndarray) -> bool:
    return len(y) > 0 and bool(np.all(np.isin(y, (-1.0, 1.0))))


def _top(cell: Cell) -> list[dict]:
    return list(((cell.metrics or {}).get("symmetry", {}).get("lasso", {}).get("top_mirrors") or [])[:TOP_IN_FIGURES])


def fig_fit_1d(cell: Cell) -> bytes:
    """Training data, f on a grid, all kinks of f, the top mirrors with nested kinks, reflected pins."""
    from matplotlib.lines import Line2D

    sol = cell.solution
    X, y = sol["X"][:, 0], sol["y"]
    Xt, yt = sol["X_test"].reshape(-1, 1)[:, 0], sol["y_test"]
    f = cell_function(sol)
    lo, hi = float(X.min()), float(X.max())
    pad = 0.1 * (hi - lo) + 1e-9
    lo, hi = lo - pad, hi + pad
    grid = np.linspace(lo, hi, 1200)
    fig = _figure(8.0, 5.0)
    ax = fig.add_subplot()
    handles = []
    if len(Xt):
        ax.scatter(Xt, yt, s=12, marker="x", color="0.6", alpha=0.5, linewidths=0.8)
        handles.append(Line2D([], [], ls="", marker="x", color="0.6", label=f"test points ({len(Xt)})"))
    if _is_labels(y):
        for lab, col, name in ((1.0, POS_COLOR, "train y=+1"), (-1.0, NEG_COLOR, "train y=−1")):
            k = y == lab
            ax.scatter(X[k], y[k], s=40, color=col, edgecolor="black", linewidths=0.6, zorder=4)
            handles.append(Line2D([], [], ls="", marker="o", color=col, mec="black", label=f"{name} ({k.sum()})"))
    else:
        ax.scatter(X, y, s=40, color="0.3", edgecolor="black", zorder=4)
        handles.append(Line2D([], [], ls="", marker="o", color="0.3", label="train (x, y)"))
    ax.plot(grid, f(grid[:, None]), color="black", lw=1.6, zorder=3)
    handles.append(Line2D([], [], color="black", lw=1.6, label="fitted f(x)"))
    W, a, c = sol["W"][:, 0], sol["a"], sol["c"]
    ks = np.array([x for j in range(len(W)) for x, _ in kinks_1d(W[j], a[j], c[j])])
    ks = ks[(ks >= lo) & (ks <= hi)] if len(ks) else ks
    if len(ks):
        ax.plot(ks, f(ks[:, None]), ls="", marker="D", ms=3.5, color="white", mec="black", mew=0.8, zorder=5)
        handles.append(Line2D([], [], ls="", marker="D", ms=4, color="white", mec="black", label="kinks of f"))
    styles = {0: "-", 1: "--", 2: ":"}
    drew_refl = False
    for i, m in enumerate(_top(cell)):
        col = FEATURE_COLORS[i % len(FEATURE_COLORS)]
        w0 = float(m["w"][0])
        for x, lvl in kinks_1d(w0, float(m["a"]), m["c"]):
            if lo <= x <= hi:
                ax.axvline(x, color=col, ls=styles.get(lvl, ":"), lw=1.3 if lvl == 0 else 1.0, alpha=0.9, zorder=2)
        mirror = -float(m["a"]) / w0 if w0 else None
        pts = [p for p in m.get("pinning_points", []) if 0 <= p < len(X)]
        ax.scatter(X[pts], y[pts], s=160, facecolor="none", edgecolor=col, linewidths=1.8, zorder=5)
        scale = 1e-9 * max(1.0, float(np.abs(X).max()))
        refl = [2 * mirror - X[p] for p in pts] if mirror is not None else []
        refl = [r for r in refl if lo <= r <= hi and np.min(np.abs(X - r)) > scale]  # new points only
        if refl:
            drew_refl = True
            ax.plot(
                refl,
                [0.03] * len(refl),
                ls="",
                marker="^",
                ms=9,
                color=col,
                mec="black",
                mew=0.6,
                transform=ax.get_xaxis_transform(),
                zorder=6,
                clip_on=False,
            )
        label = f"#{i + 1} {m['family']} z={m['z']:+.3g}: mirror x={mirror:.3g}" if mirror is not None else ""
        handles.append(Line2D([], [], color=col, lw=1.5, label=label + f", E_H={m.get('E_H', float('nan')):.2f}"))
    if any(len(m["c"]) for m in _top(cell)):
        handles.append(Line2D([], [], color="0.3", ls="--", lw=1, label="nested kinks (±c₂, ±(c₂±c₃))"))
    if _top(cell):
        handles.append(Line2D([], [], ls="", marker="o", ms=10, mfc="none", mec="0.3", mew=1.5, label="pinning points"))
    if drew_refl:
        handles.append(
            Line2D([], [], ls="", marker="^", ms=8, color="0.6", mec="black", label="reflected pins 2x_j − x_k")
        )
    ax.axhline(0, color="0.7", lw=0.8, zorder=1)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("x (1-D projection of the embedding)")
    ax.set_ylabel("y, f(x)")
    fig.suptitle(cell_title(cell) + "\n" + cell_subtitle(cell), fontsize=10)
    ax.grid(alpha=0.25)
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    return _png(fig)


def _line_points(w: np.ndarray, a: float, u: float):
    """Two points on {w^T x + a = u} in the plane."""
    p0 = (u - a) * w / float(w @ w)
    return tuple(p0), tuple(p0 + np.array([-w[1], w[0]]))


def fig_fit_2d(cell: Cell) -> bytes:
    """Contour of f over the data box, training points by label, top mirror lines and their nested lines."""
    import matplotlib.patheffects as pe
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.lines import Line2D

    sol = cell.solution
    X, y = sol["X"], sol["y"]
    f = cell_function(sol)
    lo, hi = X.min(0), X.max(0)
    pad = 0.12 * (hi - lo) + 1e-9
    lo, hi = lo - pad, hi + pad
    g0, g1 = np.linspace(lo[0], hi[0], 220), np.linspace(lo[1], hi[1], 220)
    G0, G1 = np.meshgrid(g0, g1)
    F = f(np.column_stack([G0.ravel(), G1.ravel()])).reshape(G0.shape)
    fig = _figure(8.6, 6.4)
    ax = fig.add_subplot()
    fmin, fmax = float(F.min()), float(F.max())
    handles = []
    if fmax - fmin > 1e-12 * max(1.0, abs(fmax)):
        norm = TwoSlopeNorm(0.0, fmin, fmax) if fmin < 0 < fmax else None
        cs = ax.contourf(G0, G1, F, levels=21, cmap="RdBu", norm=norm, alpha=0.85)
        fig.colorbar(cs, ax=ax, label="fitted f(x)", shrink=0.9)
        if fmin < 0 < fmax:
            ax.contour(G0, G1, F, levels=[0.0], colors="black", linewidths=1.6)
            handles.append(Line2D([], [], color="black", lw=1.6, label="decision boundary f = 0"))
    if _is_labels(y):
        for lab, col, name in ((1.0, POS_COLOR, "train y=+1"), (-1.0, NEG_COLOR, "train y=−1")):
            k = y == lab
            ax.scatter(X[k, 0], X[k, 1], s=42, color=col, edgecolor="white", linewidths=1.0, zorder=4)
            handles.append(Line2D([], [], ls="", marker="o", color=col, mec="white", label=f"{name} ({k.sum()})"))
    else:
        sc = ax.scatter(X[:, 0], X[:, 1], c=y, s=42, cmap="viridis", edgecolor="white", zorder=4)
        fig.colorbar(sc, ax=ax, label="target y", shrink=0.9)
    styles = {0: "-", 1: "--", 2: ":"}
    stroke = [pe.withStroke(linewidth=3.2, foreground="white")]
    for i, m in enumerate(_top(cell)):
        col = FEATURE_COLORS[i % len(FEATURE_COLORS)]
        w = np.asarray(m["w"], float)
        for u, lvl in kink_offsets(m["c"]):
            p, q = _line_points(w, float(m["a"]), u)
            ax.axline(p, q, color=col, ls=styles.get(lvl, ":"), lw=2.0 if lvl == 0 else 1.4, path_effects=stroke)
        pts = [p for p in m.get("pinning_points", []) if 0 <= p < len(X)]
        ax.scatter(X[pts, 0], X[pts, 1], s=190, facecolor="none", edgecolor=col, linewidths=2.0, zorder=5)
        handles.append(
            Line2D(
                [],
                [],
                color=col,
                lw=2,
                label=f"#{i + 1} {m['family']} z={m['z']:+.3g}, E_H={m.get('E_H', float('nan')):.2f}",
            )
        )
    if _top(cell):
        handles += [
            Line2D([], [], color="0.3", lw=2, label="mirror wᵀx + a = 0"),
            Line2D([], [], ls="", marker="o", ms=10, mfc="none", mec="0.3", mew=1.5, label="pinning points"),
        ]
        if any(len(m["c"]) for m in _top(cell)):
            handles.append(Line2D([], [], color="0.3", ls="--", lw=1.4, label="nested wᵀx + a = ±c₂"))
        if any(len(m["c"]) > 1 for m in _top(cell)):
            handles.append(Line2D([], [], color="0.3", ls=":", lw=1.4, label="nested ±(c₂ ± c₃)"))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x₁ (projected embedding)")
    ax.set_ylabel("x₂ (projected embedding)")
    fig.suptitle(cell_title(cell) + "\n" + cell_subtitle(cell), fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8)
    return _png(fig)


def _groups(cells: list[Cell]) -> dict:
    """{(dim, depth): [done cells]} in sorted order."""
    out: dict = {}
    for c in cells:
        if c.done:
            out.setdefault((int(c.row["dim"]), int(c.row["depth"])), []).append(c)
    return dict(sorted(out.items()))


def fig_shares(cells: list[Cell]) -> bytes:
    """Stacked bars of l1-mass shares per family (top) and nesting level (bottom), mean over cells."""
    groups = _groups(cells)
    labels = [f"L={L}\nd={d}" for d, L in groups]
    x = np.arange(len(groups))
    fig = _figure(max(5.5, 1.2 * len(groups) + 3.0), 6.6)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    levels = max((L - 1 for _, L in groups), default=1)
    for ax, names, colors, prefix, title in (
        (ax1, FAMILY_NAMES, [FAMILY_COLORS[n] for n in FAMILY_NAMES], "share_", "families"),
        (ax2, [f"level{k}" for k in range(levels)], LEVEL_COLORS, "share_", "nesting levels"),
    ):
        bottom = np.zeros(len(groups))
        for name, col in zip(names, colors, strict=False):
            v = np.array([np.mean([c.row.get(prefix + name) or 0.0 for c in g]) for g in groups.values()])
            label = name if title == "families" else f"{name[5:]} nested mirror" + ("s" if name[5:] != "1" else "")
            ax.bar(x, v, bottom=bottom, color=col, edgecolor="white", label=label, width=0.6)
            for xi, b, h in zip(x, bottom, v, strict=True):
                if h >= 0.06:
                    ax.text(xi, b + h / 2, f"{h:.2f}", ha="center", va="center", fontsize=8, color="white")
            bottom += v
        ax.set_ylim(0, 1.0)
        ax.set_ylabel(f"l1-mass share ({title})")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax.grid(axis="y", alpha=0.25)
    counts = [len(g) for g in groups.values()]
    ax2.set_xticks(x, [f"{lab}\n({n} cell{'s' if n > 1 else ''})" for lab, n in zip(labels, counts, strict=True)])
    ax2.set_xlabel("depth L and dimension d")
    fig.suptitle("Where the l1 mass of the Lasso solutions sits, by depth (mean over cells)", fontsize=11)
    return _png(fig)


def _xpos(groups: dict) -> dict:
    return {k: i for i, k in enumerate(groups)}


def fig_symmetry_errors(cells: list[Cell]) -> bytes:
    """E_H of f about each top mirror (dots) and the cell means (diamonds) by depth."""
    groups = _groups(cells)
    pos = _xpos(groups)
    fig = _figure(max(5.5, 1.2 * len(groups) + 3.0), 4.4)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    first = True
    for k, g in groups.items():
        for c in g:
            errs = [m["E_H"] for m in c.metrics["symmetry"]["lasso"].get("top_mirrors", []) if "E_H" in m]
            xs = pos[k] + rng.uniform(-0.15, 0.15, len(errs))
            ax.scatter(xs, errs, s=18, color="0.45", alpha=0.7, label="E_H about one top mirror" if first else None)
            if c.row.get("mean_E_H") is not None:
                ax.scatter(
                    pos[k],
                    c.row["mean_E_H"],
                    s=70,
                    marker="D",
                    color="#c44e52",
                    edgecolor="black",
                    zorder=4,
                    label="cell mean E_H" if first else None,
                )
            first = False
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(list(pos.values()), [f"L={L}\nd={d}" for d, L in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_xlabel("depth L and dimension d")
    ax.set_ylabel("symmetry error E_H(f)")
    fig.suptitle(
        "Symmetry error of the fitted function about its top mirrors (0 = exactly mirror symmetric)", fontsize=11
    )
    ax.grid(axis="y", alpha=0.25)
    fig.legend(fontsize=8, loc="outside lower center", ncols=3)
    return _png(fig)


def fig_nets(cells: list[Cell]) -> bytes:
    """Objective of each trained network divided by the Lasso optimum, by depth."""
    groups = _groups(cells)
    pos = _xpos(groups)
    fig = _figure(max(5.5, 1.2 * len(groups) + 3.0), 4.4)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    seen = set()
    for k, g in groups.items():
        for c in g:
            for kind, marker, col, name in (
                ("nets", "o", "#4c72b0", "parallel |.| network P(θ)"),
                ("baseline", "s", "#dd8452", "ReLU MLP + weight decay (own objective)"),
            ):
                r = [run["ratio_to_lasso"] for run in c.metrics.get(kind) or [] if "ratio_to_lasso" in run]
                if not r:
                    continue
                xs = pos[k] + (-0.12 if kind == "nets" else 0.12) + rng.uniform(-0.06, 0.06, len(r))
                mfc = col if kind == "nets" else "none"
                ax.scatter(
                    xs,
                    r,
                    s=36,
                    marker=marker,
                    facecolor=mfc,
                    edgecolor=col,
                    linewidths=1.4,
                    label=None if kind in seen else name,
                )
                seen.add(kind)
            for bad in c.metrics.get("contradictions") or []:
                ax.scatter(
                    pos[k],
                    bad["ratio_to_lasso"],
                    s=160,
                    marker="x",
                    color="red",
                    linewidths=2.5,
                    label=None if "bad" in seen else "CONTRADICTION (below exact optimum)",
                )
                seen.add("bad")
    ax.axhline(1.0, color="black", lw=1.2, ls="--", label="Lasso optimum (ratio 1)")
    ax.set_xticks(list(pos.values()), [f"L={L}\nd={d}" for d, L in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_xlabel("depth L and dimension d")
    ax.set_ylabel("final objective / Lasso optimum")
    fig.suptitle("Non-convex training vs the convex Lasso (ratio ≥ 1 expected when exact or certified)", fontsize=11)
    ax.grid(axis="y", alpha=0.25)
    fig.legend(fontsize=8, loc="outside lower center", ncols=3)
    return _png(fig)


@dataclass
class FigureInfo:
    """A written figure: file name (under figures/), caption, and the cell it belongs to (None: summary)."""

    file: str
    caption: str
    cell: str | None = None


def make_figures(cells: list[Cell], write: Callable[[str, bytes], None]) -> tuple[list[FigureInfo], list[str]]:
    """Render all figures via write(relative path, bytes); returns (figures, notes about skipped ones)."""
    figs, notes = [], []
    done = [c for c in cells if c.done]
    if done:
        write("figures/shares_by_depth.png", fig_shares(cells))
        figs.append(FigureInfo("shares_by_depth.png", "l1-mass shares of the families and nesting levels by depth."))
        write("figures/symmetry_by_depth.png", fig_symmetry_errors(cells))
        figs.append(FigureInfo("symmetry_by_depth.png", "Symmetry errors E_H about the top mirrors by depth."))
    if any(c.metrics.get("nets") or c.metrics.get("baseline") for c in done):
        write("figures/nets_ratio_by_depth.png", fig_nets(cells))
        figs.append(FigureInfo("nets_ratio_by_depth.png", "Trained-network objective / Lasso optimum by depth."))
    plot = [c for c in done if c.solution is not None and int(c.row["dim"]) in (1, 2)]
    if len(plot) > MAX_CELL_FIGURES:
        notes.append(f"fit figures drawn for the first {MAX_CELL_FIGURES} of {len(plot)} 1-D/2-D cells")
    skipped = sum(1 for c in done if int(c.row["dim"]) > 2)
    if skipped:
        notes.append(f"{skipped} cell(s) with d > 2 have no fit figure")
    for c in plot[:MAX_CELL_FIGURES]:
        one_d = int(c.row["dim"]) == 1
        name = f"fit_{c.name}.png"
        write(f"figures/{name}", fig_fit_1d(c) if one_d else fig_fit_2d(c))
        what = "1-D fit with kinks and reflected pins" if one_d else "2-D contour with mirror lines"
        figs.append(FigureInfo(name, f"{what}: {cell_title(c)}", c.name))
    return figs, notes


# ------------------------------------------------------------------------------------------------ content


def _axes_varying(cells: list[Cell]) -> list[str]:
    return [k for k in ("projection", "n_train", "beta_grid", "seed") if len({str(c.row.get(k)) for c in cells}) > 1]


def _key_cols(cells: list[Cell], beta_mode: str) -> list[Col]:
    cols = [Col("dataset", "dataset"), Col("dim", "d", "d"), Col("depth", "L", "d")]
    heads = {"projection": "projection", "n_train": "N", "beta_grid": "β/β_max", "seed": "seed"}
    if beta_mode != "fraction":
        heads["beta_grid"] = "β (grid)"
    return cols + [
        Col(k, heads[k], "d" if k in ("n_train", "seed") else ("g" if k == "beta_grid" else ""))
        for k in _axes_varying(cells)
    ]


def metrics_table(cells: list[Cell], beta_mode: str) -> Table:
    cols = _key_cols(cells, beta_mode) + [Col("beta", "β", ".3g"), Col("status", "status")]
    rows = [c.row for c in cells]
    if any(r.get("train_accuracy") is not None for r in rows):
        cols += [Col("train_accuracy", "train acc", ".3f"), Col("test_accuracy", "test acc", ".3f")]
    if any(r.get("test_mse") is not None for r in rows) and not any(r.get("train_accuracy") is not None for r in rows):
        cols.append(Col("test_mse", "test MSE", ".4g"))
    cols += [
        Col("objective", "objective", ".6g"),
        Col("nnz", "nnz", "d"),
        Col("guarantee", "guarantee"),
        Col("certificate", "certificate", ".2e"),
        Col("time_s", "seconds", ".2f"),
    ]
    first = ["cell", "status", *KEYS, "beta"]
    rest = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in first and k != "error"]
    csv_cols = first + rest + ["error"]
    return Table("metrics", "Headline metrics (one row per cell)", cols, rows, csv_cols=csv_cols)


def failed_table(cells: list[Cell]) -> Table:
    rows = [
        {"cell": c.name, "status": c.row.get("status"), "error": c.row.get("error") or ""}
        for c in cells
        if c.row.get("status") != "done"
    ]
    cols = [Col("cell", "cell"), Col("status", "status"), Col("error", "error")]
    return Table("failed", "Failed or damaged cells", cols, rows)


def _mean(vals) -> float | None:
    v = [float(x) for x in vals if x is not None and not _missing(x)]
    return float(np.mean(v)) if v else None


def symmetry_tables(cells: list[Cell]) -> tuple[Table, Table]:
    """Per-cell symmetry summaries and their means by (dataset, dim, depth)."""
    share_cols = [f"share_{f}" for f in FAMILY_NAMES]
    max_level = max((int(c.row["depth"]) - 1 for c in cells if c.done), default=1)
    level_cols = [f"share_level{k}" for k in range(max_level)]
    per_cell, groups = [], {}
    for c in cells:
        if not c.done:
            continue
        r = {k: c.row.get(k) for k in ("cell", *KEYS)}
        for k in share_cols + level_cols + ["mean_E_H", "nets_min_ratio", "nets_median_ratio"]:
            r[k] = c.row.get(k)
        tops = c.metrics["symmetry"]["lasso"].get("top_mirrors", [])
        r["min_E_H"] = min((m["E_H"] for m in tops if "E_H" in m), default=None)
        nets = c.metrics["symmetry"].get("nets") or []
        r["nets_units_pinned"] = _mean(s.get("share_units_pinned") for s in nets)
        r["nets_kinks_near_data"] = _mean(s.get("share_kinks_near_data_or_reflection") for s in nets)
        per_cell.append(r)
        groups.setdefault((c.row["dataset"], int(c.row["dim"]), int(c.row["depth"])), []).append(r)
    fam = [Col(f"share_{f}", f, ".2f") for f in FAMILY_NAMES]
    lev = [Col(f"share_level{k}", f"level {k}", ".2f") for k in range(max_level)]
    tail = [
        Col("mean_E_H", "mean E_H", ".3f"),
        Col("min_E_H", "min E_H", ".3f"),
        Col("nets_median_ratio", "nets P/Lasso (median)", ".4f"),
        Col("nets_units_pinned", "net units pinned", ".2f"),
    ]
    cell_tab = Table(
        "symmetry",
        "Symmetry per cell",
        [Col("cell", "cell"), *fam, *lev, *tail],
        per_cell,
        csv_cols=list(per_cell[0]) if per_cell else None,
    )
    by = []
    for (ds, d, L), rs in groups.items():
        b = {"dataset": ds, "dim": d, "depth": L, "cells": len(rs)}
        for k in [*(c.key for c in fam), *(c.key for c in lev), "mean_E_H", "min_E_H", "nets_median_ratio"]:
            b[k] = _mean(r.get(k) for r in rs)
        b["nets_units_pinned"] = _mean(r.get("nets_units_pinned") for r in rs)
        by.append(b)
    depth_tab = Table(
        "symmetry_by_depth",
        "Symmetry by depth: l1-mass shares of families and nesting levels, symmetry errors E_H, nets/Lasso",
        [
            Col("dataset", "dataset"),
            Col("dim", "d", "d"),
            Col("depth", "L", "d"),
            Col("cells", "cells", "d"),
            *fam,
            *lev,
            *tail,
        ],
        by,
        note="Means over the cells of each group. Shares: fraction of sum |z_j| on each family / nesting level. "
        "E_H = ||f(X_e) − f(R_H X_e)|| / ||f(X_e) − mean f(X_e)|| about each top mirror H (0: exactly symmetric).",
    )
    return depth_tab, cell_tab


def mirror_rows(cells: list[Cell]) -> list[dict]:
    rows = []
    for c in cells:
        if not c.done:
            continue
        for i, m in enumerate(c.metrics["symmetry"]["lasso"].get("top_mirrors", [])):
            rows.append(
                {
                    "cell": c.name,
                    "rank": i + 1,
                    "family": m.get("family"),
                    "nesting": m.get("nesting"),
                    "z": m.get("z"),
                    "w": [round(float(v), 4) for v in m.get("w", [])],
                    "a": m.get("a"),
                    "c": [round(float(v), 4) for v in m.get("c", [])],
                    "E_H": m.get("E_H"),
                    "pinning_points": m.get("pinning_points", []),
                    "texts": mirror_texts(c, m),
                }
            )
    return rows


def mirrors_table(rows: list[dict], title: str = "Top mirrors") -> Table:
    def texts(v) -> list[str]:
        return [f"[{p}] “{_short(t)}”" for p, t in v] if v else []

    show = [{**r, "pt": list(zip(r["pinning_points"], r["texts"], strict=False))} for r in rows]
    cols = [
        Col("rank", "#", "d"),
        Col("family", "family"),
        Col("nesting", "levels", "d"),
        Col("z", "z", "+.4g"),
        Col("w", "mirror w", lambda v: ", ".join(f"{x:.3g}" for x in v or [])),
        Col("a", "a", ".4g"),
        Col("c", "offsets c", lambda v: ", ".join(f"{x:.3g}" for x in v or [])),
        Col("E_H", "E_H", ".3f"),
        Col("pinning_points", "pins", lambda v: ", ".join(map(str, v or []))),
        Col("pt", "pinning texts", texts),
    ]
    keys = ["cell", "rank", "family", "nesting", "z", "w", "a", "c", "E_H", "pinning_points", "texts"]
    return Table("top_mirrors", title, cols, show, csv_cols=keys, css="mirrors")


def nets_table(cells: list[Cell]) -> Table:
    rows = []
    for c in cells:
        if not c.done:
            continue
        sym = c.metrics["symmetry"].get("nets") or []
        bad = {(b["seed"], b["objective"]) for b in c.metrics.get("contradictions") or []}
        for kind in ("nets", "baseline"):
            for i, run in enumerate(c.metrics.get(kind) or []):
                r = {"cell": c.name, "model": "parallel |.| net" if kind == "nets" else "ReLU MLP + wd", **run}
                r["lasso_objective"] = c.metrics.get("objective")
                r["contradiction"] = (run.get("seed"), run.get("objective")) in bad if kind == "nets" else False
                if kind == "nets" and i < len(sym):
                    r["units_pinned"] = sym[i].get("share_units_pinned")
                    r["kinks_near_data_or_reflection"] = sym[i].get("share_kinks_near_data_or_reflection")
                rows.append(r)
    cols = [
        Col("cell", "cell"),
        Col("model", "model"),
        Col("seed", "seed", "d"),
        Col("objective", "objective", ".6g"),
        Col("ratio_to_lasso", "/ Lasso", ".4f"),
        Col("train_accuracy", "train acc", ".3f"),
        Col("test_accuracy", "test acc", ".3f"),
        Col("epochs", "epochs", "d"),
        Col("time_s", "seconds", ".2f"),
        Col("units_pinned", "units pinned", ".2f"),
        Col("contradiction", "contradiction", lambda v: "YES" if v else ""),
    ]
    keys = [
        "cell",
        "model",
        "seed",
        "objective",
        "lasso_objective",
        "ratio_to_lasso",
        "train_accuracy",
        "test_accuracy",
        "epochs",
        "time_s",
        "width",
        "units_pinned",
        "kinks_near_data_or_reflection",
        "contradiction",
    ]
    return Table("nets", "Trained networks vs the Lasso optimum", cols, rows, csv_cols=keys)


def nets_summary_table(cells: list[Cell]) -> Table:
    """One row per cell with trained networks: min and median P/Lasso, accuracies, contradictions."""
    rows = []
    for c in cells:
        if not c.done or not (c.metrics.get("nets") or c.metrics.get("baseline")):
            continue
        nets, base = c.metrics.get("nets") or [], c.metrics.get("baseline") or []
        ratios = [r["ratio_to_lasso"] for r in nets if "ratio_to_lasso" in r]
        rows.append(
            {
                "cell": c.name,
                "runs": len(nets),
                "min_ratio": min(ratios) if ratios else None,
                "median_ratio": float(np.median(ratios)) if ratios else None,
                "nets_test_accuracy": _mean(r.get("test_accuracy") for r in nets),
                "lasso_test_accuracy": c.metrics.get("test_accuracy"),
                "baseline_ratio": _mean(r.get("ratio_to_lasso") for r in base),
                "baseline_test_accuracy": _mean(r.get("test_accuracy") for r in base),
                "units_pinned": _mean(s.get("share_units_pinned") for s in c.metrics["symmetry"].get("nets") or []),
                "contradictions": len(c.metrics.get("contradictions") or []),
            }
        )
    cols = [
        Col("cell", "cell"),
        Col("runs", "nets", "d"),
        Col("min_ratio", "min P/Lasso", ".4f"),
        Col("median_ratio", "median P/Lasso", ".4f"),
        Col("nets_test_accuracy", "nets test acc", ".3f"),
        Col("lasso_test_accuracy", "Lasso test acc", ".3f"),
        Col("baseline_ratio", "MLP+wd obj/Lasso", ".4f"),
        Col("baseline_test_accuracy", "MLP+wd test acc", ".3f"),
        Col("units_pinned", "net units pinned", ".2f"),
        Col("contradictions", "contradictions", lambda v: f"{v} ⚠" if v else "0"),
    ]
    return Table(
        "nets_by_cell",
        "Trained networks vs the Lasso optimum (per cell; every run in tables/nets.csv)",
        cols,
        rows,
        note="P/Lasso: final training objective of the parallel |.| network over the Lasso optimum (>= 1 expected "
        "when the Lasso is exact or certified). The ReLU MLP baseline minimises its own weight-decay objective. "
        "Units pinned: share of live units whose first-layer plane passes within 1e-3 of d training points.",
    )


def summary_table(cells: list[Cell]) -> Table:
    """Means over the cells of each (dataset, dim, depth)."""
    groups: dict = {}
    for c in cells:
        groups.setdefault((c.row["dataset"], int(c.row["dim"]), int(c.row["depth"])), []).append(c)
    rows = []
    for (ds, d, L), g in groups.items():
        done = [c.row for c in g if c.done]
        gs = [r.get("guarantee") for r in done if r.get("guarantee")]
        rows.append(
            {
                "dataset": ds,
                "dim": d,
                "depth": L,
                "cells": len(g),
                "failed": sum(c.row.get("status") == "failed" for c in g),
                "train_accuracy": _mean(r.get("train_accuracy") for r in done),
                "test_accuracy": _mean(r.get("test_accuracy") for r in done),
                "nnz": _mean(r.get("nnz") for r in done),
                "guarantees": ", ".join(f"{k} {gs.count(k)}" for k in dict.fromkeys(gs)),
                "max_certificate": max(
                    (r["certificate"] for r in done if r.get("certificate") is not None), default=None
                ),
                "seconds": sum(r.get("time_s") or 0.0 for r in done) if done else None,
            }
        )
    cols = [
        Col("dataset", "dataset"),
        Col("dim", "d", "d"),
        Col("depth", "L", "d"),
        Col("cells", "cells", "d"),
        Col("failed", "failed", "d"),
        Col("train_accuracy", "mean train acc", ".3f"),
        Col("test_accuracy", "mean test acc", ".3f"),
        Col("nnz", "mean nnz", ".1f"),
        Col("guarantees", "guarantees"),
        Col("max_certificate", "max certificate", ".2e"),
        Col("seconds", "seconds (sum)", ".2f"),
    ]
    return Table("summary", "Summary by dataset, dimension and depth (means over the other grid axes)", cols, rows)


def contradictions(cells: list[Cell]) -> list[dict]:
    out = []
    for c in cells:
        if c.done:
            for b in c.metrics.get("contradictions") or []:
                out.append(
                    {"cell": c.name, "guarantee": c.metrics.get("guarantee"), "lasso": c.metrics.get("objective"), **b}
                )
    return out


def _contradiction_lines(bad: list[dict]) -> list[str]:
    return [
        f"{b['cell']}: network seed {b.get('seed')} reached P = {b.get('objective'):.10g} below the "
        f"{b['guarantee']} Lasso optimum {b['lasso']:.10g} (ratio {b.get('ratio_to_lasso'):.6f})"
        for b in bad
    ]


# ------------------------------------------------------------------------------------------------ documents


@dataclass
class Content:
    """Everything a document shows."""

    run: str
    header: list[tuple[str, str]]
    cells: list[Cell]
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


def _header(root: Path, cells: list[Cell]) -> list[tuple[str, str]]:
    run = _read_json(root / "run.json") or {}
    cfg, prov = run.get("config") or {}, run.get("provenance") or {}
    e, f, n, g = (cfg.get(k) or {} for k in ("embedding", "fit", "nets", "grid"))
    done = sum(c.done for c in cells)
    failed = sum(c.row.get("status") == "failed" for c in cells)
    damaged = sum(c.row.get("status") == "damaged" for c in cells)
    out = [
        ("run", f"{cfg.get('name', root.name)} ({root})"),
        ("cells", f"{len(cells)}: {done} done, {failed} failed" + (f", {damaged} damaged" if damaged else "")),
    ]
    if g:
        out.append(("grid", "; ".join(f"{k} {v}" for k, v in g.items())))
    if e:
        out.append(("embedding", f"{e.get('model')} (max_length {e.get('max_length')}, pooling {e.get('pooling')})"))
    if f:
        keys = ("beta_mode", "directions", "pins", "norm", "solver", "refine", "n_test")
        out.append(("fit", ", ".join(f"{k}={f.get(k)}" for k in keys)))
    if n and n.get("count"):
        out.append(("nets", ", ".join(f"{k}={n.get(k)}" for k in ("count", "optimizer", "epochs", "lr", "baseline"))))
    if prov:
        out.append(("created", f"{prov.get('created')}, git {str(prov.get('git_sha'))[:10]}"))
    return out


def build_content(root: Path, cells: list[Cell], figures: list[FigureInfo], notes: list[str]) -> Content:
    run = _read_json(root / "run.json") or {}
    beta_mode = ((run.get("config") or {}).get("fit") or {}).get("beta_mode", "fraction")
    by_depth, per_cell = symmetry_tables(cells)
    return Content(
        run=root.name,
        header=_header(root, cells),
        cells=cells,
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
    return [c.summary, c.metrics, c.failed, c.by_depth, c.per_cell, mirrors_table(c.mirrors), c.nets, c.nets_by_cell]


def blocks(c: Content) -> list[tuple]:
    """The document as blocks: ('h', level, text), ('p', text), ('table', Table), ('alert', title, lines),
    ('ok', text), ('meta', pairs), ('figures', [FigureInfo])."""
    b: list[tuple] = [("meta", c.header)]
    if c.bad:
        b.append(
            (
                "alert",
                f"⚠ {len(c.bad)} contradiction(s) with the theory: a trained network ended below an exact or "
                "certified Lasso optimum",
                _contradiction_lines(c.bad),
            )
        )
    elif c.nets.rows:
        n = sum(r["model"].startswith("parallel") for r in c.nets.rows)
        b.append(("ok", f"No contradictions: none of the {n} trained networks ended below its Lasso optimum."))
    grouped = any(r["cells"] > 1 for r in c.summary.rows)
    b.append(("h", 2, "Headline metrics"))
    if grouped:
        b += [("h", 3, c.summary.title), ("table", c.summary), ("h", 3, "Per cell")]
    b.append(("table", c.metrics))
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
                "wᵀx + a = ±c₂ (±c₃ …); pins are training-point indices of the cell.",
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
    if c.figures:
        b += [("h", 2, "Figures")] + [("p", n) for n in c.notes] + [("figures", c.figures)]
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


def md_escape(s: str) -> str:
    """Text (dataset texts, names) as inert Markdown, as html.escape and tex_escape do for the other formats:
    no raw HTML (& < > become entities), no links, images or code spans ([ ] ` escaped), and nothing that
    breaks a table row or line (backslash and | escaped, line breaks joined)."""
    s = str(s).replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "|[]`":
        s = s.replace(ch, "\\" + ch)
    return " ".join(s.splitlines())


def render_markdown(c: Content) -> str:
    e = md_escape
    p = [f"# symcli report: {e(c.run)}", ""]
    for blk in blocks(c):
        kind = blk[0]
        if kind == "meta":
            p += [f"- **{e(k)}**: {e(v)}" for k, v in blk[1]] + [""]
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


# ------------------------------------------------------------------------------------------------ entry


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
