"""Where files go ($SYMCLI_DATA_DIR, default ./data; $SYMCLI_RESULTS_DIR, default ./results) and how they are
written: to a staging path named `.<final>.symcli-tmp-<pid>` beside the target, then renamed into place.

Only entries with that symcli-specific name are ever cleaned up, and only once the process that made them
is gone (kill -9, full disk): a user's own hidden files are never touched."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from symcli.core.errors import UserError

#: Run names: a letter or digit first (so never '.', '..' or hidden), then letters, digits, '_', '.', '-'.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
RUN_NAME_MAX = 100
_STALE = re.compile(r"\..+\.symcli-(?:tmp|old)-(\d+)")


def data_dir() -> Path:
    """Root of downloaded data and embeddings caches ($SYMCLI_DATA_DIR, default ./data)."""
    return _folder("SYMCLI_DATA_DIR", "data")


def results_dir() -> Path:
    """Root of run results ($SYMCLI_RESULTS_DIR, default ./results)."""
    return _folder("SYMCLI_RESULTS_DIR", "results")


def _folder(var: str, default: str) -> Path:
    path = Path(os.environ.get(var) or default)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file, not a folder; move it or set ${var} to a folder")
    return path


def check_run_name(name: str) -> str:
    """`name` when it is a valid run name (one folder strictly inside the results folder), else UserError."""
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        shown = name if len(str(name)) <= 40 else f"{str(name)[:37]}..."
        raise UserError(
            f"run name {shown!r} is not allowed: use 1-{RUN_NAME_MAX} letters, digits, '_', '.' or '-', "
            "starting with a letter or digit (no '/', '.' or '..')"
        )
    return name


def run_folder(name: str) -> Path:
    """$SYMCLI_RESULTS_DIR/<name> for a valid run name."""
    return results_dir() / check_run_name(name)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes (read in blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stage_path(final: Path, kind: str) -> Path:
    return final.with_name(f".{final.name}.symcli-{kind}-{os.getpid()}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data to path via a temporary file in the same folder and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _stage_path(path, "tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish_dir(stage: Path, final: Path) -> None:
    """Move a fully written folder `stage` to `final`, replacing what was there (two renames)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        old = _stage_path(final, "old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, final)


def staging_dir(final: Path) -> Path:
    """A fresh hidden folder beside `final` to write into before publish_dir."""
    stage = _stage_path(final, "tmp")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


def clean_stale(folder: Path) -> list[Path]:
    """Remove the staging entries symcli left in `folder` (not below it) from processes that are gone;
    returns what was removed. Anything not named `.<name>.symcli-tmp|old-<pid>` is left alone."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _STALE.fullmatch(p.name)
        if m is None or _alive(int(m.group(1))):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed
