"""Shared test helpers."""

from __future__ import annotations

import numpy as np


def random_problem(seed: int, N: int, d: int, labels: bool = True):
    """A seeded random problem: X (N, d) standard normal, y +-1 labels or Gaussian targets."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((N, d))
    y = np.where(g.standard_normal(N) > 0, 1.0, -1.0) if labels else g.standard_normal(N)
    return X, y


def reseal(folder, name: str) -> None:
    """Record a deliberately edited file of a cell folder in its status.json, as if symcli had written it:
    the file's sha256 and the status's own digest (the sha256 of its canonical JSON without the digest)."""
    import hashlib
    import json

    path = folder / "status.json"
    status = json.loads(path.read_text())
    status["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    body = {k: v for k, v in status.items() if k != "sha256"}
    status["sha256"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    path.write_text(json.dumps(status))
