"""Running on Ray (optional extra `symcli[ray]`): grid cells as Ray tasks, embeddings through Ray Data.

The results are written by the same code as locally (symcli.runs.runner.execute_cell, the embedding cache), so
resume, skip and failure status behave identically. With no address, a local Ray instance is started
(bound to loopback only) and stopped afterwards; with an address, the existing cluster is joined, and
$SYMCLI_DATA_DIR / $SYMCLI_RESULTS_DIR must then be storage every node sees.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from symcli.core.errors import UserError

#: Environment variables handed to every Ray worker (where data and results live, offline switches).
FORWARDED_ENV = (
    "SYMCLI_DATA_DIR",
    "SYMCLI_RESULTS_DIR",
    "SYMCLI_MIRROR",
    "SYMCLI_MOCK_DELAY",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'symcli[ray]'") from None
    return ray


@contextmanager
def ray_session(address: str | None):
    """ray.init on `address`, or on a new local instance bound to 127.0.0.1 (stopped on exit)."""
    if address is None and "ray" not in __import__("sys").modules:
        # without cluster mode Ray binds a local instance to loopback only (read when ray is imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _import_ray()
    env = {
        k: str(Path(os.environ[k]).resolve()) if k.endswith("_DIR") or k == "HF_HOME" else os.environ[k]
        for k in FORWARDED_ENV
        if k in os.environ
    }
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                runtime_env={"env_vars": env},
            )
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise UserError(f"cannot join the Ray cluster at {address}: {e}") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def run_cells_ray(
    cfg,
    cells: list,
    prepared: dict,
    root: Path,
    address: str | None,
    log: Callable[[str], None],
    execute_cell: Callable,
    record_failure: Callable,
) -> Iterator[dict]:
    """Run each cell as one Ray task (1 CPU; 1 GPU when the nets are asked to train on cuda) of
    execute_cell(cfg, cell, prepared, folder) (symcli.runs.runner passes its own, and record_failure for a worker that
    died); yield each outcome as it finishes."""
    with ray_session(address) as ray:
        gpus = 1 if cfg.nets.device == "cuda" else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(execute_cell)
        pending = {task.remote(cfg, c, prepared[c.dataset], root / c.name): c for c in cells}
        log(f"ray: {len(pending)} cells on {ray.cluster_resources().get('CPU', 0):g} CPUs")
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            cell = pending.pop(done[0])
            try:
                yield ray.get(done[0])
            except Exception as e:  # the worker died: record it like a failing cell
                err = UserError(f"Ray task of {cell.name} died: {e}")
                yield {
                    "cell": cell.name,
                    "status": "failed",
                    "error": record_failure(cfg, cell, root / cell.name, err),
                    "seconds": 0.0,
                }


class _EncoderActor:
    """Ray Data actor: loads the encoder once, encodes batches and writes each as a cache shard."""

    def __init__(self, cache_root: str, header: list, mspec, device: str, max_length: int | None, batch_size: int):
        from symcli.embeddings.cache import EmbeddingCache
        from symcli.embeddings.encoders import load_encoder

        self.cache = EmbeddingCache.open(Path(cache_root), header)
        self.encoder = load_encoder(mspec, device, max_length)
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        texts = [str(t) for t in batch["text"]]
        pairs = [str(p) for p in batch["pair"]] if batch["has_pair"][0] else None
        vecs = np.asarray(self.encoder.encode(texts, pairs, self.batch_size), dtype=np.float32)
        self.cache.put([bytes.fromhex(k) for k in batch["key"]], vecs)  # one shard, written atomically
        return {"n": np.array([len(texts)])}


def fill_cache_ray(
    cache,
    mspec,
    device: str,
    max_length: int | None,
    texts: list[str],
    pairs: list[str] | None,
    batch_size: int,
    address: str | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> int:
    """Encode the texts missing from `cache` with Ray Data (map_batches over one encoder actor per GPU, or per
    CPU worker), streaming shards into the cache folder; returns how many were encoded. A later local embed
    of the same texts reads them from the cache (0 embedded)."""
    key = cache.key_fn()
    rows, seen = [], set()
    for i, t in enumerate(texts):
        p = pairs[i] if pairs is not None else None
        k = key(t, p)
        if k not in cache.index and k not in seen:
            seen.add(k)
            rows.append({"text": t, "pair": p or "", "has_pair": pairs is not None, "key": k.hex()})
    if not rows:
        return 0
    with ray_session(address) as ray:
        gpus = int(ray.cluster_resources().get("GPU", 0)) if device == "cuda" else 0
        workers = gpus or max(1, int(ray.cluster_resources().get("CPU", 1)))
        log(f"ray: embedding {len(rows)} texts on {workers} {'GPU' if gpus else 'CPU'} actor(s)")
        ds = ray.data.from_items(rows)
        out = ds.map_batches(
            _EncoderActor,
            fn_constructor_args=(str(cache.folder.parent), cache.header, mspec, device, max_length, batch_size),
            batch_size=max(batch_size, 64),
            concurrency=workers,
            num_gpus=1 if gpus else 0,
            num_cpus=0 if gpus else 1,
        )
        return int(sum(r["n"] for r in out.iter_rows()))
