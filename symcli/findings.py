"""Findings: the paper's claims answered per dataset (and depth) from a run's cell rows, with verdicts computed
by stated rules (never written by hand).

Input: the rows of results.parquet (one dict per cell; symcli.runs.cell_row). Every symmetry statistic S comes
with its null `S_null` and a within-cell one-sided p-value `S_p` (symcli.nulls); a group's p-value is Fisher's
combination of its cells' p-values, and observed and null are means over the group's cells (seeds, and d where
the group pools dimensions) with a 95% Student-t interval.

Verdict rules (ALPHA = 0.05), for a statistic predicted to be above (or below) its null:

- `supported`: the combined p-value < ALPHA and the mean observed value is on the predicted side of the mean null;
- `not supported`: the mean observed value is not on the predicted side (equal counts as not) and p >= ALPHA;
- `inconclusive`: anything else: on the predicted side but p >= ALPHA (too few seeds or too weak), or no cell
  with the statistic (e.g. no trained networks).

Claim 1 (nets never below the Lasso optimum; the Lasso solution is a network) is a check, not a test:
`not supported` when a trained net ends below an exact or certified Lasso optimum by more than RATIO_TOL
(relative) or the rebuilt network's objective differs from the Lasso's by more than RATIO_TOL; `inconclusive`
when a net ends below a Lasso value that is only an upper bound, or no nets were trained; else `supported`.
Claim 4 (the features appear on language-model embeddings) holds on a dataset when its mirror-symmetry test
(E_H about the top mirrors below E_H about random hyperplanes through the data) and claim 2 at some depth are
supported; it is `not supported` when both are not supported at every depth; else `inconclusive`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from symcli.nulls import combine_pvalues, seed_interval

ALPHA = 0.05
RATIO_TOL = 1e-6
VERDICTS = ("supported", "not supported", "inconclusive")

CLAIM_OPTIMUM = "1 nets never below the Lasso optimum"
CLAIM_REFLECTION = "2 deeper fits select reflection features"
CLAIM_PINNING = "3a net hyperplanes pinned at training points"
CLAIM_OFFSETS = "3b deeper offsets at pinned values"
CLAIM_KINKS = "3c 1-D kinks at data points or reflections"
CLAIM_EMBEDDINGS = "4 mirror symmetry on language-model embeddings"
CLAIM_SCORE = "held-out score above the majority baseline"

#: (claim, statistic column, predicted side of the null, the test's name), each per dataset and depth
TESTED = (
    (
        CLAIM_REFLECTION,
        "share_reflection_features",
        "greater",
        "l1-mass share of reflection families vs a size-matched draw",
    ),
    (CLAIM_PINNING, "pin_distance", "less", "median distance of a unit's plane to its d-th nearest training point"),
    (CLAIM_OFFSETS, "offset_to_pinned", "less", "median offset-to-pinned distance vs random offsets"),
    (CLAIM_KINKS, "share_kinks_near", "greater", "share of kinks near an anchor vs uniform kinks"),
)


@dataclass
class Finding:
    """One row of the findings table."""

    claim: str
    dataset: str
    depth: int | None
    observed: float | None
    null: float | None
    p_value: float | None
    verdict: str
    observed_ci: tuple[float, float] | None = None
    null_ci: tuple[float, float] | None = None
    cells: int = 0
    test: str = ""
    evidence: str = ""

    def to_dict(self) -> dict:
        """The fields, JSON-ready: NaN becomes None, intervals become lists."""

        def clean(v):
            if isinstance(v, tuple):
                return [clean(x) for x in v]
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {k: clean(v) for k, v in asdict(self).items()}


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def verdict(observed: float | None, null: float | None, p: float | None, side: str) -> str:
    """The rule of the module docstring for one tested statistic."""
    if observed is None or null is None:
        return "inconclusive"
    beyond = observed > null if side == "greater" else observed < null
    if beyond and p is not None and p < ALPHA:
        return "supported"
    if not beyond and (p is None or p >= ALPHA):
        return "not supported"
    return "inconclusive"


def tested_finding(claim: str, dataset: str, depth: int | None, rows: list[dict], stat: str, side: str, test: str):
    """Observed vs null of `stat` over rows (cells), Fisher-combined p-value and the verdict; None when no row
    has the statistic."""
    have = [r for r in rows if _num(r.get(stat)) is not None and _num(r.get(f"{stat}_null")) is not None]
    if not have:
        if any(_num(r.get(f"{stat}_null")) is not None for r in rows):  # a null but nothing observed
            reason = "nothing to measure in any cell (e.g. no trained unit's plane or nested kink cuts the data)"
            return Finding(claim, dataset, depth, None, None, None, "inconclusive", test=test, evidence=reason)
        return None
    obs = seed_interval([_num(r[stat]) for r in have])
    nul = seed_interval([_num(r[f"{stat}_null"]) for r in have])
    p = combine_pvalues([_num(r.get(f"{stat}_p")) for r in have])
    return Finding(
        claim,
        dataset,
        depth,
        obs[0],
        nul[0],
        p,
        verdict(obs[0], nul[0], p, side),
        (obs[1], obs[2]),
        (nul[1], nul[2]),
        len(have),
        f"{test}; one-sided within each cell, Fisher's method over {len(have)} cells",
    )


def optimum_finding(dataset: str, depth: int, rows: list[dict]) -> Finding:
    """Claim 1 for one dataset and depth: min over cells and nets of P_net / P_Lasso against 1."""
    ratios = [(_num(r.get("nets_min_ratio")), r.get("guarantee")) for r in rows]
    ratios = [(x, g) for x, g in ratios if x is not None]
    rebuilt = [
        abs(_num(r["network_objective"]) / _num(r["objective"]) - 1)
        for r in rows
        if _num(r.get("network_objective")) is not None and _num(r.get("objective"))
    ]
    worst_rebuilt = max(rebuilt, default=None)
    below = [(x, g) for x, g in ratios if x < 1 - RATIO_TOL]
    if worst_rebuilt is not None and worst_rebuilt > RATIO_TOL:
        v = "not supported"
    elif any(g in ("exact", "certified") for _, g in below):
        v = "not supported"
    elif below or not ratios:
        v = "inconclusive"
    else:
        v = "supported"
    certified = sum(g in ("exact", "certified") for _, g in ratios)
    return Finding(
        CLAIM_OPTIMUM,
        dataset,
        depth,
        min((x for x, _ in ratios), default=None),
        1.0,
        None,
        v,
        cells=len(ratios),
        test=f"check: min P_net/P_Lasso >= 1 - {RATIO_TOL:g} where the Lasso is exact or certified; "
        f"rebuilt network objective = Lasso objective to {RATIO_TOL:g}",
        evidence=f"{certified} of {len(ratios)} cells certified or exact; largest |P_rebuilt/P_Lasso - 1| = "
        + (f"{worst_rebuilt:.1e}" if worst_rebuilt is not None else "n/a"),
    )


def score_finding(dataset: str, rows: list[dict]) -> Finding | None:
    """The Lasso's held-out score against the majority baseline (paired over cells; one-sided t-test)."""
    from scipy import stats

    pairs = [(_num(r.get("test_score")), _num(r.get("majority_score"))) for r in rows]
    pairs = [(s, m) for s, m in pairs if s is not None and m is not None]
    if not pairs:
        return None
    obs, nul = seed_interval([s for s, _ in pairs]), seed_interval([m for _, m in pairs])
    diff = [s - m for s, m in pairs]
    p = None
    if len(diff) >= 2 and max(diff) - min(diff) > 0:
        p = float(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue)
    elif len(diff) >= 2:
        p = 0.0 if diff[0] > 0 else 1.0
    probe = seed_interval([_num(r.get("probe_score")) for r in rows if _num(r.get("probe_score")) is not None])
    full = seed_interval([_num(r.get("probe_full_score")) for r in rows if _num(r.get("probe_full_score")) is not None])
    return Finding(
        CLAIM_SCORE,
        dataset,
        None,
        obs[0],
        nul[0],
        p,
        verdict(obs[0], nul[0], p, "greater"),
        (obs[1], obs[2]),
        (nul[1], nul[2]),
        len(pairs),
        "one-sided paired t-test over cells of Lasso score - majority score",
        evidence=f"linear probe (same features) {_fmt(probe[0])}, linear probe (full embedding) {_fmt(full[0])}",
    )


