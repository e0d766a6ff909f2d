"""Verdict rules of symcli.science.findings on hand-made evidence tables (rows as results.parquet holds them)."""

from __future__ import annotations

import math

import pytest

from symcli.science.findings import (
    CLAIM_EMBEDDINGS,
    CLAIM_OPTIMUM,
    CLAIM_PINNING,
    CLAIM_REFLECTION,
    CLAIM_SCORE,
    findings,
    verdict,
)


def row(**kw) -> dict:
    base = {"dataset": "imdb", "depth": 3, "dim": 1, "seed": 0, "status": "done"}
    return base | kw


def by_claim(found, claim, depth=None):
    return [f for f in found if f.claim == claim and (depth is None or f.depth == depth)]


@pytest.mark.parametrize(
    "observed,null,p,side,expected",
    [
        (0.9, 0.1, 0.001, "greater", "supported"),
        (0.9, 0.1, 0.2, "greater", "inconclusive"),  # right side, too weak
        (0.1, 0.1, 0.9, "greater", "not supported"),  # equal counts as not beyond
        (0.05, 0.1, 0.99, "greater", "not supported"),
        (0.05, 0.1, 0.001, "less", "supported"),
        (0.2, 0.1, 0.8, "less", "not supported"),
        (None, 0.1, 0.01, "greater", "inconclusive"),
        (0.9, 0.1, None, "greater", "inconclusive"),
    ],
)
def test_verdict_rule(observed, null, p, side, expected):
    assert verdict(observed, null, p, side) == expected


def test_pinning_finding_combines_cells_with_fisher_and_reports_a_t_interval():
    rows = [
        row(seed=s, pin_distance=v, pin_distance_null=0.9, pin_distance_p=p)
        for s, (v, p) in enumerate([(0.4, 0.01), (0.5, 0.02), (0.6, 0.03)])
    ]
    (f,) = by_claim(findings(rows), CLAIM_PINNING, 3)
    stat = -2 * sum(math.log(p) for p in (0.01, 0.02, 0.03))
    # Fisher's method: chi-square with 6 degrees of freedom; closed form of its survival function
    expected = math.exp(-stat / 2) * sum((stat / 2) ** k / math.factorial(k) for k in range(3))
    assert f.p_value == pytest.approx(expected, rel=1e-9)
    assert f.observed == pytest.approx(0.5) and f.null == pytest.approx(0.9)
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t_{0.975, 2} * sd / sqrt(n)
    assert f.observed_ci == pytest.approx((0.5 - half, 0.5 + half))
    assert f.verdict == "supported" and f.cells == 3


def test_a_statistic_at_its_null_is_not_supported_and_a_weak_one_is_inconclusive():
    at_null = [row(seed=s, pin_distance=0.5, pin_distance_null=0.5, pin_distance_p=0.6) for s in (0, 1)]
    weak = [row(seed=s, pin_distance=0.4, pin_distance_null=0.5, pin_distance_p=0.3) for s in (0, 1)]
    assert by_claim(findings(at_null), CLAIM_PINNING)[0].verdict == "not supported"
    assert by_claim(findings(weak), CLAIM_PINNING)[0].verdict == "inconclusive"


def test_claim_1_check_against_certified_and_upper_bound_optima():
    ok = [row(nets_min_ratio=1.02, guarantee="certified", objective=2.0, network_objective=2.0)]
    below_cert = [row(nets_min_ratio=0.98, guarantee="certified", objective=2.0, network_objective=2.0)]
    below_bound = [row(nets_min_ratio=0.98, guarantee="upper-bound", objective=2.0, network_objective=2.0)]
    bad_rebuild = [row(nets_min_ratio=1.1, guarantee="exact", objective=2.0, network_objective=2.1)]
    no_nets = [row(guarantee="exact", objective=2.0, network_objective=2.0)]
    verdicts = [by_claim(findings(r), CLAIM_OPTIMUM)[0].verdict for r in (ok, below_cert, below_bound, bad_rebuild)]
    assert verdicts == ["supported", "not supported", "inconclusive", "not supported"]
    assert by_claim(findings(no_nets), CLAIM_OPTIMUM)[0].verdict == "inconclusive"
    assert by_claim(findings(below_cert), CLAIM_OPTIMUM)[0].observed == 0.98


