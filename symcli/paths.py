"""Where files go: SYMCLI_DATA_DIR (default ./data) and SYMCLI_RESULTS_DIR (default ./results)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Root of downloaded data and embeddings caches ($SYMCLI_DATA_DIR, default ./data)."""
    return Path(os.environ.get("SYMCLI_DATA_DIR", "data"))


def results_dir() -> Path:
    """Root of run results ($SYMCLI_RESULTS_DIR, default ./results)."""
    return Path(os.environ.get("SYMCLI_RESULTS_DIR", "results"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data to path via a temporary file in the same folder and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
