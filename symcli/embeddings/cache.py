"""The embedding cache: vectors (dim,) float32 keyed by 32-byte sha256 digests, sharded, shared by processes.

A namespace folder ``$SYMCLI_DATA_DIR/cache/embeddings/<namespace>/`` (one per model id, revision, pooling, max
length, precision) holds ``namespace.json``, ``namespace.lock`` and shards. A shard is ``shard-<h>.vecs.npy``
(m, dim) float32 plus ``shard-<h>.keys.npy`` (m, 32) uint8, where <h> is the sha256 (first 32 hex digits) of
the two files' bytes: the vectors are written first and the keys file, written last, makes the shard
visible. Opening a namespace checks every shard against its name; a truncated or altered shard is dropped
(deleted) and its texts are embedded again.

Several processes may share a namespace: readers hold a shared lock on namespace.lock while they read; the
merge of many shards into one (compaction) holds the exclusive lock, so it never removes a shard under a
reader, and a reader whose index names a shard merged away meanwhile re-reads the index and retries.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symcli.core.paths import atomic_write_bytes, clean_stale

COMPACT_ABOVE = 64  # merge a namespace's shards into one when it has more than this many
_SHARD = re.compile(r"shard-([0-9a-f]{32})")


def npy_bytes(a: np.ndarray) -> bytes:
    """The .npy file bytes of an array (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _shard_hash(vecs: bytes, keys: bytes) -> str:
    return hashlib.sha256(vecs + keys).hexdigest()[:32]


@dataclass
class EmbeddingCache:
    """Sharded store of vectors (dim,) float32 keyed by 32-byte digests, in one namespace folder.

    index maps a key to (shard number, row); shards are the stems, in the order they were indexed.
    dropped lists the damaged shards removed when the namespace was last read.
    """

    folder: Path
    header: list
    index: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    shards: list[str] = field(default_factory=list)
    dim: int | None = None
    dropped: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, root: Path, header: list) -> EmbeddingCache:
        """Open (or create) the namespace of `header` = [model id, revision, pooling, max length, precision]."""
        name = hashlib.sha256(json.dumps(header).encode()).hexdigest()[:20]
        cache = cls(root / name, header)
        cache.folder.mkdir(parents=True, exist_ok=True)
        clean_stale(cache.folder)
        info = cache.folder / "namespace.json"
        if not info.exists():
            atomic_write_bytes(info, json.dumps({"header": header}).encode())
        with cache._lock(shared=True):
            cache._scan()
        return cache

    @contextmanager
    def _lock(self, shared: bool) -> Iterator[None]:
        with open(self.folder / "namespace.lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _scan(self) -> None:
        """Index every intact shard on disk (call under a lock); damaged ones are deleted."""
        self.index, self.shards, self.dim = {}, [], None
        for keys_file in sorted(self.folder.glob("shard-*.keys.npy")):
            stem = keys_file.name[: -len(".keys.npy")]
            m = _SHARD.fullmatch(stem)
            if m is None:
                continue  # not a shard of this format: left alone
            vecs_file = self.folder / f"{stem}.vecs.npy"
            try:
                kb, vb = keys_file.read_bytes(), vecs_file.read_bytes()
            except FileNotFoundError:
                continue  # merged away by a compaction that has the lock now
            keys = vecs = None
            if _shard_hash(vb, kb) == m.group(1):
                try:
                    keys = np.load(io.BytesIO(kb), allow_pickle=False)
                    vecs = np.load(io.BytesIO(vb), allow_pickle=False)
                except ValueError:
                    keys = vecs = None
            if not _intact(keys, vecs, self.dim):
                self.dropped.append(stem)
                keys_file.unlink(missing_ok=True)  # keys first: a shard without keys is invisible
                vecs_file.unlink(missing_ok=True)
                continue
            n = len(self.shards)
            self.shards.append(stem)
            self.dim = int(vecs.shape[1])
            raw = keys.tobytes()
            for row in range(len(keys)):
                self.index[raw[32 * row : 32 * row + 32]] = (n, row)

    def key_fn(self) -> Callable[[str, str | None], bytes]:
        """key(text, text_pair) -> sha256 digest of (header, text, text_pair)."""
        prefix = hashlib.sha256(json.dumps(self.header).encode() + b"\0")

        def key(text: str, pair: str | None) -> bytes:
            h = prefix.copy()
            h.update(json.dumps([text, pair]).encode())
            return h.digest()

        return key

    def get(self, keys: list[bytes]) -> np.ndarray:
        """Vectors (len(keys), dim) of keys that are all in the cache (re-reads the index once if another
        process merged shards meanwhile)."""
        with self._lock(shared=True):
            try:
                return self._read(keys)
            except FileNotFoundError:
                self._scan()
                return self._read(keys)

    def _read(self, keys: list[bytes]) -> np.ndarray:
        out = np.empty((len(keys), self.dim or 0), dtype=np.float32)
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for i, k in enumerate(keys):
            s, r = self.index[k]
            by_shard.setdefault(s, []).append((i, r))
        for s, pairs in by_shard.items():
            vecs = np.load(self.folder / f"{self.shards[s]}.vecs.npy", mmap_mode="r")
            dst, rows = np.array(pairs).T
            out[dst] = vecs[rows]
        return out

    def put(self, keys: list[bytes], vecs: np.ndarray) -> None:
        """Write one shard: vectors first, keys last (the keys file makes the shard visible)."""
        if not keys:
            return
        vb = npy_bytes(np.ascontiguousarray(vecs, np.float32))
        kb = npy_bytes(np.frombuffer(b"".join(keys), np.uint8).reshape(-1, 32))
        stem = f"shard-{_shard_hash(vb, kb)}"
        atomic_write_bytes(self.folder / f"{stem}.vecs.npy", vb)
        atomic_write_bytes(self.folder / f"{stem}.keys.npy", kb)
        n = len(self.shards)
        self.shards.append(stem)
        for row, k in enumerate(keys):
            self.index[k] = (n, row)
        self.dim = int(vecs.shape[1])

    def compact(self) -> None:
        """Merge all shards on disk (other processes' too) into one when there are more than COMPACT_ABOVE,
        under the exclusive lock; the old shards are removed after the merged one is written."""
        if len(self.shards) <= COMPACT_ABOVE:
            return
        with self._lock(shared=False):
            self._scan()
            if len(self.shards) <= COMPACT_ABOVE:
                return
            keys = list(self.index)
            vecs = self._read(keys)
            old = list(self.shards)
            self.index, self.shards = {}, []
            self.put(keys, vecs)
            for stem in old:
                if stem == self.shards[0]:
                    continue
                for suffix in (".keys.npy", ".vecs.npy"):  # keys first: a shard without keys is ignored
                    (self.folder / f"{stem}{suffix}").unlink(missing_ok=True)


def _intact(keys, vecs, dim: int | None) -> bool:
    """keys (m, 32) uint8 and vecs (m, dim) finite float32 of one shard agree."""
    return (
        keys is not None
        and vecs is not None
        and keys.dtype == np.uint8
        and keys.ndim == 2
        and keys.shape[1] == 32
        and vecs.dtype == np.float32
        and vecs.ndim == 2
        and len(vecs) == len(keys)
        and (dim is None or vecs.shape[1] == dim)
        and bool(np.isfinite(vecs).all())
    )
