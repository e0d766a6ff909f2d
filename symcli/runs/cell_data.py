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
from typing import TYPE_CHECKING

import numpy as np

from symcli.core.errors import UserError
from symcli.core.paths import sha256_bytes
from symcli.datasets.dataset import Dataset, resolve
from symcli.datasets.registry import split_plan, target_line, targets
from symcli.runs.config import Cell, RunConfig

if TYPE_CHECKING:
    from symcli.fit.problem import Problem
    from symcli.projections import Projection


def _mirror(cfg: RunConfig) -> str | None:
    return cfg.mirror or os.environ.get("SYMCLI_MIRROR") or None


@dataclass(frozen=True)
class Prepared:
    """A dataset's embeddings as a run planned them: the dataset, the folder and the sha256 of each array file
    in it."""

    dataset: Dataset
    folder: Path
    sha256: dict[str, str]


def prepare_dataset(cfg: RunConfig, dataset: str | Dataset, log: Callable[[str], None]) -> Prepared:
    """Download (unless already there and intact) and embed (cached) one dataset; returns its embeddings."""
    from symcli.datasets.custom import download_any
    from symcli.embeddings.embed import embed_dataset

    ds = resolve(dataset)
    options = cfg.datasets[ds.id].model_dump() if ds.id in cfg.datasets else None
    problems = ds.problems()
    if not problems and options is not None and ds.options_changed(options):
        problems = ["its column options in the config changed"]
    if problems:
        log(f"downloading {ds.id}" + ("" if problems == ["not downloaded"] else f" again ({problems[0]})"))
        download_any(ds, mirror=_mirror(cfg), limit=cfg.download_limit, log=log, options=options)
    e = cfg.embedding
    summary = embed_dataset(
        ds,
        model=e.model,
        device=e.device,
        batch_size=e.batch_size,
        max_length=e.max_length,
        limit=e.limit,
        pooling=e.pooling,
        log=log,
    )
    log(f"embedded {ds.id}: {summary['texts']} texts ({summary['embedded']} new) on {summary['device']}")
    folder = Path(summary["output"])
    meta = json.loads((folder / "meta.json").read_text())
    sums = {f: h for sp in meta["splits"].values() for f, h in sp["files_sha256"].items()}
    return Prepared(ds, folder, {**sums, "meta.json": sha256_bytes((folder / "meta.json").read_bytes())})


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


@dataclass(frozen=True)
class CellData:
    """What one cell fits on. problem: projected training rows X (n_train, d) and +-1/float targets y, and the
    projected held-out rows (or None); projection: the map fitted on the training rows; texts: the text of each
    training row; facts: the data facts recorded in metrics.json; E_train (n_train, D) and E_test (n_test, D)
    or None: the full float64 embeddings of the training and held-out rows."""

    problem: Problem
    projection: Projection
    texts: list[str]
    facts: dict
    E_train: np.ndarray
    E_test: np.ndarray | None


def load_cell_data(cfg: RunConfig, cell: Cell, prep: Prepared) -> CellData:
    """Seeded label-stratified train/test subsets of the embeddings, projected by a map fitted on the
    training subset only; every file read is checked against the sha256 the run planned with.

    Training rows come from the train split (n_train rows, seed cell.seed) and held-out rows (n_test, seed
    cell.seed + 1) from the first labelled split of validation, validation_matched, test. Without a train split
    (qnli, qqp, mnli from the mirror) both come from the labelled validation split, disjoint; without a
    labelled held-out split, the held-out rows are the train rows not used for training."""
    from symcli.datasets.rows import stratified_subset
    from symcli.fit.problem import Problem
    from symcli.projections import Projection

    ds = prep.dataset
    if ds.id != cell.dataset:
        raise UserError(f"cell {cell.name} is of {cell.dataset}, not of the prepared {ds.id}")
    meta = json.loads(_verified(prep, "meta.json"))
    manifest, manifest_sha256 = ds.read_manifest()
    if manifest_sha256 != meta["data_manifest_sha256"]:
        raise UserError(
            f"the raw data of {ds.id} changed since it was embedded (downloaded again?); "
            "run again to re-embed and recompute this cell"
        )
    spec = ds.spec(manifest)
    task = manifest["task"]
    n_classes = None if spec.is_regression else len(spec.label_names)
    splits = meta["splits"]
    try:
        plan = split_plan(spec, splits)
    except UserError as e:
        raise UserError(f"{e} in {prep.folder}") from None
    table = ds.load_split(plan.train, manifest)  # the texts of the training rows
    used: dict[str, str] = {}

    def split_arrays(split: str):
        out = []
        for kind in ("file", "labels_file", "idx_file"):
            name = splits[split][kind]
            used[name] = prep.sha256[name]
            out.append(np.load(io.BytesIO(_verified(prep, name)), allow_pickle=False))
        return out[0].astype(np.float64), out[1], out[2]

    def labelled(labels: np.ndarray) -> np.ndarray:  # hub GLUE test labels are -1
        return labels >= 0 if task != "regression" else np.ones(len(labels), bool)

    E, lab, idx = split_arrays(plan.train)
    pool = np.flatnonzero(labelled(lab)) if plan.from_train_source else np.arange(len(E))
    if cell.n_train > len(pool):
        rows_of = f"labelled {plan.train} rows" if plan.from_train_source else "embedded training rows"
        raise UserError(
            f"n_train {cell.n_train} > {len(pool)} {rows_of} of {cell.dataset}; raise embedding.limit or lower n_train"
        )
    rows = np.sort(pool[stratified_subset(lab[pool], cell.n_train, cell.seed)])
    E_train, y_train = E[rows], targets(lab[rows], task, n_classes)
    proj = Projection(
        kind=cell.projection,
        dim=None if cell.projection == "none" else cell.dim,
        standardize=cfg.fit.standardize,
        seed=cell.seed,
    )
    proj = proj.fit(E_train, y=y_train) if cell.projection == "pls" else proj.fit(E_train)
    X_test = y_test = E_test = None
    if plan.held_out is not None:
        Et, labt, _ = split_arrays(plan.held_out)
        keep = labelled(labt)
        test_split = plan.held_out
    else:  # held-out rows from the training split, disjoint from the training rows
        Et, labt = E, lab
        keep = labelled(lab)
        keep[rows] = False
        test_split = (
            f"{plan.train} (held-out rows, disjoint from training)"
            if plan.from_train_source
            else "train (held-out rows)"
        )
    Et, labt = Et[keep], labt[keep]
    if len(Et):
        trows = np.sort(stratified_subset(labt, min(cfg.fit.n_test, len(Et)), cell.seed + 1))
        E_test = Et[trows]
        X_test, y_test = proj.transform(E_test), targets(labt[trows], task, n_classes)
    by_idx = dict(zip(table["idx"].to_pylist(), table["text"].to_pylist(), strict=True))
    texts = [by_idx.get(int(i), "") for i in idx[rows]]
    facts = {
        "dataset": cell.dataset,
        "task": task,
        "target": target_line(spec),
        "train_split": plan.train,
        "test_split": test_split,
        "train_rows": [int(i) for i in idx[rows]],
        "embedding": {
            k: meta.get(k)
            for k in ("model", "revision", "pooling", "max_length", "precision", "device", "dim", "source", "limit")
        }
        | {"folder": prep.folder.name, "sha256": used, "data_manifest_sha256": meta["data_manifest_sha256"]},
    }
    problem = Problem(proj.transform(E_train), y_train, X_test, y_test)
    return CellData(problem, proj, texts, facts, E_train, E_test)
