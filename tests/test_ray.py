"""The Ray backend (optional extra symcli[ray]) on a local 2-CPU instance bound to loopback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_runs import CONFIG, _stable
from text_fixtures import write_imdb
from typer.testing import CliRunner

from symcli.cli.app import app

pytest.importorskip("ray", reason="Ray is not installed (pip install 'symcli[ray]')")
pytestmark = pytest.mark.ray


@pytest.fixture
def config(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    write_imdb(root, n_neg=40, n_pos=40, n_test=30)
    monkeypatch.setenv("SYMCLI_MIRROR", str(root))
    # one cell fails (more training texts than embedded), the others must finish
    cfg = {**CONFIG, "embedding": {"model": "mock-16", "limit": None}, "grid": {**CONFIG["grid"], "n_train": [14, 500]}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_ray_backend_matches_local(tmp_path, config, monkeypatch):
    local = CliRunner().invoke(app, ["run", str(config), "--json"])
    assert local.exit_code == 1, local.output  # the n_train 500 cells fail
    local_df = pd.read_parquet(tmp_path / "results" / "t" / "results.parquet")
    monkeypatch.setenv("SYMCLI_RESULTS_DIR", str(tmp_path / "ray-results"))
    res = CliRunner().invoke(app, ["run", str(config), "--backend", "ray", "--json"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert (out["cells"], out["computed"], out["failed"]) == (8, 8, 4)
    ray_df = pd.read_parquet(tmp_path / "ray-results" / "t" / "results.parquet")
    assert list(ray_df.loc[ray_df["status"] == "failed", "n_train"]) == [500] * 4
    assert (ray_df.loc[ray_df["status"] == "done", "n_train"] == 14).all()
    pd.testing.assert_frame_equal(_stable(ray_df), _stable(local_df), check_exact=False, rtol=1e-9)
    # resume through Ray: finished cells are skipped, failed ones retried
    again = json.loads(CliRunner().invoke(app, ["run", str(config), "--backend", "ray", "--json"]).stdout)
    assert (again["skipped"], again["computed"], again["failed"]) == (4, 4, 4)


def test_embed_through_ray_fills_the_cache_a_local_embed_reuses(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    write_imdb(root, n_neg=20, n_pos=20, n_test=10)
    assert CliRunner().invoke(app, ["download", "imdb", "--mirror", str(root)]).exit_code == 0
    res = CliRunner().invoke(app, ["embed", "imdb", "--model", "mock-8", "--backend", "ray", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["texts"], out["embedded"]) == (50, 50)
    first = np.load(Path(out["output"]) / "train.npy")
    again = json.loads(CliRunner().invoke(app, ["embed", "imdb", "--model", "mock-8", "--json"]).stdout)
    assert (again["embedded"], again["cached"]) == (0, 50)
    np.testing.assert_array_equal(np.load(Path(again["output"]) / "train.npy"), first)
