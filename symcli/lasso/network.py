"""The parallel deep narrow |.| network of theory.md section 1, and its reconstruction from a Lasso fit.

    h_1 = |w_i^T x + b_i1|,  h_l = |u_il h_(l-1) + b_il| (l = 2..L-1),  f(x) = xi + sum_i alpha_i h_(L-1)
    P(theta) = 1/2 ||f(X) - y||^2 + (beta/L) sum_i (||w_i||^L + sum_l |u_il|^L + |alpha_i|^L)

with ||w_i|| the first-layer norm ('l2' or 'l1'). Biases and xi are not penalised.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class ParallelAbsNet(nn.Module):
    """m parallel units of depth L. Parameters: W (m, d), b1 (m,), U (m, L-2), B (m, L-2), alpha (m,), xi ()."""

    def __init__(self, d: int, m: int, depth: int, norm: str = "l2", dtype=torch.float64):
        super().__init__()
        self.depth, self.norm = depth, norm
        z = dict(dtype=dtype)
        self.W = nn.Parameter(torch.zeros(m, d, **z))
        self.b1 = nn.Parameter(torch.zeros(m, **z))
        self.U = nn.Parameter(torch.zeros(m, depth - 2, **z))
        self.B = nn.Parameter(torch.zeros(m, depth - 2, **z))
        self.alpha = nn.Parameter(torch.zeros(m, **z))
        self.xi = nn.Parameter(torch.zeros((), **z))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """f(X): (n, d) -> (n,)."""
        h = torch.abs(X @ self.W.T + self.b1)
        for l in range(self.depth - 2):
            h = torch.abs(self.U[:, l] * h + self.B[:, l])
        return self.xi + h @ self.alpha

    def penalty(self) -> torch.Tensor:
        """sum_i (||w_i||^L + sum_l |u_il|^L + |alpha_i|^L)."""
        L = self.depth
        wn = self.W.norm(p=2 if self.norm == "l2" else 1, dim=1)
        return (wn**L).sum() + (self.U.abs() ** L).sum() + (self.alpha.abs() ** L).sum()

    def objective(self, X: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
        """P(theta) = 1/2 ||f(X) - y||^2 + (beta/L) * penalty."""
        r = self(X) - y
        return 0.5 * (r @ r) + beta / self.depth * self.penalty()


def reconstruct(
    W: np.ndarray, a: np.ndarray, c: np.ndarray, z: np.ndarray, xi: float, depth: int, norm: str = "l2"
) -> ParallelAbsNet:
    """The network whose unit i equals z_i phi_i: s = |z_i|^(1/L), w_i = s w, b_i1 = s a, u_il = s,
    b_il = -c_l s^l, alpha_i = sign(z_i) s, output bias xi. Inputs are the selected features' unit
    directions W (k, d), offsets a (k,), c (k, L-2) and coefficients z (k,); then P(theta) equals the
    Lasso objective 1/2 ||A z + xi - y||^2 + beta ||z||_1."""
    k, d = W.shape
    s = np.abs(z) ** (1.0 / depth)
    net = ParallelAbsNet(d, k, depth, norm)
    powers = s[:, None] ** np.arange(2, depth)[None, :]
    with torch.no_grad():
        net.W.copy_(torch.from_numpy(s[:, None] * W))
        net.b1.copy_(torch.from_numpy(s * a))
        net.U.copy_(torch.from_numpy(np.repeat(s[:, None], depth - 2, axis=1)))
        net.B.copy_(torch.from_numpy(-c * powers))
        net.alpha.copy_(torch.from_numpy(np.sign(z) * s))
        net.xi.fill_(xi)
    return net


def network_objective(net: ParallelAbsNet, X: np.ndarray, y: np.ndarray, beta: float) -> float:
    """P(theta) of net on data X (N, d), y (N,), in float64."""
    with torch.no_grad():
        return float(net.objective(torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64), beta))


def predict(net: ParallelAbsNet, X: np.ndarray) -> np.ndarray:
    """f(X) as numpy, X (n, d) -> (n,)."""
    with torch.no_grad():
        return net(torch.tensor(X, dtype=torch.float64)).numpy()
