"""Nothing lost, nothing silently wrong: run names, forced re-runs, embeddings swapped under a run, grid
duplicates, concurrent cache compaction (one regression test per defect of issue 10), and damaged files of
every kind detected, then recomputed or reported, never used."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from text_fixtures import run_symcli, sentence, symcli_cmd, write_glue_pair, write_imdb
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.datasets import download as data
from symcli.datasets.dataset import resolve
from symcli.embeddings import cache as embedding_cache
from symcli.embeddings.encoders import MockEncoder

BASE = {
    "name": "t",
    "embedding": {"model": "mock-16", "limit": 60},
    "grid": {"dataset": ["imdb"], "depth": [2], "dim": [1, 2], "n_train": [12], "beta": [0.05], "seed": [0]},
    "fit": {"n_test": 10},
}


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _write(tmp_path: Path, cfg: dict, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def _digests(root: Path) -> dict[str, str]:
    """sha256 of every file below root, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    write_imdb(root, n_neg=40, n_pos=40, n_test=20)
    monkeypatch.setenv("SYMCLI_MIRROR", str(root))
    return root


# ------------------------------------------------------------------------------------- defect 1: run names


@pytest.mark.parametrize("name", ["..", "."])
def test_run_name_outside_the_results_folder_is_refused_and_user_files_survive(tmp_path, mirror, name):
    # hidden files of the user beside the results folder, named like the old staging entries
    keep = [tmp_path / ".notes.tmp-1", tmp_path / ".draft.old-2"]
    for p in keep:
        p.write_text("mine")
    (tmp_path / "results").mkdir()
    res = _invoke("run", _write(tmp_path, {**BASE, "name": name}))
    assert res.exit_code == 2 and res.output.startswith("error:") and "run name" in res.output, res.output
    fit = _invoke("fit", "imdb", "--dim", "1", "--model", "mock-16", "--run", name)
    assert fit.exit_code == 2 and "run name" in fit.output, fit.output
    assert all(p.read_text() == "mine" for p in keep)
    assert not (tmp_path / "run.json").exists() and not list(tmp_path.glob("imdb_*"))


def test_long_and_separator_run_names_are_refused(tmp_path, mirror):
    for name in ("a" * 300, "a/b", "../x", ".hidden"):
        res = _invoke("run", _write(tmp_path, {**BASE, "name": name}))
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "results").exists()


def test_cleanup_removes_only_symcli_staging_of_dead_processes(tmp_path, mirror):
    root = tmp_path / "results" / "t"
    root.mkdir(parents=True)
    dead = _dead_pid()
    mine = [root / ".notes.tmp-1", root / ".draft.old-2"]  # the user's files, old-style names
    for p in mine:
        p.write_text("mine")
    stale = root / f".imdb_x.symcli-tmp-{dead}"
    stale.mkdir()
    (stale / "metrics.json").write_text("{}")
    live = root / f".imdb_y.symcli-tmp-{os.getpid()}"  # a live process (this one) is still writing it
    live.mkdir()
    res = _invoke("run", _write(tmp_path, BASE), "--json")
    assert res.exit_code == 0, res.output
    assert all(p.read_text() == "mine" for p in mine)
    assert not stale.exists() and live.is_dir()


def test_download_and_embed_clean_their_own_stale_staging(tmp_path, mirror):
    dead = _dead_pid()
    assert _invoke("download", "imdb").exit_code == 0
    first = json.loads(_invoke("embed", "imdb", "--model", "mock-8", "--json").stdout)
    out, ns = Path(first["output"]), next((tmp_path / "data" / "cache" / "embeddings").iterdir())
    places = [tmp_path / "data" / "raw", out.parent, ns]
    stale = [p / f".x.symcli-tmp-{dead}" for p in places]
    live = [p / f".y.symcli-tmp-{os.getpid()}" for p in places]
    user = [p / ".mine.tmp-1" for p in places]
    for p in stale + live + user:
        p.write_bytes(b"x" * 1000)
    assert _invoke("download", "imdb").exit_code == 0
    assert _invoke("embed", "imdb", "--model", "mock-8").exit_code == 0
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in live + user)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# ----------------------------------------------------------------- defect 2: --force when preparation fails


