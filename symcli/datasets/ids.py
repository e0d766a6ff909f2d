"""Dataset ids beyond the registry: `hf:[OWNER/]NAME[:CONFIG]` (any Hugging Face hub dataset, through the
`datasets` library) and `file:PATH` (a local CSV, TSV, JSON Lines or parquet file, a folder of such files, or a
folder written by `datasets`' save_to_disk). Parsing only: no I/O, no imports of the data modules.

Each id has a canonical form (file paths made absolute) and a folder under raw/ and embeddings/ that is a safe
relative path: raw/hf/OWNER__NAME[__CONFIG] and raw/file/<stem>-<hash8> (hash8: sha256 of the absolute path).
symcli.datasets.dataset.resolve turns an id into a Dataset, whose slug (the folder, '/' -> '-') names cells.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from symcli.core.errors import UserError

HF_PREFIX, FILE_PREFIX = "hf:", "file:"
SPLITS = ("train", "validation", "test")  # the split names a custom dataset is written under
_HUB_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
FORMS = "hf:OWNER/NAME[:CONFIG] or file:PATH"


@dataclass(frozen=True)
class CustomId:
    """A parsed custom dataset id. kind 'hf': repo_id and config (None: the default one); kind 'file': path."""

    kind: str
    id: str  # canonical: 'hf:owner/name', 'hf:owner/name:config', 'file:/abs/path.csv'
    folder: str  # relative folder under raw/ and embeddings/: 'hf/owner__name__config', 'file/x-1a2b3c4d'
    repo_id: str | None = None
    config: str | None = None
    path: Path | None = None


def is_custom(dataset: str) -> bool:
    """True for ids of the forms hf:... and file:..."""
    return isinstance(dataset, str) and dataset.strip().lower().startswith((HF_PREFIX, FILE_PREFIX))


def parse_custom(dataset: str) -> CustomId:
    """The CustomId of `dataset` (UserError naming the accepted forms when it is malformed)."""
    text = dataset.strip()
    lowered = text.lower()
    if lowered.startswith(HF_PREFIX):
        rest = text[len(HF_PREFIX) :]
        repo, _, config = rest.partition(":")
        parts = repo.split("/")
        if not (1 <= len(parts) <= 2 and all(_HUB_PART.fullmatch(p) for p in parts)):
            raise UserError(f"dataset id {dataset!r}: expected hf:OWNER/NAME[:CONFIG] (letters, digits, '_', '.', '-')")
        if config and not _HUB_PART.fullmatch(config):
            raise UserError(f"dataset id {dataset!r}: the config {config!r} may hold letters, digits, '_', '.', '-'")
        canonical = f"{HF_PREFIX}{repo}" + (f":{config}" if config else "")
        folder = "hf/" + "__".join(parts + ([config] if config else []))
        return CustomId("hf", canonical, folder, repo_id=repo, config=config or None)
    if lowered.startswith(FILE_PREFIX):
        raw = text[len(FILE_PREFIX) :]
        if not raw:
            raise UserError(f"dataset id {dataset!r}: expected file:PATH (a .csv, .jsonl or .parquet file, a folder)")
        path = Path(raw).expanduser().resolve()
        stem = _UNSAFE.sub("_", path.stem if path.suffix else path.name).strip("._-")[:40] or "data"
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
        return CustomId("file", f"{FILE_PREFIX}{path}", f"file/{stem}-{digest}", path=path)
    raise UserError(f"dataset id {dataset!r} is neither {FORMS}")


def parse_split_map(value: str | dict | None) -> dict[str, str] | None:
    """{symcli split: source split} from 'train=train,test=validation' (or such a mapping); None stays None.
    symcli splits are train, validation and test; each appears at most once, and train is required."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",") if s.strip()]
        pairs = []
        for item in items:
            key, sep, source = (s.strip() for s in item.partition("="))
            if not sep or not key or not source:
                raise UserError(f"--split-map item {item!r} is not SPLIT=SOURCE_SPLIT (e.g. train=train,test=test)")
            pairs.append((key, source))
    elif isinstance(value, dict):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        raise UserError(f"split map must be SPLIT=SOURCE,... or a mapping, got {value!r}")
    keys = [k for k, _ in pairs]
    bad = [k for k in keys if k not in SPLITS]
    if bad:
        raise UserError(f"split map names {', '.join(map(repr, bad))}: the splits are {', '.join(SPLITS)}")
    if len(set(keys)) != len(keys):
        raise UserError(f"split map repeats a split ({', '.join(keys)})")
    if "train" not in keys:
        raise UserError("split map needs train=SOURCE_SPLIT (the split runs train on)")
    if any(not s for _, s in pairs):
        raise UserError("split map has an empty source split")
    return dict(pairs)
