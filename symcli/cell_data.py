"""What a grid cell reads: a dataset prepared for a run (downloaded, embedded, and planned: the sha256 of each
embeddings file) and, per cell, seeded label-stratified train/test subsets projected by a map fitted on the
training subset. A cell reads exactly the files its run planned with; anything else is refused."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symcli.config import Cell, RunConfig
from symcli.errors import UserError
from symcli.paths import sha256_bytes, sha256_file


def _mirror(cfg: RunConfig) -> str | None:
    return cfg.mirror or os.environ.get("SYMCLI_MIRROR") or None


@dataclass(frozen=True)
class Prepared:
    """A dataset's embeddings as a run planned them: the folder and the sha256 of each array file in it."""

    folder: Path
    sha256: dict[str, str]


def prepare_dataset(cfg: RunConfig, dataset: str, log: Callable[[str], None]) -> Prepared:
    """Download (unless already there and intact) and embed (cached) one dataset; returns its embeddings."""
    from symcli.data import download, raw_problems
    from symcli.embed import embed_dataset

    problems = raw_problems(dataset)
    if problems:
        log(f"downloading {dataset}" + ("" if problems == ["not downloaded"] else f" again ({problems[0]})"))
        download(dataset, mirror=_mirror(cfg), limit=cfg.download_limit, log=log)
    e = cfg.embedding
    summary = embed_dataset(
        dataset,
        model=e.model,
        device=e.device,
        batch_size=e.batch_size,
        max_length=e.max_length,
        limit=e.limit,
        pooling=e.pooling,
        log=log,
    )
    log(f"embedded {dataset}: {summary['texts']} texts ({summary['embedded']} new) on {summary['device']}")
    folder = Path(summary["output"])
    meta = json.loads((folder / "meta.json").read_text())
    sums = {f: h for sp in meta["splits"].values() for f, h in sp["files_sha256"].items()}
    return Prepared(folder, {**sums, "meta.json": sha256_bytes((folder / "meta.json").read_bytes())})


def _verified(prep: Prepared, name: str) -> bytes:
    """The bytes of one file of the planned embeddings, checked against the sha256 recorded when planned."""
    path = prep.folder / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    if name not in prep.sha256 or sha256_bytes(data) != prep.sha256[name]:
        raise UserError(
            f"{path} is not the file this run planned with (changed, replaced or damaged since); "
            "run again to re-embed and recompute this cell"
        )
    return data


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


def load_cell_data(cfg: RunConfig, cell: Cell, prep: Prepared):
    """Seeded label-stratified train/test subsets of the embeddings, projected by a map fitted on the
    training subset only; every file read is checked against the sha256 the run planned with.
    Returns (Problem, projection, texts of the training subset, facts)."""
    from symcli.data import load_manifest, load_split, raw_dir, stratified_subset
    from symcli.problem import Problem
    from symcli.project import Projection

    meta = json.loads(_verified(prep, "meta.json"))
    manifest = load_manifest(cell.dataset)
    if sha256_file(raw_dir(cell.dataset) / "manifest.json") != meta["data_manifest_sha256"]:
        raise UserError(
            f"the raw data of {cell.dataset} changed since it was embedded (downloaded again?); "
            "run again to re-embed and recompute this cell"
        )
    task = manifest["task"]
    splits = meta["splits"]
    if "train" not in splits:
        raise UserError(f"{cell.dataset} has no train split in {prep.folder}")
    test_split = _eval_split(splits)
    used: dict[str, str] = {}

    def split_arrays(split: str):
        out = []
        for kind in ("file", "labels_file", "idx_file"):
            name = splits[split][kind]
            used[name] = prep.sha256[name]
            out.append(np.load(io.BytesIO(_verified(prep, name)), allow_pickle=False))
        return out[0].astype(np.float64), out[1], out[2]

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
            for k in ("model", "revision", "pooling", "max_length", "precision", "device", "dim", "source", "limit")
        }
        | {"folder": prep.folder.name, "sha256": used, "data_manifest_sha256": meta["data_manifest_sha256"]},
    }
    return Problem(X, y, X_test, y_test), proj, texts, facts
