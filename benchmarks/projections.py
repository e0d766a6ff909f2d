"""Which projection of sentence embeddings gives the best held-out linear-probe score at d = 1, 2, 3?

    python benchmarks/projections.py [--n-train 30 60] [--seeds 0 1 2] [--dims 1 2 3] [--limit 600]
        [--n-eval 300] [--mirror ../shared/data] [--data-dir /tmp/symcli-bench-data] [--datasets imdb glue/sst2 ...]

Offline (HF_HUB_OFFLINE=1), with the real all-MiniLM-L6-v2 (max length 128) through symcli's own download and
embed_dataset, into --data-dir (its embedding cache makes re-runs cheap). Each dataset's train split and its
labelled evaluation split (validation; test for imdb) come from the local mirror, --limit rows each
(label-stratified, seed 0); GLUE's unlabelled test splits are not embedded.

Per dataset, n_train and seed: n_train training rows (symcli.datasets.rows.stratified_subset(labels, n_train,
seed)) and --n-eval held-out rows of the evaluation split (stratified, same seed); targets +-1 (label 1 vs the
rest) or the float label (stsb). Each projection (pca, random, sparse-sign, pls with the training targets) is
fitted on the training rows only and projects both sets to d dimensions; the score is
symcli.science.baselines.probe_score on the projected features (held-out accuracy, or R^2 for stsb). References:
majority_score, and probe_score on the full embeddings (probe_full). Reported: mean +- the 95% t-interval
half-width over the seeds.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = ("imdb", "glue/sst2", "glue/cola", "glue/mrpc", "glue/rte", "glue/stsb")
KINDS = ("pca", "random", "sparse-sign", "pls")
MODEL = "all-MiniLM-L6-v2"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, nargs="+", default=[30, 60])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--dims", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--limit", type=int, default=600, help="rows embedded per split (train and evaluation)")
    ap.add_argument("--n-eval", type=int, default=300, help="held-out rows per seed")
    ap.add_argument("--mirror", type=Path, default=SHARED)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/symcli-bench-data"))
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    args = ap.parse_args()
    if not args.mirror.is_dir():
        sys.exit(f"benchmark needs the local mirror {args.mirror} (pass --mirror DIR)")
    os.environ.update(SYMCLI_DATA_DIR=str(args.data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    run(args)


def eval_split(folder: Path) -> str:
    """The labelled evaluation split of a mirror folder: validation, else test."""
    for split in ("validation", "test"):
        if (folder / f"{split}.parquet").is_file():
            return split
    raise SystemExit(f"{folder} has no validation or test split")


def embed(name: str, args) -> tuple[dict, str, str, float]:
    """Download train + the evaluation split (--limit rows each) through a mirror of just those two files, then
    embed them; returns ({split: (X (n, D) float64, labels (n,))}, task, evaluation split, seconds)."""
    import json

    import numpy as np

    from symcli.datasets import download as data
    from symcli.datasets.dataset import resolve
    from symcli.embeddings.embed import embed_dataset

    src = args.mirror / name
    split = eval_split(src)
    sub = args.data_dir / "mirror-subset" / name
    sub.mkdir(parents=True, exist_ok=True)
    for s in ("train", split):
        link = sub / f"{s}.parquet"
        if not link.is_symlink():
            link.symlink_to((src / f"{s}.parquet").resolve())
    try:
        manifest = resolve(name).manifest()
        fresh = manifest["limit"] == args.limit and manifest["source"].get("folder") == str(sub.resolve())
    except Exception:  # not downloaded yet, or damaged: download
        fresh = False
    if not fresh:
        manifest = data.download(name, mirror=args.data_dir / "mirror-subset", limit=args.limit, seed=0)
    t0 = time.perf_counter()
    summary = embed_dataset(name, model=MODEL, limit=args.limit, max_length=128, seed=0)
    out = Path(summary["output"])
    meta = json.loads((out / "meta.json").read_text())
    arrays = {
        s: (np.load(out / info["file"]).astype(np.float64), np.load(out / info["labels_file"]))
        for s, info in meta["splits"].items()
    }
    return arrays, manifest["task"], split, time.perf_counter() - t0


def targets(labels, task: str):
    """+-1 (label 1 vs the rest) or the float labels, float64 (n,)."""
    import numpy as np

    return labels.astype(np.float64) if task == "regression" else np.where(labels == 1, 1.0, -1.0)


def interval(values) -> tuple[float, float]:
    """Mean and the 95% t-interval half-width of a list of scores (half-width 0 for one value)."""
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def evaluate(arrays: dict, task: str, split: str, args) -> dict:
    """{(n_train, key): [score per seed]}, key = 'majority', 'probe_full' or (kind, d)."""
    import numpy as np

    from symcli.datasets.rows import stratified_subset
    from symcli.projections import Projection
    from symcli.science.baselines import majority_score, probe_score

    E, lab = arrays["train"]
    Ee, labe = arrays[split]
    keep = np.ones(len(labe), bool) if task == "regression" else labe >= 0
    Ee, labe = Ee[keep], labe[keep]
    out: dict = {}
    for n in args.n_train:
        for seed in args.seeds:
            rows = stratified_subset(lab, n, seed)
            held = stratified_subset(labe, min(args.n_eval, len(labe)), seed)
            Etr, ytr, Ete, yte = E[rows], targets(lab[rows], task), Ee[held], targets(labe[held], task)
            out.setdefault((n, "majority"), []).append(majority_score(ytr, yte, task))
            out.setdefault((n, "probe_full"), []).append(probe_score(Etr, ytr, Ete, yte, task, seed))
            for kind in KINDS:
                for d in args.dims:
                    proj = Projection(kind, d, seed=seed).fit(Etr, ytr if kind == "pls" else None)
                    s = probe_score(proj.transform(Etr), ytr, proj.transform(Ete), yte, task, seed)
                    out.setdefault((n, (kind, d)), []).append(s)
    return out


def run(args) -> None:
    import numpy as np
    import sklearn
    import torch

    t_start = time.perf_counter()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"torch threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}; python "
        f"{platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}"
    )
    print(
        f"model {MODEL} (max length 128), {args.limit} rows per split embedded, held-out {args.n_eval} rows; "
        f"n_train {args.n_train}, seeds {args.seeds}, d {args.dims}; mean +- 95% t-interval over seeds\n"
    )
    results, metrics = {}, {}
    for name in args.datasets:
        arrays, task, split, secs = embed(name, args)
        t0 = time.perf_counter()
        results[name] = evaluate(arrays, task, split, args)
        metrics[name] = "R^2" if task == "regression" else "acc"
        n_eval = min(args.n_eval, int(np.sum(arrays[split][1] >= 0)) if task != "regression" else len(arrays[split][1]))
        print(
            f"{name}: train {len(arrays['train'][1])} rows, held-out from {split} ({n_eval} per seed), "
            f"dim {arrays['train'][0].shape[1]}; embed {secs:.1f} s, probes {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )

    def fmt(values) -> str:
        m, h = interval(values)
        return f"{m:6.3f} ± {h:5.3f}"

    head = f"{'dataset':<10} {'metric':<6} {'n_train':>7} {'d':>2} {'projection':<12} {'held-out score':>15}"
    print(head + f"  {'majority':>15}  {'probe_full':>15}")
    print("-" * (len(head) + 34))
    best: dict = {}
    for name, res in results.items():
        for n in args.n_train:
            refs = f"  {fmt(res[(n, 'majority')])}  {fmt(res[(n, 'probe_full')])}"
            for d in args.dims:
                means = {k: interval(res[(n, (k, d))])[0] for k in KINDS}
                top = max(means.values())
                best[(name, n, d)] = [k for k in KINDS if means[k] >= top - 1e-12]
                for k in KINDS:
                    line = f"{name:<10} {metrics[name]:<6} {n:>7} {d:>2} {k:<12} {fmt(res[(n, (k, d))]):>15}"
                    print(line + refs)
        print()
    for n in args.n_train:
        for name in results:
            print(
                f"n_train {n:>3} {name:<10} " + "  ".join(f"d={d}: {'/'.join(best[(name, n, d)])}" for d in args.dims)
            )
    print()
    print("wins: best mean score on a dataset, ties (often all at the majority score) counting for each tied kind;")
    print("outright: best alone; gain: score minus the majority score, averaged over the datasets")
    for n in args.n_train:
        for d in args.dims:
            wins = {k: sum(k in best[(name, n, d)] for name in results) for k in KINDS}
            alone = {k: sum(best[(name, n, d)] == [k] for name in results) for k in KINDS}
            gain = {
                k: np.mean([interval(r[(n, (k, d))])[0] - interval(r[(n, "majority")])[0] for r in results.values()])
                for k in KINDS
            }
            top = max(wins.values())
            names = "/".join(k for k in KINDS if wins[k] == top)
            detail = ", ".join(f"{k} {wins[k]} ({alone[k]} outright, gain {gain[k]:+.3f})" for k in KINDS)
            print(f"n_train {n}: best projection at d={d}: {names} (wins {top} of {len(results)} datasets); {detail}")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
