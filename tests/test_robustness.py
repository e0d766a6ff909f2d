"""Bad input is refused the project's way: ONE line `error: ...` on stderr, exit code 2 (1 for an internal
non-finite result), no traceback, nothing written; extreme-but-valid input gives the right numbers.

The harness (`Case`, `CASES`, `refused`, `snapshot`, `write_inputs`) is generic: append cases for any
command (run, download, embed, report, configs) to CASES, or call `refused` from a test of your own.
A case runs the real entry point in a subprocess (`python -m symcli`), or with `inprocess=True` calls
`symcli.cli.app.main` in this process (same argument parsing, printing and exit codes; no interpreter start).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import random_problem
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.numerics import BETA_MIN_FRACTION, DATA_MAX, MAX_NET_WIDTH
from symcli.fit.lasso_fit import FitOptions

# ------------------------------------------------------------------------------------------- the harness


def snapshot(root: Path) -> dict[str, str]:
    """Every file (sha256) and folder ('dir') under root, by relative path."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [
        f"{'new' if k not in before else 'gone' if k not in after else 'changed'}: {k}"
        for k in sorted(before.keys() | after.keys())
        if before.get(k) != after.get(k)
    ]


def _run_subprocess(args: list[str], env: dict | None, cwd: Path) -> tuple[int, str, str]:
    res = subprocess.run(
        [sys.executable, "-m", "symcli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=os.environ.copy() | (env or {}),
        timeout=300,
    )
    return res.returncode, res.stdout, res.stderr


def _run_inprocess(args: list[str], env: dict | None, cwd: Path) -> tuple[int, str, str]:
    """symcli.cli.app.main() with sys.argv = ['symcli', *args]; an escaping exception is returned as its traceback
    on stderr (exit code 1), which the assertions then reject."""
    from symcli.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_argv = dict(os.environ), sys.argv
    os.environ.update(env or {})
    sys.argv = ["symcli", *args]
    rc = 0
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:  # noqa: BLE001 - shown as the traceback the assertions look for
                err.write(traceback.format_exc())
                rc = 1
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return rc, out.getvalue(), err.getvalue()


def refused(
    args: list[str],
    root: Path,
    *,
    env: dict | None = None,
    expect_rc: int = 2,
    hint: str | None = None,
    inprocess: bool = False,
    cwd: Path | None = None,
) -> str:
    """Run `symcli ARGS` (cwd: root/work, created empty) and assert it was refused: exit code expect_rc,
    stderr exactly one non-empty line starting `error: ` (containing hint, when given), empty stdout, no
    traceback, and no file or folder under root created, changed or removed. Returns the error line."""
    cwd = cwd or root / "work"
    cwd.mkdir(parents=True, exist_ok=True)
    before = snapshot(root)
    rc, out, err = (_run_inprocess if inprocess else _run_subprocess)([str(a) for a in args], env, cwd)
    shown = f"symcli {' '.join(map(str, args))}\nrc={rc}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err, shown
    assert rc == expect_rc, shown
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0][len("error: ") :].strip(), shown
    assert out == "", shown
    if hint is not None:
        assert hint in lines[0], shown
    assert _changes(before, snapshot(root)) == [], shown
    return lines[0]


@dataclass(frozen=True)
class Case:
    """A bad command line. args may name the files of write_inputs as '{in}/NAME'; hint: a substring the
    error line must contain; env: extra environment variables."""

    id: str
    args: tuple[str, ...]
    hint: str | None = None
    expect_rc: int = 2
    inprocess: bool = True
    env: dict = field(default_factory=dict)