def test_depth_2_reflection_claim_is_the_check_that_none_is_selected():
    none = [row(depth=2, share_reflection_features=0.0, share_reflection_features_null=0.0)]
    some = [row(depth=2, share_reflection_features=0.2, share_reflection_features_null=0.0)]
    assert by_claim(findings(none), CLAIM_REFLECTION, 2)[0].verdict == "supported"
    assert by_claim(findings(some), CLAIM_REFLECTION, 2)[0].verdict == "not supported"


def _gains(gain, seeds=6, proven=True, **kw):
    """Fit rows of depth 3 with a depth gain, one per seed and d (two cells per seed)."""
    return [row(seed=s, dim=d, depth_gain=gain, depth_gain_proven=proven, **kw) for s in range(seeds) for d in (1, 2)]


def test_claim_4_needs_the_mirror_test_and_claim_2_at_a_deeper_depth():
    eh = {"mean_E_H": 0.2, "mean_E_H_null": 1.0, "mean_E_H_p": 0.001}
    eh_no = {"mean_E_H": 1.2, "mean_E_H_null": 1.0, "mean_E_H_p": 0.9}
    cases = [
        (_gains(0.3, **eh), "supported"),
        (_gains(0.01, **eh), "inconclusive"),
        (_gains(0.01, **eh_no), "not supported"),
    ]
    for rows, expected in cases:
        (f,) = by_claim(findings(rows), CLAIM_EMBEDDINGS)
        assert f.verdict == expected, rows[0]
        assert f.depth is None and f.dataset == "imdb"


def test_claim_2_is_the_certified_depth_gain_over_seeds():
    """Six seeds (two fits each, averaged within the seed) gaining 0.3 > margin: sign test p = 2^-6; gains below the
    margin are not supported; four seeds cannot reach p < 0.05 (2^-4 = 0.0625): not testable; unproven gains and
    cells from before the depth gain was recorded do not count."""
    from symcli.science.findings import DEPTH_GAIN_MARGIN, MIN_SEEDS

    (yes,) = by_claim(findings(_gains(0.3)), CLAIM_REFLECTION, 3)
    assert yes.p_value == pytest.approx(0.5**6) and yes.verdict == "supported" and yes.cells == 12
    assert yes.observed == pytest.approx(0.3) and yes.null == DEPTH_GAIN_MARGIN and "6 seeds" in yes.evidence
    (no,) = by_claim(findings(_gains(0.01)), CLAIM_REFLECTION, 3)
    assert no.p_value == pytest.approx(1.0) and no.verdict == "not supported"
    (few,) = by_claim(findings(_gains(0.3, seeds=MIN_SEEDS - 1)), CLAIM_REFLECTION, 3)
    assert few.verdict == "not testable" and few.p_value is None
    (unproven,) = by_claim(findings(_gains(0.3, proven=False)), CLAIM_REFLECTION, 3)
    assert unproven.verdict == "not testable" and unproven.cells == 0
    old = [row(seed=s, share_reflection_features=0.9, share_reflection_features_null=0.5) for s in range(6)]
    (before,) = by_claim(findings(old), CLAIM_REFLECTION, 3)
    assert before.verdict == "not testable" and "no depth gain recorded" in before.evidence


def test_claim_2_does_not_depend_on_the_solvers_choice_of_optimum():
    """Two runs whose fits reach the same optima but whose solvers returned different optima (reflection share
    1.0 or 0.0 of the same face [0, 1]) get the same claim-2 row."""
    face = {"reflection_share_min": 0.0, "reflection_share_max": 1.0}
    one = _gains(0.2, share_reflection_features=1.0, **face)
    other = _gains(0.2, share_reflection_features=0.0, **face)
    (a,), (b,) = (by_claim(findings(r), CLAIM_REFLECTION, 3) for r in (one, other))
    assert (a.verdict, a.p_value, a.observed) == (b.verdict, b.p_value, b.observed)
    assert (a.verdict, a.p_value, a.observed) == ("supported", 0.5**6, pytest.approx(0.2))
    assert "mean min 0.000, mean max 1.000" in a.evidence


