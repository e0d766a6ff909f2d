"""The torch backend of the streaming solver (streaming.py): pricing kernels on a torch device (cuda when
present, else cpu) and a FISTA working-set solver with restarts, finished exactly on its support (by
polishing, else by the numpy active-set method of solvers.py: one loop for both backends).

    min_z  1/2 || y - B z ||^2 + beta ||z||_1          B: (N, k) centred working-set columns

torch is imported lazily, inside functions: nothing under symcli.lasso imports it at module level.
"""

from __future__ import annotations

import numpy as np

from symcli.core.numerics import KKT_TOL
from symcli.lasso.solvers import active_set_lasso


def _torch():
    import torch

    return torch


class TorchOps:
    """pricing.NumpyOps in torch: the same kernels run on `device` (default cuda when present) in
    float64 or float32. One chunk at a time (threads = 1); chunks are large on cuda."""

    name = "torch"
    threads = 1

    def __init__(self, dtype=np.float64, device: str | None = None):
        torch = _torch()
        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.device_name = self.device.type
        self.dtype = np.dtype(dtype)
        self.tdtype = torch.float64 if self.dtype == np.float64 else torch.float32
        self.chunk_entries = 1 << 25 if self.device.type == "cuda" else 1 << 18

    def asarray(self, a, integer: bool = False):
        return self.torch.as_tensor(
            np.asarray(a), dtype=self.torch.int64 if integer else self.tdtype, device=self.device
        )

    def numpy(self, a) -> np.ndarray:
        return a.detach().cpu().numpy()

    def size(self, a) -> int:
        return int(a.numel())

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.tdtype, device=self.device)

    def sort_rows(self, H):
        out = self.torch.sort(H, dim=1)
        return out.values, out.indices

    def cumsum_rows(self, x):
        return self.torch.cumsum(x, dim=1)

    def clip0(self, x):
        return self.torch.clamp(x, min=0.0)

    def row_max(self, v):
        out = v.max(dim=1)
        return out.values, out.indices

    def max_pos(self, v) -> tuple[float, int]:
        j = int(self.torch.argmax(v))
        return float(v.reshape(-1)[j]), j

    def select(self, v, threshold: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        flat = v.reshape(-1)
        n = int((flat > threshold).sum())
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        if n > k:
            vals, pos = self.torch.topk(flat, k)
        else:
            pos = self.torch.nonzero(flat > threshold).reshape(-1)
            vals = flat[pos]
        keep = vals > threshold
        return self.numpy(pos[keep]).astype(np.int64), self.numpy(vals[keep]).astype(np.float64)


def _stationary(Bt, yt, beta: float, s, rho: float):
    """argmin_z 1/2 ||y - B z||^2 + rho^2/2 ||z||^2 + beta s^T z by QR of [B; rho I] (solvers.py)."""
    torch = _torch()
    M = torch.cat([Bt, rho * torch.eye(Bt.shape[1], dtype=Bt.dtype, device=Bt.device)])
    Q, R = torch.linalg.qr(M)
    w = Q[: len(yt)].T @ yt - beta * torch.linalg.solve_triangular(R.T, s[:, None], upper=False)[:, 0]
    return torch.linalg.solve_triangular(R, w[:, None], upper=True)[:, 0]


def fista_lasso_solver(ops: TorchOps, fista_iter: int = 500, check_every: int = 20):
    """An inner solver (B (N, k), y (N,), beta, z0 (k,), tol) -> (z (k,), iterations) for the streaming
    loop, on ops.device in float64: FISTA with gradient restarts (O'Donoghue and Candes), every
    check_every steps polished to the exact solution of the signed stationarity system on its support
    (accepted when the signs hold and no column has |B_j^T r| > beta (1 + tol)); after fista_iter steps
    without an accepted polish, finished exactly by the sign-constrained active-set method
    (solvers.active_set_lasso, on the host: the working set is small) from the FISTA iterate. stats counts
    solves, polished and active-set finishes."""
    torch = ops.torch
    stats = {"solves": 0, "polished": 0, "active_set": 0}

    def polish(Bt, yt, beta, x, tol, rho):
        S = torch.nonzero(x).reshape(-1)
        z = torch.zeros_like(x)
        if len(S):
            s = torch.sign(x[S])
            zS = _stationary(Bt[:, S], yt, beta, s, rho)
            if bool((torch.sign(zS) != s).any()):
                return None
            z[S] = zS
        g = torch.abs(Bt.T @ (yt - Bt @ z))
        g[S] = 0.0
        return z if float(g.max()) <= beta * (1 + tol) else None

    def solve(B: np.ndarray, y: np.ndarray, beta: float, z0: np.ndarray, tol: float = KKT_TOL):
        stats["solves"] += 1
        if B.shape[1] == 0:
            return np.zeros(0), 0
        dt = torch.float64
        Bt = torch.as_tensor(B, dtype=dt, device=ops.device)
        yt = torch.as_tensor(y, dtype=dt, device=ops.device)
        x = torch.as_tensor(z0, dtype=dt, device=ops.device).clone()
        L = float(torch.linalg.matrix_norm(Bt, ord=2)) ** 2 * (1 + 1e-9)
        rho = 1e-8 * float(torch.linalg.vector_norm(Bt, dim=0).max())
        step, thr = 1.0 / L, beta / L
        Bty = Bt.T @ yt
        G = Bt.T @ Bt if Bt.shape[1] <= Bt.shape[0] else None
        yk, t = x.clone(), torch.ones((), dtype=dt, device=ops.device)
        for it in range(1, fista_iter + 1):
            grad = (G @ yk if G is not None else Bt.T @ (Bt @ yk)) - Bty
            u = yk - step * grad
            xn = torch.sign(u) * torch.clamp(torch.abs(u) - thr, min=0.0)
            restart = torch.dot(yk - xn, xn - x) > 0
            tn = torch.where(restart, torch.ones_like(t), (1 + torch.sqrt(1 + 4 * t * t)) / 2)
            mom = torch.where(restart, torch.zeros_like(t), (t - 1) / tn)
            yk = xn + mom * (xn - x)
            x, t = xn, tn
            if it % check_every == 0:
                z = polish(Bt, yt, beta, x, tol, rho)
                if z is not None:
                    stats["polished"] += 1
                    return z.cpu().numpy(), it
        stats["active_set"] += 1
        z, n = active_set_lasso(B, y, beta, x.cpu().numpy(), tol)
        return z, fista_iter + n

    solve.stats = stats
    return solve
