"""How long a run's cells will take, from measured per-cell costs (`symcli run CONFIG --dry-run`).

A cell's cost is, in order of preference: the median whole-cell time (`cell_s`) of this run's finished cells of
the same depth and dimension (scaled to the cell's n_train and nets settings), else the reference costs below,
measured on the developer machine (2 CPU cores, no GPU): the medians of configs/study.yaml's 180 cells
(all-MiniLM-L6-v2 embeddings, pls, n_train 30, beta 0.2 beta_max, 3 parallel nets + 3 on shuffled labels + 3
MLPs at 1000 epochs, refine on): Lasso fit, 3x the parallel nets' time, and the rest. Scaling: the Lasso part
grows like (n_train / 30)^(depth - 1) in 1-D and (n_train / 30)^depth in 2-D (the dictionary's size), the
nets part linearly in nets count x epochs x n_train. Embedding a dataset for the first time is not included
(the cold cost is one `symcli embed` per dataset; see its size note).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from symcli.runs.config import Cell, RunConfig

#: (depth, dim) -> (Lasso part s, nets part s, fixed part s: data, baselines, symmetry nulls) at the reference.
REFERENCE_S = {
    (2, 1): (0.01, 4.4, 0.4),
    (3, 1): (0.01, 5.5, 0.6),
    (4, 1): (0.65, 5.7, 1.2),
    (2, 2): (0.02, 2.1, 1.1),
    (3, 2): (6.6, 5.6, 0.5),
    (4, 2): (1.5, 6.6, 0.1),
}
REFERENCE_N = 30
REFERENCE_NET_EPOCHS = (3 * 2 + 3) * 1000  # (3 nets + 3 shuffled + 3 MLPs) x 1000 epochs


def _net_epochs(cfg: RunConfig) -> int:
    """Training epochs of one cell: parallel nets (twice with shuffled labels) and MLP baselines."""
    n = cfg.nets
    return (n.count * (2 if n.shuffled else 1) + (n.count or 1) * n.baseline) * n.epochs


def reference_seconds(cfg: RunConfig, cell: Cell) -> float:
    """The reference cost of one cell scaled to its n_train, depth, dim and the run's nets settings."""
    lasso, nets, fixed = REFERENCE_S.get((cell.depth, min(cell.dim, 2)), REFERENCE_S[(cell.depth, 2)])
    ratio = cell.n_train / REFERENCE_N
    power = cell.depth - 1 if cell.dim == 1 else cell.depth
    return lasso * ratio**power + nets * _net_epochs(cfg) / REFERENCE_NET_EPOCHS * ratio + fixed


def estimate(cfg: RunConfig, cells: list[Cell], root: Path) -> dict:
    """{seconds, measured, reference}: the estimated time of `cells` and how many estimates rest on this run's
    measured cells (same depth and dim) vs the reference costs."""
    measured: dict[tuple[int, int], list[float]] = {}
    for c in cfg.cells():
        m = root / c.name / "metrics.json"
        try:
            s = json.loads(m.read_text()).get("cell_s")
        except (OSError, ValueError):
            continue
        if isinstance(s, (int, float)):
            measured.setdefault((c.depth, c.dim), []).append(s / reference_seconds(cfg, c))
    total, from_run = 0.0, 0
    for c in cells:
        factors = measured.get((c.depth, c.dim))
        total += reference_seconds(cfg, c) * (statistics.median(factors) if factors else 1.0)
        from_run += bool(factors)
    return {"seconds": total, "measured": from_run, "reference": len(cells) - from_run}


def estimate_line(est: dict, n: int) -> str:
    """One line for the dry run: the estimate and what it rests on."""
    minutes = est["seconds"] / 60
    basis = []
    if est["measured"]:
        basis.append(f"{est['measured']} from this run's finished cells")
    if est["reference"]:
        basis.append(f"{est['reference']} from reference costs measured on 2 CPU cores")
    return f"estimated time for {n} cells to compute: {minutes:.1f} min ({'; '.join(basis) or 'nothing to do'})"