def _pinned_share(rows: list[dict]) -> str:
    """The share of pinned units beside its random-plane null and the label-shuffled nets' share."""
    parts = []
    for key, name in (("", "pinned share"), ("_null", "random planes"), ("_shuffled", "shuffled-label nets")):
        vals = [_num(r.get(f"share_units_pinned{key}")) for r in rows]
        vals = [v for v in vals if v is not None]
        parts.append(f"{name} {_fmt(seed_interval(vals)[0]) if vals else 'n/a'}")
    return ", ".join(parts)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def findings(rows: Iterable[dict]) -> list[Finding]:
    """Every finding of a run: per dataset, claim 1-3 per depth, claim 4 and the held-out score."""
    done = [r for r in rows if r.get("status") == "done"]
    out: list[Finding] = []
    for dataset in dict.fromkeys(r["dataset"] for r in done):
        ds = [r for r in done if r["dataset"] == dataset]
        score = score_finding(dataset, ds)
        if score is not None:
            out.append(score)
        by_depth: dict[int, list[Finding]] = {}
        for depth in sorted({int(r["depth"]) for r in ds}):
            rs = [r for r in ds if int(r["depth"]) == depth]
            out.append(optimum_finding(dataset, depth, rs))
            for claim, stat, side, test in TESTED:
                f = (
                    depth2_finding(dataset, rs)
                    if claim == CLAIM_REFLECTION and depth == 2
                    else tested_finding(claim, dataset, depth, rs, stat, side, test)
                )
                if f is not None:
                    if claim == CLAIM_PINNING and f.observed is not None:
                        f.evidence = _pinned_share(rs)
                    by_depth.setdefault(depth, []).append(f)
                    out.append(f)
        out.append(embeddings_finding(dataset, ds, by_depth))
    return out


