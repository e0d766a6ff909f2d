"""The datasets symcli knows (IMDB and the nine GLUE tasks): where they live, their columns and labels, which
splits a run trains and evaluates on, and the Lasso target each task is reduced to.

Split rule. A run trains on `train` and evaluates on the first labelled split of validation, validation_matched,
test (or, with none, on train rows not used for training). qnli, qqp and mnli may lack a train split (the
shared mirror only holds their validation files; their hub train files are large): then runs draw training
and held-out rows, disjoint, from their labelled validation split (validation_matched for mnli). Every other
dataset requires its train split.

Targets (targets() and target_line() say the same thing): two classes -> label 1 is +1, label 0 is -1;
mnli's three classes -> entailment (label 0) is +1, neutral and contradiction are -1; stsb -> the 0-5 score.

Custom ids (symcli.datasets.ids: hf:OWNER/NAME[:CONFIG], file:PATH) are not in the registry: their spec is read
(symcli.datasets.dataset) from the manifest their download wrote (columns, label names, splits); they follow the
same split rule, with train required, and the same targets (label names in the order of their ids; float labels are
regression).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from symcli.core.errors import UserError

IMDB_REPO, IMDB_REVISION = "stanfordnlp/imdb", "e6281661ce1c48d982bc483cf8a173c1bbeb5d31"
GLUE_REPO, GLUE_REVISION = "nyu-mll/glue", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"
HELD_OUT_ORDER = ("validation", "validation_matched", "test")  # the first present (and labelled) is held out
MNLI_WHY = (
    "the convex Lasso of theory.md fits one scalar output; one-vs-rest Lassos with an argmax would triple every "
    "cell's cost; entailment vs not-entailment is the standard binary cut, the one RTE, QNLI and WNLI are posed in"
)
CUSTOM_WHY = "the convex Lasso of theory.md fits one scalar output, so the first label stands against the rest"


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: where it lives on the hub and which source columns map to text, text_pair, label."""

    name: str  # symcli name, also the folder under raw/: "imdb", "glue/mrpc"
    repo_id: str  # hub dataset repository
    config: str  # folder of this config inside the hub repository
    revision: str  # pinned hub commit
    splits: tuple[str, ...]
    text_field: str
    pair_field: str | None = None
    label_names: tuple[str, ...] | None = None  # None: regression (float labels)
    # the labelled split runs draw training and held-out rows from when the source has no train split;
    # None: the train split is required
    train_fallback: str | None = None
    folder: str | None = None  # custom ids: the folder under raw/ (registered datasets: their name)
    label_field: str = "label"

    @property
    def is_custom(self) -> bool:
        return self.folder is not None

    @property
    def is_pair(self) -> bool:
        return self.pair_field is not None

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    def missing_required(self, present: Collection[str]) -> str | None:
        """None when `present` holds what a run needs (train, or else the fallback split), else what is missing
        in words ('train', 'train or validation')."""
        if "train" in present or (self.train_fallback and self.train_fallback in present):
            return None
        return f"train or {self.train_fallback}" if self.train_fallback else "train"


def _glue(task: str, text: str, pair: str | None, names: tuple[str, ...] | None, splits=None, fallback=None):
    splits = splits or ("train", "validation", "test")
    return DatasetSpec(f"glue/{task}", GLUE_REPO, task, GLUE_REVISION, splits, text, pair, names, fallback)


