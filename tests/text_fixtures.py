"""Small text datasets in Hugging Face hub layout, written into a test's tmp_path (for download/embed tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = "good bad fine dull great awful plot actor scene music slow fast long short funny sad".split()


def sentence(i: int, n_words: int = 6) -> str:
    """A deterministic short sentence, different for each i."""
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n_words)) + f" #{i}"


def _write(path: Path, columns: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def write_imdb(mirror: Path, n_neg: int = 30, n_pos: int = 10, n_test: int = 12) -> None:
    """imdb/plain_text/{train,test}-00000-of-00001.parquet (text, label), label-sorted like the hub copy."""
    labels = [0] * n_neg + [1] * n_pos
    _write(
        mirror / "imdb" / "plain_text" / "train-00000-of-00001.parquet",
        {"text": [sentence(i, 5 + i % 7) for i in range(len(labels))], "label": pa.array(labels, pa.int64())},
    )
    _write(
        mirror / "imdb" / "plain_text" / "test-00000-of-00001.parquet",
        {
            "text": [sentence(1000 + i) for i in range(n_test)],
            "label": pa.array([i % 2 for i in range(n_test)], pa.int64()),
        },
    )


def write_glue_pair(mirror: Path, task: str = "mrpc", first: str = "sentence1", second: str = "sentence2") -> dict:
    """glue/<task>/{train,validation,test}-00000-of-00001.parquet with a pair of text columns, label, idx.

    Returns {split: rows}. Test labels are -1, as on the hub.
    """
    sizes = {"train": 24, "validation": 8, "test": 6}
    for split, n in sizes.items():
        off = {"train": 0, "validation": 500, "test": 900}[split]
        labels = [-1] * n if split == "test" else [i % 3 % 2 for i in range(n)]
        if task == "stsb":
            labels = [round(5.0 * i / max(n - 1, 1), 2) for i in range(n)]
        _write(
            mirror / "glue" / task / f"{split}-00000-of-00001.parquet",
            {
                first: [sentence(off + i) for i in range(n)],
                second: [sentence(off + i + 37, 4) for i in range(n)],
                "label": pa.array(labels, pa.float32() if task == "stsb" else pa.int64()),
                "idx": pa.array(range(n), pa.int32()),
            },
        )
    return sizes


def write_mnli(mirror: Path) -> None:
    """glue/mnli with train and both validation splits (matched, mismatched), premise/hypothesis, 3 classes."""
    for split, n in {"train": 12, "validation_matched": 6, "validation_mismatched": 5}.items():
        _write(
            mirror / "glue" / "mnli" / f"{split}-00000-of-00001.parquet",
            {
                "premise": [sentence(i) for i in range(n)],
                "hypothesis": [sentence(i + 50) for i in range(n)],
                "label": pa.array([i % 3 for i in range(n)], pa.int64()),
                "idx": pa.array(range(n), pa.int32()),
            },
        )


def symcli_cmd() -> list[str]:
    """The command line of the symcli entry point in this interpreter."""
    return [sys.executable, "-c", "from symcli.cli.app import main; main()"]


def run_symcli(args: list[str], env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run symcli in a subprocess with the current environment (plus env)."""
    full = {**os.environ, **(env or {})}
    return subprocess.run(symcli_cmd() + args, env=full, capture_output=True, text=True, timeout=timeout)