def depth2_finding(dataset: str, rows: list[dict]) -> Finding | None:
    """Claim 2 at depth 2: the prediction is that no reflection feature is selected (there is none to select)."""
    shares = [
        _num(r.get("share_reflection_features")) for r in rows if _num(r.get("share_reflection_features")) is not None
    ]
    if not shares:
        return None
    return Finding(
        CLAIM_REFLECTION,
        dataset,
        2,
        max(shares),
        0.0,
        None,
        "supported" if max(shares) == 0 else "not supported",
        cells=len(shares),
        test="check: depth 2 selects no reflection feature (largest share over cells = 0)",
    )


def embeddings_finding(dataset: str, rows: list[dict], by_depth: dict[int, list[Finding]]) -> Finding:
    """Claim 4 on one dataset: the E_H test (all depths pooled) and claim 2 at some depth >= 3."""
    eh = tested_finding(
        CLAIM_EMBEDDINGS,
        dataset,
        None,
        rows,
        "mean_E_H",
        "less",
        "mean E_H about the top mirrors vs random hyperplanes",
    )
    refl = [f.verdict for fs in by_depth.values() for f in fs if f.claim == CLAIM_REFLECTION and (f.depth or 0) >= 3]
    if eh is None:
        eh = Finding(CLAIM_EMBEDDINGS, dataset, None, None, None, None, "inconclusive", test="no E_H measured")
    if eh.verdict == "supported" and "supported" in refl:
        eh.verdict = "supported"
    elif eh.verdict == "not supported" and refl and all(v == "not supported" for v in refl):
        eh.verdict = "not supported"
    else:
        eh.verdict = "inconclusive"
    eh.evidence = "claim 2 at depths >= 3: " + (", ".join(refl) if refl else "not measured")
    return eh
