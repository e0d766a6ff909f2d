"""The parallel deep narrow network of theory.md section 1, with activation abs (the theory's), relu or srelu, and
its reconstruction from a Lasso fit.

Unit i is a chain of scalar pre-activations after its first layer (symcli.lasso.activations):

    s_1 = w_i^T x + b_i1,   s_l = sigma(s_(l-1); u_il) + b_il  (l = 2..L-1),   f(x) = xi + sum_i sigma(s_(L-1); alpha_i)

    abs:    sigma(s; v) = v |s|                          h_l = |s_l|: the theory's network
    relu:   sigma(s; v) = v relu(s)
    srelu:  sigma(s; v) = v+ relu(s) + v- relu(-s)       the symmetrized ReLU: each unit's ReLU paired with its
                                                         mirror image, each half with its own outgoing weight

Every activation is trained on the same form of objective, a penalty of L-th powers of the weight sizes:

    P(theta) = 1/2 ||f(X) - y||^2 + (beta/L) sum_i (||w_i||^L + sum_l size(u_il)^L + size(alpha_i)^L)

with size(v) = |v| (abs, relu) and size(v) = max(|v+|, |v-|) (srelu), ||w_i|| the first-layer norm ('l2' or 'l1');
biases and xi are not penalised. srelu with u+ = u- and alpha+ = alpha- is the abs network with the same P, and with
u- = alpha- = 0 the relu network with the same P. By AM-GM the per-unit penalty is at least beta * size(alpha_i)
||w_i|| prod_l size(u_il), with equality at balanced sizes. Only abs has the equivalence with the convex Lasso
(theory.md section 2): for relu and srelu, P / (the |.| Lasso optimum) is a measurement, not a bound.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from symcli.lasso.activations import ACTIVATIONS, preactivations, size, weighted

__all__ = ["ACTIVATIONS", "ParallelNet", "network_objective", "predict", "reconstruct"]


class ParallelNet(nn.Module):
    """m parallel units of depth L. Parameters: W (m, d), b1 (m,), U (m, L-2) (u, or u+ for srelu), B (m, L-2),
    alpha (m,) (alpha, or alpha+ for srelu), xi (); for srelu also U2 (m, L-2) = u- and alpha2 (m,) = alpha-
    (None for abs and relu)."""

    def __init__(self, d: int, m: int, depth: int, norm: str = "l2", activation: str = "abs", dtype=torch.float64):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.depth, self.norm, self.activation = depth, norm, activation
        z = dict(dtype=dtype)
        self.W = nn.Parameter(torch.zeros(m, d, **z))
        self.b1 = nn.Parameter(torch.zeros(m, **z))
        self.U = nn.Parameter(torch.zeros(m, depth - 2, **z))
        self.B = nn.Parameter(torch.zeros(m, depth - 2, **z))
        self.alpha = nn.Parameter(torch.zeros(m, **z))
        self.xi = nn.Parameter(torch.zeros((), **z))
        mirrored = activation == "srelu"
        self.U2 = nn.Parameter(torch.zeros(m, depth - 2, **z)) if mirrored else None
        self.alpha2 = nn.Parameter(torch.zeros(m, **z)) if mirrored else None

    def preactivations(self, X: torch.Tensor) -> list[torch.Tensor]:
        """[s_1, .., s_(L-1)] of every unit: X (n, d) -> L-1 tensors (n, m)."""
        return preactivations(X, self.W, self.b1, self.U, self.B, self.activation, self.U2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """f(X): (n, d) -> (n,)."""
        s = self.preactivations(X)[-1]
        return self.xi + weighted(s, self.alpha, self.alpha2, self.activation).sum(1)

    def penalty(self) -> torch.Tensor:
        """sum_i (||w_i||^L + sum_l size(u_il)^L + size(alpha_i)^L)."""
        L = self.depth
        wn = self.W.norm(p=2 if self.norm == "l2" else 1, dim=1)
        return (wn**L).sum() + (size(self.U, self.U2) ** L).sum() + (size(self.alpha, self.alpha2) ** L).sum()

    def objective(self, X: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
        """P(theta) = 1/2 ||f(X) - y||^2 + (beta/L) * penalty."""
        r = self(X) - y
        return 0.5 * (r @ r) + beta / self.depth * self.penalty()

    def arrays(self) -> dict:
        """The parameters as float64 numpy arrays, keyed W, b1, U, B, alpha, U2, alpha2 (None unless srelu),
        with the activation: the arguments of symcli.science.symmetry.network_symmetry."""
        out = {k: getattr(self, k) for k in ("W", "b1", "U", "B", "alpha", "U2", "alpha2")}
        out = {k: None if p is None else p.detach().double().cpu().numpy() for k, p in out.items()}
        return out | {"activation": self.activation}


def reconstruct(
    W: np.ndarray, a: np.ndarray, c: np.ndarray, z: np.ndarray, xi: float, depth: int, norm: str = "l2"
) -> ParallelNet:
    """The abs network whose unit i equals z_i phi_i: s = |z_i|^(1/L), w_i = s w, b_i1 = s a, u_il = s,
    b_il = -c_l s^l, alpha_i = sign(z_i) s, output bias xi. Inputs are the selected features' unit
    directions W (k, d), offsets a (k,), c (k, L-2) and coefficients z (k,); then P(theta) equals the
    Lasso objective 1/2 ||A z + xi - y||^2 + beta ||z||_1."""
    k, d = W.shape
    s = np.abs(z) ** (1.0 / depth)
    net = ParallelNet(d, k, depth, norm)
    powers = s[:, None] ** np.arange(2, depth)[None, :]
    with torch.no_grad():
        net.W.copy_(torch.from_numpy(s[:, None] * W))
        net.b1.copy_(torch.from_numpy(s * a))
        net.U.copy_(torch.from_numpy(np.repeat(s[:, None], depth - 2, axis=1)))
        net.B.copy_(torch.from_numpy(-c * powers))
        net.alpha.copy_(torch.from_numpy(np.sign(z) * s))
        net.xi.fill_(xi)
    return net


def network_objective(net: ParallelNet, X: np.ndarray, y: np.ndarray, beta: float) -> float:
    """P(theta) of net on data X (N, d), y (N,), in float64."""
    with torch.no_grad():
        return float(net.objective(torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64), beta))


def predict(net: ParallelNet, X: np.ndarray) -> np.ndarray:
    """f(X) as numpy, X (n, d) -> (n,)."""
    with torch.no_grad():
        return net(torch.tensor(X, dtype=torch.float64)).numpy()
