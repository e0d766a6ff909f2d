"""The report's opening tables: the findings (each claim per dataset and depth, observed vs null, p-value and
verdict; rules in symcli.science.findings), the held-out scores beside their baselines, and each dataset's target."""

from __future__ import annotations

import math

from symcli.report.loading import Cell
from symcli.report.tables import Col, Table
from symcli.science.ablations import is_reference, lasso_rows
from symcli.science.findings import ALPHA, Finding, findings
from symcli.science.nulls import seed_interval


def _ci(v: float | None, ci: tuple | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if not ci or ci[0] is None or any(math.isnan(x) for x in ci) or ci[1] - ci[0] <= 1e-9 * max(1.0, abs(v)):
        return f"{v:.3g}"
    return f"{v:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"


def run_findings(cells: list[Cell]) -> list[Finding]:
    """The findings of a run's cells (done ones)."""
    return findings(c.row for c in cells)


def findings_table(found: list[Finding]) -> Table:
    rows = [
        f.to_dict()
        | {"observed_shown": _ci(f.observed, f.observed_ci), "null_shown": _ci(f.null, f.null_ci)}
        | {"depth_shown": "all" if f.depth is None else str(f.depth)}
        for f in found
    ]
    cols = [
        Col("claim", "claim"),
        Col("dataset", "dataset"),
        Col("depth_shown", "L"),
        Col("observed_shown", "observed [95% CI]"),
        Col("null_shown", "null [95% CI]"),
        Col("p_value", "p", ".2g"),
        Col("p_adjusted", "p (BH)", ".2g"),
        Col("n", "seeds", "d"),
        Col("cells", "cells", "d"),
        Col("verdict", "verdict"),
        Col("evidence", "evidence"),
    ]
    keys = ["claim", "kind", "dataset", "depth", "observed", "observed_ci", "null", "null_ci", "p_value", "p_adjusted"]
    keys += ["n", "cells", "verdict"]
    return Table(
        "findings",
        "Findings: the paper's claims, per dataset and depth L",
        cols,
        rows,
        note=f"The seed is the unit: a seed's cells (both d) share its training rows. Observed and null: means over "
        f"seeds (each the mean over its cells) with a 95% Student-t interval over seeds. p: one-sided test within "
        f"each cell, Bonferroni over a seed's cells, combined over seeds by Fisher's method; paired rows average "
        f"each seed's cells first (the test column of tables/findings.csv names each test). p (BH): adjusted by "
        f"Benjamini-Hochberg over every test of the table (checks excluded). Verdict, at the adjusted p: "
        f"supported when p (BH) < {ALPHA} and the observed mean is on the predicted side of the null; not "
        f"supported when it is not on that side and p (BH) >= {ALPHA}; inconclusive otherwise. Claim 2 at depth "
        f">= 3 is the certified depth gain (P_2 - P_L) / P_2 per seed "
        f"against a margin (exact sign test over seeds; not testable below 5 seeds). Claim 1 and claim 2 at depth "
        f"2 are checks (no trained net below an exact or certified optimum; depth 2 selects no reflection "
        f"feature), not tests.",
        csv_cols=[*keys, "test", "evidence"],
    )


SCORES = (
    ("test_score", "Lasso"),
    ("nets_test_score", "|.| nets"),
    ("baseline_test_score", "MLP + wd"),
    ("majority_score", "majority"),
    ("probe_score", "probe (same d)"),
    ("probe_full_score", "probe (full emb.)"),
)


def scores_table(cells: list[Cell]) -> Table:
    """Held-out scores by dataset, d and depth: each model beside the majority and linear-probe baselines, on the
    reference cells (the full dictionary and |.| nets; each Lasso fit once: ablation axes would repeat it)."""
    groups: dict = {}
    for r in lasso_rows(c.row for c in cells if c.done and is_reference(c.row)):
        groups.setdefault((r["dataset"], int(r["dim"]), int(r["depth"])), []).append(r)
    rows = []
    for (ds, d, L), rs in groups.items():
        r = {"dataset": ds, "dim": d, "depth": L, "cells": len(rs)}
        for key, _ in SCORES:
            vals = [float(x[key]) for x in rs if x.get(key) is not None and not math.isnan(float(x[key]))]
            m = seed_interval(vals) if vals else None
            r[key] = _ci(m[0], (m[1], m[2])) if m else "n/a"
            r[f"{key}_mean"] = m[0] if m else None
        rows.append(r)
    cols = [Col("dataset", "dataset"), Col("dim", "d", "d"), Col("depth", "L", "d"), Col("cells", "cells", "d")]
    cols += [Col(k, head) for k, head in SCORES]
    return Table(
        "scores",
        "Held-out scores beside their baselines (accuracy; R² for stsb), mean [95% CI over cells]",
        cols,
        rows,
        note="Reference cells only (the full dictionary, |.| nets), each Lasso fit once; with a nets.width axis the "
        "|.| nets column is the first width's. Majority: the training majority class (the training mean for "
        "regression). Probes: logistic "
        "regression (ridge for regression) tuned by cross-validation on the training rows, on the same projected "
        "features and on the full embedding. Every model sees the same training and held-out rows.",
        csv_cols=["dataset", "dim", "depth", "cells", *(f"{k}_mean" for k, _ in SCORES)],
    )


def targets_table(cells: list[Cell]) -> Table:
    """Each dataset's Lasso target and the splits its training and held-out rows come from."""
    rows = {}
    for c in cells:
        data = (c.metrics or {}).get("data") or {}
        if c.done and c.row["dataset"] not in rows:
            rows[c.row["dataset"]] = {
                "dataset": c.row["dataset"],
                "target": data.get("target", ""),
                "train_split": data.get("train_split", ""),
                "test_split": data.get("test_split", ""),
            }
    cols = [Col("dataset", "dataset"), Col("target", "target and score"), Col("train_split", "training rows")]
    cols.append(Col("test_split", "held-out rows"))
    return Table("targets", "Datasets and targets", cols, list(rows.values()))
