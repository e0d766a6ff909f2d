"""The report's tables of a run's cells: headline metrics, failures, summary, symmetry, top mirrors with their
pinning texts, trained networks against the Lasso; and the contradictions with the theory."""

from __future__ import annotations

import re

import numpy as np

from symcli.lasso.features import FAMILIES
from symcli.report.loading import KEYS, Cell, mirror_texts
from symcli.report.tables import Col, Table, missing

TEXT_CHARS = 200
BR = re.compile(r"(?:\s*<br\s*/?>\s*)+", re.IGNORECASE)


def _short(t: str) -> str:
    """A text cut to TEXT_CHARS: HTML line breaks (<br />, as in IMDB) become one line break, spaces collapsed."""
    lines = (" ".join(x.split()) for x in BR.split(str(t)))
    t = "\n".join(x for x in lines if x)
    return t if len(t) <= TEXT_CHARS else t[: TEXT_CHARS - 1] + "…"


def _label(y: float | None, name: str | None) -> str:
    if y is None:
        return ""
    shown = f"{y:+g}".replace("-", "−") if y in (-1.0, 1.0) else f"{y:.3g}"
    return f"y={shown}" + (f" ({name})" if name else "")


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


CERT = "certificate_shown"


def certificate_text(c: Cell) -> str:
    """The certificate V/β − 1 as shown: '≥ x' when sampled (d ≥ 3, a lower bound), else why there is none."""
    if not c.done:
        return ""
    v, method = c.metrics.get("certificate"), str(c.metrics.get("certificate_method") or "")
    if v is None:
        if method.startswith("skipped: "):
            return f"not computed: {method.removeprefix('skipped: ')} (over the budget)"
        return f"not computed ({method})" if method else "not recorded"
    return f"≥ {v:.2e}" if method == "sampled-ascent" else f"{v:.2e}"


def metrics_table(cells: list[Cell], beta_mode: str) -> Table:
    keys = _key_cols(cells, beta_mode)
    fractions = {c.row.get("beta_grid") for c in cells}
    one = fractions.pop() if len(fractions) == 1 else None
    beta_head = f"β ({one:g}·β_max)" if beta_mode == "fraction" and isinstance(one, (int, float)) else "β"
    cols = keys + [Col("beta", beta_head, ".3g"), Col("status", "status")]
    rows = [
        {**c.row, "certificate_method": (c.metrics or {}).get("certificate_method"), CERT: certificate_text(c)}
        for c in cells
    ]
    if any(r.get("train_accuracy") is not None for r in rows):
        cols += [Col("train_accuracy", "train acc", ".3f"), Col("test_accuracy", "test acc", ".3f")]
    if any(r.get("test_mse") is not None for r in rows) and not any(r.get("train_accuracy") is not None for r in rows):
        cols.append(Col("test_mse", "test MSE", ".4g"))
    cols += [
        Col("objective", "objective", ".6g"),
        Col("nnz", "nnz", "d"),
        Col("guarantee", "guarantee"),
        Col(CERT, "certificate"),
        Col("time_s", "Lasso fit s", ".2f"),
    ]
    if any(r.get("nets_time_s") is not None for r in rows):
        cols.append(Col("nets_time_s", "nets s", ".2f"))
    if any(r.get("depth_gain") is not None for r in rows):  # runs from before these columns show neither
        cols.append(Col("depth_gain", "depth gain", ".3g"))
    if any(r.get("reflection_share_min") is not None for r in rows):
        cols += [Col("reflection_share_min", "refl. share min", ".3f"), Col("reflection_share_max", "max", ".3f")]
    first = ["cell", "status", *KEYS, "beta"]
    rest = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in (*first, "error", CERT)]
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
    v = [float(x) for x in vals if x is not None and not missing(x)]
    return float(np.mean(v)) if v else None


def _sum(vals) -> float | None:
    v = [float(x) for x in vals if x is not None and not missing(x)]
    return float(sum(v)) if v else None


def symmetry_tables(cells: list[Cell]) -> tuple[Table, Table]:
    """Per-cell symmetry summaries and their means by (dataset, dim, depth)."""
    share_cols = [f"share_{f}" for f in FAMILIES]
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
        for k in ("share_kinks_near", "share_kinks_near_null"):
            r[k] = c.row.get(k)
        per_cell.append(r)
        groups.setdefault((c.row["dataset"], int(c.row["dim"]), int(c.row["depth"])), []).append(r)
    fam = [Col(f"share_{f}", f, ".2f") for f in FAMILIES]
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
        train_rows = (c.metrics.get("data") or {}).get("train_rows") or []
        y = c.solution["y"] if c.solution is not None else []
        for i, m in enumerate(c.metrics["symmetry"]["lasso"].get("top_mirrors", [])):
            pins = [int(p) for p in m.get("pinning_points", [])]
            ids = [int(train_rows[p]) if 0 <= p < len(train_rows) else None for p in pins]
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
                    "pinning_points": pins,
                    "row_ids": ids,
                    "labels": [float(y[p]) if 0 <= p < len(y) else None for p in pins],
                    "label_names": [c.label_names.get(r) for r in ids],
                    "texts": mirror_texts(c, m),
                }
            )
    return rows


def mirrors_table(rows: list[dict], title: str = "Top mirrors") -> Table:
    def texts(v) -> list[str]:
        return [
            f"[{p}] "
            + ", ".join(x for x in (f"row {i}" if i is not None else "", _label(y, n)) if x)
            + (f": “{_short(t)}”" if t else "")
            for p, i, y, n, t in v or []
        ]

    def pinned(r: dict) -> list[tuple]:
        texts = r["texts"] + [""] * (len(r["pinning_points"]) - len(r["texts"]))
        return list(zip(r["pinning_points"], r["row_ids"], r["labels"], r["label_names"], texts, strict=False))

    show = [{**r, "pt": pinned(r)} for r in rows]
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
        Col("pt", "pinning texts: [pin] dataset row, label", texts),
    ]
    keys = ["cell", "rank", "family", "nesting", "z", "w", "a", "c", "E_H", "pinning_points", "row_ids", "labels"]
    keys += ["label_names", "texts"]
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
        Col("time_s", "training s", ".2f"),
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
                "objective": _mean(r.get("objective") for r in done),
                "nnz": _mean(r.get("nnz") for r in done),
                "guarantees": ", ".join(f"{k} {gs.count(k)}" for k in dict.fromkeys(gs)),
                "max_certificate": max(
                    (r["certificate"] for r in done if r.get("certificate") is not None), default=None
                ),
                "seconds": sum(r.get("time_s") or 0.0 for r in done) if done else None,
                "nets_seconds": _sum(r.get("nets_time_s") for r in done),
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
        Col("objective", "mean objective", ".5g"),
        Col("nnz", "mean nnz", ".1f"),
        Col("guarantees", "guarantees"),
        Col("max_certificate", "max certificate", ".2e"),
        Col("seconds", "Lasso fit s (sum)", ".2f"),
        Col("nets_seconds", "nets s (sum)", ".2f"),
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


def contradiction_lines(bad: list[dict]) -> list[str]:
    """One sentence per contradiction (a trained network below an exact or certified Lasso optimum)."""
    return [
        f"{b['cell']}: network seed {b.get('seed')} reached P = {b.get('objective'):.10g} below the "
        f"{b['guarantee']} Lasso optimum {b['lasso']:.10g} (ratio {b.get('ratio_to_lasso'):.6f})"
        for b in bad
    ]