def write_inputs(folder: Path) -> Path:
    """The input files the cases refer to ('{in}/NAME'); returns folder."""
    folder.mkdir(parents=True, exist_ok=True)
    X, y = random_problem(0, 12, 2)
    Xt, yt = random_problem(1, 8, 2)
    np.savez(folder / "good.npz", X=X, y=y)
    np.savez(folder / "noy.npz", X=X)
    np.savez(folder / "shape.npz", X=X, y=y[:-1])
    np.savez(folder / "flat.npz", X=X[:, 0], y=y)
    np.savez(folder / "one.npz", X=X[:1], y=y[:1])
    np.savez(folder / "nocols.npz", X=np.zeros((12, 0)), y=y)
    np.savez(folder / "norows.npz", X=np.zeros((0, 2)), y=np.zeros(0))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    np.savez(folder / "nan.npz", X=Xn, y=y)
    np.savez(folder / "inf.npz", X=X, y=np.where(np.arange(12) == 2, np.inf, y))
    np.savez(folder / "ybig.npz", X=X, y=y * 1e300)
    np.savez(folder / "xbig.npz", X=X * 1e300, y=y)
    np.savez(folder / "xtiny.npz", X=X * 1e-300, y=y)
    np.savez(folder / "complex.npz", X=X + 1j, y=y)
    np.savez(folder / "const.npz", X=X, y=np.ones(12))
    np.savez(folder / "xtest_only.npz", X=X, y=y, X_test=Xt)
    np.savez(folder / "xtest_cols.npz", X=X, y=y, X_test=Xt[:, :1], y_test=yt)
    np.savez(folder / "xtest_nan.npz", X=X, y=y, X_test=Xt, y_test=yt * np.nan)
    np.savez(folder / "xtest_big.npz", X=X, y=y, X_test=Xt * 1e200, y_test=yt)
    big = np.random.default_rng(0).standard_normal((400, 2))
    np.savez(folder / "big.npz", X=big, y=np.sign(big[:, 0]))
    (folder / "garbage.npz").write_bytes(b"not a zip file at all")
    (folder / "garbage.parquet").write_bytes(b"PAR1 but not really")
    (folder / "empty.csv").write_text("")
    (folder / "data.txt").write_text("x,label\n1,1\n2,-1\n")
    (folder / "a_folder.npz").mkdir()
    pd.DataFrame({"label": y}).to_csv(folder / "label_only.csv", index=False)
    pd.DataFrame({"x": X[:, 0], "y": X[:, 1]}).to_csv(folder / "nolabel.csv", index=False)
    (folder / "text.csv").write_text("a,label\nfoo,1\nbar,-1\nbaz,1\n")
    (folder / "textlabel.csv").write_text("a,label\n1,yes\n2,no\n3,yes\n")
    return folder


def _fit(*extra: str, file: str = "good.npz", beta: str = "0.1") -> tuple[str, ...]:
    return ("fit", "--input", f"{{in}}/{file}", "--depth", "3", "--beta", beta, *extra)


def _ds(*extra: str) -> tuple[str, ...]:
    """Dataset mode: nothing may be downloaded, embedded or written before the options are checked."""
    return ("fit", "imdb", "--dim", "2", *extra)


