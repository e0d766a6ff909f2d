"""The command line's own surface: `runs`, `report` without a run, `--version`, `info` text, `fit --help`
(flags, panels, choices), the no-data hint and the note on how far an `upper-bound` fit can be from optimal."""

from __future__ import annotations

import importlib.metadata as md
import json
import sys

import numpy as np
import pytest
import yaml
from helpers import random_problem
from text_fixtures import write_imdb
from typer.testing import CliRunner

from symcli.cli.app import app, main

#: A one-cell grid with the mock model (like tests/test_runs.py's CONFIG, smaller).
SMALL = {
    "name": "old",
    "embedding": {"model": "mock-16", "limit": None},
    "grid": {"dataset": ["imdb"], "depth": [2], "dim": [1], "n_train": [14], "beta": [0.05], "seed": [0]},
    "fit": {"n_test": 20},
    "nets": {"count": 0},
}


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _main(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """symcli.cli.app.main() (the console entry point) on argv: exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["symcli", *argv])
    with pytest.raises(SystemExit) as e:
        main()
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.fixture
def two_runs(tmp_path, monkeypatch):
    """Two runs made with the mock model: 'old' (1 cell done) and 'new' (1 done, 1 failed: n_train 500 of
    80 rows), with old's run.json dated 2020 so that 'new' is the newest whatever the clock says."""
    write_imdb(tmp_path / "mirror", n_neg=40, n_pos=40, n_test=30)
    monkeypatch.setenv("SYMCLI_MIRROR", str(tmp_path / "mirror"))
    for name, n_train in (("old", [14]), ("new", [14, 500])):
        cfg = {**SMALL, "name": name, "grid": {**SMALL["grid"], "n_train": n_train}}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        _invoke("run", path)
    results = tmp_path / "results"
    meta = json.loads((results / "old" / "run.json").read_text())
    meta["provenance"]["created"] = "2020-01-02T03:04:05+00:00"
    (results / "old" / "run.json").write_text(json.dumps(meta))
    return results


def test_runs_lists_newest_first_with_counts(two_runs):
    res = _invoke("runs", "--json")
    assert res.exit_code == 0, res.output
    runs = json.loads(res.stdout)
    assert [r["name"] for r in runs] == ["new", "old"]
    new, old = runs
    assert (new["done"], new["failed"], old["done"], old["failed"]) == (1, 1, 1, 0)
    assert new["datasets"] == old["datasets"] == ["imdb"]
    assert old["created"] == "2020-01-02T03:04:05+00:00" and new["created"] > old["created"]
    assert new["path"] == str((two_runs / "new").resolve())
    text = _invoke("runs")  # not a terminal: aligned plain text, a header and one line per run
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DONE", "FAILED", "DATASETS", "CREATED", "PATH"]
    assert lines[1].split()[:4] == ["new", "1", "1", "imdb"] and lines[2].split()[:4] == ["old", "1", "0", "imdb"]
    assert "2020-01-02 03:04:05 UTC" in lines[2] and lines[2].endswith(str((two_runs / "old").resolve()))


def test_runs_falls_back_to_the_modification_time(two_runs):
    (two_runs / "old" / "run.json").write_text("{not json")  # damaged: dated by its mtime (now), no datasets
    (two_runs / "new" / "results.parquet").unlink()
    (two_runs / "stray").mkdir()  # no run.json: not a run
    runs = json.loads(_invoke("runs", "--json").stdout)
    assert [r["name"] for r in runs] == ["old", "new"]
    assert runs[0]["datasets"] == [] and (runs[1]["done"], runs[1]["failed"]) == (None, None)
    assert "new   -     -" in _invoke("runs").stdout


def test_runs_without_runs(tmp_path):
    for make in (lambda: None, lambda: (tmp_path / "results").mkdir()):  # a missing, then an empty folder
        make()
        res = _invoke("runs")
        assert res.exit_code == 0, res.output
        assert res.stdout.startswith("no runs under ") and "symcli run CONFIG" in res.stdout
        assert json.loads(_invoke("runs", "--json").stdout) == []


def test_report_without_a_run_reports_the_newest(two_runs):
    res = _invoke("report", "--format", "csv")
    assert res.exit_code == 0, res.output
    assert (two_runs / "new" / "report" / "tables" / "metrics.csv").is_file()
    assert not (two_runs / "old" / "report").exists()
    assert "the newest run, new" in res.stderr


def test_report_without_runs_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    rc, out, err = _main(["report"], monkeypatch, capsys)
    assert rc == 2 and out == ""
    assert err == f"error: no runs under {(tmp_path / 'results').resolve()}; run symcli run CONFIG first\n"
    assert not (tmp_path / "results").exists()


def test_version(monkeypatch, capsys):
    res = _invoke("--version")
    assert res.exit_code == 0 and res.stdout == f"symcli {md.version('symcli')}\n"
    assert _main(["--version"], monkeypatch, capsys) == (0, f"symcli {md.version('symcli')}\n", "")


def test_info_text_and_json(tmp_path, monkeypatch):
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    res = _invoke("info")
    assert res.exit_code == 0, res.output
    assert "None" not in res.stdout and "{" not in res.stdout and "'" not in res.stdout
    lines = dict(line.split(":", 1) for line in res.stdout.splitlines())
    assert f"numpy {md.version('numpy')}" in lines["versions"]
    assert lines["SYMCLI_MIRROR"].strip() == "not set"
    assert lines["results dir"].strip() == str((tmp_path / "results").resolve())
    starts = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in res.stdout.splitlines()}
    assert len(starts) == 1  # the values are aligned
    out = json.loads(_invoke("info", "--json").stdout)
    assert out["mirror"] is None and "torch" in out["versions"]