def test_force_with_a_dataset_that_cannot_be_prepared_keeps_finished_cells(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_glue_pair(mirror, "mrpc")
    monkeypatch.setenv("SYMCLI_MIRROR", str(mirror))
    cfg = {**BASE, "grid": {**BASE["grid"], "dataset": ["glue/mrpc"]}}
    path = _write(tmp_path, cfg)
    assert _invoke("run", path, "--json").exit_code == 0
    root = tmp_path / "results" / "t"
    before = _digests(root)
    # offline, no mirror, and the downloaded copy damaged: preparing glue/mrpc must fail
    monkeypatch.delenv("SYMCLI_MIRROR")
    shutil.rmtree(tmp_path / "data" / "raw")
    res = _invoke("run", path, "--force", "--json")
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert (out["computed"], out["failed"]) == (2, 2)
    assert all("kept" in f["error"] for f in out["failures"])
    after = _digests(root)
    cells = [k for k in before if k.endswith("status.json")]
    assert len(cells) == 2 and all(after[k] == before[k] for k in before if "/" in k)  # every cell file as it was
    df = pd.read_parquet(root / "results.parquet")
    assert set(df["status"]) == {"done"}


# ---------------------------------------------------------- defect 3: embeddings swapped while a run goes on


def test_a_concurrent_embed_with_another_limit_never_changes_a_runs_rows(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_imdb(mirror, n_neg=200, n_pos=200, n_test=40)
    monkeypatch.setenv("SYMCLI_MIRROR", str(mirror))
    cfg = {
        **BASE,
        "embedding": {"model": "mock-16", "limit": 300, "max_length": 128},
        "grid": {**BASE["grid"], "depth": [2, 3], "dim": [1, 2], "n_train": [20], "seed": [0, 1, 2]},
        "nets": {"count": 1, "epochs": 300},
    }
    path = _write(tmp_path, cfg)
    proc = subprocess.Popen(symcli_cmd() + ["run", str(path), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    root = tmp_path / "results" / "t"
    deadline = time.time() + 240
    while time.time() < deadline and not list(root.glob("*/status.json")):
        time.sleep(0.05)
    swap = run_symcli(["embed", "imdb", "--model", "mock-16", "--limit", "1000", "--max-length", "128", "--json"])
    assert swap.returncode == 0, swap.stderr
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert json.loads(out)["computed"] == 12
    metas = {p.parent: json.loads(p.read_text()) for p in (tmp_path / "data" / "embeddings").rglob("meta.json")}
    limits = sorted(m["limit"] for m in metas.values())
    assert 300 in limits, f"the embeddings the run planned with were replaced (limits now {limits})"
    folder, small = next((f, m) for f, m in metas.items() if m["limit"] == 300)
    rows300 = set(np.load(folder / "train.idx.npy").tolist())
    assert len(rows300) == 300
    for cell in sorted(root.glob("imdb_*")):
        m = json.loads((cell / "metrics.json").read_text())
        assert set(m["data"]["train_rows"]) <= rows300, cell.name
        prov = json.loads((cell / "provenance.json").read_text())
        assert prov["embeddings"]["sha256"]["train.npy"] == small["splits"]["train"]["sha256"]


def test_a_cell_refuses_embeddings_that_changed_after_planning(tmp_path, mirror):
    from symcli.runs.cell_data import prepare_dataset
    from symcli.runs.config import load_config
    from symcli.runs.runner import execute_cell

    cfg = load_config(_write(tmp_path, BASE))
    prep = prepare_dataset(cfg, "imdb", lambda s: None)
    arr = np.load(prep.folder / "train.npy")
    arr[0, 0] += 1.0
    np.save(prep.folder / "train.npy", arr)  # changed under the run
    cell = cfg.cells()[0]
    out = execute_cell(cfg, cell, prep, tmp_path / "results" / "t" / cell.name)
    assert out["status"] == "failed" and "not the file this run planned with" in out["error"]


# --------------------------------------------------------------------------- defect 4: grid values collide


def test_betas_equal_up_to_rounding_get_their_own_cells(tmp_path, mirror):
    cfg = {**BASE, "grid": {**BASE["grid"], "dim": [1], "beta": [0.05, 0.050000001]}}
    res = _invoke("run", _write(tmp_path, cfg), "--json")
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "results" / "t" / "results.parquet")
    assert sorted(df["cell"]) == ["imdb_L2_d1_pca_n12_b0.050000001_s0", "imdb_L2_d1_pca_n12_b0.05_s0"]
    assert len(list((tmp_path / "results" / "t").glob("imdb_*"))) == 2


@pytest.mark.parametrize(
    "axis, values", [("depth", [2, 2]), ("beta", [0.05, 0.05]), ("dataset", ["imdb", "imdb"]), ("seed", [0, 0])]
)
def test_repeated_grid_values_are_refused(tmp_path, mirror, axis, values):
    res = _invoke("run", _write(tmp_path, {**BASE, "grid": {**BASE["grid"], axis: values}}))
    assert res.exit_code == 2 and "repeated" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


def test_dataset_aliases_are_one_dataset(tmp_path, mirror):
    res = _invoke("run", _write(tmp_path, {**BASE, "grid": {**BASE["grid"], "dataset": ["sst2", "glue/sst2"]}}))
    assert res.exit_code == 2 and "repeated" in res.output


# ------------------------------------------------------------------- defect 5: concurrent cache compaction


def test_a_reader_survives_another_process_compacting_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(embedding_cache, "COMPACT_ABOVE", 3)
    header = ["mock", "mock", "model", None, "fp32"]
    texts = [sentence(i) for i in range(40)]
    vecs = MockEncoder(6).encode(texts, None, 8)
    writer = embedding_cache.EmbeddingCache.open(tmp_path, header)
    key = writer.key_fn()
    keys = [key(t, None) for t in texts]
    for s in range(0, 40, 8):
        writer.put(keys[s : s + 8], vecs[s : s + 8])
    reader = embedding_cache.EmbeddingCache.open(tmp_path, header)  # indexes the five shards
    other = embedding_cache.EmbeddingCache.open(tmp_path, header)
    other.compact()  # merges them and removes the five under the reader's index
    assert len(list(reader.folder.glob("*.keys.npy"))) == 1
    np.testing.assert_array_equal(reader.get(keys), vecs)


def test_two_embeds_of_one_dataset_at_once(tmp_path, monkeypatch):
    """Two real processes over a cache of 64 shards: each one's compaction must not break the other."""
    mirror = tmp_path / "mirror"
    write_imdb(mirror, n_neg=100, n_pos=100, n_test=20)
    data.download("imdb", mirror=mirror)
    from symcli.embeddings.encoders import resolve_model

    spec = resolve_model("mock-16")
    cache = embedding_cache.EmbeddingCache.open(
        tmp_path / "data" / "cache" / "embeddings", [spec.model_id, spec.revision, spec.pooling, None, "fp32"]
    )
    texts = resolve("imdb").load_split("train")["text"].to_pylist()[:128]
    key = cache.key_fn()
    vecs = MockEncoder(16).encode(texts, None, 8)
    for s in range(0, 128, 2):  # 64 shards: the next shard written makes a compaction due
        cache.put([key(t, None) for t in texts[s : s + 2]], vecs[s : s + 2])
    env = {**os.environ, "SYMCLI_MOCK_DELAY": "0.01"}
    cmd = symcli_cmd() + ["embed", "imdb", "--model", "mock-16", "--batch-size", "2", "--json"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    out = Path(json.loads(outs[0][0])["output"])
    expected = MockEncoder(16).encode(resolve("imdb").load_split("train")["text"].to_pylist(), None, 8)
    np.testing.assert_array_equal(np.load(out / "train.npy"), expected)


# ---------------------------------------------------------------------------------- damage of every kind


def _truncate(p: Path) -> None:
    b = p.read_bytes()
    p.write_bytes(b[: len(b) // 2])


def _alter(p: Path) -> None:
    b = bytearray(p.read_bytes())
    i = len(b) // 2
    b[i] = (b[i] + 1) % 256  # one byte: same size, other content
    p.write_bytes(bytes(b))


CELL_FILES = ["metrics.json", "status.json", "solution.npz", "features.csv", "config.json", "provenance.json"]
DAMAGE = {"truncated": _truncate, "altered": _alter, "deleted": lambda p: p.unlink()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-cell run (data, cache, results) made once; each test works on a copy."""
    base = tmp_path_factory.mktemp("base")
    write_imdb(base / "mirror", n_neg=40, n_pos=40, n_test=20)
    env = {
        "SYMCLI_MIRROR": str(base / "mirror"),
        "SYMCLI_DATA_DIR": str(base / "data"),
        "SYMCLI_RESULTS_DIR": str(base / "results"),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(base / "hf"),
    }
    path = base / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    res = run_symcli(["run", str(path), "--json"], env=env)
    assert res.returncode == 0, res.stderr
    return base


@pytest.fixture
def run_copy(tmp_path, finished_run, monkeypatch):
    for sub in ("mirror", "data", "results"):
        shutil.copytree(finished_run / sub, tmp_path / sub)
    monkeypatch.setenv("SYMCLI_MIRROR", str(tmp_path / "mirror"))
    return _write(tmp_path, BASE)


@pytest.mark.parametrize("how", list(DAMAGE))
@pytest.mark.parametrize("name", CELL_FILES)
def test_damaged_cell_file_is_reported_then_recomputed(tmp_path, run_copy, name, how):
    root = tmp_path / "results" / "t"
    cells = sorted(p.name for p in root.glob("imdb_*"))
    bad, good = root / cells[0], root / cells[1]
    good_before = _digests(good)
    DAMAGE[how](bad / name)
    dry = _invoke("run", run_copy, "--dry-run")
    assert dry.exit_code == 0 and f"damaged  {bad.name}" in dry.stdout, dry.output
    rep = _invoke("report", "t", "--format", "md")
    assert rep.exit_code == 0, rep.output
    assert f"cell {bad.name} is damaged" in rep.stderr and "Traceback" not in rep.output
    md = (root / "report" / "report.md").read_text()
    assert bad.name in md and "damaged" in md
    res = _invoke("run", run_copy, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["computed"], out["skipped"], out["damaged"]) == (1, 1, 1)
    assert _digests(good) == good_before  # the finished cell untouched
    again = json.loads(_invoke("run", run_copy, "--json").stdout)
    assert (again["computed"], again["damaged"]) == (0, 0)
    assert set(pd.read_parquet(root / "results.parquet")["status"]) == {"done"}


@pytest.mark.parametrize("how", ["truncated", "altered"])
def test_damaged_raw_parquet_is_refused_by_embed_and_downloaded_again_by_run(tmp_path, run_copy, how):
    raw = tmp_path / "data" / "raw" / "imdb" / "train.parquet"
    DAMAGE[how](raw)
    res = _invoke("embed", "imdb", "--model", "mock-16")
    assert res.exit_code == 2 and "damaged" in res.stderr and res.stderr.count("\n") == 1, res.output
    ok = _invoke("run", run_copy, "--force", "--json")
    assert ok.exit_code == 0, ok.output
    assert "downloading imdb again" in ok.stderr
    assert resolve("imdb").problems() == []


@pytest.mark.parametrize("how", ["truncated", "altered"])
def test_damaged_cache_shard_is_dropped_and_its_texts_embedded_again(tmp_path, run_copy, how):
    before = json.loads(
        _invoke("embed", "imdb", "--model", "mock-16", "--limit", "60", "--max-length", "128", "--json").stdout
    )
    assert before["embedded"] == 0
    shard = sorted((tmp_path / "data" / "cache" / "embeddings").rglob("shard-*.vecs.npy"))[0]
    rows = np.load(shard).shape[0]
    DAMAGE[how](shard)
    after = json.loads(
        _invoke("embed", "imdb", "--model", "mock-16", "--limit", "60", "--max-length", "128", "--json").stdout
    )
    assert after["embedded"] == min(rows, after["texts"]) > 0
    X = np.load(Path(after["output"]) / "train.npy")
    raw = resolve("imdb").load_split("train")
    idx = np.load(Path(after["output"]) / "train.idx.npy")
    texts = dict(zip(raw["idx"].to_pylist(), raw["text"].to_pylist(), strict=True))
    np.testing.assert_array_equal(X, MockEncoder(16).encode([texts[int(i)] for i in idx], None, 8))
