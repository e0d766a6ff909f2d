"""The statistics of a finding: one row of the findings table (Finding), the verdict rule, the tested
finding of a statistic against its null over a group of cells, and the paired test of two conditions.

The seed is the unit of replication: a seed's cells (d = 1 and d = 2, projections, widths) share its training
rows, so they are not independent, while different seeds are. Every symmetry statistic S comes with its null
`S_null` and a within-cell one-sided p-value `S_p` (symcli.science.nulls); a seed's p-value is the Bonferroni
bound over its cells (m times their smallest p, valid under any dependence), a group's p-value is Fisher's
combination over its seeds, and observed and null are means over the seeds (each the mean over its cells) with a
95% Student-t interval. Paired comparisons (a condition against a reference) average each seed's cells first and
use a one-sided paired t-test of the per-seed differences.

Multiplicity: a run's findings table is one family of tests. Every test's p-value (a row of kind `test`, or a
part of a composite row) is adjusted by Benjamini-Hochberg over all of them (`p_adjusted`, adjust()); checks
(kind `check`: claim 1, depth 2 selecting no reflection feature) are not tests and stay out.

Verdict rules (ALPHA = 0.05, at the adjusted p), for a statistic predicted to be above (or below) its null:

- `supported`: p_adjusted < ALPHA and the mean observed value is on the predicted side of the mean null;
- `not supported`: the mean observed value is not on the predicted side (equal counts as not) and
  p_adjusted >= ALPHA;
- `inconclusive`: anything else: on the predicted side but p_adjusted >= ALPHA (too few seeds or too weak), or no
  cell with the statistic (e.g. no trained networks);
- `not testable`: a row whose test could not reach p < ALPHA with the units at hand (claim 2: fewer than
  MIN_SEEDS seeds with certified depth gains, where the sign test's smallest p, 2^-n, is not below ALPHA).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from statistics import fmean

from symcli.science.nulls import combine_pvalues, seed_interval

ALPHA = 0.05
VERDICTS = ("supported", "not supported", "inconclusive", "not testable")


@dataclass
class Finding:
    """One row of the findings table. kind: `test` or `check`; side: the predicted side of the null ('greater' or
    'less') of a tested statistic; p_adjusted: its Benjamini-Hochberg p over the table (adjust). A composite row
    has parts (its tests, not rows themselves) and a compose function that sets its verdict from them."""

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
    n: int = 0  # the independent units (seeds) behind the test
    kind: str = "test"
    side: str | None = None
    p_adjusted: float | None = None
    parts: list = field(default_factory=list, repr=False)
    compose: Callable | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """The row's fields (not parts or compose), JSON-ready: NaN becomes None, intervals become lists."""

        def clean(v):
            if isinstance(v, tuple):
                return [clean(x) for x in v]
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {f.name: clean(getattr(self, f.name)) for f in fields(self) if f.name not in ("parts", "compose")}


def num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


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


