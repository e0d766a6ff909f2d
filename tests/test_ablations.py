"""The ablations: feature families of the dictionary (--families, grid.families), the networks' activation and
width axes (nets.activation, nets.width), and their findings rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from helpers import random_problem
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.errors import UserError
from symcli.fit.compare_nets import NetsOptions, parse_width
from symcli.fit.lasso_fit import FitOptions, fit
from symcli.fit.problem import Problem
from symcli.lasso.dictionary import build_dictionary
from symcli.lasso.directions import with_fallback
from symcli.lasso.features import FAMILIES, FAMILY_SETS, parse_families
from symcli.lasso.solvers import solve
from symcli.runs.config import load_config
from symcli.science.ablations import CLAIM_ACTIVATION, CLAIM_FAMILY_FIT, CLAIM_FAMILY_SCORE, CLAIM_WIDTH
from symcli.science.findings import CLAIM_PINNING, CLAIM_SCORE, findings

#: Objectives of a subset dictionary against the full one: at or above it up to the solvers' relative gap.
OBJ_TOL = 1e-9


def _problem(seed: int, N: int = 14, d: int = 2) -> Problem:
    X, y = random_problem(seed, N, d)
    Xt, yt = random_problem(seed + 100, 20, d)
    return Problem(X, y, Xt, yt)


@pytest.mark.parametrize("spec", ["planes-only", "no-reflection", "plane,reflection", "midpoint"])
def test_restricted_dictionary_holds_exactly_the_requested_families(spec):
    X, _ = random_problem(0, 9, 2)
    dirs, _ = with_fallback(["spanned"], X, "l2", None, 0)
    full = build_dictionary(X, 3, dirs, "all", "l2", 1e9)  # `all` pins: all three families present
    assert set(full.family.tolist()) == {0, 1, 2}
    keep = parse_families(spec)
    D = full.restrict(keep)
    codes = {FAMILIES.index(f) for f in keep}
    assert set(D.family.tolist()) == codes
    mask = np.isin(full.family, list(codes))
    assert D.n_columns == int(mask.sum())
    np.testing.assert_array_equal(D.A, full.A[:, mask])
    np.testing.assert_array_equal(D.c, full.c[mask])
    assert {r["family"] for r in D.records(np.arange(D.n_columns))} == set(keep)


def test_family_specs_parse_and_refuse():
    assert parse_families("all") == FAMILIES
    assert parse_families("planes-only") == ("plane",)
    assert parse_families(" reflection , plane ") == ("plane", "reflection")
    assert set(FAMILY_SETS) == {"all", "no-reflection", "planes-only"}
    for bad in ("", "planes", "plane,mirror"):
        with pytest.raises(ValueError, match="choose a set"):
            parse_families(bad)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("depth", "pins", "spec"), [(3, "paper", "planes-only"), (3, "all", "no-reflection"), (4, "paper", "planes-only")]
)
def test_ablated_optimum_is_never_below_the_full_one_and_its_certificate_is_nonnegative(seed, depth, pins, spec):
    p = _problem(seed, N=10 if depth == 4 else 14)
    base = dict(depth=depth, beta=0.1, beta_is_fraction=True, pins=pins)
    full = fit(p, FitOptions(**base))
    ab = fit(p, FitOptions(**base, families=parse_families(spec)))
    assert ab["beta"] == full["beta"]  # beta_max is the full dictionary's in both
    assert ab["families"] == spec and full["families"] == "all" and "ablation" not in full
    assert ab["objective"] >= full["objective"] * (1 - OBJ_TOL)
    a = ab["ablation"]
    assert a["n_columns_full"] == full["n_columns"] and ab["n_columns"] < full["n_columns"]
    assert a["certificate_full_dictionary"] >= 0.0
    # the gap bounds how far the ablated objective is above the full dictionary's optimum
    assert ab["objective"] - a["gap_to_full_dictionary"] <= full["objective"] * (1 + 1e-9)
    assert {f["family"] for f in ab["features"]} <= set(parse_families(spec))


def test_ablated_certificate_is_zero_when_the_ablated_optimum_is_the_full_one():
    """Constructed: y is one plane feature |x_1 - x_(3,1)| of the data; at a large beta the full depth-3 optimum
    selects planes only, so the planes-only fit is the same optimum and nothing in the full dictionary violates."""
    g = np.random.default_rng(7)
    X = g.standard_normal((12, 2))
    y = np.abs(X[:, 1] - X[3, 1])
    p = Problem(X, y)
    opts = dict(depth=3, beta=0.5, beta_is_fraction=True)
    full = fit(p, FitOptions(**opts))
    assert {f["family"] for f in full["features"]} == {"plane"}
    ab = fit(p, FitOptions(**opts, families=("plane",)))
    assert ab["objective"] == pytest.approx(full["objective"], rel=1e-9)
    assert ab["ablation"]["certificate_full_dictionary"] <= 1e-8
    assert ab["ablation"]["gap_to_full_dictionary"] <= 1e-8 * full["objective"]
    # and a strictly worse ablation has a positive certificate and gap
    y2 = np.abs(np.abs(X[:, 0] - X[2, 0]) - np.abs(X[5, 0] - X[2, 0]))  # a reflection feature
    worse = fit(Problem(X, y2), FitOptions(depth=3, beta=0.05, beta_is_fraction=True, families=("plane",)))
    assert worse["ablation"]["certificate_full_dictionary"] > 1e-3
    assert worse["ablation"]["gap_to_full_dictionary"] > 0


def test_families_refusals(tmp_path):
    X, y = random_problem(0, 10, 2)
    path = tmp_path / "p.npz"
    np.savez(path, X=X, y=y)
    runner = CliRunner()
    for extra, hint in (
        (["--families", "mirrors"], "--families: unknown feature family 'mirrors'"),
        (["--families", "planes-only", "--refine"], "--refine adds the full dictionary's best features"),
        (["--families", "planes-only", "--solver", "stream"], "--families needs the dictionary built in memory"),
        (["--width", "wide"], "width 'wide' is neither"),
    ):
        res = runner.invoke(app, ["fit", "--input", str(path), "--beta", "0.1", *extra])
        lines = res.output.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and hint in lines[0], res.output
    res = runner.invoke(app, ["fit", "--input", str(path), "--beta", "0.1", "--families", "planes-only", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["families"] == "planes-only" and out["ablation"]["certificate_full_dictionary"] >= 0


def test_width_specs():
    assert parse_width(40) == (40, None, "40")
    assert parse_width("4x") == (None, 4.0, "4x")
    assert parse_width("0.5X") == (None, 0.5, "0.5x")
    for bad in ("0", "-3x", "x", "4.5", "nanx"):
        with pytest.raises(UserError):
            parse_width(bad)


def test_config_ablation_axes_expand_into_named_cells(tmp_path):
    cfg = {
        "name": "ab",
        "grid": {"dataset": ["imdb"], "depth": [3], "seed": [0, 1], "families": ["all", "planes-only"]},
        "nets": {"count": 1, "activation": ["abs", "relu"], "width": ["1x", 40]},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cells = load_config(path).cells()
    # 2 seeds x (4 net variants of the full dictionary + 1 planes-only cell, which trains no nets)
    assert len(cells) == 2 * (4 + 1) and len({c.name for c in cells}) == 10
    ref = [c for c in cells if c.families == "all" and c.activation == "abs" and c.width == "1x"]
    assert ref[0].name.endswith("_s0_w1x")
    relu = next(c for c in cells if c.activation == "relu" and c.width == "40")
    assert relu.name.endswith("_s0_arelu_w40")
    fit_opts, nets_opts = load_config(path).cell_options(relu)
    assert fit_opts.families == FAMILIES and nets_opts.activation == "relu" and nets_opts.cfg.width == 40
    (abl,) = [c for c in cells if c.families == "planes-only" and c.seed == 1]
    assert abl.name.endswith("_s1_fplanes-only")
    fit_opts, nets_opts = load_config(path).cell_options(abl)
    assert fit_opts.families == ("plane",) and not fit_opts.refine and nets_opts.count == 0
    plain = load_config(path).model_copy(update={"nets": load_config(path).nets.model_copy(update={"width": [None]})})
    assert "_w" not in plain.cells()[0].name  # the default axes leave the names of earlier runs unchanged
    for edit, hint in (
        ({"grid": {**cfg["grid"], "families": ["planes"]}}, "grid.families"),
        ({"nets": {"activation": "tanh"}}, "nets.activation"),
        ({"nets": {"width": ["2y"]}}, "nets.width"),
        ({"grid": {**cfg["grid"], "families": ["all", "all"]}}, "repeated"),
    ):
        path.write_text(yaml.safe_dump(cfg | edit))
        with pytest.raises(UserError, match=hint):
            load_config(path)


# ------------------------------------------------------------------ findings rows on hand-made evidence


def _row(seed, **kw):
    base = {"dataset": "imdb", "depth": 3, "dim": 2, "projection": "pls", "n_train": 30, "beta": 0.2, "status": "done"}
    return base | {"seed": seed, "families": "all", "activation": "abs", "width": None} | kw


def test_family_findings_pair_cells_by_seed():
    rows = []
    for s, (full, abl, sf, sa) in enumerate([(1.0, 1.3, 0.70, 0.60), (2.0, 2.35, 0.72, 0.61), (1.5, 1.82, 0.69, 0.66)]):
        rows.append(_row(s, objective=full, test_score=sf, majority_score=0.5))
        rows.append(
            _row(s, families="planes-only", objective=abl, test_score=sa, certificate_full_dictionary=0.1 * (s + 1))
        )
    found = findings(rows)
    (fit_row,) = [f for f in found if f.claim == f"{CLAIM_FAMILY_FIT} (all vs planes-only)"]
    assert fit_row.observed == pytest.approx(1.5) and fit_row.null == pytest.approx(5.47 / 3)
    from scipy import stats

    diff = [1.0 - 1.3, 2.0 - 2.35, 1.5 - 1.82]
    assert fit_row.p_value == pytest.approx(stats.ttest_1samp(diff, 0.0, alternative="less").pvalue)
    assert fit_row.verdict == "supported" and fit_row.cells == 3 and "median certificate" in fit_row.evidence
    assert "0.2" in fit_row.evidence
    (score_row,) = [f for f in found if f.claim == f"{CLAIM_FAMILY_SCORE} (all vs planes-only)"]
    assert score_row.observed == pytest.approx(0.7033333, rel=1e-6) and score_row.verdict in (
        "supported",
        "inconclusive",
    )
    # the paper's claims use the reference cells only: the held-out score row counts 3 fits, not 6
    (score,) = [f for f in found if f.claim == CLAIM_SCORE]
    assert score.cells == 3


def test_family_fit_compares_unrefined_with_unrefined():
    """An ablated fit never refines: a refined reference enters 5a with its objective before --refine, so the gain
    of refinement (the referee's 2-D cell: refined 6.05260, unrefined 6.05698, planes-only 6.05799) is not
    credited to the reflection features."""
    rows = []
    for s, (refined, unrefined, abl) in enumerate([(6.05260, 6.05698, 6.05799), (5.1, 5.3, 5.32), (4.0, 4.0, 4.1)]):
        before = unrefined if refined != unrefined else None  # the third reference was not refined
        rows.append(_row(s, objective=refined, objective_before_refine=before, test_score=0.6, majority_score=0.5))
        rows.append(_row(s, families="planes-only", objective=abl, test_score=0.55))
    (fit_row,) = [f for f in findings(rows) if f.claim == f"{CLAIM_FAMILY_FIT} (all vs planes-only)"]
    assert fit_row.observed == pytest.approx((6.05698 + 5.3 + 4.0) / 3)
    assert fit_row.null == pytest.approx((6.05799 + 5.32 + 4.1) / 3)
    from scipy import stats

    diff = [6.05698 - 6.05799, 5.3 - 5.32, 4.0 - 4.1]
    assert fit_row.p_value == pytest.approx(stats.ttest_1samp(diff, 0.0, alternative="less").pvalue)
    assert "unrefined" in fit_row.test


def test_activation_and_width_findings():
    rows = []
    for s in range(3):
        for act, dist in (("abs", 0.01), ("relu", 0.30)):
            rows.append(
                _row(
                    s,
                    activation=act,
                    pin_distance=dist,
                    pin_distance_null=0.2,
                    pin_distance_p=0.001 if act == "abs" else 0.9,
                    offset_to_pinned=dist,
                    offset_to_pinned_null=0.2,
                    offset_to_pinned_p=0.001 if act == "abs" else 0.95,
                    nets_median_ratio=1.01 if act == "abs" else 1.2,
                )
            )
        for width, units, ratio in (("1x", 5, 1.30 + 0.01 * s), ("16x", 80, 1.01)):
            rows.append(_row(s, width=width, nets_width=units, nets_median_ratio=ratio))
    found = findings(rows)
    (act,) = [f for f in found if f.claim == f"{CLAIM_ACTIVATION} relu"]
    assert act.verdict == "not supported" and act.observed == pytest.approx(0.30)
    assert "relu 1.200" in act.evidence and "abs" in act.evidence
    (pin,) = [f for f in found if f.claim == CLAIM_PINNING]  # the reference claim counts abs cells only
    assert pin.verdict == "supported" and pin.observed == pytest.approx(0.01)
    (wide,) = [f for f in found if f.claim == CLAIM_WIDTH]
    assert wide.observed == pytest.approx(1.01) and wide.null == pytest.approx(1.31)
    assert wide.verdict == "supported" and wide.cells == 3 and "16x (80 units)" in wide.evidence


# ------------------------------------------------------------------ networks: activations and widths


@pytest.mark.parametrize("activation", ["abs", "relu", "srelu"])
def test_each_activation_trains_and_reports_symmetry_statistics(activation):
    from symcli.nets.training import TrainConfig

    p = _problem(3, N=16)
    out = fit(
        p,
        FitOptions(depth=3, beta=0.1, beta_is_fraction=True),
        NetsOptions(count=2, cfg=TrainConfig(epochs=300, width=12), activation=activation),
    )
    assert [n["activation"] for n in out["nets"]] == [activation] * 2
    for n in out["nets"]:
        assert np.isfinite(n["objective"]) and n["ratio_to_lasso"] == pytest.approx(n["objective"] / out["objective"])
        assert n["width"] == 12
    assert {"share_units_pinned", "pin_distance", "offset_to_pinned"} <= set(out["nulls"])
    assert len(out["symmetry"]["nets"]) == 2
    if activation != "abs":
        assert out["contradictions"] == []  # only |.| nets are bounded below by the |.| Lasso optimum


@pytest.mark.parametrize("multiple", ["1x", "4x", "16x"])
def test_width_multiples_run_and_report_ratios(multiple):
    from symcli.nets.training import TrainConfig

    p = _problem(4, N=14)
    _, k, _ = parse_width(multiple)
    out = fit(
        p,
        FitOptions(depth=2, beta=0.1, beta_is_fraction=True, refine=True),
        NetsOptions(count=1, cfg=TrainConfig(epochs=200), width_multiple=k),
    )
    (net,) = out["nets"]
    assert net["width"] == max(1, int(np.ceil(k * out["nnz"])))
    assert net["ratio_to_lasso"] >= 1 - 1e-6  # a |.| net never beats the exact (certified) Lasso optimum
    assert out["guarantee"] in ("exact", "certified")


def test_ablated_solve_matches_a_direct_solve_of_the_subset():
    """The ablated fit is the Lasso on exactly the kept columns (same beta as the full fit)."""
    p = _problem(5, N=12)
    ab = fit(p, FitOptions(depth=3, beta=0.1, beta_is_fraction=True, families=("plane",)))
    dirs, _ = with_fallback(["spanned"], p.X, "l2", None, 0)
    D = build_dictionary(p.X, 3, dirs, "paper", "l2", 4e9).restrict(("plane",))
    ref = solve(D.A, p.y, ab["beta"], "cvxpy")
    assert ab["objective"] == pytest.approx(ref.objective, rel=1e-6)