CASES: list[Case] = [
    # ---- fit --input: files
    Case("missing file", _fit(file="none.npz"), "does not exist", inprocess=False),
    Case("wrong suffix", _fit(file="data.txt"), "suffix"),
    Case("folder as input", _fit(file="a_folder.npz"), "folder"),
    Case("unreadable npz", _fit(file="garbage.npz"), "cannot read"),
    Case("unreadable parquet", _fit(file="garbage.parquet"), "cannot read"),
    Case("empty csv", _fit(file="empty.csv"), "cannot read"),
    Case("npz without y", _fit(file="noy.npz"), "missing array"),
    Case("NaN in X", _fit(file="nan.npz"), "NaN", inprocess=False),
    Case("inf in y", _fit(file="inf.npz"), "inf"),
    Case("X/y length mismatch", _fit(file="shape.npz"), "rows"),
    Case("1-D X", _fit(file="flat.npz"), "shape"),
    Case("1 training point", _fit(file="one.npz"), "at least 2"),
    Case("no rows", _fit(file="norows.npz"), "no rows"),
    Case("npz X without columns", _fit(file="nocols.npz"), "no feature columns"),
    Case("csv with only a label", _fit(file="label_only.csv"), "no feature columns", inprocess=False),
    Case("csv without label", _fit(file="nolabel.csv"), "label"),
    Case("non-numeric column", _fit(file="text.csv"), "non-numeric"),
    Case("non-numeric label", _fit(file="textlabel.csv"), "not numeric"),
    Case("complex X", _fit(file="complex.npz"), "complex"),
    Case("X_test without y_test", _fit(file="xtest_only.npz"), "X_test and y_test"),
    Case("X_test columns", _fit(file="xtest_cols.npz"), "X_test"),
    Case("NaN in y_test", _fit(file="xtest_nan.npz"), "y_test contains NaN"),
    Case("X_test beyond the data limit", _fit(file="xtest_big.npz"), "X_test"),
    Case("y * 1e300", _fit(file="ybig.npz"), "rescale", inprocess=False),
    Case("X * 1e300", _fit(file="xbig.npz"), "rescale"),
    Case("X * 1e-300", _fit(file="xtiny.npz"), "rescale"),
    Case("constant targets", _fit(file="const.npz"), "constant"),
    # ---- fit --input: beta
    Case("beta 1e-320", _fit(beta="1e-320"), "beta", inprocess=False),
    Case("beta inf", _fit(beta="inf"), "beta"),
    Case("beta nan", _fit(beta="nan"), "beta"),
    Case("beta zero", _fit(beta="0"), "beta"),
    Case("beta negative", _fit(beta="-1"), "beta"),
    Case("beta below the fraction of beta_max", _fit(beta="1e-9"), "beta_max", inprocess=False),
    Case("beta below the fraction, streaming", _fit("--solver", "stream", beta="1e-9"), "beta_max"),
    Case("beta below the fraction, refine", _fit("--refine", beta="1e-12"), "beta_max"),
    Case("no beta", ("fit", "--input", "{in}/good.npz"), "--beta"),
    Case("betas with input", _fit("--betas", "3"), "--betas"),
    # ---- fit --input: options
    Case("empty direction list", _fit("--directions", ","), "direction", inprocess=False),
    Case("unknown direction set", _fit("--directions", "spaned"), "direction set"),
    Case("seed negative", _fit("--seed", "-1"), "--seed", inprocess=False),
    Case("seed beyond 32 bits", _fit("--seed", str(2**32)), "--seed"),
    Case("width 1e11 (integer)", _fit("--nets", "1", "--width", "100000000000"), "--width"),
    Case("width 1e11 (float)", _fit("--nets", "1", "--width", "1e11"), "--width", inprocess=False),
    Case("width 0", _fit("--width", "0"), "--width"),
    Case("width over memory", _fit("--nets", "1", "--width", "900000", "--max-memory", "100MB"), "--max-memory"),
    Case("lr 0", _fit("--lr", "0"), "--lr"),
    Case("lr negative", _fit("--lr", "-1"), "--lr"),
    Case("lr nan", _fit("--lr", "nan"), "--lr"),
    Case("epochs 0", _fit("--epochs", "0"), "--epochs"),
    Case("nets negative", _fit("--nets", "-1"), "--nets"),
    Case("restarts 0", _fit("--restarts", "0"), "--restarts"),
    Case("batch size 0", _fit("--batch-size", "0"), "--batch-size"),
    Case("stream memory 0", _fit("--stream-memory", "0"), "memory size"),
    Case("stream memory infinite", _fit("--stream-memory", "9" * 400), "--stream-memory"),
    Case("n-directions 0", _fit("--n-directions", "0"), "--n-directions"),
    Case("n-directions 1e12", _fit("--directions", "random", "--n-directions", "1000000000000"), "direction set"),
    Case("max memory 0", _fit("--max-memory", "0"), "memory size"),
    Case("max memory unreadable", _fit("--max-memory", "lots"), "memory size"),
    Case("dictionary over max memory", _fit("--max-memory", "10MB", file="big.npz"), "--max-memory"),
    Case("depth 1", ("fit", "--input", "{in}/good.npz", "--depth", "1", "--beta", "0.1"), "depth"),
    Case("depth 5", ("fit", "--input", "{in}/good.npz", "--depth", "5", "--beta", "0.1"), "depth"),
    Case("depth not a number", ("fit", "--input", "{in}/good.npz", "--depth", "three", "--beta", "0.1"), "--depth"),
    Case("norm l3", _fit("--norm", "l3"), "norm"),
    Case("solver foo", _fit("--solver", "foo"), "solver"),
    Case("optimizer foo", _fit("--optimizer", "foo"), "optimizer"),
    Case("device tpu", _fit("--device", "tpu"), "device"),
    Case("pins foo", _fit("--pins", "foo"), "'--pins'"),
    Case("unknown option", _fit("--dpth", "3"), "--dpth", inprocess=False),
    Case("neither dataset nor input", ("fit", "--depth", "3", "--beta", "0.1"), "no data: give --input FILE"),
    Case("dataset and input", ("fit", "imdb", "--input", "{in}/good.npz", "--beta", "0.1"), "either"),
    # ---- fit DATASET: the same checks before anything is downloaded or written
    Case("dataset: batch size 0", _ds("--batch-size", "0"), "--batch-size", inprocess=False),
    Case("dataset: stream memory 0", _ds("--stream-memory", "0"), "memory size", inprocess=False),
    Case("dataset: seed negative", _ds("--seed", "-1"), "--seed"),
    Case("dataset: nets negative", _ds("--nets", "-1"), "--nets"),
    Case("dataset: epochs 0", _ds("--epochs", "0"), "--epochs"),
    Case("dataset: lr nan", _ds("--lr", "nan"), "--lr"),
    Case("dataset: restarts 0", _ds("--restarts", "0"), "--restarts"),
    Case("dataset: width 1e11", _ds("--width", "100000000000"), "--width"),
    Case("dataset: depth 5", _ds("--depth", "5"), "depth"),
    Case("dataset: norm l3", _ds("--norm", "l3"), "norm"),
    Case("dataset: solver foo", _ds("--solver", "foo"), "solver"),
    Case("dataset: optimizer foo", _ds("--optimizer", "foo"), "optimizer"),
    Case("dataset: device tpu", _ds("--device", "tpu"), "device"),
    Case("dataset: pins foo", _ds("--pins", "foo"), "'--pins'"),
    Case("dataset: empty direction list", _ds("--directions", ","), "direction"),
    Case("dataset: n-directions 0", _ds("--n-directions", "0"), "--n-directions"),
    Case("dataset: max memory 0", _ds("--max-memory", "0"), "memory size"),
    Case("dataset: beta inf", _ds("--beta", "inf"), "beta"),
    Case("dataset: beta 1e-320", _ds("--beta", "1e-320"), "beta"),
    Case("dataset: betas 0", _ds("--betas", "0"), "--betas"),
    Case("dataset: beta and betas", _ds("--beta", "0.1", "--betas", "3"), "not both"),
    Case("dataset: no dim", ("fit", "imdb"), "--dim"),
    Case("dataset: unknown dataset", ("fit", "nosuch/data", "--dim", "2"), "nosuch"),
    Case("dataset: bad run name", _ds("--run", "a/b"), "name"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused(case: Case, tmp_path):
    folder = write_inputs(tmp_path / "in")
    args = [a.replace("{in}", str(folder)) for a in case.args]
    refused(args, tmp_path, env=case.env, expect_rc=case.expect_rc, hint=case.hint, inprocess=case.inprocess)


def test_the_cases_are_distinct():
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.args for c in CASES}) == len(CASES)