def benjamini_hochberg(ps: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values of ps, in their order: min over k >= rank of p_(k) m / k, capped at 1."""
    m = len(ps)
    out = [1.0] * m
    running = 1.0
    for rank, i in reversed(list(enumerate(sorted(range(m), key=lambda i: ps[i]), start=1))):
        running = min(running, ps[i] * m / rank)
        out[i] = running
    return out


def adjust(found: list[Finding]) -> None:
    """Adjust every test of a findings table by Benjamini-Hochberg (rows of kind `test` and the parts of composite
    rows, where they have a p-value; checks stay out), give each test the verdict of the rule at its adjusted p,
    then compose the composite rows again from their adjusted parts."""
    tests = [t for f in found if f.kind == "test" for t in (f.parts or [f]) if t.p_value is not None]
    for t, q in zip(tests, benjamini_hochberg([t.p_value for t in tests]), strict=True):
        t.p_adjusted = q
        if t.side is not None:
            t.verdict = verdict(t.observed, t.null, q, t.side)
    for f in found:
        if f.compose is not None:
            f.p_adjusted = f.parts[0].p_adjusted
            f.compose(f)


def composite(row: Finding, parts: list[Finding], compose: Callable[[Finding], None]) -> Finding:
    """`row` as a composite of `parts` (tests shown through it): its verdict comes from compose(row), now and after
    adjust(); its p-values are its first part's (adjust sets its p_adjusted)."""
    row.parts, row.compose = parts, compose
    compose(row)
    return row


def tested_finding(claim: str, dataset: str, depth: int | None, rows: list[dict], stat: str, side: str, test: str):
    """Observed vs null of `stat` over rows (cells) grouped by seed: per-seed means, a seed's p-value the Bonferroni
    bound over its cells, Fisher's combination over seeds, and the verdict; None when no row has the statistic."""
    have = [r for r in rows if num(r.get(stat)) is not None and num(r.get(f"{stat}_null")) is not None]
    if not have:
        if any(num(r.get(f"{stat}_null")) is not None for r in rows):  # a null but nothing observed
            reason = "nothing to measure in any cell (e.g. no trained unit's plane or nested kink cuts the data)"
            return Finding(claim, dataset, depth, None, None, None, "inconclusive", test=test, evidence=reason)
        return None
    seeds = by_seed(have, lambda r: r.get("seed"))
    observed = [fmean(num(r[stat]) for r in rs) for rs in seeds]
    null = [fmean(num(r[f"{stat}_null"]) for r in rs) for rs in seeds]
    p = combine_pvalues([bonferroni([num(r.get(f"{stat}_p")) for r in rs]) for rs in seeds])
    most = max(len(rs) for rs in seeds)
    within = f", Bonferroni over a seed's {most} cells" if most > 1 else ""
    test = f"{test}; one-sided within each cell{within}, Fisher's method over {len(seeds)} seeds"
    return _compared(claim, dataset, depth, observed, null, p, side, test, cells=len(have))


def by_seed(items, seed_of) -> list[list]:
    """items grouped by seed_of(item), seeds in first-seen order: the unit of replication (module docstring)."""
    groups: dict = {}
    for item in items:
        groups.setdefault(seed_of(item), []).append(item)
    return list(groups.values())


def bonferroni(ps: list[float | None]) -> float | None:
    """A valid p-value for the intersection of dependent tests: min(1, m x the smallest of the m p-values)."""
    v = [p for p in ps if p is not None]
    return min(1.0, len(v) * min(v)) if v else None


def _compared(claim, dataset, depth, observed: list[float], null: list[float], p, side: str, test: str, cells: int):
    """The Finding of observed against null values, one per seed: their means with 95% intervals over the seeds,
    p and the verdict; cells: the cells behind them."""
    obs, nul = seed_interval(observed), seed_interval(null)
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
        cells,
        test,
        n=len(observed),
        side=side,
    )


def sign_test_p(values: list[float], side: str) -> float | None:
    """Exact one-sided sign test over units (seeds) that values lie above 0 (side 'greater') or below it ('less'):
    P(Binomial(n, 1/2) >= k), k the values on that side, n the non-zero values; None when none is non-zero. Free
    of any assumption on the values' distribution; its smallest p is 2^-n."""
    from scipy import stats

    nonzero = [v for v in values if v != 0]
    if not nonzero:
        return None
    k = sum(v > 0 if side == "greater" else v < 0 for v in nonzero)
    return float(stats.binomtest(k, len(nonzero), 0.5, alternative="greater").pvalue)


def paired_p(diff: list[float], side: str) -> float | None:
    """One-sided paired t-test that the mean of diff is above 0 (side 'greater') or below it ('less'); None with
    fewer than 2 pairs; 0 or 1 when every difference is equal (no spread: the sign decides)."""
    from scipy import stats

    if len(diff) < 2:
        return None
    if max(diff) - min(diff) > 0:
        return float(stats.ttest_1samp(diff, 0.0, alternative=side).pvalue)
    beyond = diff[0] > 0 if side == "greater" else diff[0] < 0
    return 0.0 if beyond else 1.0


def paired_finding(claim: str, dataset: str, depth: int | None, pairs: list[tuple], side: str, test: str):
    """Observed against reference over paired cells, pairs (seed, observed, reference): each seed's cells averaged,
    means over seeds with intervals, the one-sided paired p-value of observed - reference over seeds on `side`, and
    the verdict; None without pairs."""
    if not pairs:
        return None
    seeds = by_seed(pairs, lambda pair: pair[0])
    obs = [fmean(a for _, a, _ in group) for group in seeds]
    ref = [fmean(b for _, _, b in group) for group in seeds]
    p = paired_p([a - b for a, b in zip(obs, ref, strict=True)], side)
    return _compared(claim, dataset, depth, obs, ref, p, side, f"{test} ({len(obs)} seeds)", cells=len(pairs))
