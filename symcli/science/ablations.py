"""The ablations' findings (issue: feature families, activations, widths), from a run's cell rows.

Cells differ from the reference cell of the same (dataset, depth, dim, projection, n_train, beta, seed) in one
ablation axis: grid.families (the dictionary's feature families), nets.activation or nets.width. Rows, per dataset
and depth:

- 5a/5b `reflection features improve the fit / the held-out score` (one row per ablated family set): the full
  dictionary's objective (predicted lower) and held-out score (predicted higher) against the ablated fit's on the
  same seeds: means with 95% intervals and a one-sided paired t-test (symcli.science.verdicts.paired_finding); the
  evidence gives the ablated fits' median certificate against the full dictionary. 5a compares like with like:
  an ablated fit never refines, so the reference enters with its objective on the same built dictionary before
  --refine added columns (`objective_before_refine`; its `objective` when it was not refined), and the gain of
  refinement is not credited to the reflection features.
- 6 `pinning and reflections persist under ACT` (relu, srelu): the pinning test (pin_distance vs random planes)
  and, at depth >= 3, the offsets test (offset_to_pinned vs random offsets) on that activation's nets, each
  combined over seeds (Bonferroni within a seed, Fisher over seeds); `supported` when every test is supported, `not
  supported` when every test is not, else `inconclusive`. The evidence gives the nets' median P / (|.| Lasso
  optimum) beside the |.| nets'.
- 7 `wider nets approach the convex optimum`: the |.| nets' median P / P_Lasso at the widest width (predicted
  lower) against the narrowest, paired by seed; the evidence lists the mean ratio per width.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import replace

from symcli.science.nulls import seed_interval
from symcli.science.verdicts import Finding, composite, fmt, num, paired_finding, tested_finding

CLAIM_FAMILY_FIT = "5a reflection features improve the fit"
CLAIM_FAMILY_SCORE = "5b reflection features improve the held-out score"
CLAIM_ACTIVATION = "6 pinning and reflections persist under"
CLAIM_WIDTH = "7 wider nets approach the convex optimum"

#: The columns that name one Lasso fit (a cell without its networks' axes).
FIT_KEYS = ("dataset", "depth", "dim", "projection", "n_train", "beta", "seed", "families")


def is_reference(row: dict) -> bool:
    """The theory's cell: the depth's full dictionary and |.| networks (any width)."""
    return row.get("families", "all") == "all" and row.get("activation", "abs") == "abs"


def lasso_rows(rows: Iterable[dict]) -> list[dict]:
    """One row per Lasso fit (cells differing only in the networks' activation or width fit the same Lasso)."""
    first: dict[tuple, dict] = {}
    for r in rows:
        first.setdefault(tuple(r.get(k) for k in FIT_KEYS), r)
    return list(first.values())


def unrefined_objective(row: dict) -> float | None:
    """A fit's objective on its built dictionary: before --refine added columns, or its objective unrefined."""
    before = num(row.get("objective_before_refine"))
    return before if before is not None else num(row.get("objective"))


def _paired(rows: list[dict], column, condition, reference, key=FIT_KEYS[:-1]) -> list[tuple]:
    """(seed, value in the condition's cell, value in its reference cell) of `column` (a row's key, or a function
    of the row), per shared key."""
    value = column if callable(column) else (lambda r: num(r.get(column)))
    ref = {tuple(r.get(k) for k in key): value(r) for r in rows if reference(r)}
    out = []
    for r in rows:
        if condition(r):
            a, b = value(r), ref.get(tuple(r.get(k) for k in key))
            if a is not None and b is not None:
                out.append((r.get("seed"), a, b))
    return out


def family_findings(dataset: str, depth: int, rows: list[dict]) -> list[Finding]:
    """5a and 5b for each ablated family set of the dataset and depth (rows: its Lasso fits)."""
    out = []
    tests = (
        (CLAIM_FAMILY_FIT, "the objective on the built dictionary (unrefined)", unrefined_objective, "less"),
        (CLAIM_FAMILY_SCORE, "test_score", "test_score", "greater"),
    )
    for fam in dict.fromkeys(r.get("families", "all") for r in rows):
        if fam == "all":
            continue

        def ablated(r, fam=fam):
            return r.get("families") == fam

        for claim, column, value, side in tests:
            pairs = _paired(rows, value, is_reference, ablated)  # (full dictionary, ablated), per seed
            f = paired_finding(
                f"{claim} (all vs {fam})",
                dataset,
                depth,
                pairs,
                side,
                f"one-sided paired t-test over seeds of {column}: full dictionary - {fam}",
            )
            if f is not None:
                certs = [num(r.get("certificate_full_dictionary")) for r in rows if ablated(r)]
                certs = [c for c in certs if c is not None]
                f.evidence = f"{fam} fits' median certificate against the full dictionary " + (
                    f"{statistics.median(certs):.3g}" if certs else "n/a"
                )
                out.append(f)
    return out


def _ratio(rows: list[dict]) -> str:
    """Mean (95% interval) of the nets' median P / P_Lasso over rows."""
    ratios = [num(r.get("nets_median_ratio")) for r in rows]
    m, lo, hi = seed_interval([x for x in ratios if x is not None])
    return "n/a" if m is None or m != m else f"{m:.3f} [{fmt(lo)}, {fmt(hi)}]"


def activation_findings(dataset: str, depth: int, rows: list[dict]) -> list[Finding]:
    """6 for each non-|.| activation of the dataset and depth (rows: full-dictionary cells)."""
    out = []
    abs_rows = [r for r in rows if r.get("activation", "abs") == "abs"]
    for act in dict.fromkeys(r.get("activation", "abs") for r in rows):
        if act == "abs":
            continue
        rs = [r for r in rows if r.get("activation") == act]
        claim = f"{CLAIM_ACTIVATION} {act}"
        tests = [
            tested_finding(claim, dataset, depth, rs, "pin_distance", "less", "pin distance vs random planes"),
            tested_finding(claim, dataset, depth, rs, "offset_to_pinned", "less", "offset-to-pinned vs random offsets")
            if depth >= 3
            else None,
        ]
        tests = [t for t in tests if t is not None]
        if not tests:
            continue
        ratios = f"P / |.| Lasso optimum {act} {_ratio(rs)}, abs {_ratio(abs_rows)}"

        def compose(row, tests=tests, ratios=ratios):
            verdicts = {t.verdict for t in tests}
            row.verdict = verdicts.pop() if len(verdicts) == 1 else "inconclusive"
            row.evidence = "; ".join(
                [f"{t.test.split(';')[0]}: {fmt(t.observed)} vs {fmt(t.null)} ({_p(t)})" for t in tests] + [ratios]
            )

        row = replace(tests[0], test=" and ".join(t.test for t in tests))
        out.append(composite(row, tests, compose))
    return out


def _p(t: Finding) -> str:
    """A test's p-value and, once the table is adjusted, its Benjamini-Hochberg p."""
    return f"p {t.p_value:.2g}" + (f", BH {t.p_adjusted:.2g}" if t.p_adjusted is not None else "")


def width_finding(dataset: str, depth: int, rows: list[dict]) -> Finding | None:
    """7 for the dataset and depth (rows: reference cells with trained nets), None with fewer than 2 widths."""
    units: dict[str, list[float]] = {}
    for r in rows:
        if num(r.get("nets_width")) is not None:
            units.setdefault(str(r.get("width")), []).append(num(r["nets_width"]))
    if len(units) < 2:
        return None
    order = sorted(units, key=lambda w: statistics.mean(units[w]))
    narrow, wide = order[0], order[-1]
    pairs = _paired(
        rows,
        "nets_median_ratio",
        lambda r: str(r.get("width")) == wide,
        lambda r: str(r.get("width")) == narrow,
        key=FIT_KEYS,
    )
    f = paired_finding(
        CLAIM_WIDTH,
        dataset,
        depth,
        pairs,
        "less",
        f"one-sided paired t-test over seeds of the nets' median P / P_Lasso: width {wide} - width {narrow}",
    )
    if f is not None:
        f.evidence = "mean P / P_Lasso by width: " + ", ".join(
            f"{w} ({statistics.mean(units[w]):.0f} units) {_ratio([r for r in rows if str(r.get('width')) == w])}"
            for w in order
        )
    return f


def ablation_findings(rows: list[dict]) -> list[Finding]:
    """Every ablation finding of a run's finished rows, per dataset and depth (none when the run has no ablation)."""
    out: list[Finding] = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        ds = [r for r in rows if r["dataset"] == dataset]
        for depth in sorted({int(r["depth"]) for r in ds}):
            rs = [r for r in ds if int(r["depth"]) == depth]
            out += family_findings(dataset, depth, lasso_rows(r for r in rs if r.get("activation", "abs") == "abs"))
            full = [r for r in rs if r.get("families", "all") == "all"]
            out += activation_findings(dataset, depth, full)
            f = width_finding(dataset, depth, [r for r in full if r.get("activation", "abs") == "abs"])
            if f is not None:
                out.append(f)
    return out