REGISTRY: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec("imdb", IMDB_REPO, "plain_text", IMDB_REVISION, ("train", "test"), "text", None, ("neg", "pos")),
        _glue("cola", "sentence", None, ("unacceptable", "acceptable")),
        _glue("sst2", "sentence", None, ("negative", "positive")),
        _glue("mrpc", "sentence1", "sentence2", ("not_equivalent", "equivalent")),
        _glue("qqp", "question1", "question2", ("not_duplicate", "duplicate"), fallback="validation"),
        _glue("stsb", "sentence1", "sentence2", None),
        _glue(
            "mnli",
            "premise",
            "hypothesis",
            ("entailment", "neutral", "contradiction"),
            ("train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched"),
            fallback="validation_matched",
        ),
        _glue("qnli", "question", "sentence", ("entailment", "not_entailment"), fallback="validation"),
        _glue("rte", "sentence1", "sentence2", ("entailment", "not_entailment")),
        _glue("wnli", "sentence1", "sentence2", ("not_entailment", "entailment")),
    )
}


# ------------------------------------------------------------------------------------------------ splits


@dataclass(frozen=True)
class SplitPlan:
    """Which splits a run uses. held_out None: the held-out rows are rows of `train` not used for training,
    drawn disjoint from them (no train split in the source, or no labelled held-out split)."""

    train: str
    held_out: str | None

    @property
    def from_train_source(self) -> bool:
        """Training rows come from a labelled validation split because the source has no train split."""
        return self.train != "train"


def split_plan(spec: DatasetSpec, present: Collection[str]) -> SplitPlan:
    """The splits a run of `spec` uses, given the splits at hand (UserError when the required one is absent)."""
    missing = spec.missing_required(present)
    if missing:
        raise UserError(f"{spec.name} has no {missing} split (has {', '.join(present) or 'none'})")
    if "train" not in present:
        return SplitPlan(spec.train_fallback, None)
    return SplitPlan("train", next((s for s in HELD_OUT_ORDER if s in present), None))


def split_use(spec: DatasetSpec, present: Collection[str]) -> str:
    """One sentence: how runs use the splits at hand (recorded in the download manifest)."""
    plan = split_plan(spec, present)
    if plan.from_train_source:
        return (
            "no train split in the source: runs draw training and held-out rows, disjoint, from the labelled "
            f"{plan.train} split"
        )
    if plan.held_out is None:
        return "runs draw training rows from train and hold out train rows not used for training"
    return f"runs draw training rows from train and held-out rows from {plan.held_out}"


# ----------------------------------------------------------------------------------------------- targets


def targets(labels: np.ndarray, task: str, n_classes: int | None = None) -> np.ndarray:
    """Lasso targets (n,) float64: the float labels themselves for regression (stsb); +-1 for classification:
    with two classes label 1 -> +1 and label 0 -> -1, with more (mnli) class 0 (entailment) -> +1 and the rest
    -> -1. n_classes: the task's number of classes (from its label names); None guesses it from the labels
    present, which misreads a three-class subset that happens to hold only labels 0 and 1."""
    if task == "regression":
        return labels.astype(np.float64)
    labels = labels.astype(np.int64)
    two = n_classes == 2 if n_classes is not None else set(np.unique(labels)) <= {0, 1}
    if two:
        return np.where(labels == 1, 1.0, -1.0)
    return np.where(labels == 0, 1.0, -1.0)


def target_line(spec: DatasetSpec) -> str:
    """One line: the Lasso target of `spec` (what targets() does) and the score it is judged by."""
    if spec.is_regression and spec.is_custom:
        return f"the float label {spec.label_field!r} as it is (regression); score = R^2 (Spearman also reported)"
    if spec.is_regression:
        return "similarity score 0-5 (regression, the float label as it is); score = R^2 (Spearman also reported)"
    names = spec.label_names
    if len(names) == 2:
        return f"label 1 ({names[1]}) -> +1, label 0 ({names[0]}) -> -1; score = accuracy"
    rest = " or ".join(names[1:])
    labels = " and ".join(f"{i} ({n})" for i, n in enumerate(names) if i)
    why = CUSTOM_WHY if spec.is_custom else MNLI_WHY
    return (
        f"{names[0]} (+1) vs {rest} (-1): label 0 -> +1, labels {labels} -> -1; score = accuracy "
        f"(binary reduction: {why})"
    )
