"""The runs under $SYMCLI_RESULTS_DIR (`symcli runs`), newest first, and the newest one (`symcli report`).

A run is a folder holding run.json ({"config": ..., "provenance": {"created": ...}}); its cells' states come
from results.parquet's `status` column. A damaged run.json or results.parquet never stops the listing.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from symcli.core.paths import results_dir


def list_runs() -> list[dict]:
    """One dict per run, newest first: name, path, created (ISO 8601), datasets, done, failed (None when
    results.parquet is missing or unreadable)."""
    root = results_dir()
    if not root.is_dir():
        return []
    found = [_describe(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    found = sorted((f for f in found if f is not None), key=lambda f: (f[0], f[1]["name"]), reverse=True)
    return [run for _, run in found]


def newest_run() -> Path | None:
    """The folder of the newest run (by run.json's created, else its modification time), or None."""
    runs = list_runs()
    return Path(runs[0]["path"]) if runs else None


def _describe(folder: Path) -> tuple[_dt.datetime, dict] | None:
    """(when created, the run's listing entry) for a run folder; None for a folder without run.json."""
    meta = folder / "run.json"
    if not meta.is_file():
        return None
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        info = {}
    info = info if isinstance(info, dict) else {}
    when = _created(info) or _dt.datetime.fromtimestamp(meta.stat().st_mtime, _dt.timezone.utc)
    grid = (info.get("config") or {}).get("grid") or {}
    datasets = grid.get("dataset") if isinstance(grid, dict) else None
    done, failed = _counts(folder / "results.parquet")
    return when, {
        "name": folder.name,
        "path": str(folder.resolve()),
        "created": when.isoformat(timespec="seconds"),
        "datasets": [str(d) for d in datasets] if isinstance(datasets, list) else [],
        "done": done,
        "failed": failed,
    }


def _created(info: dict) -> _dt.datetime | None:
    created = (info.get("provenance") or {}).get("created")
    try:
        when = _dt.datetime.fromisoformat(str(created))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)


def _counts(path: Path) -> tuple[int | None, int | None]:
    if not path.is_file():
        return None, None
    import pandas as pd

    try:
        status = pd.read_parquet(path, columns=["status"])["status"]
    except Exception:  # noqa: BLE001 - a damaged or foreign file: shown as unknown, the listing goes on
        return None, None
    return int((status == "done").sum()), int((status == "failed").sum())


#: The columns of `symcli runs`, as run_fields gives them.
COLUMNS = ("name", "done", "failed", "datasets", "created", "path")


def runs_text(runs: list[dict]) -> list[str]:
    """The runs as aligned plain-text lines: a header, then one line per run."""
    rows = [tuple(c.upper() for c in COLUMNS), *(run_fields(r) for r in runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    return ["  ".join([*(v.ljust(w) for v, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]


def run_fields(r: dict) -> tuple[str, ...]:
    """A run's COLUMNS as strings ('-' for unknown counts)."""
    count = ("-" if r[k] is None else str(r[k]) for k in ("done", "failed"))
    created = r["created"].replace("T", " ").replace("+00:00", " UTC")
    return (r["name"], *count, ", ".join(r["datasets"]) or "-", created, r["path"])