def test_fit_without_data_names_both_modes(tmp_path, monkeypatch, capsys):
    rc, out, err = _main(["fit", "--depth", "3"], monkeypatch, capsys)
    assert (rc, out) == (2, "")
    assert err == "error: no data: give --input FILE (.npz/.csv/.parquet) or a DATASET such as imdb --dim 2\n"
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


def test_fit_help_flags_panels_and_choices(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERMINAL_WIDTH", "200")
    res = _invoke("fit", "--help")
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.stdout and "--refine" in res.stdout and "--baseline" in res.stdout
    for panel in ("Data", "Dictionary", "Solver", "Networks (--nets)", "Output"):
        assert f"─ {panel} ─" in res.stdout, panel
    for choices in (
        "<pca|pls|random|sparse-sign|none>",
        "<paper|all>",
        "<l2|l1>",
        "<fast|stream|cvxpy>",
        "<adam|adamw|lbfgs>",
        "<auto|cpu|cuda>",
    ):
        assert choices in res.stdout, choices
    assert "<local|ray>" in _invoke("run", "--help").stdout
    assert "<md|html|csv|latex>" in _invoke("report", "--help").stdout
    for command in ("runs", "info", "report"):
        assert "<bool>" not in _invoke(command, "--help").stdout, command
    assert "<bool>" not in _invoke("--help").stdout


def test_choices_reach_the_library_as_strings_and_bad_ones_are_one_line(tmp_path, monkeypatch, capsys):
    X, y = random_problem(4, 9, 1)
    np.savez(tmp_path / "p.npz", X=X, y=y)
    fit = ["fit", "--input", str(tmp_path / "p.npz"), "--depth", "2", "--beta", "0.1"]
    res = _invoke(*fit, "--norm", "l1", "--pins", "paper", "--solver", "cvxpy", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["norm"], out["pins"], out["solver"]) == ("l1", "paper", "cvxpy+clarabel")
    for option, value in (("--norm", "l3"), ("--solver", "foo"), ("--device", "tpu")):
        rc, out, err = _main([*fit, option, value], monkeypatch, capsys)
        assert (rc, out) == (2, ""), err
        assert err.startswith("error: ") and err.count("\n") == 1 and option in err and value in err


@pytest.fixture
def upper_bound_npz(tmp_path):
    """A seeded 2-D problem whose depth-2 fit at beta 0.1 ends `upper-bound` (certificate ~0.084)."""
    X, y = random_problem(0, 12, 2)
    path = tmp_path / "ub.npz"
    np.savez(path, X=X, y=y)
    return path


def test_upper_bound_note_states_the_gap_and_refine(upper_bound_npz):
    base = ["fit", "--input", upper_bound_npz, "--depth", "2", "--beta", "0.1"]
    fit = [*base, "--no-refine"]
    res = _invoke(*fit, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # the note goes to stderr: stdout stays one JSON object
    assert out["guarantee"] == "upper-bound" and out["certificate"] > 1e-3
    notes = [line for line in res.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "--refine" in notes[0] and "at most" in notes[0]
    floor = (out["objective"] - out["duality_gap"]) / (1 + out["certificate"])
    assert f"at least {floor:.6g}" in notes[0]
    assert f"{out['objective'] / floor - 1:.2%} above" in notes[0]
    text = _invoke(*fit)
    assert "global optimum at least" in text.stdout and notes[0] in text.stderr
    refined = _invoke(*base, "--json")  # --refine is the default where the certificate is exact
    best = json.loads(refined.stdout)
    assert best["refine"] is True and best["refine_rounds"] > 0
    assert best["guarantee"] == "certified" and "note: guarantee" not in refined.stderr
    assert floor <= best["objective"] <= out["objective"]  # the bound holds against the certified optimum
