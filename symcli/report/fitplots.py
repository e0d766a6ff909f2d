"""Fit figures of one cell (matplotlib, Agg): the fitted function of a 1-D or 2-D cell with its kinks, its top
mirrors and their nested mirrors, the pinning points and their reflections."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable

import numpy as np

from symcli.lasso.features import psi
from symcli.report.loading import Cell

TOP_IN_FIGURES = 3
LABEL_CHARS = 52  # legend labels wrap here: two columns fit the figure
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


def new_figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig) -> bytes:
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


STYLES = {0: "-", 1: "--", 2: ":"}
#: Dash length of a line other top mirrors drew already: it is drawn again in dashes, each repeat in its own
#: slot of a period of three, so the colours of up to three mirrors alternate on it.
DASH = 2.5


class Lines:
    """The lines of the top mirrors drawn so far (keys scaled to the data box), so that a line several mirrors
    share is drawn again in dashes over the first, and each mirror's label can name those it shares with."""

    def __init__(self):
        self.seen: dict = {}
        self.shares: dict[int, set[int]] = {}

    def style(self, key: tuple[float, ...], rank: int, level: int):
        ranks = self.seen.setdefault(tuple(round(float(v), 3) + 0.0 for v in key), [])
        earlier = [j for j in dict.fromkeys(ranks) if j != rank]
        ranks.append(rank)
        if not earlier:
            return STYLES.get(level, ":")
        self.shares.setdefault(rank, set()).update(earlier)
        return (DASH * ((len(earlier) - 1) % 2), (DASH, 2 * DASH))

    def note(self, rank: int) -> str:
        others = sorted(self.shares.get(rank, ()))
        return f" (shares a line with #{', #'.join(str(j + 1) for j in others)})" if others else ""

    def legend(self, handles: list, Line2D) -> None:
        """The legend entry of the shared-line style, when one was drawn."""
        if self.shares:
            label = "line shared with an earlier mirror\n(dashes over it)"
            handles.append(Line2D([], [], color="0.3", ls=(0, (DASH, 2 * DASH)), lw=1.4, label=label))


def _nested_legend(top: list[dict], handles: list, Line2D, first: str, second: str) -> None:
    if any(len(m["c"]) for m in top):
        handles.append(Line2D([], [], color="0.3", ls=STYLES[1], lw=1.2, label=first))
    if any(len(m["c"]) > 1 for m in top):
        handles.append(Line2D([], [], color="0.3", ls=STYLES[2], lw=1.2, label=second))


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
    fig = new_figure(8.0, 5.8)
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
    drew_refl, lines = False, Lines()
    for i, m in enumerate(_top(cell)):
        col = FEATURE_COLORS[i % len(FEATURE_COLORS)]
        w0 = float(m["w"][0])
        for x, lvl in kinks_1d(w0, float(m["a"]), m["c"]):
            if lo <= x <= hi:
                ls = lines.style(((x - lo) / (hi - lo),), i, lvl)
                ax.axvline(x, color=col, ls=ls, lw=1.3 if lvl == 0 else 1.0, alpha=0.9, zorder=2 + 0.1 * i)
        mirror = -float(m["a"]) / w0 if w0 else None
        pts = [p for p in m.get("pinning_points", []) if 0 <= p < len(X)]
        ax.scatter(X[pts], y[pts], s=150 + 110 * i, facecolor="none", edgecolor=col, linewidths=1.8, zorder=5)
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
        label += f", E_H={m.get('E_H', float('nan')):.2f}" + lines.note(i)
        handles.append(Line2D([], [], color=col, lw=1.5, label=textwrap.fill(label, LABEL_CHARS)))
    _nested_legend(_top(cell), handles, Line2D, "nested kinks ±c₂", "nested kinks ±(c₂ ± c₃)")
    lines.legend(handles, Line2D)
    if _top(cell):
        handles.append(
            Line2D(
                [], [], ls="", marker="o", ms=10, mfc="none", mec="0.3", mew=1.5, label="pinning points (#1 smallest)"
            )
        )
    if drew_refl:
        handles.append(
            Line2D([], [], ls="", marker="^", ms=8, color="0.6", mec="black", label="reflected pins 2x_j − x_k")
        )
    ax.axhline(0, color="0.7", lw=0.8, zorder=1)
    handles.append(Line2D([], [], color="0.7", lw=0.8, label="y = 0"))
    ax.set_xlim(lo, hi)
    ax.set_xlabel("x (1-D projection of the embedding)")
    ax.set_ylabel("y, f(x)")
    fig.suptitle(cell_title(cell) + "\n" + cell_subtitle(cell), fontsize=10)
    ax.grid(alpha=0.25)
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8)
    return png(fig)


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
    fig = new_figure(8.6, 6.4)
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
    stroke = [pe.withStroke(linewidth=3.2, foreground="white")]
    lines, span = Lines(), float(np.linalg.norm(hi - lo))
    center = (lo + hi) / 2
    for i, m in enumerate(_top(cell)):
        col = FEATURE_COLORS[i % len(FEATURE_COLORS)]
        w = np.asarray(m["w"], float)
        for u, lvl in kink_offsets(m["c"]):
            p, q = _line_points(w, float(m["a"]), u)
            n = w / np.linalg.norm(w) * (1 if (w[0], w[1]) > (0, 0) else -1)  # the line's unit normal, one sign
            ls = lines.style((*n, float(n @ (np.asarray(p) - center)) / span), i, lvl)
            kw = {} if isinstance(ls, tuple) else {"path_effects": stroke}  # a dashed repeat shows the line below
            ax.axline(p, q, color=col, ls=ls, lw=2.0 if lvl == 0 else 1.4, zorder=2 + 0.1 * i, **kw)
        pts = [p for p in m.get("pinning_points", []) if 0 <= p < len(X)]
        ax.scatter(X[pts, 0], X[pts, 1], s=170 + 130 * i, facecolor="none", edgecolor=col, linewidths=2.0, zorder=5)
        label = f"#{i + 1} {m['family']} z={m['z']:+.3g}, E_H={m.get('E_H', float('nan')):.2f}" + lines.note(i)
        handles.append(Line2D([], [], color=col, lw=2, label=textwrap.fill(label, LABEL_CHARS)))
    if _top(cell):
        handles += [
            Line2D([], [], color="0.3", lw=2, label="mirror wᵀx + a = 0"),
            Line2D(
                [], [], ls="", marker="o", ms=10, mfc="none", mec="0.3", mew=1.5, label="pinning points (#1 smallest)"
            ),
        ]
        _nested_legend(_top(cell), handles, Line2D, "nested wᵀx + a = ±c₂", "nested wᵀx + a = ±(c₂ ± c₃)")
        lines.legend(handles, Line2D)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x₁ (projected embedding)")
    ax.set_ylabel("x₂ (projected embedding)")
    fig.suptitle(cell_title(cell) + "\n" + cell_subtitle(cell), fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8)
    return png(fig)