# ---------------------------------------------------------------------------------------- right numbers


def _strict_json(text: str) -> dict:
    """json.loads that refuses NaN and Infinity (not JSON)."""

    def bad(c):
        raise ValueError(f"non-JSON constant {c}")

    return json.loads(text, parse_constant=bad)


def _fit_json(path: Path, beta: float, *extra: str) -> dict:
    res = CliRunner().invoke(app, ["fit", "--input", str(path), "--depth", "3", "--beta", repr(beta), "--json", *extra])
    assert res.exit_code == 0, res.output
    return _strict_json(res.stdout)


@pytest.mark.parametrize("s", [1e-90, 1e-6, 1e6, 1e90])
def test_scaled_data_give_the_scaled_objective(tmp_path, s):
    """X -> s X with beta -> s beta leaves the objective unchanged; y -> s y with beta -> s beta
    multiplies it by s^2 (features are homogeneous of degree 1 in the data)."""
    X, y = random_problem(3, 12, 2, labels=False)
    np.savez(tmp_path / "ref.npz", X=X, y=y)
    np.savez(tmp_path / "xs.npz", X=X * s, y=y)
    np.savez(tmp_path / "ys.npz", X=X, y=y * s)
    ref = _fit_json(tmp_path / "ref.npz", 0.05)
    xs = _fit_json(tmp_path / "xs.npz", 0.05 * s)
    ys = _fit_json(tmp_path / "ys.npz", 0.05 * s)
    assert xs["objective"] == pytest.approx(ref["objective"], rel=1e-9)
    assert ys["objective"] == pytest.approx(ref["objective"] * s * s, rel=1e-9)
    assert ys["network_objective"] == pytest.approx(ys["objective"], rel=1e-9)
    assert xs["nnz"] == ys["nnz"] == ref["nnz"]
    assert xs["guarantee"] == ys["guarantee"] == ref["guarantee"]