def test_score_finding_is_a_paired_t_test_against_the_majority():
    from scipy import stats

    scores = [0.70, 0.74, 0.69]
    rows = [row(seed=s, test_score=v, majority_score=0.5, probe_score=0.72) for s, v in enumerate(scores)]
    (f,) = by_claim(findings(rows), CLAIM_SCORE)
    expected = stats.ttest_1samp([v - 0.5 for v in scores], 0.0, alternative="greater").pvalue
    assert f.p_value == pytest.approx(expected) and f.verdict == "supported"
    assert "0.720" in f.evidence
    at_chance = [row(seed=s, test_score=v, majority_score=0.5) for s, v in enumerate([0.49, 0.5, 0.51])]
    assert by_claim(findings(at_chance), CLAIM_SCORE)[0].verdict == "not supported"


def test_failed_cells_and_other_datasets_are_kept_apart():
    rows = [
        row(pin_distance=0.01, pin_distance_null=0.5, pin_distance_p=1e-6, share_units_pinned=0.8),
        row(status="failed", pin_distance=0.9, pin_distance_null=0.5, pin_distance_p=1.0),
        row(dataset="glue/sst2", pin_distance=0.9, pin_distance_null=0.5, pin_distance_p=1.0),
    ]
    found = findings(rows)
    imdb, sst2 = (by_claim([f for f in found if f.dataset == ds], CLAIM_PINNING)[0] for ds in ("imdb", "glue/sst2"))
    assert (imdb.cells, imdb.verdict) == (1, "supported")
    assert (sst2.cells, sst2.verdict) == (1, "not supported")
    assert imdb.evidence.startswith("pinned share 0.800, random planes n/a")
    assert all(
        set(f.to_dict()) >= {"claim", "dataset", "depth", "observed", "null", "p_value", "verdict"} for f in found
    )


def test_a_statistic_with_a_null_but_nothing_observed_is_an_inconclusive_row():
    rows = [row(seed=s, pin_distance=None, pin_distance_null=0.05, pin_distance_p=None) for s in (0, 1)]
    (f,) = by_claim(findings(rows), CLAIM_PINNING)
    assert (f.verdict, f.observed, f.p_value) == ("inconclusive", None, None)
    assert "nothing to measure" in f.evidence


# ------------------------------------------------------------------ multiplicity: one family of tests per table


def test_benjamini_hochberg_matches_scipy():
    from scipy import stats

    from symcli.core.numerics import rng
    from symcli.science.verdicts import benjamini_hochberg

    for seed in range(5):
        ps = list(rng(seed).uniform(0, 0.2, size=17)) + [1.0, 0.0]
        assert benjamini_hochberg(ps) == pytest.approx(list(stats.false_discovery_control(ps, method="bh")))
    assert benjamini_hochberg([]) == []


def _tested(claim, p, observed=0.9, null=0.1, side="greater"):
    from symcli.science.verdicts import Finding

    return Finding(claim, "imdb", 3, observed, null, p, verdict(observed, null, p, side), cells=3, side=side)


def test_a_lone_small_p_among_many_tests_is_inconclusive_after_adjustment():
    """p = 0.015, 0.025, 0.035 alone would each be supported; among five tests their BH p-values are all 0.035 x 5 /
    3 = 0.0583, so no row is supported. Checks (no p-value, kind `check`) neither count as tests nor change."""
    from symcli.science.verdicts import Finding, adjust

    rows = [_tested(f"c{i}", p) for i, p in enumerate([0.015, 0.025, 0.035, 0.5, 0.9])]
    check = Finding("1 check", "imdb", 3, 1.0, 1.0, None, "supported", kind="check")
    assert [r.verdict for r in rows[:3]] == ["supported"] * 3
    adjust(rows + [check])
    assert [r.p_adjusted for r in rows] == pytest.approx([0.035 * 5 / 3] * 3 + [0.625, 0.9])
    assert [r.verdict for r in rows] == ["inconclusive"] * 5
    assert check.verdict == "supported" and check.p_adjusted is None
    few = [_tested("a", 0.01), _tested("b", 0.02)]
    adjust(few)
    assert [r.verdict for r in few] == ["supported", "supported"] and few[1].p_adjusted == pytest.approx(0.02)


