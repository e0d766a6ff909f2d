"""The cells of a run folder: rows of results.parquet with their metrics, solutions and pinning texts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symcli.core.errors import UserError
from symcli.core.paths import results_dir
from symcli.report.tables import missing

KEYS = ("dataset", "dim", "depth", "projection", "n_train", "beta_grid", "seed")


@dataclass
class Cell:
    """One row of results.parquet with its folder's metrics and solution (when done)."""

    row: dict
    folder: Path
    metrics: dict | None = None
    solution: dict | None = None
    pin_texts: dict = field(default_factory=dict)
    label_names: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.row["cell"])

    @property
    def done(self) -> bool:
        return self.row.get("status") == "done" and self.metrics is not None


def resolve_run(run: str | Path) -> Path:
    """The run folder of a path or name; UserError when it is missing or has no results.parquet."""
    from symcli.runs.runner import run_dir

    root = run_dir(str(run))
    if not root.is_dir():
        raise UserError(
            f"no run {str(run)!r}: {root} is not a folder; give a run folder or a run name under "
            f"$SYMCLI_RESULTS_DIR ({results_dir()})"
        )
    if not (root / "results.parquet").is_file():
        raise UserError(f"run {root} has no results.parquet; run `symcli run CONFIG` first")
    return root


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_cells(root: Path) -> list[Cell]:
    """The cells of results.parquet, sorted by dataset, dim, depth and the other grid axes."""
    import pandas as pd

    try:
        df = pd.read_parquet(root / "results.parquet")
    except Exception as e:  # a truncated or foreign file
        raise UserError(f"cannot read {root / 'results.parquet'} ({type(e).__name__}: {e})") from None
    if df.empty or "cell" not in df.columns:
        raise UserError(f"{root / 'results.parquet'} lists no cells; run `symcli run CONFIG` first")
    from symcli.runs.runner import read_status

    cells, names = [], {}
    for rec in df.to_dict("records"):
        row = {k: (None if missing(v) else (v.item() if isinstance(v, np.generic) else v)) for k, v in rec.items()}
        folder = root / str(row["cell"])
        c = Cell(row, folder)
        state, status = read_status(folder)
        if state == "damaged":  # named in the report; its files are not read
            row["status"], row["error"] = "damaged", f"{status['problem']}; `symcli run` recomputes it"
        cfg = read_json(folder / "config.json") or {}
        row["beta_grid"] = (cfg.get("cell") or {}).get("beta", row.get("beta"))
        if row.get("status") == "done":
            c.metrics = read_json(folder / "metrics.json")
            if c.metrics is not None:
                row["beta_grid"] = c.metrics.get("cell", {}).get("beta", row["beta_grid"])
                row["beta"] = c.metrics.get("beta", row.get("beta"))
            if (folder / "solution.npz").is_file():
                with np.load(folder / "solution.npz") as z:
                    c.solution = {k: z[k] for k in z.files}
            c.pin_texts = _feature_texts(folder / "features.csv")
            data = (c.metrics or {}).get("data") or {}
            key = (
                data.get("dataset"),
                data.get("train_split"),
                (data.get("embedding") or {}).get("data_manifest_sha256"),
            )
            if key not in names:
                names[key] = _label_names(*key)
            c.label_names = names[key]
        else:
            row["beta"] = None  # the absolute beta is known only once a cell has run
        cells.append(c)
    order = {d: i for i, d in enumerate(dict.fromkeys(c.row.get("dataset") for c in cells))}  # config order
    cells.sort(key=lambda c: (order[c.row.get("dataset")], *(_sort_key(c.row.get(k)) for k in KEYS[1:])))
    return cells


def raw_manifest(dataset: str | None, manifest_sha256: str | None) -> dict | None:
    """The manifest of the downloaded data when it is the one the cells were fitted on (same sha256), else None."""
    from symcli.datasets.dataset import resolve

    try:
        manifest, sha256 = resolve(dataset).read_manifest() if dataset else (None, None)
        if sha256 == manifest_sha256:
            return manifest
    except (UserError, OSError):
        pass
    return None


def _label_names(dataset: str | None, split: str | None, manifest_sha256: str | None) -> dict[int, str]:
    """{row id: label name} of the downloaded split the cells were fitted on; empty when that data is not here
    or has no label names."""
    from symcli.datasets.dataset import resolve

    names = (raw_manifest(dataset, manifest_sha256) or {}).get("label_names")
    try:
        table = resolve(dataset).load_split(split) if names and split else None
    except (UserError, OSError):
        return {}
    if table is None:
        return {}
    ids, labels = table["idx"].to_pylist(), table["label"].to_pylist()
    return {int(i): str(names.get(str(lab), lab)) for i, lab in zip(ids, labels, strict=True)}


def _sort_key(v):
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


def _feature_texts(path: Path) -> dict:
    """{(family, rounded a, pinning points): texts} from features.csv (empty when absent)."""
    import pandas as pd

    if not path.is_file():
        return {}
    df = pd.read_csv(path, keep_default_na=False)
    out = {}
    for r in df.to_dict("records"):
        try:
            out[(r["family"], round(float(r["a"]), 9), tuple(json.loads(r["pins"])))] = json.loads(r["pin_texts"])
        except (KeyError, ValueError, TypeError):
            continue
    return out


def mirror_texts(cell: Cell, m: dict) -> list[str]:
    """Texts of the training points that pin a top mirror (metrics first, features.csv otherwise)."""
    if m.get("texts"):
        return list(m["texts"])
    pts = tuple(m.get("pinning_points") or sorted(set(m.get("pins", [])) | set(m.get("span", []))))
    return list(cell.pin_texts.get((m.get("family"), round(float(m.get("a", 0.0)), 9), pts), []))
