"""Text embeddings with a cache: sentence-transformers models or plain transformers encoders (cls/mean pooling).

Output of embed_dataset, per split of a downloaded dataset, in one folder per key (embeddings_dir:
``$SYMCLI_DATA_DIR/embeddings/<dataset>/<model slug>[-len<T>]-<limit<n>-seed<s>|all>-<hash>/``, so embeds with
another limit, seed, model, revision, pooling, max length or precision never replace it): ``<split>.npy`` (n, dim)
float32, ``<split>.labels.npy`` (n,), ``<split>.idx.npy`` (n,) int64 (the raw rows' idx), and ``meta.json``
(model, revision, source, counts, and the sha256 of every array file).

Cache (symcli.embeddings.cache): ``$SYMCLI_DATA_DIR/cache/embeddings/<namespace>/``, one namespace per (model id,
revision, pooling, max length, precision). Each text's key is the sha256 of that tuple and the text (and
text_pair), so an unchanged re-run embeds nothing. Shards are written every few seconds while encoding, so a
killed run resumes from the last shard.

Pair tasks (GLUE mrpc, qqp, stsb, mnli, qnli, rte, wnli) use the model's pair input: the tokenizer gets (text,
text_pair) and builds one sequence ``[CLS] text [SEP] text_pair [SEP]`` with segment ids 0/1, truncated longest
first to the max length; its pooled output is the embedding of the pair. sentence-transformers does this for a
(str, str) tuple input, the transformers path calls tokenizer(texts, text_pairs).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from symcli.core.errors import UserError
from symcli.core.paths import atomic_write_bytes, clean_stale, data_dir, publish_dir, sha256_bytes, staging_dir
from symcli.core.progress import ProgressBar, human_duration
from symcli.datasets.dataset import Dataset, resolve
from symcli.datasets.rows import column_array
from symcli.embeddings.cache import EmbeddingCache, npy_bytes
from symcli.embeddings.encoders import (
    DEVICES,
    Encoder,
    ModelSpec,
    guess_device,
    is_oom,
    load_encoder,
    mock_delay,
    resolve_device,
    resolve_model,
)

AUTO_BATCH = {"cpu": 32, "mps": 64, "cuda": 256}
# fill_cache(cache, model spec, device, max_length, texts, pairs or None, batch size) -> how many it encoded
FillCache = Callable[[EmbeddingCache, ModelSpec, str, "int | None", list, "list | None", int], int]
FLUSH_SECONDS = 3.0  # a shard is written at least this often while encoding
FLUSH_ROWS = 8192
NOTE_TEXTS = 5000  # more texts than this to embed: one `note:` line with their count and the estimated time


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def encode_with_cache(
    texts: list[str],
    pairs: list[str] | None,
    cache: EmbeddingCache,
    make_encoder: Callable[[], Encoder],
    batch_size: int | None,
    auto_batch: int = 32,
    progress: bool = True,
    flush_seconds: float = FLUSH_SECONDS,
    announce: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """Vectors (n, dim) of (texts, pairs); cached ones are read, the rest encoded and cached.

    batch_size None means auto: start at `auto_batch` and halve on out-of-memory. Missing texts are encoded
    longest first (as sentence-transformers' encode orders them) in chunks; a shard is written at least every
    `flush_seconds`. When more than NOTE_TEXTS texts are missing, announce(count, texts per second) is called
    once, the rate measured on the second chunk (the first warms the model up). Returns the array and counts
    {texts, embedded, cached, batch_size}.
    """
    key = cache.key_fn()
    keys = [key(t, pairs[i] if pairs is not None else None) for i, t in enumerate(texts)]
    first: dict[bytes, int] = {}
    for i, k in enumerate(keys):
        if k not in cache.index:
            first.setdefault(k, i)
    todo = sorted(first.values(), key=lambda i: -(len(texts[i]) + (len(pairs[i]) if pairs is not None else 0)))
    n_cached = sum(1 for k in keys if k in cache.index)
    bs = batch_size or auto_batch
    if len(todo) <= NOTE_TEXTS:
        announce = None
    if todo:
        encoder = make_encoder()
        pending_keys: list[bytes] = []
        pending: list[np.ndarray] = []
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal last_flush
            if pending_keys:
                cache.put(list(pending_keys), np.concatenate(pending))
                pending_keys.clear()
                pending.clear()
            last_flush = time.monotonic()

        with ProgressBar(len(todo), "embedding", "texts", progress) as bar:
            pos = chunks = 0
            try:
                while pos < len(todo):
                    chunk = todo[pos : pos + bs * max(1, 64 // bs)]
                    started = time.monotonic()
                    try:
                        vecs = encoder.encode(
                            [texts[i] for i in chunk], [pairs[i] for i in chunk] if pairs is not None else None, bs
                        )
                    except Exception as e:  # torch raises OutOfMemoryError / RuntimeError('... out of memory')
                        if not is_oom(e):
                            raise
                        if batch_size is not None or bs == 1:
                            raise UserError(
                                f"out of memory at batch size {bs}; use a smaller --batch-size or --batch-size auto"
                            ) from e
                        bs //= 2
                        _free_device_memory()
                        continue
                    vecs = np.asarray(vecs, dtype=np.float32)
                    if vecs.ndim != 2 or vecs.shape[0] != len(chunk) or not np.isfinite(vecs).all():
                        raise UserError(
                            f"the model returned {'non-finite' if vecs.ndim == 2 else 'malformed'} embeddings "
                            f"(shape {vecs.shape} for {len(chunk)} texts); nothing of this batch was cached"
                        )
                    pending_keys.extend(keys[i] for i in chunk)
                    pending.append(vecs)
                    pos += len(chunk)
                    chunks += 1
                    if announce is not None and chunks == 2:
                        bar.hide(announce)(len(todo), len(chunk) / max(time.monotonic() - started, 1e-9))
                    bar.advance(len(chunk))
                    if time.monotonic() - last_flush >= flush_seconds or len(pending_keys) >= FLUSH_ROWS:
                        flush()
            finally:  # also on Ctrl-C: what was computed is kept
                flush()
        cache.compact()
    out = cache.get(keys) if keys else np.zeros((0, cache.dim or 0), np.float32)
    return out, {"texts": len(texts), "embedded": len(texts) - n_cached, "cached": n_cached, "batch_size": bs}


def _free_device_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def parse_batch_size(text: str | int | None) -> int | None:
    """'auto' (or None) -> None; a positive integer -> itself."""
    if text is None or str(text).strip().lower() == "auto":
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        raise UserError(f"--batch-size must be a positive integer or auto, got {text!r}") from None
    if value < 1:
        raise UserError(f"--batch-size must be a positive integer or auto, got {text!r}")
    return value


def embeddings_dir(ds: Dataset, spec: ModelSpec, max_length: int | None, key: dict) -> Path:
    """$SYMCLI_DATA_DIR/embeddings/<dataset>/<model slug>[-len<T>]-<limit<n>-seed<s>|all>-<h>: one folder per
    `key` (everything that changes its rows or vectors: model, revision, pooling, max length, precision,
    limit, seed, the raw data's manifest), h = the key's sha256 (8 hex digits). Two embeds that differ in
    any of these never write the same folder."""
    rows = f"limit{key['limit']}-seed{key['seed']}" if key["limit"] is not None else "all"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    slug = spec.slug + (f"-len{max_length}" if max_length else "") + f"-{rows}-{digest}"
    return ds.embeddings_root / slug


def embed_dataset(
    dataset: str | Dataset,
    model: str = "all-MiniLM-L6-v2",
    device: str = "auto",
    batch_size: int | str | None = None,
    max_length: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    pooling: str = "model",
    revision: str | None = None,
    encoder_factory: Callable[[ModelSpec, str, int | None], Encoder] | None = None,
    fill_cache: FillCache | None = None,
    log: Callable[[str], None] = _stderr,
) -> dict:
    """Embed every split of a downloaded dataset; write <split>.npy (n, dim) etc. and meta.json; return a summary.

    fill_cache, when given, first encodes the texts missing from the cache elsewhere (the Ray backend's
    symcli.runs.distributed.fill_cache_ray, handed in by the command line); the rest of the path (cache read,
    files written) is the local one.
    log: where the `note:` on a large embed goes (its count, the estimated time, and --limit).

    limit: at most this many rows per split, label-stratified with `seed` (same rule as download --limit).
    Returns {texts, embedded, cached, dim, device, seconds, model, output}.
    """
    t0 = time.perf_counter()
    batch_size = parse_batch_size(batch_size)
    if device not in DEVICES:
        raise UserError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if max_length is not None and max_length < 1:
        raise UserError(f"--max-length must be a positive number of tokens, got {max_length}")
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be a positive number of rows, got {limit}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    if device != "auto":
        resolve_device(device)  # an explicit device that is not here is refused before anything is written
    ds = resolve(dataset)
    manifest, manifest_sha256 = ds.read_manifest()  # one read: the splits are checked against what is recorded
    spec, splits = ds.spec(manifest), ds.load_splits(limit, seed, manifest)
    labels = {split: (column_array(tb, "label"), column_array(tb, "idx")) for split, tb in splits.items()}
    texts = [t for tb in splits.values() for t in tb["text"].to_pylist()]
    pairs = [p for tb in splits.values() for p in tb["text_pair"].to_pylist()] if spec.is_pair else None
    mspec = resolve_model(model, pooling, revision)
    if mspec.kind == "mock":
        mock_delay()  # refused before anything is written

    guess = "cpu" if mspec.kind == "mock" and device == "auto" else guess_device(device)
    used = {"device": guess}

    def make_encoder() -> Encoder:
        real = guess if mspec.kind == "mock" else resolve_device(device)
        if (real == "cuda") != (guess == "cuda"):  # precision differs from the namespace: refuse to mix
            raise _Replan(real)
        used["device"] = real
        return (encoder_factory or load_encoder)(mspec, real, max_length)

    def announce(n: int, rate: float) -> None:
        log(
            f"note: embedding {n:,} texts (about {human_duration(n / rate)} at ~{rate:,.0f} texts/s on "
            f"{used['device']}); pass --limit N (embedding.limit in a run config) to embed fewer"
        )

    root = data_dir() / "cache" / "embeddings"
    while True:
        precision = "fp16" if used["device"] == "cuda" and mspec.kind != "mock" else "fp32"
        header = [mspec.model_id, mspec.revision, mspec.pooling, max_length, precision]
        cache = EmbeddingCache.open(root, header)
        auto = AUTO_BATCH.get(used["device"], 32)
        remote = 0
        if fill_cache is not None:
            remote = fill_cache(cache, mspec, used["device"], max_length, texts, pairs, batch_size or auto)
            cache = EmbeddingCache.open(root, header)  # index the shards the Ray actors wrote
        try:
            X, counts = encode_with_cache(texts, pairs, cache, make_encoder, batch_size, auto, announce=announce)
            counts["embedded"] += remote
            counts["cached"] -= remote
            break
        except _Replan as r:
            guess = used["device"] = r.device
    dim = int(X.shape[1])
    key = {
        "model": mspec.model_id,
        "revision": mspec.revision,
        "pooling": mspec.pooling,
        "max_length": max_length,
        "precision": header[4],
        "limit": limit,
        "seed": seed if limit is not None else None,
        "data_manifest_sha256": manifest_sha256,
    }
    out_dir = embeddings_dir(ds, mspec, max_length, key)
    clean_stale(out_dir.parent)
    stage = staging_dir(out_dir)
    try:
        meta_splits, start = {}, 0
        for split, table in splits.items():
            n = table.num_rows
            arrays = {
                "file": np.ascontiguousarray(X[start : start + n]),
                "labels_file": labels[split][0],
                "idx_file": labels[split][1],
            }
            names = {"file": f"{split}.npy", "labels_file": f"{split}.labels.npy", "idx_file": f"{split}.idx.npy"}
            sums = {}
            for kind, array in arrays.items():
                data = npy_bytes(array)
                atomic_write_bytes(stage / names[kind], data)
                sums[names[kind]] = sha256_bytes(data)
            meta_splits[split] = {"rows": n, **names, "sha256": sums[names["file"]], "files_sha256": sums}
            start += n
        seconds = round(time.perf_counter() - t0, 3)
        meta = {
            "dataset": spec.name,
            "source": manifest["source"],
            "data_manifest_sha256": key["data_manifest_sha256"],
            "key": key,
            "model": mspec.model_id,
            "revision": mspec.revision,
            "pooling": mspec.pooling,
            "max_length": max_length,
            "precision": header[4],
            "pair_input": spec.is_pair,
            "device": used["device"],
            "batch_size": counts["batch_size"],
            "dim": dim,
            "limit": limit,
            "seed": seed,
            "splits": meta_splits,
            "texts": counts["texts"],
            "embedded": counts["embedded"],
            "cached": counts["cached"],
            "seconds": seconds,
            "cache_namespace": cache.folder.name,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_bytes(stage / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
        publish_dir(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {
        "texts": counts["texts"],
        "embedded": counts["embedded"],
        "cached": counts["cached"],
        "dim": dim,
        "device": used["device"],
        "seconds": round(time.perf_counter() - t0, 3),
        "model": mspec.model_id,
        "source": manifest["source"]["kind"],
        "output": str(out_dir),
    }


class _Replan(Exception):
    def __init__(self, device: str):
        super().__init__(device)
        self.device = device
