"""Running experiments: prepare data and embeddings, run grid cells, write results folders, resume.

A run lives in $SYMCLI_RESULTS_DIR/<name>/: run.json (resolved config and provenance), one folder per
cell, and results.parquet (one row per cell). A cell folder is written in a staging folder and renamed
into place, status.json last (it records the sha256 of every other file and its own digest), so a killed
run never leaves a half-written cell; a cell whose folder holds an intact status "done" is skipped on the
next run (resume), a damaged one is recomputed, and a failed re-computation never replaces a finished one.
Each cell reads exactly the embeddings its run planned with (symcli.runs.cell_data; checked by sha256, recorded in
provenance).

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
import subprocess
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from symcli.core.errors import UserError
from symcli.core.paths import (
    atomic_write_bytes,
    clean_stale,
    data_dir,
    publish_dir,
    run_folder,
    sha256_bytes,
    sha256_file,
    staging_dir,
)
from symcli.core.progress import ProgressBar
from symcli.runs.cell_data import Prepared, load_cell_data, prepare_dataset
from symcli.runs.config import MAX_CELLS, Cell, RunConfig
from symcli.science.evidence import flatten

BASELINE_SCORES = ("majority_score", "probe_score", "probe_full_score")
TIME_COLUMNS = ("time_s", "cell_s", "build_s", "solve_s", "nets_time_s", "created")


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
    """A run given by name (a folder of $SYMCLI_RESULTS_DIR) or by an explicit path (absolute, starting with
    '~', or holding a '/', e.g. ./myrun): a bare name never means a folder of the working directory."""
    s = str(name_or_path)
    if "/" in s or os.sep in s or s.startswith("~") or Path(s).is_absolute():
        return Path(s).expanduser()
    try:
        return run_folder(s)
    except UserError as e:
        raise UserError(f"{e}; to use a folder, give its path (e.g. ./{s})") from None


def run_cell(cfg: RunConfig, cell: Cell, prep: Prepared, folder: Path) -> dict:
    """Fit one cell and publish its folder atomically; returns its metrics."""
    from symcli.fit.lasso_fit import fit
    from symcli.science.baselines import baselines

    t0 = time.perf_counter()
    cd = load_cell_data(cfg, cell, prep)
    problem = cd.problem
    out = fit(problem, *cfg.cell_options(cell), texts=cd.texts)
    task = "classification" if problem.is_classification else "regression"
    out["baselines"] = baselines(
        problem.X, problem.y, problem.X_test, problem.y_test, cd.E_train, cd.E_test, task, cell.seed
    )
    out["cell"] = cell.model_dump()
    out["data"] = cd.facts
    out["cell_s"] = time.perf_counter() - t0  # the whole cell: data, fit, nets and baselines
    S = out["features"]
    stage = staging_dir(folder)
    atomic_write_bytes(stage / "config.json", _json_bytes({"cell": cell.model_dump(), "run": cfg.model_dump()}))
    atomic_write_bytes(stage / "metrics.json", _json_bytes(out))
    atomic_write_bytes(stage / "features.csv", _features_csv(S, cd.texts))
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
    cd.projection.save(stage / "projection.npz")
    prov = provenance(cd.facts["embedding"].get("device")) | {
        "embeddings": {"folder": str(prep.folder), "sha256": cd.facts["embedding"]["sha256"]},
        "data_manifest_sha256": cd.facts["embedding"]["data_manifest_sha256"],
    }
    atomic_write_bytes(stage / "provenance.json", _json_bytes(prov))
    _publish_cell(stage, folder, {"status": "done"})
    return out


def _status_digest(status: dict) -> str:
    return sha256_bytes(json.dumps({k: v for k, v in status.items() if k != "sha256"}, sort_keys=True).encode())


def _publish_cell(stage: Path, folder: Path, status: dict) -> None:
    """Write status.json last (the sha256 of every file of the cell, and its own digest) and publish."""
    files = {p.name: sha256_file(p) for p in sorted(stage.iterdir()) if p.is_file()}
    status = {**status, "files": files}
    atomic_write_bytes(stage / "status.json", _json_bytes({**status, "sha256": _status_digest(status)}))
    publish_dir(stage, folder)


def read_status(folder: Path) -> tuple[str, dict]:
    """(state, status.json) of a cell folder: state 'done', 'failed', 'todo' (nothing there yet) or 'damaged'
    (status.json unreadable or altered, or a file missing or differing from the sha256 recorded in it; the
    reason is status['problem'])."""
    p = folder / "status.json"
    if not p.is_file():
        return ("todo", {}) if not folder.exists() or not any(folder.iterdir()) else _damaged("no status.json")
    try:
        status = json.loads(p.read_bytes())
        ok = isinstance(status, dict) and status.get("sha256") == _status_digest(status)
    except (ValueError, AttributeError):
        ok = False
    if not ok or status.get("status") not in ("done", "failed"):
        return _damaged("status.json is unreadable or altered")
    for name, digest in status["files"].items():
        f = folder / name
        if not f.is_file() or sha256_file(f) != digest:
            return _damaged(f"{name} is missing or differs from the sha256 recorded when it was written")
    return status["status"], status


def _damaged(problem: str) -> tuple[str, dict]:
    return "damaged", {"status": "damaged", "problem": problem}


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


def record_failure(cfg: RunConfig, cell: Cell, folder: Path, err: BaseException) -> str:
    """Record a failed cell in its folder and return the error message, unless the folder holds a finished
    result (a forced re-computation that failed): that result is kept and the message says so."""
    if cell_status(folder) == "done":
        return f"{err} (the finished result from before was kept)"
    stage = staging_dir(folder)
    atomic_write_bytes(stage / "config.json", _json_bytes({"cell": cell.model_dump(), "run": cfg.model_dump()}))
    msg = f"{type(err).__name__}: {err}" if not isinstance(err, UserError) else str(err)
    trace = "".join(traceback.format_exception(err))
    _publish_cell(stage, folder, {"status": "failed", "error": msg, "traceback": trace})
    return str(err)


def cell_status(folder: Path) -> str:
    """'done', 'failed', 'todo' or 'damaged' (see read_status)."""
    return read_status(folder)[0]


def execute_cell(cfg: RunConfig, cell: Cell, prep: Prepared | str, folder: Path) -> dict:
    """Run one cell and publish its folder; a failure is recorded (record_failure) instead of raised.
    prep: the dataset's planned embeddings, or the message of why preparing them failed (a str).
    Returns {cell, status, error, seconds}. The local and the Ray backends both call this."""
    t0 = time.perf_counter()
    try:
        if isinstance(prep, str):
            raise UserError(prep)
        run_cell(cfg, cell, prep, folder)
        status, error = "done", None
    except Exception as e:
        status, error = "failed", record_failure(cfg, cell, folder, e)
    return {"cell": cell.name, "status": status, "error": error, "seconds": time.perf_counter() - t0}


def run_config(
    cfg: RunConfig,
    force: bool = False,
    dry_run: bool = False,
    log: Callable[[str], None] = lambda s: None,
    backend: str = "local",
    address: str | None = None,
    max_cells: int = MAX_CELLS,
) -> dict:
    """Run every cell of cfg (skipping finished ones unless force; damaged ones are recomputed); returns the
    summary {run, cells, computed, skipped, failed, damaged, failures: [{cell, error}]}. Failures are recorded
    and the run goes on.

    backend 'local' runs cells in this process; 'ray' runs each cell as a Ray task (symcli.runs.distributed),
    on the cluster at `address` or on a local one started and stopped here. Datasets are downloaded and
    embedded first, here, into $SYMCLI_DATA_DIR (shared storage on a cluster).

    Progress goes to `log`: a `start` line per cell (local backend), a `done`/`FAILED` line per cell with the
    cells finished and an ETA; when stderr is a terminal, also a rich bar of the cells."""
    if backend not in ("local", "ray"):
        raise UserError(f"unknown backend {backend!r}; choose local or ray")
    root = run_folder(cfg.name)
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file, not a run folder; move it or choose another run name")
    data_dir()  # a data path that is a file is refused before anything is written
    cells = cfg.cells(max_cells)
    states = {c.name: read_status(root / c.name) for c in cells}
    todo = [c for c in cells if force or states[c.name][0] != "done"]
    damaged = [c.name for c in cells if states[c.name][0] == "damaged"]
    summary = {
        "run": str(root),
        "cells": len(cells),
        "computed": 0,
        "skipped": len(cells) - len(todo),
        "failed": 0,
        "damaged": len(damaged),
        "failures": [],
    }
    log(f"{len(cells)} cells: {len(todo)} to compute, {summary['skipped']} finished, {len(damaged)} damaged")
    for name in damaged:
        log(f"damaged {name}: {states[name][1]['problem']}; it will be recomputed")
    if dry_run:
        from symcli.runs.estimate import estimate

        summary["plan"] = [{"cell": c.name, "status": states[c.name][0]} for c in cells]
        summary["estimate"] = estimate(cfg, todo, root)
        return summary
    root.mkdir(parents=True, exist_ok=True)
    clean_stale(root)  # staging folders of killed runs
    atomic_write_bytes(root / "run.json", _json_bytes({"config": cfg.model_dump(), "provenance": provenance()}))
    prepared: dict[str, Prepared | str] = {}
    for dataset in dict.fromkeys(c.dataset for c in todo):
        try:
            prepared[dataset] = prepare_dataset(cfg, dataset, log)
        except OSError:  # a fault of the environment (full disk, permissions): stop here, nothing to record
            raise
        except Exception as e:  # recorded in each of the dataset's cells (finished ones are kept)
            prepared[dataset] = f"preparing {dataset} failed: {e}"
    # the rows of the skipped cells, from the states read above (each folder is hashed once)
    skipped = [c for c in cells if not force and states[c.name][0] == "done"]
    rows = {c.name: cell_row(root / c.name, c, states[c.name]) for c in skipped}
    by_name = {c.name: c for c in cells}
    with ProgressBar(len(todo), "cells", "cells", every=None) as bar:
        say = bar.hide(log)  # on a terminal the run's lines stand above the bar of the cells
        if backend == "ray":
            from symcli.runs.distributed import run_cells_ray

            outcomes = run_cells_ray(cfg, todo, prepared, root, address, say, execute_cell, record_failure)
        else:
            outcomes = _run_local(cfg, todo, prepared, root, say)
        for r in outcomes:
            summary["computed"] += 1
            if r["status"] == "failed":
                summary["failed"] += 1
                summary["failures"].append({"cell": r["cell"], "error": r["error"]})
            bar.advance()
            eta = f" [{bar.done}/{bar.total}, ETA {_dt.timedelta(seconds=round(bar.seconds_left() or 0))}]"
            say(
                f"done   {r['cell']} ({r['seconds']:.1f} s){eta}"
                if r["status"] == "done"
                else f"FAILED {r['cell']}: {r['error']}{eta}"
            )
            rows[r["cell"]] = cell_row(root / r["cell"], by_name[r["cell"]])
            write_results(root, cells, rows)
    write_results(root, cells, rows)
    return summary


def _run_local(cfg: RunConfig, todo: list[Cell], prepared: dict, root: Path, log: Callable[[str], None]):
    """The outcomes of execute_cell for each cell of todo, in order, each announced by a `start` line."""
    for c in todo:
        log(f"start  {c.name}")
        yield execute_cell(cfg, c, prepared[c.dataset], root / c.name)


#: The ablated fit against the full built dictionary (symcli.fit.lasso_fit.ablation_report); None in full fits.
ABLATION_KEYS = ("certificate_full_dictionary", "gap_to_full_dictionary")


def cell_row(folder: Path, cell: Cell, known: tuple[str, dict] | None = None) -> dict:
    """One results.parquet row: the cell, its status, headline metrics and symmetry summaries. known: the
    folder's read_status, when already read."""
    state, status = known or read_status(folder)
    row = {**cell.model_dump(), "cell": cell.name, "status": state, "error": None}
    if state in ("failed", "damaged"):
        row["error"] = status.get("error") or status.get("problem")
    if state != "done":
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
        "test_score",
        "test_spearman",
        "test_mse",
        "time_s",
        "cell_s",
        "build_s",
        "solve_s",
        "refine_rounds",
        "objective_before_refine",
        "reflection_share_min",
        "reflection_share_max",
        "objective_depth2",
        "depth_gain",
        "depth_gain_proven",
    ):
        row[k] = m.get(k)
    sym = m["symmetry"]["lasso"]
    for fam, v in sym["families"].items():
        row[f"share_{fam}"] = v["mass_share"]
    for lvl, v in sym["nesting"].items():
        row[f"share_level{lvl}"] = v["mass_share"]
    row["mean_E_H"] = sym["mean_E_H"]
    row.update({k: (m.get("baselines") or {}).get(k) for k in BASELINE_SCORES})
    row.update(flatten(m.get("nulls") or {}, m.get("nulls_shuffled")))
    row.update({k: (m.get("ablation") or {}).get(k) for k in ABLATION_KEYS})
    nets = m.get("nets") or []
    if nets:
        ratios = [r["ratio_to_lasso"] for r in nets]
        row.update(
            nets_width=nets[0].get("width"),
            nets_min_ratio=min(ratios),
            nets_median_ratio=float(np.median(ratios)),
            nets_contradictions=len(m.get("contradictions", [])),
            nets_test_accuracy=_mean_of(nets, "test_accuracy"),
            nets_test_score=_mean_of(nets, "test_score"),
            nets_time_s=float(sum(r["time_s"] for r in nets)),
        )
    base = m.get("baseline") or []
    if base:
        row["baseline_test_accuracy"] = _mean_of(base, "test_accuracy")
        row["baseline_test_score"] = _mean_of(base, "test_score")
    return row


def _mean_of(records: list[dict], key: str) -> float | None:
    vals = [r[key] for r in records if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def write_results(root: Path, cells: list[Cell], rows: dict[str, dict] | None = None) -> Path:
    """Rebuild results.parquet from the cell folders (atomic). rows: cell rows already read, by cell name
    (filled in with the others, so each folder is read and verified once per run)."""
    import io

    import pandas as pd

    rows = {} if rows is None else rows
    for c in cells:
        if c.name not in rows and (root / c.name).is_dir():
            rows[c.name] = cell_row(root / c.name, c)
    rows = [rows[c.name] for c in cells if c.name in rows]
    buf = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buf, index=False)
    path = root / "results.parquet"
    atomic_write_bytes(path, buf.getvalue())
    return path
