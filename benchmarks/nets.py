"""Training speed of the parallel deep |.| network: Adam epochs per second (full batch, float64 on CPU,
float32 on cuda), on cpu and on cuda when one is present.

    python benchmarks/nets.py [--epochs 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from symcli.lasso.network import ParallelNet
from symcli.nets.training import TrainConfig, init_parallel, train


def epochs_per_second(device: str, N: int, d: int, width: int, depth: int, epochs: int) -> float:
    g = np.random.default_rng(0)
    X = g.standard_normal((N, d))
    y = np.sign(g.standard_normal(N))
    net = ParallelNet(d, width, depth)
    init_parallel(net, torch.tensor(X), torch.Generator().manual_seed(0))
    dtype = "float64" if device == "cpu" else "float32"
    cfg = TrainConfig(epochs=epochs, lr=1e-3, device=device, dtype=dtype, patience=10**9)
    train(net, X, y, 0.01, TrainConfig(epochs=5, device=device, dtype=dtype), seed=0)  # warm up
    t0 = time.perf_counter()
    res = train(net, X, y, 0.01, cfg, seed=0)
    return res.epochs / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, devices {devices}")
    print(f"{'N':>7} {'d':>3} {'width':>5} {'depth':>5} " + " ".join(f"{d + ' ep/s':>12}" for d in devices))
    for N, d, width in [(100, 2, 20), (1000, 16, 50), (10000, 16, 100)]:
        for depth in (2, 3, 4):
            rates = [epochs_per_second(dev, N, d, width, depth, args.epochs) for dev in devices]
            print(f"{N:>7} {d:>3} {width:>5} {depth:>5} " + " ".join(f"{r:>12.0f}" for r in rates))


if __name__ == "__main__":
    main()
