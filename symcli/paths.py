"""Where files go: SYMCLI_DATA_DIR (default ./data) and SYMCLI_RESULTS_DIR (default ./results)."""

from __future__ import annotations

import os
import shutil
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


def publish_dir(stage: Path, final: Path) -> None:
    """Move a fully written folder `stage` to `final`, replacing what was there (two renames)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, final)


def staging_dir(final: Path) -> Path:
    """A fresh hidden folder beside `final` to write into before publish_dir."""
    stage = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage
