"""Report figures (matplotlib, Agg): by depth the family and nesting-level shares, the symmetry errors and the
trained-network/Lasso objective ratios; and the fit figure of each 1-D and 2-D cell (fitplots.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symcli.lasso.features import FAMILIES
from symcli.report.fitplots import cell_title, fig_fit_1d, fig_fit_2d, new_figure, png
from symcli.report.loading import Cell

MAX_CELL_FIGURES = 24
FAMILY_COLORS = {"plane": "#4c72b0", "reflection": "#dd8452", "midpoint": "#55a868"}
LEVEL_COLORS = ("#8c8c8c", "#c44e52", "#8172b3")


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
    fig = new_figure(max(5.5, 1.2 * len(groups) + 3.0), 6.6)
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
    return png(fig)


def _xpos(groups: dict) -> dict:
    return {k: i for i, k in enumerate(groups)}


def fig_symmetry_errors(cells: list[Cell]) -> bytes:
    """E_H of f about each top mirror (dots) and the cell means (diamonds) by depth."""
    groups = _groups(cells)
    pos = _xpos(groups)
    fig = new_figure(max(5.5, 1.2 * len(groups) + 3.0), 4.4)
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
    ax.axhline(0, color="black", lw=0.8, label="E_H = 0: f exactly mirror symmetric")
    ax.set_xticks(list(pos.values()), [f"L={L}\nd={d}" for d, L in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_xlabel("depth L and dimension d")
    ax.set_ylabel("symmetry error E_H(f)")
    fig.suptitle(
        "Symmetry error of the fitted function about its top mirrors (0 = exactly mirror symmetric)", fontsize=11
    )
    ax.grid(axis="y", alpha=0.25)
    fig.legend(fontsize=8, loc="outside lower center", ncols=3)
    return png(fig)


def _guarantee_tick(g: list[Cell]) -> str:
    got = [str(c.row.get("guarantee")) for c in g]
    return ", ".join(f"{got.count(k)} {k}" if len(got) > 1 else k for k in dict.fromkeys(got))


def fig_nets(cells: list[Cell]) -> bytes:
    """Objective of each trained network divided by the Lasso optimum, by depth: the parallel |.| networks (same
    objective as the Lasso) on top, the ReLU MLP baseline (its own weight-decay objective) in a panel of its own."""
    groups = _groups(cells)
    pos = _xpos(groups)
    base = any(c.metrics.get("baseline") for g in groups.values() for c in g)
    fig = new_figure(max(5.5, 1.2 * len(groups) + 3.0), 7.4 if base else 4.6)
    axes = fig.subplots(2, 1, sharex=True) if base else [fig.add_subplot()]
    rng = np.random.default_rng(0)
    seen: set = set()

    def dots(ax, xs, r, key: str, label: str, **kw) -> None:
        kw = {"s": 38, "linewidths": 1.4, "zorder": 3} | kw
        ax.scatter(xs, r, label=None if key in seen else label, **kw)
        seen.add(key)

    for k, g in groups.items():
        for c in g:
            bound = c.row.get("guarantee") not in ("exact", "certified")
            r = [run["ratio_to_lasso"] for run in c.metrics.get("nets") or [] if "ratio_to_lasso" in run]
            xs = pos[k] + rng.uniform(-0.12, 0.12, len(r))
            if r and bound:
                label = "parallel |.| net, Lasso only an upper bound (ratio < 1 allowed)"
                dots(axes[0], xs, r, "bound", label, marker="^", facecolor="none", edgecolor="#4c72b0")
            elif r:
                dots(axes[0], xs, r, "nets", "parallel |.| net P(θ), Lasso exact or certified", color="#4c72b0")
            for bad in c.metrics.get("contradictions") or []:
                label = "CONTRADICTION (below an exact or certified optimum)"
                dots(
                    axes[0],
                    [pos[k]],
                    [bad["ratio_to_lasso"]],
                    "bad",
                    label,
                    marker="x",
                    color="red",
                    s=160,
                    linewidths=2.5,
                )
            r = [run["ratio_to_lasso"] for run in c.metrics.get("baseline") or [] if "ratio_to_lasso" in run]
            if base and r:
                xs = pos[k] + rng.uniform(-0.12, 0.12, len(r))
                label = "ReLU MLP + weight decay: its own objective / Lasso"
                dots(axes[1], xs, r, "mlp", label, marker="s", facecolor="none", edgecolor="#dd8452")
    for i, ax in enumerate(axes):
        ax.axhline(1.0, color="black", lw=1.2, ls="--", label=None if i else "Lasso optimum (ratio 1)")
        for k, g in groups.items():
            if all(c.row.get("guarantee") not in ("exact", "certified") for c in g):
                label = None if i or "span" in seen else "Lasso only an upper bound in this group"
                ax.axvspan(pos[k] - 0.45, pos[k] + 0.45, color="0.92", zorder=0, label=label)
                seen.add("span")
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.grid(axis="y", alpha=0.25)
    axes[0].set_ylabel("P(θ) / Lasso optimum")
    axes[0].set_title(
        "Parallel deep |.| networks: the Lasso's own objective (ratio ≥ 1 expected when exact or certified)"
    )
    if base:
        axes[1].set_ylabel("MLP objective / Lasso optimum")
        axes[1].set_title(
            "ReLU MLP baseline: another model and objective (not bounded by the Lasso; ratio < 1 is no contradiction)"
        )
    for ax in axes:
        ax.title.set_fontsize(9)
    ticks = [f"L={L}\nd={d}\n{_guarantee_tick(g)}" for (d, L), g in groups.items()]
    axes[-1].set_xticks(list(pos.values()), ticks)
    axes[-1].set_xlabel("depth L, dimension d and the Lasso's guarantee")
    fig.suptitle("Non-convex training vs the convex Lasso optimum", fontsize=11)
    fig.legend(fontsize=8, loc="outside lower center", ncols=2)
    return png(fig)


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