def test_checks_are_kind_check_and_tests_carry_adjusted_p_values():
    rows = [
        row(seed=s, pin_distance=v, pin_distance_null=0.9, pin_distance_p=p, nets_min_ratio=1.01, guarantee="exact")
        for s, (v, p) in enumerate([(0.4, 0.01), (0.5, 0.02), (0.6, 0.03)])
    ]
    found = findings(rows + [row(depth=2, share_reflection_features=0.0, share_reflection_features_null=0.0)])
    kinds = {(f.claim, f.depth): f.kind for f in found}
    assert kinds[(CLAIM_OPTIMUM, 3)] == kinds[(CLAIM_REFLECTION, 2)] == "check"
    (pin,) = by_claim(found, CLAIM_PINNING, 3)
    assert pin.kind == "test" and pin.p_adjusted == pytest.approx(pin.p_value)  # the table's only test
    assert all(f.p_adjusted is None for f in found if f.kind == "check")
    d = pin.to_dict()
    assert d["kind"] == "test" and "parts" not in d and "compose" not in d


def test_composite_rows_are_composed_from_adjusted_parts():
    """Claim 4 is the E_H test and claim 2: once the table is adjusted it is composed again from the adjusted
    verdicts (here E_H's p = 0.04 alone is supported; adjusted over the table's three tests, 0.04 x 3 / 2 = 0.06,
    it is not)."""
    eh = {"mean_E_H": 0.2, "mean_E_H_null": 1.0}
    pin = {"pin_distance": 0.5, "pin_distance_null": 0.5, "pin_distance_p": 0.5}
    rows = _gains(0.3, seeds=7, **pin)  # claim 2: sign test p = 2^-7; pinning: Fisher over 14 cells of p = 0.5
    rows[0] |= eh | {"mean_E_H_p": 0.04}  # E_H measured in one cell
    (f,) = by_claim(findings(rows), CLAIM_EMBEDDINGS)
    assert f.p_value == pytest.approx(0.04) and f.p_adjusted == pytest.approx(0.06)
    assert f.verdict == "inconclusive" and len(f.parts) == 1 and f.parts[0].verdict == "inconclusive"
    strong = _gains(0.3, seeds=7, **pin)
    strong[0] |= eh | {"mean_E_H_p": 0.001}
    assert by_claim(findings(strong), CLAIM_EMBEDDINGS)[0].verdict == "supported"


# ------------------------------------------------------------------ the seed is the unit of replication


def test_a_seeds_cells_count_once():
    """Two cells per seed (d = 1 and d = 2 share the seed's training rows): a seed's p is the Bonferroni bound over
    its cells, Fisher combines the seeds, and observed and null are means over seeds."""
    from scipy import stats

    cells = {0: [(0.4, 0.01), (0.5, 0.2)], 1: [(0.5, 0.02), (0.6, 0.03)], 2: [(0.6, 0.04), (0.7, 0.5)]}
    rows = [
        row(seed=s, dim=d, pin_distance=v, pin_distance_null=0.9, pin_distance_p=p)
        for s, pairs in cells.items()
        for d, (v, p) in zip((1, 2), pairs, strict=True)
    ]
    (f,) = by_claim(findings(rows), CLAIM_PINNING, 3)
    per_seed = [min(1.0, 2 * min(p for _, p in pairs)) for pairs in cells.values()]  # 0.02, 0.04, 0.08
    assert f.p_value == pytest.approx(stats.combine_pvalues(per_seed, method="fisher").pvalue, rel=1e-9)
    assert f.observed == pytest.approx((0.45 + 0.55 + 0.65) / 3) and f.n == 3 and f.cells == 6
    assert "Bonferroni over a seed's 2 cells, Fisher's method over 3 seeds" in f.test


def test_copying_every_cell_changes_no_paired_p():
    """The held-out score is paired over seeds: a second cell per seed with the same scores (dependent, not new
    evidence) leaves the p-value as it was; over cells it would shrink it."""
    one = [row(seed=s, test_score=v, majority_score=0.5) for s, v in enumerate([0.6, 0.55, 0.7])]
    two = one + [r | {"dim": 2} for r in one]
    (a,), (b,) = (by_claim(findings(r), CLAIM_SCORE) for r in (one, two))
    assert a.p_value == pytest.approx(b.p_value) and (a.n, b.n) == (3, 3) and (a.cells, b.cells) == (3, 6)
