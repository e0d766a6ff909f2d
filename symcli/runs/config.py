"""Experiment configs: validated YAML (unknown keys rejected by name), expanded into a grid of cells over
dataset x depth x dim x projection x n_train x beta x seed, and the ablation axes grid.families (feature
families of the dictionary), nets.activation and nets.width (of the trained networks). Custom datasets
(hf:..., file:...) in grid.dataset take their column options from the top-level `datasets:` mapping (or, when
absent, from their download)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from symcli.core.errors import UserError
from symcli.core.paths import check_run_name
from symcli.core.sizes import parse_bytes
from symcli.datasets.dataset import resolve
from symcli.datasets.ids import parse_split_map

#: A config file larger than this, or whose YAML expands to more nodes (aliases counted where they are
#: used), is refused before it is built: configs are a few kB, and an alias bomb would otherwise hang.
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_NODES = 100_000
#: Grids above this many cells are refused unless `symcli run --max-cells` raises the limit.
MAX_CELLS = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _distinct_axis(v: list) -> list:
    """A grid axis: not empty, no value twice (each cell must be distinct)."""
    if not v:
        raise ValueError("an axis of the grid cannot be empty")
    repeated = sorted({repr(x) for x in v if v.count(x) > 1})
    if repeated:
        raise ValueError(f"repeated value(s) {', '.join(repeated)}: each cell must be distinct")
    return v


class EmbeddingConfig(_Strict):
    """How texts become vectors (symcli embed)."""

    model: str = "all-MiniLM-L6-v2"
    pooling: Literal["model", "cls", "mean"] = "model"
    max_length: int | None = Field(default=128, ge=1)
    limit: int | None = Field(default=2000, ge=1, description="rows per split to embed (label-stratified)")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    batch_size: int | None = Field(default=None, ge=1)


class GridConfig(_Strict):
    """Each list is one axis of the grid; every combination is one cell."""

    dataset: list[str]
    depth: list[Literal[2, 3, 4]] = [2, 3]
    dim: list[int] = [2]
    projection: list[Literal["pca", "pls", "random", "sparse-sign", "none"]] = ["pca"]
    n_train: list[int] = [40]
    beta: list[float] = Field(default=[0.05], description="fractions of beta_max of each cell (see beta_mode)")
    seed: list[int] = [0]
    families: list[str] = Field(default=["all"], description="feature families: all, no-reflection, planes-only, ...")

    @field_validator("families")
    @classmethod
    def _families(cls, v: list[str]) -> list[str]:
        from symcli.lasso.features import family_set_name, parse_families

        return [family_set_name(parse_families(x)) for x in v]  # its ValueError names the choices

    @field_validator("dataset")
    @classmethod
    def _datasets(cls, v: list[str]) -> list[str]:
        # canonical names ('sst2' -> 'glue/sst2', file paths made absolute); unknown ones refused
        try:
            return [resolve(ds).id for ds in v]
        except UserError as e:
            raise ValueError(str(e)) from None

    @field_validator("dim", "n_train")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(x < 1 for x in v):
            raise ValueError("must be positive integers")
        return v

    @field_validator("seed")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if any(x < 0 for x in v):
            raise ValueError("seeds must be integers >= 0")
        return v

    @field_validator("beta")
    @classmethod
    def _beta(cls, v: list[float]) -> list[float]:
        if any(not (math.isfinite(x) and x > 0) for x in v):
            raise ValueError("beta values must be finite and > 0")
        return v

    @field_validator("dataset", "depth", "dim", "projection", "n_train", "beta", "seed", "families")
    @classmethod
    def _axis(cls, v: list) -> list:
        return _distinct_axis(v)

    def size(self) -> int:
        """Number of cells (the product of the axes' lengths), without expanding the grid."""
        return math.prod(len(getattr(self, k)) for k in GridConfig.model_fields)


class FitConfig(_Strict):
    """Options shared by every cell (those of `symcli fit`)."""

    beta_mode: Literal["fraction", "absolute"] = "fraction"
    n_test: int = Field(default=500, ge=1)
    directions: list[Literal["spanned", "axis", "grid", "random"]] = ["spanned"]
    n_directions: int | None = Field(default=None, ge=1)
    pins: Literal["paper", "all"] | None = None
    norm: Literal["l2", "l1"] = "l2"
    solver: Literal["fast", "cvxpy", "stream"] = "fast"
    refine: bool | None = None  # None: refine where the certificate is exact (see symcli.fit.lasso_fit.FitOptions)
    standardize: bool = False
    max_memory: str = "4GB"

    @field_validator("max_memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        try:
            parse_bytes(v)
        except UserError as e:
            raise ValueError(str(e)) from None
        return v


class NetsConfig(_Strict):
    """Networks trained beside each Lasso fit (count 0: none)."""

    count: int = Field(default=0, ge=0)
    optimizer: Literal["adam", "adamw", "lbfgs"] = "adam"
    epochs: int = Field(default=1000, ge=1)
    lr: float = Field(default=1e-2, gt=0)
    width: list[str | None] = Field(
        default=[None], description="units per net (40) or a multiple of the Lasso's nnz (4x); a list is a grid axis"
    )
    restarts: int = Field(default=1, ge=1)
    baseline: bool = False
    shuffled: bool = True  # as many nets on label-shuffled targets: the null of the nets' symmetry statistics
    device: Literal["auto", "cpu", "cuda"] = "auto"
    activation: list[Literal["abs", "relu", "srelu"]] = Field(
        default=["abs"], description="activation of the parallel nets; a list is a grid axis"
    )

    @field_validator("activation", mode="before")
    @classmethod
    def _activation(cls, v):
        return _distinct_axis(v if isinstance(v, list) else [v])

    @field_validator("width", mode="before")
    @classmethod
    def _width(cls, v):
        from symcli.fit.compare_nets import parse_width

        try:
            values = v if isinstance(v, list) else [v]
            return _distinct_axis([parse_width(x)[2] for x in values])
        except UserError as e:
            raise ValueError(str(e)) from None


class DatasetOptions(_Strict):
    """Column options of a custom dataset (those of `symcli download hf:...|file:...`)."""

    text_column: str = Field(min_length=1)
    label_column: str = Field(min_length=1)
    text_pair_column: str | None = Field(default=None, min_length=1)
    split_map: dict[str, str] | str | None = None
    revision: str | None = Field(default=None, min_length=1)

    @field_validator("split_map")
    @classmethod
    def _split_map(cls, v):
        try:
            return parse_split_map(v)
        except UserError as e:
            raise ValueError(str(e)) from None


class RunConfig(_Strict):
    """A whole experiment: where texts come from, how they are embedded, the grid, and the fit options."""

    name: str
    mirror: str | None = None
    download_limit: int | None = Field(default=None, ge=1)
    embedding: EmbeddingConfig = EmbeddingConfig()
    grid: GridConfig
    datasets: dict[str, DatasetOptions] = {}
    fit: FitConfig = FitConfig()
    nets: NetsConfig = NetsConfig()

    @field_validator("datasets")
    @classmethod
    def _dataset_options(cls, v: dict[str, DatasetOptions], info: ValidationInfo) -> dict[str, DatasetOptions]:
        out: dict[str, DatasetOptions] = {}
        grid = info.data.get("grid")
        for key, opts in v.items():
            try:
                ds = resolve(key)
            except UserError as e:
                raise ValueError(str(e)) from None
            if not ds.is_custom:
                raise ValueError(f"{key!r} takes no column options: only hf:... and file:... datasets do")
            name = ds.id
            if name in out:
                raise ValueError(f"{key!r} names {name} twice")
            if grid is not None and name not in grid.dataset:
                raise ValueError(f"{key!r} is not in grid.dataset")
            if opts.revision is not None and not name.startswith("hf:"):
                raise ValueError(f"{key!r}: revision applies to hf: datasets only")
            out[name] = opts
        return out

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        try:
            return check_run_name(v)
        except UserError as e:
            raise ValueError(str(e)) from None

    def fit_options(self, depth: int, beta: float, seed: int, families: str = "all"):
        """The symcli.fit.lasso_fit.FitOptions of one cell (beta a fraction of beta_max or absolute, per
        fit.beta_mode); a family ablation never refines (--refine would add the full dictionary's features back)."""
        from symcli.fit.lasso_fit import FitOptions
        from symcli.lasso.features import parse_families

        f = self.fit
        return FitOptions(
            depth=depth,
            beta=beta,
            beta_is_fraction=f.beta_mode == "fraction",
            directions=list(f.directions),
            pins=f.pins,
            norm=f.norm,
            solver=f.solver,
            refine=f.refine if families == "all" else False,
            max_memory=parse_bytes(f.max_memory),
            n_directions=f.n_directions,
            seed=seed,
            families=parse_families(families),
        )

    def nets_options(self, activation: str = "abs", width: str | None = None):
        """The symcli.fit.compare_nets.NetsOptions of a cell (networks trained beside the Lasso): its activation
        and width (units, a multiple of nnz such as 4x, or None for the default) from the nets.activation and
        nets.width axes."""
        from symcli.fit.compare_nets import NetsOptions, parse_width
        from symcli.nets.training import TrainConfig

        n = self.nets
        units, multiple, _ = parse_width(width)
        cfg = TrainConfig(
            optimizer=n.optimizer, epochs=n.epochs, lr=n.lr, width=units, restarts=n.restarts, device=n.device
        )
        return NetsOptions(
            count=n.count,
            cfg=cfg,
            baseline=n.baseline,
            shuffled=n.shuffled,
            activation=activation,
            width_multiple=multiple,
        )

    def cell_options(self, cell: Cell):
        """(FitOptions, NetsOptions) of one cell. A family-ablation cell (families other than `all`) measures the
        Lasso only (see fit_options) and trains no networks: they do not depend on the dictionary, and the full
        cell of the same seed trains them."""
        fit_opts = self.fit_options(cell.depth, cell.beta, cell.seed, cell.families)
        nets_opts = self.nets_options(cell.activation, cell.width)
        if fit_opts.ablated:
            nets_opts.count, nets_opts.baseline = 0, False
        return fit_opts, nets_opts

    def cells(self, max_cells: int = MAX_CELLS) -> list[Cell]:
        """The grid, expanded in a fixed order (UserError above max_cells cells)."""
        g = self.grid
        size = g.size() * len(self.nets.activation) * len(self.nets.width)  # at most
        if size > max_cells:
            raise UserError(
                f"the grid of run {self.name} has {size:,} cells, above the limit of {max_cells:,}; "
                "shrink the grid or raise --max-cells"
            )
        nets = list(itertools.product(self.nets.activation, self.nets.width))
        return [
            Cell(dataset=ds, depth=L, dim=d, projection=p, n_train=n, beta=b, seed=s, families=f, activation=a, width=w)
            for ds, L, d, p, n, b, s, f in itertools.product(
                g.dataset, g.depth, g.dim, g.projection, g.n_train, g.beta, g.seed, g.families
            )
            for a, w in (nets if f == "all" else [("abs", None)])  # an ablated dictionary trains no nets: one cell
        ]


class Cell(_Strict):
    """One point of the grid."""

    dataset: str
    depth: int
    dim: int
    projection: str
    n_train: int
    beta: float
    seed: int
    families: str = "all"
    activation: str = "abs"
    width: str | None = None

    @property
    def name(self) -> str:
        """A readable, filesystem-safe folder name, distinct for distinct cells (beta is written in full:
        Python's shortest repr, which round-trips). The ablation axes appear only off their defaults, so the
        folders of runs without them keep their names."""
        ablation = "".join(
            f"_{k}{v.replace(',', '+')}"
            for k, v, default in (("f", self.families, "all"), ("a", self.activation, "abs"), ("w", self.width, None))
            if v != default
        )
        return (
            f"{resolve(self.dataset).slug}_L{self.depth}_d{self.dim}_{self.projection}_n{self.n_train}"
            f"_b{self.beta!r}_s{self.seed}{ablation}"
        )


def describe_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    if err["type"] == "missing":
        return f"missing key {where!r}"
    return f"{where}: {err['msg']} (got {err.get('input')!r})"


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config; UserError naming the first problem."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config {path} does not exist; pass a YAML file such as configs/smoke.yaml")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise UserError(f"config {path} is over {MAX_CONFIG_BYTES:,} bytes; a config is a few kB of YAML")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"config {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    try:
        nodes = _expanded_nodes(yaml.compose(text, Loader=yaml.SafeLoader))
        if nodes > MAX_CONFIG_NODES:
            raise UserError(
                f"config {path} expands to {nodes:,} YAML nodes (aliases counted where used), above "
                f"{MAX_CONFIG_NODES:,}; write the config without nested aliases"
            )
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: the config must be a mapping of keys (name, grid, ...)")
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as e:
        raise UserError(f"{path}: {describe_error(e)}; fix the config") from None
    check_feasible(cfg, str(path))
    return cfg


def check_feasible(cfg: RunConfig, where: str) -> None:
    """Refuse, before any cell runs, values that could only fail inside cells: n_train above the embedded
    rows, fit or network options out of range (each depth and beta of the grid, the largest seed), training or
    embedding on cuda without a CUDA device, a custom dataset with neither column options nor a download."""
    for ds in map(resolve, cfg.grid.dataset):
        if ds.is_custom and ds.id not in cfg.datasets and ds.recorded_options() is None:
            entry = f"{{{ds.id!r}: {{text_column: COL, label_column: COL}}}}"
            add = "" if where == "fit" else f", or add datasets: {entry} to the config"
            hint = ds.download_hint
            raise UserError(f"{where}: {ds.id} is not downloaded and has no column options: run `{hint}`{add}")
    limit = cfg.embedding.limit
    if limit is not None and max(cfg.grid.n_train) > limit:
        raise UserError(
            f"{where}: n_train {max(cfg.grid.n_train)} exceeds embedding.limit {limit} (rows per split that are "
            "embedded); raise embedding.limit or lower n_train"
        )
    for key, device in (("nets.device", cfg.nets.device), ("embedding.device", cfg.embedding.device)):
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise UserError(f"{where}: {key} is cuda but torch sees no CUDA device here; use auto or cpu")
    try:
        for depth, beta, families in itertools.product(cfg.grid.depth, cfg.grid.beta, cfg.grid.families):
            cfg.fit_options(depth, beta, max(cfg.grid.seed), families).validate()
        if cfg.nets.count or cfg.nets.baseline:
            for width in cfg.nets.width:
                cfg.nets_options(width=width).cfg.validate()
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


def _expanded_nodes(node, memo: dict | None = None, active: frozenset = frozenset()) -> int:
    """Number of nodes of a composed YAML document with every alias expanded (a shared node counts at each
    use), computed without expanding it; a self-referencing node counts as unbounded."""
    if node is None:
        return 0
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    if id(node) in active:
        return MAX_CONFIG_NODES + 1
    inner = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        n = 1 + sum(_expanded_nodes(k, memo, inner) + _expanded_nodes(v, memo, inner) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        n = 1 + sum(_expanded_nodes(v, memo, inner) for v in node.value)
    else:
        n = 1
    memo[id(node)] = n
    return n


def config_hash(obj: BaseModel) -> str:
    """sha256 of the canonical JSON of a config (first 12 hex digits)."""
    return hashlib.sha256(json.dumps(obj.model_dump(), sort_keys=True).encode()).hexdigest()[:12]
