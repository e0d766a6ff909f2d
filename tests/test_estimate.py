"""The dry run's time estimate: reference costs, replaced by this run's measured cells where there are some."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.runs.config import RunConfig
from symcli.runs.estimate import REFERENCE_S, estimate, reference_seconds

CONFIG = {
    "name": "est",
    "grid": {"dataset": ["imdb"], "depth": [2, 3], "dim": [1, 2], "n_train": [30], "seed": [0, 1]},
    "nets": {"count": 3, "epochs": 1000, "baseline": True, "shuffled": True},
}


def test_reference_cost_at_the_reference_settings_is_the_table():
    cfg = RunConfig.model_validate(CONFIG)
    for c in cfg.cells():
        assert reference_seconds(cfg, c) == pytest.approx(sum(REFERENCE_S[(c.depth, c.dim)]))
    double = RunConfig.model_validate({**CONFIG, "grid": {**CONFIG["grid"], "n_train": [60]}})
    c = double.cells()[0]  # depth 2, d = 1: the Lasso part grows like N^(L-1), nets linearly
    lasso, nets, fixed = REFERENCE_S[(2, 1)]
    assert reference_seconds(double, c) == pytest.approx(lasso * 2 + nets * 2 + fixed)
    no_nets = RunConfig.model_validate({**CONFIG, "nets": {"count": 0}})
    assert reference_seconds(no_nets, no_nets.cells()[0]) == pytest.approx(lasso + fixed)


def test_measured_cells_of_the_run_replace_the_reference(tmp_path):
    cfg = RunConfig.model_validate(CONFIG)
    cells = cfg.cells()
    root = tmp_path / "est"
    est = estimate(cfg, cells, root)
    assert est == {
        "seconds": pytest.approx(sum(reference_seconds(cfg, c) for c in cells)),
        "measured": 0,
        "reference": len(cells),
    }
    # one finished (depth 2, d 1) cell took three times its reference: its group's other cell is scaled by 3
    done = next(c for c in cells if (c.depth, c.dim, c.seed) == (2, 1, 0))
    (root / done.name).mkdir(parents=True)
    (root / done.name / "metrics.json").write_text(json.dumps({"cell_s": 3 * reference_seconds(cfg, done)}))
    todo = [c for c in cells if c.name != done.name]
    est = estimate(cfg, todo, root)
    expected = sum(reference_seconds(cfg, c) * (3 if (c.depth, c.dim) == (2, 1) else 1) for c in todo)
    assert est["seconds"] == pytest.approx(expected) and (est["measured"], est["reference"]) == (1, 6)


def test_dry_run_prints_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCLI_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("SYMCLI_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "est.yaml"
    path.write_text(json.dumps(CONFIG))
    res = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert res.exit_code == 0, res.output
    cfg = RunConfig.model_validate(CONFIG)
    minutes = sum(reference_seconds(cfg, c) for c in cfg.cells()) / 60
    assert f"estimated time for 8 cells to compute: {minutes:.1f} min (8 from reference costs" in res.stdout
    assert not (tmp_path / "results" / "est").exists()  # a dry run writes nothing
