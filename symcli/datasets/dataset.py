"""One dataset, resolved once from its id and passed on: every stage (download, embed, a run's cells, the report)
takes the Dataset, and no other module parses an id.

Ids: a registered name (imdb, glue/<task>, or the task alone: sst2), `hf:[OWNER/]NAME[:CONFIG]` or `file:PATH`
(symcli.datasets.ids). A Dataset knows its canonical id, its folder under raw/ and embeddings/, its spec (the
registry's, or for a custom id the one its download recorded), its manifest (read once with the sha256 of its
bytes) and split files (each read checked against the manifest's sha256), and the column options of its last
download; the registry's split_plan and target_line take its spec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from symcli.core.errors import UserError
from symcli.core.paths import data_dir, sha256_bytes, sha256_file
from symcli.datasets.ids import FORMS, CustomId, is_custom, parse_custom, parse_split_map
from symcli.datasets.registry import REGISTRY, DatasetSpec
from symcli.datasets.rows import limit_rows

OPTION_KEYS = ("text_column", "label_column", "text_pair_column", "split_map", "revision")


@dataclass(frozen=True)
class Dataset:
    """A resolved dataset id. registered: the registry entry (None for hf:/file: ids); custom: the parsed
    custom id (None for registered names). Files are looked up under $SYMCLI_DATA_DIR when asked for."""

    id: str  # canonical: 'imdb', 'glue/sst2', 'hf:owner/name[:config]', 'file:/abs/path.csv'
    folder: str  # relative folder under raw/ and embeddings/: 'glue/sst2', 'hf/owner__name', 'file/x-1a2b3c4d'
    registered: DatasetSpec | None = None
    custom: CustomId | None = None

    def __str__(self) -> str:
        return self.id

    @property
    def is_custom(self) -> bool:
        return self.custom is not None

    @property
    def slug(self) -> str:
        """The folder as one path component, for results cell names: 'glue-sst2', 'hf-owner__name'."""
        return self.folder.replace("/", "-")

    @property
    def raw_dir(self) -> Path:
        """$SYMCLI_DATA_DIR/raw/<folder>: the downloaded splits and manifest.json."""
        return data_dir() / "raw" / self.folder

    @property
    def embeddings_root(self) -> Path:
        """$SYMCLI_DATA_DIR/embeddings/<folder>: one subfolder per embedding key."""
        return data_dir() / "embeddings" / self.folder

    @property
    def manifest_path(self) -> Path:
        return self.raw_dir / "manifest.json"

    @property
    def download_hint(self) -> str:
        """The command that downloads this dataset (custom ids need their column options)."""
        return f"symcli download {self.id}" + (" --text-column COL --label-column COL" if self.is_custom else "")

    # ------------------------------------------------------------------------------------ what was downloaded

    def read_manifest(self) -> tuple[dict, str]:
        """The manifest of the download and the sha256 of the very bytes it was parsed from, in one read (UserError
        when not downloaded or unreadable)."""
        path = self.manifest_path
        if not path.is_file():
            raise UserError(f"{self.id} is not downloaded under {path.parent}; run `{self.download_hint}` first")
        data = path.read_bytes()
        try:
            manifest = json.loads(data)
            manifest["splits"].items()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"{path} is damaged (not a manifest); run `{self.download_hint}` again") from None
        return manifest, sha256_bytes(data)

    def manifest(self) -> dict:
        """The manifest of the download (read_manifest without its sha256)."""
        return self.read_manifest()[0]

    def spec(self, manifest: dict | None = None) -> DatasetSpec:
        """The registry entry, or for a custom id the spec its download recorded (columns, label names, splits):
        from `manifest` when the caller has read it, else read now."""
        if self.registered is not None:
            return self.registered
        cid, m = self.custom, manifest or self.manifest()
        try:
            cols, names = m["columns"], m["label_names"]
            if m["dataset"] != cid.id:
                raise UserError(f"{self.raw_dir} holds {m['dataset']}, not {cid.id}; move it aside and download again")
            return DatasetSpec(
                name=cid.id,
                repo_id=cid.repo_id or str(cid.path),
                config=cid.config or "",
                revision=m["source"].get("revision") or "",
                splits=tuple(m["splits"]),
                text_field=cols["text"],
                pair_field=cols.get("text_pair"),
                label_names=None if names is None else tuple(names[str(i)] for i in range(len(names))),
                folder=cid.folder,
                label_field=cols["label"],
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            damaged = f"{self.manifest_path} is damaged (not a manifest)"
            raise UserError(f"{damaged}; run `{self.download_hint}` again") from None

    def problems(self) -> list[str]:
        """What is wrong with the download: ['not downloaded'], damaged files (sha256 differing from the
        manifest), or [] when every split file is intact."""
        if not self.manifest_path.is_file():
            return ["not downloaded"]
        try:
            manifest = self.manifest()
        except UserError as e:
            return [str(e)]
        out = []
        for info in manifest["splits"].values():
            path = self.raw_dir / info["file"]
            if not path.is_file() or sha256_file(path) != info["sha256"]:
                out.append(f"{path} is missing or damaged (its sha256 differs from the manifest)")
        return out

    def load_split(self, split: str, manifest: dict | None = None):
        """The common-schema pyarrow table of one downloaded split (text, text_pair, label, idx), its bytes checked
        against the sha256 of `manifest` (read now when None; UserError when missing or damaged)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        info = (manifest or self.manifest())["splits"].get(split)
        path = self.raw_dir / f"{split}.parquet"
        if info is None or not path.is_file():
            raise UserError(f"no split {split!r} of {self.id} under {path.parent}")
        data = path.read_bytes()
        if sha256_bytes(data) != info["sha256"]:
            damaged = f"{path} is damaged (its sha256 differs from the manifest)"
            raise UserError(f"{damaged}; run `{self.download_hint}` again")
        return pq.ParquetFile(pa.BufferReader(data)).read()

    def load_splits(self, limit: int | None = None, seed: int = 0, manifest: dict | None = None) -> dict:
        """{split: table} of every split of `manifest` (read now when None) in its order, each read by load_split
        against it and cut to at most `limit` rows (label-stratified with `seed`; None keeps every row)."""
        manifest = manifest or self.manifest()
        return {split: limit_rows(self.load_split(split, manifest), limit, seed) for split in manifest["splits"]}

    # --------------------------------------------------------------------------------- custom column options

    def recorded_options(self) -> dict | None:
        """The column options of a custom dataset's download (from its manifest), or None when there is none."""
        try:
            m = json.loads(self.manifest_path.read_text())
            return {k: m["options"][k] for k in OPTION_KEYS}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def options_changed(self, options: dict) -> bool:
        """True when the download was written with other column options than `options`."""
        old = self.recorded_options()
        new = {k: options.get(k) for k in OPTION_KEYS} | {"split_map": parse_split_map(options.get("split_map"))}
        return old is not None and old != new


def resolve(dataset: str | Dataset) -> Dataset:
    """The Dataset of an id ('imdb', 'glue/sst2', 'SST2', 'hf:owner/name', 'file:./x.csv'); a Dataset is returned
    as it is. Reads no file. UserError for unknown names and malformed ids, naming the accepted forms."""
    if isinstance(dataset, Dataset):
        return dataset
    if is_custom(dataset):
        cid = parse_custom(dataset)
        return Dataset(cid.id, cid.folder, custom=cid)
    name = str(dataset).strip().lower()
    spec = REGISTRY.get(name) or REGISTRY.get(f"glue/{name}")
    if spec is None:
        raise UserError(f"unknown dataset {dataset!r}; choose one of: {', '.join(REGISTRY)}, or {FORMS}")
    return Dataset(spec.name, spec.name, registered=spec)