@pytest.mark.parametrize("solver", ["stream", "cvxpy"])
def test_scaled_data_other_solvers(tmp_path, solver):
    X, y = random_problem(5, 10, 2, labels=False)
    np.savez(tmp_path / "ref.npz", X=X, y=y)
    np.savez(tmp_path / "big.npz", X=X * 1e40, y=y * 1e30)
    ref = _fit_json(tmp_path / "ref.npz", 0.05, "--solver", solver)
    big = _fit_json(tmp_path / "big.npz", 0.05 * 1e70, "--solver", solver)
    assert big["objective"] == pytest.approx(ref["objective"] * 1e60, rel=1e-6)


def test_data_at_the_limit_is_accepted(tmp_path):
    X, y = random_problem(2, 10, 1, labels=False)
    np.savez(tmp_path / "edge.npz", X=X / np.abs(X).max() * DATA_MAX, y=y)
    out = _fit_json(tmp_path / "edge.npz", 0.05 * DATA_MAX)
    assert out["guarantee"] == "exact" and math.isfinite(out["objective"])


def test_beta_at_the_fraction_limit_solves_quickly(tmp_path):
    X, y = random_problem(0, 12, 2)
    np.savez(tmp_path / "p.npz", X=X, y=y)
    bmax = _fit_json(tmp_path / "p.npz", 0.1)["beta_max"]
    out = _fit_json(tmp_path / "p.npz", 2 * BETA_MIN_FRACTION * bmax, "--refine")
    # it ends by its own stopping test, not by spending the round budget (no wall-clock bound: machines are shared)
    assert out["converged"] and out["refine_rounds"] < FitOptions(depth=3, beta=1.0).max_refine_rounds
    assert out["guarantee"] == "certified"
    huge = _fit_json(tmp_path / "p.npz", 1e300)  # far above beta_max: z = 0, the centred targets' energy
    assert huge["nnz"] == 0 and huge["objective"] == pytest.approx(0.5 * np.sum((y - y.mean()) ** 2))


