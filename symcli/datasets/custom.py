"""Download of custom datasets through the Hugging Face `datasets` library into the raw schema of
symcli.datasets.download.

Ids (symcli.datasets.ids): ``hf:[OWNER/]NAME[:CONFIG]`` is any hub dataset, loaded by datasets.load_dataset_builder
at ``--revision`` (default: the main branch; the commit it resolves to is recorded), in the library's cache
(``$HF_DATASETS_CACHE``, else ``$HF_HOME/datasets``). ``file:PATH`` is a local .csv, .tsv, .jsonl/.json or .parquet
file (datasets' generic csv/json/parquet loaders; one split, train), a folder of such files (splits from the file
names, e.g. train.csv and test.csv) or a folder written by save_to_disk (load_from_disk).

Columns: --text-column (and --text-pair-column) must hold text, --label-column integers, strings or floats.
Labels: a ClassLabel feature keeps its ids and names; integers 0..K-1 stay as they are (-1: no label); strings
and other integers map to 0..K-1 in sorted order (the mapping is recorded); floats are a regression target.
Splits: train, validation and test as the source names them, or as --split-map train=SRC[,validation=SRC]
[,test=SRC] says; train is required. Offline (HF_HUB_OFFLINE=1 or no answer from the hub within 1.5 s), an
hf: id loads from the datasets cache or stops at once naming the way out. Writes go to a staging folder that
replaces raw/<folder>/ only when complete (symcli.datasets.download).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from symcli.core.errors import UserError
from symcli.core.paths import sha256_file
from symcli.datasets.dataset import OPTION_KEYS, Dataset, resolve
from symcli.datasets.download import _normalise, hub_offline_reason, write_raw
from symcli.datasets.download import download as download_registered
from symcli.datasets.ids import SPLITS, CustomId, parse_split_map
from symcli.datasets.registry import DatasetSpec
from symcli.datasets.rows import column_array

FORMATS = {".csv": ("csv", {}), ".tsv": ("csv", {"sep": "\t"}), ".jsonl": ("json", {}), ".json": ("json", {})}
FORMATS |= {".ndjson": ("json", {}), ".parquet": ("parquet", {})}
_HEX = re.compile(r"[0-9a-f]{7,40}")
TRUE = ("1", "true", "yes", "on")


def download_any(
    dataset: str | Dataset,
    mirror: str | Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    options: dict | None = None,
) -> dict:
    """symcli.datasets.download.download for registered datasets; download_custom for hf:/file: ids, with
    `options` (keys of OPTION_KEYS) or, when None, the options of its last download."""
    ds = resolve(dataset)
    if not ds.is_custom:
        if options and any(v is not None for v in options.values()):
            given = ", ".join(f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None)
            raise UserError(f"{given}: only for hf:... and file:... datasets; the columns of {ds.id} are fixed")
        return download_registered(ds, mirror=mirror, limit=limit, seed=seed, log=log)
    if options is None:
        options = ds.recorded_options()
    if not options or not options.get("text_column") or not options.get("label_column"):
        raise UserError(
            f"{ds.id} needs --text-column COL and --label-column COL (in a run config: datasets: "
            f"{{{ds.id!r}: {{text_column: COL, label_column: COL}}}})"
        )
    return download_custom(ds, limit=limit, seed=seed, log=log, **{k: options.get(k) for k in OPTION_KEYS})


# ---------------------------------------------------------------------------------------------- loading


def datasets_cache_dir() -> Path:
    """The `datasets` cache, read from the environment now: $HF_DATASETS_CACHE, else $HF_HOME/datasets."""
    if os.environ.get("HF_DATASETS_CACHE"):
        return Path(os.environ["HF_DATASETS_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "datasets"


def _cached_folder(repo_id: str) -> str:
    """The folder name the datasets cache keeps a hub dataset under (datasets.naming.camelcase_to_snakecase)."""
    *owner, name = repo_id.split("/")
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)).lower()
    return "___".join([*owner, name])


@contextlib.contextmanager
def _library(offline: bool, bars: bool = False) -> Iterator:
    """datasets and huggingface_hub set offline (or online) for this call, quiet (no warnings, logs or, unless
    `bars`, progress bars); their settings are restored after."""
    import datasets
    import datasets.config as dconfig
    import huggingface_hub.constants as hconst
    from datasets.utils import logging as dlogging

    bars_off = datasets.are_progress_bars_disabled()
    saved = (dconfig.HF_HUB_OFFLINE, hconst.HF_HUB_OFFLINE, dlogging.get_verbosity(), bars_off)
    dconfig.HF_HUB_OFFLINE = hconst.HF_HUB_OFFLINE = offline
    dlogging.set_verbosity(dlogging.CRITICAL)
    (datasets.enable_progress_bars if bars else datasets.disable_progress_bars)()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield datasets
    finally:
        dconfig.HF_HUB_OFFLINE, hconst.HF_HUB_OFFLINE = saved[0], saved[1]
        dlogging.set_verbosity(saved[2])
        (datasets.disable_progress_bars if saved[3] else datasets.enable_progress_bars)()


def _why(e: Exception) -> str:
    """One line: the error and, when it wraps another, the cause."""
    text = f"{e.__class__.__name__}: {e}"
    if e.__cause__ is not None and str(e.__cause__) not in text:
        text += f" ({e.__cause__.__class__.__name__}: {e.__cause__})"
    return " ".join(text.split())[:500]


def _built(builder) -> dict:
    """{split: Dataset, or None for an empty split} of a builder, prepared now."""
    builder.download_and_prepare()
    splits = builder.info.splits or {}
    empty = {name: None for name, info in splits.items() if info.num_examples == 0}
    full = [name for name in splits if name not in empty]
    return dict(zip(full, builder.as_dataset(split=full), strict=True)) | empty if full else empty


def _offline_reason() -> str | None:
    """Why the hub is not used (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE set, or no answer within 1.5 s), or None."""
    hub_flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE
    if not hub_flag and os.environ.get("HF_DATASETS_OFFLINE", "").strip().lower() in TRUE:
        return "HF_DATASETS_OFFLINE is set"
    return hub_offline_reason()


def _load_hub(cid: CustomId, revision: str | None, log) -> tuple[dict, dict, dict]:
    """({source split: Dataset}, source, {source split: [source file]}) of an hf: id, from the hub when it
    answers, else from the datasets cache (UserError at once when the cache does not hold it)."""
    cache = datasets_cache_dir()
    reason = _offline_reason()
    if reason and not (cache / _cached_folder(cid.repo_id)).is_dir():
        raise UserError(
            f"cannot reach the Hugging Face hub ({reason}) and {cid.id} is not in the datasets cache ({cache}); "
            "download it once with the hub reachable (the cache then serves it offline), or save it with "
            "save_to_disk and pass file:DIR"
        )
    with _library(offline=bool(reason), bars=not reason) as datasets:
        try:
            builder = datasets.load_dataset_builder(
                cid.repo_id, name=cid.config, revision=None if reason else revision, cache_dir=str(cache)
            )
            tables = _built(builder)
        except Exception as e:  # the library's errors have no common base: each becomes one line
            where = "the datasets cache" if reason else "the hub"
            raise UserError(f"cannot load {cid.id} from {where}: {_why(e)}") from None
        version = datasets.__version__
    resolved = builder.hash if isinstance(builder.hash, str) else None
    if reason and revision and resolved:
        if _HEX.fullmatch(revision.lower()) and not resolved.startswith(revision.lower()):
            raise UserError(
                f"the datasets cache holds {cid.id} at revision {resolved[:10]}, not {revision}, and the hub is "
                f"unreachable ({reason}); reach the hub or drop --revision"
            )
        if not _HEX.fullmatch(revision.lower()) and log:
            log(f"note: no hub ({reason}); using the cached revision {resolved[:10]} of {cid.id} for {revision}")
    source = {
        "kind": "hub",
        "via": f"datasets=={version}",
        "repo_id": cid.repo_id,
        "config": builder.config.name,
        "revision": resolved,
        "requested_revision": revision,
        "from_cache": bool(reason),
    }
    files = builder.config.data_files or {}
    return tables, source, {s: [{"path": str(f), "sha256": None} for f in files.get(s, [])] for s in tables}


def _load_file(cid: CustomId, tmp: Path) -> tuple[dict, dict, dict]:
    """({source split: Dataset}, source, {source split: [source file]}) of a file: id; the library's cache goes
    to `tmp` (local files need no cache)."""
    path = cid.path
    saved = path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file())
    if not path.exists():
        raise UserError(f"{cid.id}: no such file or folder")
    if path.is_file() and path.suffix.lower() not in FORMATS:
        raise UserError(f"{cid.id}: unknown file type {path.suffix or '(none)'}; use {', '.join(FORMATS)} files")
    with _library(offline=True) as datasets:
        try:
            if saved:
                loaded = datasets.load_from_disk(str(path))
                tables = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
                kind, files = "save_to_disk", {s: [c["filename"] for c in d.cache_files] for s, d in tables.items()}
            else:
                if path.is_dir():
                    kind, builder = "folder", datasets.load_dataset_builder(str(path), cache_dir=str(tmp))
                else:
                    kind, kw = FORMATS[path.suffix.lower()]
                    data_files = {"train": str(path)}
                    builder = datasets.load_dataset_builder(kind, data_files=data_files, cache_dir=str(tmp), **kw)
                tables = _built(builder)
                files = {s: [str(f) for f in builder.config.data_files.get(s, [])] for s in tables}
        except Exception as e:  # the library's errors have no common base: each becomes one line
            raise UserError(f"cannot load {cid.id}: {_why(e)}") from None
    base = path if path.is_dir() else path.parent
    source = {"kind": "file", "path": str(path), "format": kind, "revision": None}
    return tables, source, {s: [_file_entry(Path(f), base) for f in fs] for s, fs in files.items()}


def _file_entry(path: Path, base: Path) -> dict:
    local = path if path.is_absolute() else base / path
    rel = os.path.relpath(local, base) if local.is_relative_to(base) else str(local)
    return {"path": rel, "sha256": sha256_file(local) if local.is_file() else None}


# ------------------------------------------------------------------------------------- columns and labels


def _arrow(ds):
    """A Dataset's rows as one pyarrow table (its indices mapping applied)."""
    return ds.with_format("arrow")[:]


