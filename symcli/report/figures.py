"""Report figures (matplotlib, Agg): the fit of each 1-D and 2-D cell with its kinks and mirrors, and by depth the
family and nesting-level shares, the symmetry errors and the trained-network/Lasso objective ratios."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symcli.lasso.features import FAMILIES, psi
from symcli.report.loading import Cell

MAX_CELL_FIGURES = 24
TOP_IN_FIGURES = 3
FAMILY_COLORS = {"plane": "#4c72b0", "reflection": "#dd8452", "midpoint": "#55a868"}
LEVEL_COLORS = ("#8c8c8c", "#c44e52", "#8172b3")
FEATURE_COLORS = ("#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
POS_COLOR, NEG_COLOR = "#2166ac", "#b2182b"


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


# --------------------------------------------------------------------------------------------- figures


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
        (ax1, FAMILIES, [FAMILY_COLORS[n] for n in FAMILIES], "share_", "families"),
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