def test_targets_no_feature_sees_give_z_zero(tmp_path):
    """Repeated points with opposite targets: beta_max = 0, and z = 0 is the exact answer (not an error)."""
    np.savez(tmp_path / "p.npz", X=np.array([[0.0], [0.0], [1.0], [1.0]]), y=np.array([0.0, 1.0, 0.0, 1.0]))
    out = _fit_json(tmp_path / "p.npz", 0.01)
    assert out["nnz"] == 0 and out["beta_max"] == 0 and out["objective"] == pytest.approx(0.5)


def test_json_never_holds_nan_or_infinity(tmp_path, monkeypatch):
    """A non-finite number that would reach --json is an error (exit 1, one line), never `NaN` output."""
    import symcli.fit.lasso_fit

    X, y = random_problem(0, 12, 2)
    np.savez(tmp_path / "p.npz", X=X, y=y)
    monkeypatch.setattr(
        symcli.fit.lasso_fit, "fit", lambda *a, **k: {"objective": 1.0, "nets": [{"objective": math.nan}]}
    )
    res = CliRunner().invoke(app, ["fit", "--input", str(tmp_path / "p.npz"), "--beta", "0.1", "--json"])
    assert res.exit_code == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nets[0].objective" in lines[0]
    assert res.stdout == ""


def test_first_nonfinite_paths():
    from symcli.fit.lasso_fit import first_nonfinite

    assert first_nonfinite({"a": 1.0, "b": [1, {"c": None}], "s": "nan"}) is None
    assert first_nonfinite({"a": [0.0, {"b": np.float64("inf")}]}) == "a[1].b"
    assert first_nonfinite(math.nan) == "."


def test_width_bound_is_stated():
    from symcli.core.errors import UserError
    from symcli.nets.training import TrainConfig

    TrainConfig(width=MAX_NET_WIDTH).validate()
    with pytest.raises(UserError, match=f"{MAX_NET_WIDTH:,}"):
        TrainConfig(width=MAX_NET_WIDTH + 1).validate()


# ---------------------------------------------------------------------------------- report.md escaping

PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "a | b & c [x](javascript:alert(1))"]


def test_report_markdown_escapes_html_in_texts(tmp_path, monkeypatch):
    """Dataset texts end up in report.md (the top mirrors' pinning texts): inert there, as in the HTML."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from symcli.report import build_report
    from symcli.runs.config import RunConfig
    from symcli.runs.runner import run_config

    mirror = tmp_path / "mirror"
    n = 24
    texts = [f"{PAYLOADS[i % 3]} review {i}" for i in range(n)]
    for split, rows in (("train", texts), ("test", texts[:12])):
        path = mirror / "imdb" / "plain_text" / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"text": rows, "label": pa.array([i % 2 for i in range(len(rows))], pa.int64())}), path)
    monkeypatch.setenv("SYMCLI_MIRROR", str(mirror))
    cfg = {
        "name": "xss",
        "embedding": {"model": "mock-16"},
        "grid": {"dataset": ["imdb"], "depth": [2], "dim": [1], "n_train": [12]},
        "fit": {"n_test": 8},
    }
    summary = run_config(RunConfig.model_validate(cfg))
    assert summary["failed"] == 0
    root = Path(summary["run"])
    build_report(root, "md")
    md = (root / "report" / "report.md").read_text()
    assert "alert(1)" in md  # the texts are there ...
    for raw in ("<script", "<img", "</script"):  # ... but not as HTML
        assert raw not in md.lower()
    assert "&lt;script&gt;" in md
    from symcli.report.tables import Col, Table

    t = Table("t", "t", [Col("x", "text")], [{"x": p} for p in PAYLOADS]).markdown()
    body = t.splitlines()[2:]
    assert all(line.count(" | ") == 0 and line.startswith("| ") and line.endswith(" |") for line in body), t
    assert "\\[x\\](javascript" in t and "&amp;" in t