def _check_columns(cid: CustomId, tables: dict, cols: dict) -> None:
    """Every named column is in every split; text columns hold text (one line naming the first problem)."""
    import pyarrow as pa

    used = [c for c in cols.values() if c is not None]
    if len(set(used)) != len(used):
        raise UserError(f"{cid.id}: the text, text pair and label columns must be different columns")
    for split, table in tables.items():
        for role, col in cols.items():
            if col is None:
                continue
            if col not in table.column_names:
                option = f"--{role.replace('_', '-')}-column"
                raise UserError(
                    f"{cid.id} has no column {col!r} ({option}) in split {split}; "
                    f"its columns: {', '.join(table.column_names)}"
                )
            if role == "label":
                continue
            t = table.schema.field(col).type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
                raise UserError(f"{cid.id}: column {col!r} (--{role.replace('_', '-')}-column) is {t}, not text")
            if table[col].null_count:
                raise UserError(f"{cid.id}: {table[col].null_count} rows of split {split} have no {col!r}")


def _label_plan(cid: CustomId, tables: dict, col: str, features: dict) -> tuple[str, list | None, dict | None]:
    """('classlabel'|'ints'|'mapped'|'regression', label names (None: regression), mapping {source: id} or None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    feature = features.get(col)
    if feature is not None and feature.__class__.__name__ == "ClassLabel":
        return "classlabel", list(feature.names), None
    types = {tables[s].schema.field(col).type for s in tables} - {pa.null()}
    if not types:
        raise UserError(f"{cid.id}: the label column {col!r} holds no labels")
    if all(pa.types.is_floating(t) for t in types):
        return "regression", None, None
    if all(pa.types.is_boolean(t) for t in types):
        return "mapped", ["false", "true"], {"0": 0, "1": 1}
    if all(pa.types.is_integer(t) for t in types):
        values = sorted({v for s in tables for v in pc.unique(tables[s][col].cast(pa.int64())).to_pylist()} - {None})
        if values and set(values) - {-1} == set(range(values[-1] + 1)):
            return "ints", [str(v) for v in range(values[-1] + 1)], None
    elif all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in types):
        values = sorted({v for s in tables for v in pc.unique(tables[s][col]).to_pylist()} - {None})
    else:
        shown = ", ".join(sorted(map(str, types)))
        raise UserError(f"{cid.id}: the label column {col!r} is {shown}; labels must be integers, strings or floats")
    return "mapped", [str(v) for v in values], {str(v): i for v, i in zip(values, range(len(values)), strict=True)}


def _labels(table, col: str, kind: str, mapping: dict | None, where: str):
    """The label column as the raw schema holds it: int64 ids (-1: no label) or float32 (regression)."""
    import pyarrow as pa

    raw = table[col]
    if kind == "regression":
        y = np.asarray(raw.cast(pa.float64()).to_pylist(), dtype=object)
        missing = int(sum(v is None or v != v for v in y))
        if missing:
            raise UserError(f"{where}: {missing} rows have no label (a regression label is a number on every row)")
        return pa.array(y.astype(np.float32))
    if kind != "mapped":
        return pa.array([-1 if v is None else int(v) for v in raw.cast(pa.int64()).to_pylist()], pa.int64())
    keys = raw.cast(pa.int64()) if pa.types.is_boolean(raw.type) else raw
    return pa.array([-1 if v is None else mapping[str(v)] for v in keys.to_pylist()], pa.int64())


def _check_spread(cid: CustomId, table, split: str, col: str, names: list | None) -> None:
    """The training split holds at least two different labels (a constant target teaches nothing)."""
    labels = column_array(table, "label")
    if names is not None:
        labels = labels[labels >= 0]
        if len(labels) == 0:
            raise UserError(f"{cid.id}: split {split} has no labelled rows in {col!r}")
    if len(np.unique(labels)) < 2:
        value = names[int(labels[0])] if names is not None else f"{float(labels[0]):g}"
        raise UserError(f"{cid.id}: every label of {col!r} in split {split} is {value!r}; a fit needs two or more")


# ------------------------------------------------------------------------------------------------ download


def download_custom(
    dataset: str | Dataset,
    text_column: str,
    label_column: str,
    text_pair_column: str | None = None,
    split_map: str | dict | None = None,
    revision: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Load an hf: or file: dataset through `datasets`, check its columns and labels, and write every mapped
    split to raw/<folder>/<split>.parquet in the raw schema with manifest.json; returns the manifest."""
    ds = resolve(dataset)
    cid = ds.custom
    if cid is None:
        raise UserError(f"{ds.id} is a registered dataset: download it with `{ds.download_hint}`")
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be a positive number of rows, got {limit}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    if revision is not None and cid.kind != "hf":
        raise UserError(f"--revision applies to hf: datasets; {cid.id} is a local file")
    wanted = parse_split_map(split_map)
    cols = {"text": text_column, "text_pair": text_pair_column, "label": label_column}
    with tempfile.TemporaryDirectory(prefix="symcli-datasets-") as tmp:
        if cid.kind == "hf":
            loaded, source, source_files = _load_hub(cid, revision, log)
        else:
            loaded, source, source_files = _load_file(cid, Path(tmp))
        present = list(loaded)
        chosen = {s: (wanted or {k: k for k in loaded})[s] for s in SPLITS if s in (wanted or loaded)}
        if "train" not in chosen:
            raise UserError(
                f"{cid.id} has no split named train (has {', '.join(present)}); pass --split-map train=SPLIT"
                "[,test=SPLIT] (split_map in a run config)"
            )
        absent = [src for src in chosen.values() if src not in loaded]
        if absent:
            raise UserError(f"{cid.id} has no split {absent[0]!r} (has {', '.join(present)})")
        empty = [f"split {s} ({src})" if s != src else f"split {s}" for s, src in chosen.items() if not loaded[src]]
        if empty:
            raise UserError(f"{empty[0]} of {cid.id} is empty (no rows)")
        features = dict(loaded[chosen["train"]].features)
        raw = {split: _arrow(loaded[src]) for split, src in chosen.items()}
        _check_columns(cid, raw, cols)
        kind, names, mapping = _label_plan(cid, raw, label_column, features)
        spec = _spec(cid, source, tuple(chosen), cols, names)
        tables = {}
        for split, table in raw.items():
            where = f"split {split} of {cid.id}"
            columns = {"text": table[text_column], "label": _labels(table, label_column, kind, mapping, where)}
            if text_pair_column:
                columns["text_pair"] = table[text_pair_column]
            tables[split] = _normalise(spec, _table(columns), where)
        _check_spread(cid, tables["train"], "train", label_column, names)
        record = {
            "dataset": cid.id,
            "source": source,
            "pinned": {"repo_id": spec.repo_id, "config": spec.config or None, "revision": source.get("revision")}
            if cid.kind == "hf"
            else None,  # a local file is pinned by the sha256 of its source_files
            "task": "regression" if names is None else "classification",
            "pair": spec.is_pair,
            "text_fields": [text_column] + ([text_pair_column] if text_pair_column else []),
            "columns": cols,
            "split_map": chosen,
            "label_kind": kind,
            "label_names": None if names is None else {str(i): n for i, n in enumerate(names)},
            "label_mapping": mapping,
            "options": {
                "text_column": text_column,
                "label_column": label_column,
                "text_pair_column": text_pair_column,
                "split_map": wanted,
                "revision": revision,
            },
        }
        files = {s: source_files.get(chosen[s], []) for s in tables}
        return write_raw(ds, spec, tables, record, [], files, limit, seed)


def _table(columns: dict):
    import pyarrow as pa

    return pa.table({k: v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v for k, v in columns.items()})


def _spec(cid: CustomId, source: dict, splits: tuple, cols: dict, names: list | None) -> DatasetSpec:
    return DatasetSpec(
        name=cid.id,
        repo_id=cid.repo_id or str(cid.path),
        config=source.get("config") or "",
        revision=source.get("revision") or "",
        splits=splits,
        text_field="text",
        pair_field="text_pair" if cols["text_pair"] else None,
        label_names=None if names is None else tuple(names),
        folder=cid.folder,
        label_field=cols["label"],
    )
