"""symcli fit from the command line: JSON output, summary, and bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import random_problem
from typer.testing import CliRunner

from symcli.cli.app import app

REQUIRED = {
    "objective",
    "xi",
    "nnz",
    "n_columns",
    "guarantee",
    "certificate",
    "solver",
    "duality_gap",
    "time_s",
    "train_accuracy",
    "test_accuracy",
    "network_objective",
    "features",
}


@pytest.fixture
def npz(tmp_path):
    X, y = random_problem(0, 12, 2)
    Xt, yt = random_problem(1, 30, 2)
    path = tmp_path / "p.npz"
    np.savez(path, X=X, y=y, X_test=Xt, y_test=yt)
    return path


def symcli(*args, cwd):
    """Run the installed command line in a subprocess (the real entry point)."""
    return subprocess.run(
        [sys.executable, "-m", "symcli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


def test_fit_json_has_the_documented_keys(npz):
    res = CliRunner().invoke(app, ["fit", "--input", str(npz), "--depth", "3", "--beta", "0.05", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # exactly one JSON object
    assert REQUIRED <= out.keys()
    assert out["guarantee"] in ("exact", "certified", "upper-bound")
    assert out["network_objective"] == pytest.approx(out["objective"], rel=1e-9)
    assert out["nnz"] == len(out["features"]) > 0
    f = out["features"][0]
    assert {"family", "w", "a", "c", "pins", "z", "nesting"} <= f.keys()
    assert len(f["c"]) == 1 and len(f["w"]) == 2
    assert sum(abs(f["z"]) for f in out["features"]) * 0.05 <= out["objective"]


def test_fit_csv_and_summary(tmp_path):
    X, y = random_problem(4, 9, 1)
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": X[:, 0], "label": y}).to_csv(path, index=False)
    res = CliRunner().invoke(app, ["fit", "--input", str(path), "--depth", "4", "--beta", "0.1"])
    assert res.exit_code == 0, res.output
    assert "guarantee" in res.stdout and "exact" in res.stdout
    js = CliRunner().invoke(
        app, ["fit", "--input", str(path), "--depth", "2", "--beta", "0.1", "--json", "--solver", "cvxpy"]
    )
    out = json.loads(js.stdout)
    assert out["solver"] == "cvxpy+clarabel" and "test_accuracy" not in out


def _bad_inputs(tmp_path, npz):
    X, y = random_problem(0, 12, 2)
    np.savez(tmp_path / "shape.npz", X=X, y=y[:-1])
    np.savez(tmp_path / "flat.npz", X=X[:, 0], y=y)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=Xn, y=y)
    np.savez(tmp_path / "inf.npz", X=X, y=np.where(np.arange(12) == 2, np.inf, y))
    (tmp_path / "text.csv").write_text("a,label\nfoo,1\nbar,-1\n")
    big = np.random.default_rng(0).standard_normal((400, 2))
    np.savez(tmp_path / "big.npz", X=big, y=np.sign(big[:, 0]))
    big = tmp_path / "big.npz"
    base = ["fit", "--depth", "3", "--beta", "0.1", "--input"]
    return {
        "missing file": (base + [tmp_path / "none.npz"], "does not exist"),
        "wrong shapes": (base + [tmp_path / "shape.npz"], "rows"),
        "1-D X": (base + [tmp_path / "flat.npz"], "shape"),
        "NaN": (base + [tmp_path / "nan.npz"], "NaN"),
        "inf": (base + [tmp_path / "inf.npz"], "inf"),
        "text features": (base + [tmp_path / "text.csv"], "non-numeric"),
        "beta zero": (["fit", "--depth", "3", "--beta", "0", "--input", npz], "beta"),
        "beta negative": (["fit", "--depth", "3", "--beta", "-1", "--input", npz], "beta"),
        "depth 5": (["fit", "--depth", "5", "--beta", "0.1", "--input", npz], "depth"),
        "depth 1": (["fit", "--depth", "1", "--beta", "0.1", "--input", npz], "depth"),
        "unknown pins": (["fit", "--depth", "3", "--beta", "0.1", "--pins", "some", "--input", npz], "'--pins'"),
        "unknown direction set": (
            ["fit", "--depth", "2", "--beta", "0.1", "--directions", "spaned", "--input", npz],
            "direction set",
        ),
        # 32 million columns: streamed within the default 4GB, refused when even streaming cannot fit
        "over memory": (
            ["fit", "--depth", "3", "--beta", "0.1", "--max-memory", "10MB", "--input", big],
            "--max-memory",
        ),
        "bad memory size": (
            ["fit", "--depth", "2", "--beta", "0.1", "--max-memory", "lots", "--input", npz],
            "memory size",
        ),
        "non-integer depth": (["fit", "--depth", "three", "--beta", "0.1", "--input", npz], "--depth"),
        "unknown option": (["fit", "--dpth", "3", "--beta", "0.1", "--input", npz], "--dpth"),
    }


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, npz):
    cases = _bad_inputs(tmp_path, npz)
    work = tmp_path / "work"
    work.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    for name, (args, hint) in cases.items():
        res = symcli(*args, cwd=work)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2, (name, res.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, res.stderr)
        assert hint in lines[0], (name, lines[0])
        assert "Traceback" not in res.stderr and res.stdout == "", name
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_memory_refusal_is_fast(tmp_path):
    big = np.random.default_rng(0).standard_normal((400, 2))
    np.savez(tmp_path / "big.npz", X=big, y=np.sign(big[:, 0]))
    res = CliRunner().invoke(
        app, ["fit", "--input", str(tmp_path / "big.npz"), "--depth", "3", "--beta", "0.1", "--max-memory", "10MB"]
    )
    assert res.exit_code == 2
    assert "31,920,000 columns" in res.output
