"""Experiment configs: validated YAML (unknown keys rejected by name), expanded into a grid of cells over
dataset x depth x dim x projection x n_train x beta x seed."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from symcli.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    projection: list[Literal["pca", "random", "sparse-sign", "none"]] = ["pca"]
    n_train: list[int] = [40]
    beta: list[float] = Field(default=[0.05], description="fractions of beta_max of each cell (see beta_mode)")
    seed: list[int] = [0]

    @field_validator("dim", "n_train")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(x < 1 for x in v):
            raise ValueError("must be positive integers")
        return v

    @field_validator("beta")
    @classmethod
    def _beta(cls, v: list[float]) -> list[float]:
        if any(not x > 0 for x in v):
            raise ValueError("beta values must be > 0")
        return v

    @field_validator("dataset", "depth", "dim", "projection", "n_train", "beta", "seed")
    @classmethod
    def _nonempty(cls, v: list) -> list:
        if not v:
            raise ValueError("an axis of the grid cannot be empty")
        return v


class FitConfig(_Strict):
    """Options shared by every cell (those of `symcli fit`)."""

    beta_mode: Literal["fraction", "absolute"] = "fraction"
    n_test: int = Field(default=500, ge=1)
    directions: list[Literal["spanned", "axis", "grid", "random"]] = ["spanned"]
    n_directions: int | None = Field(default=None, ge=1)
    pins: Literal["paper", "all"] | None = None
    norm: Literal["l2", "l1"] = "l2"
    solver: Literal["fast", "cvxpy", "stream"] = "fast"
    refine: bool = False
    standardize: bool = False
    max_memory: str = "4GB"


class NetsConfig(_Strict):
    """Networks trained beside each Lasso fit (count 0: none)."""

    count: int = Field(default=0, ge=0)
    optimizer: Literal["adam", "adamw", "lbfgs"] = "adam"
    epochs: int = Field(default=1000, ge=1)
    lr: float = Field(default=1e-2, gt=0)
    width: int | None = Field(default=None, ge=1)
    restarts: int = Field(default=1, ge=1)
    baseline: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"


class RunConfig(_Strict):
    """A whole experiment: where texts come from, how they are embedded, the grid, and the fit options."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    mirror: str | None = None
    download_limit: int | None = Field(default=None, ge=1)
    embedding: EmbeddingConfig = EmbeddingConfig()
    grid: GridConfig
    fit: FitConfig = FitConfig()
    nets: NetsConfig = NetsConfig()

    def cells(self) -> list[Cell]:
        """The grid, expanded in a fixed order."""
        g = self.grid
        return [
            Cell(dataset=ds, depth=L, dim=d, projection=p, n_train=n, beta=b, seed=s)
            for ds, L, d, p, n, b, s in itertools.product(
                g.dataset, g.depth, g.dim, g.projection, g.n_train, g.beta, g.seed
            )
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

    @property
    def name(self) -> str:
        """A readable, filesystem-safe, unique folder name."""
        return (
            f"{self.dataset.replace('/', '-')}_L{self.depth}_d{self.dim}_{self.projection}_n{self.n_train}"
            f"_b{self.beta:g}_s{self.seed}"
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
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: the config must be a mapping of keys (name, grid, ...)")
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as e:
        raise UserError(f"{path}: {describe_error(e)}; fix the config") from None
    from symcli.data import get_spec

    for ds in cfg.grid.dataset:
        get_spec(ds)  # UserError for an unknown dataset
    return cfg


def config_hash(obj: BaseModel) -> str:
    """sha256 of the canonical JSON of a config (first 12 hex digits)."""
    return hashlib.sha256(json.dumps(obj.model_dump(), sort_keys=True).encode()).hexdigest()[:12]
