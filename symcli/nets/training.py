"""Non-convex training beside the Lasso (theory.md section 5).

- The parallel deep narrow network (symcli.lasso.network.ParallelNet; activation abs, relu or srelu) trained
  on P(theta) from a random start: with abs, the comparison the theory is about; relu and srelu ask whether its
  symmetry and its objective carry over to other activations.
- The practitioner's baseline: a plain MLP of depth L (ReLU or |.|) with ordinary weight decay,
  minimising 1/2 ||f(X) - y||^2 + (beta/2) sum of squared weights (biases free).

Trainers: Adam, AdamW, L-BFGS; full batch or minibatch; explicit seeds; float64 (CPU default) or
float32; cpu or cuda; stop when the objective plateaus; several restarts keep the best.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from symcli.core.errors import UserError
from symcli.core.numerics import MAX_NET_WIDTH
from symcli.lasso.activations import weighted
from symcli.lasso.network import ParallelNet

OPTIMIZERS = ("adam", "adamw", "lbfgs")
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda when present, else cpu; 'cuda' without one is a UserError."""
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; choose auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but no CUDA device is visible; use --device auto or cpu")
    return torch.device("cuda" if device == "auto" and torch.cuda.is_available() else device.replace("auto", "cpu"))


@dataclass
class TrainConfig:
    """Training options; width None means max(2 nnz, 20) when compared with a Lasso fit."""

    optimizer: str = "adam"
    epochs: int = 2000
    lr: float = 1e-2
    width: int | None = None
    batch_size: int | None = None
    restarts: int = 1
    plateau_rtol: float = 1e-9
    patience: int = 100
    device: str = "auto"
    dtype: str = "float64"

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose adam, adamw or lbfgs")
        if self.epochs < 1:
            raise UserError(f"--epochs must be at least 1, got {self.epochs}")
        if self.patience < 1 or not (0 <= self.plateau_rtol < 1):
            raise UserError(
                f"patience must be >= 1 and plateau_rtol in [0, 1), got {self.patience} and {self.plateau_rtol}"
            )
        if self.width is not None and not 1 <= self.width <= MAX_NET_WIDTH:
            raise UserError(f"--width must be from 1 to {MAX_NET_WIDTH:,} units, got {self.width:,}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"--lr must be a positive number, got {self.lr}")
        if self.restarts < 1:
            raise UserError(f"--restarts must be at least 1, got {self.restarts}")
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.dtype not in ("float64", "float32"):
            raise UserError(f"unknown dtype {self.dtype!r}; choose float64 or float32")
        resolve_device(self.device)


def training_bytes(N: int, d: int, depth: int, width: int, baseline: bool = False, activation: str = "abs") -> float:
    """Memory (float64) one training run needs about: parameters with their gradients and two Adam moments
    (4 copies; the MLP's hidden layers are width x width), and the (N, width) activations autograd keeps,
    two per layer (three for srelu, whose relu(s) and relu(-s) are both kept; its u- and alpha- add
    width x (depth - 1) parameters)."""
    mirrored = not baseline and activation == "srelu"
    if baseline:
        params = d * width + (depth - 2) * width * width + (depth - 1) * width + width + 1
    else:
        params = width * (d + 2 * depth + mirrored * (depth - 1)) + 1
    return 8.0 * (4 * params + (2 + mirrored) * N * width * depth)


class MLP(nn.Module):
    """Plain MLP with L weight layers of width m and activation relu or abs: (n, d) -> (n,)."""

    def __init__(self, d: int, m: int, depth: int, activation: str = "relu", dtype=torch.float64):
        super().__init__()
        sizes = [d] + [m] * (depth - 1) + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.act = torch.relu if activation == "relu" else torch.abs

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            X = self.act(layer(X))
        return self.layers[-1](X)[:, 0]

    def objective(self, X: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
        """1/2 ||f(X) - y||^2 + (beta/2) sum of squared weights (ordinary weight decay; biases free)."""
        r = self(X) - y
        return 0.5 * (r @ r) + 0.5 * beta * sum((layer.weight**2).sum() for layer in self.layers)


def init_parallel(net: ParallelNet, X: torch.Tensor, gen: torch.Generator) -> None:
    """Random start, in place: first-layer hyperplanes through random data points (unit normals); at each deeper
    level unit weights (abs: u = 1; srelu: u+ = u- = 1, the |.| start; relu: u = +-1 at random, so either side of
    the previous kink may pass) and the offset b = -u c, c a uniform fraction of the mean over the data of the
    previous level's activation (|s|, or relu(s) for relu), so each new kink lies inside the range of its input;
    output weights N(0, 0.01 / m) (srelu: alpha+ and alpha- drawn independently); xi = 0."""
    m, d = net.W.shape
    dt = net.W.dtype
    relu = net.activation == "relu"
    ones = torch.ones(m, dtype=dt)
    with torch.no_grad():
        W = torch.randn(m, d, generator=gen, dtype=dt)
        W /= W.norm(dim=1, keepdim=True)
        anchor = X[torch.randint(len(X), (m,), generator=gen)]
        net.W.copy_(W)
        net.b1.copy_(-(W * anchor).sum(1))
        s = X @ net.W.T + net.b1
        for l in range(net.depth - 2):
            h = weighted(s, ones, ones, "relu" if relu else "abs")
            frac = torch.rand(m, generator=gen, dtype=dt)
            u = 2.0 * torch.randint(2, (m,), generator=gen).to(dt) - 1 if relu else ones
            net.U[:, l] = u
            if net.U2 is not None:
                net.U2[:, l] = 1.0
            net.B[:, l] = -u * h.mean(0) * frac
            s = u * h + net.B[:, l]
        for alpha in (net.alpha, net.alpha2):
            if alpha is not None:
                alpha.copy_(torch.randn(m, generator=gen, dtype=dt) * 0.1 / math.sqrt(m))
        net.xi.zero_()


@dataclass
class TrainResult:
    """A trained model, its final objective, epochs run, seconds, and the objective every 10 epochs."""

    model: nn.Module
    objective: float
    epochs: int
    seconds: float
    history: list[float]


#: Below this many (data points x parameters) a CPU step runs on one thread: intra-op threads only add
#: synchronisation to such small steps (measured here: 300 epochs of a 20-point MLP took 27 s on 2 busy
#: cores with 2 threads, 0.2 s with 1).
SINGLE_THREAD_WORK = 10_000_000


@contextmanager
def _cpu_threads(n: int | None):
    """Temporarily use n torch CPU threads (None: leave as is)."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, beta: float, cfg: TrainConfig, seed: int) -> TrainResult:
    """Minimise model.objective(X, y, beta) in place from its current parameters; returns the result.

    Minibatches (cfg.batch_size) scale the data term by N / batch so each step estimates P(theta)."""
    n_params = sum(p.numel() for p in model.parameters())
    small = resolve_device(cfg.device).type == "cpu" and len(X) * n_params < SINGLE_THREAD_WORK
    with _cpu_threads(1 if small else None):
        return _train(model, X, y, beta, cfg, seed)


def _train(model: nn.Module, X: np.ndarray, y: np.ndarray, beta: float, cfg: TrainConfig, seed: int) -> TrainResult:
    device = resolve_device(cfg.device)
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
    model.to(device=device, dtype=dtype)
    Xt = torch.tensor(X, dtype=dtype, device=device)
    yt = torch.tensor(y, dtype=dtype, device=device)
    N = len(Xt)
    gen = torch.Generator().manual_seed(seed)
    params = list(model.parameters())
    if cfg.optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            params, lr=cfg.lr, max_iter=20, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15
        )
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)  # the penalty is in the objective
    else:
        opt = torch.optim.Adam(params, lr=cfg.lr)
    t0 = time.perf_counter()
    history: list[float] = []
    best, since, epoch = math.inf, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        if cfg.optimizer == "lbfgs":

            def closure():
                opt.zero_grad()
                loss = model.objective(Xt, yt, beta)
                loss.backward()
                return loss

            opt.step(closure)
        else:
            bs = cfg.batch_size or N
            for idx in torch.randperm(N, generator=gen).split(bs) if bs < N else [None]:
                opt.zero_grad()
                if idx is None:
                    loss = model.objective(Xt, yt, beta)
                else:
                    idx = idx.to(device)
                    r = model(Xt[idx]) - yt[idx]
                    loss = 0.5 * (N / len(idx)) * (r @ r) + (model.objective(Xt[:0], yt[:0], beta))
                loss.backward()
                opt.step()
        with torch.no_grad():
            value = float(model.objective(Xt, yt, beta))
        if epoch % 10 == 0 or epoch == 1:
            history.append(value)
        if not math.isfinite(value):
            break
        if value < best * (1 - cfg.plateau_rtol):
            best, since = value, 0
        else:
            since += 1
            if since >= cfg.patience:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    with torch.no_grad():
        final = float(model.objective(Xt, yt, beta))
    return TrainResult(model, final, epoch, time.perf_counter() - t0, history)


def train_parallel(
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    depth: int,
    width: int,
    norm: str,
    cfg: TrainConfig,
    seed: int,
    activation: str = "abs",
) -> TrainResult:
    """Train the parallel network with `activation` (abs, relu or srelu) on P(theta) from cfg.restarts random
    starts; keep the best."""
    best = None
    for r in range(cfg.restarts):
        gen = torch.Generator().manual_seed(seed * 1000 + r)
        net = ParallelNet(X.shape[1], width, depth, norm, activation)
        init_parallel(net, torch.tensor(X, dtype=torch.float64), gen)
        res = train(net, X, y, beta, cfg, seed * 1000 + r)
        if best is None or res.objective < best.objective:
            best = res
    return best


def train_baseline(
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    depth: int,
    width: int,
    cfg: TrainConfig,
    seed: int,
    activation: str = "relu",
) -> TrainResult:
    """Train the weight-decay MLP baseline from cfg.restarts seeded default initialisations; keep the best."""
    best = None
    for r in range(cfg.restarts):
        torch.manual_seed(seed * 1000 + r)  # nn.Linear's default initialisation draws from the global generator
        res = train(MLP(X.shape[1], width, depth, activation), X, y, beta, cfg, seed * 1000 + r)
        if best is None or res.objective < best.objective:
            best = res
    return best


def predict(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """Model outputs on X (n, d) as float64 numpy (n,)."""
    p = next(model.parameters())
    with torch.no_grad():
        return model(torch.tensor(X, dtype=p.dtype, device=p.device)).double().cpu().numpy()


def _flat_grad(net: nn.Module) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in net.parameters()])


def stationarity(net: ParallelNet, X: np.ndarray, y: np.ndarray, beta: float, eps: float = 1e-9) -> float:
    """Relative norm of the smallest Clarke-type subgradient of P(theta) at an abs net, divided by the norm of the
    penalty's gradient; 0 at a stationary point of the non-smooth training problem.

    With pre-activations a_l (a_0 = W x + b1, a_l = u_l |a_(l-1)| + b_l) and E_l = d|a_(L-2)| / d a_l, the
    gradient is affine in E. Where |a_l| <= eps (relative), the slope of |.| is free in [-1, 1]; the
    convex hull of the chain-rule products is then E_l = delta_l prod_(k>l) |u_k| with delta_l in [-1, 1]
    independently, and the minimum norm over that box is a bounded least-squares problem."""
    from scipy.optimize import lsq_linear

    if net.activation != "abs":
        raise ValueError(f"stationarity is derived for the abs network, not {net.activation}")
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    L = net.depth
    with torch.no_grad():
        a = [Xt @ net.W.T + net.b1]
        for l in range(L - 2):
            a.append(net.U[:, l] * a[-1].abs() + net.B[:, l])
        scale = float(Xt.abs().max()) * float(net.W.norm(dim=1).max()) + 1e-300
        free = [ak.abs() <= eps * scale for ak in a]
        mag = [torch.ones(net.W.shape[0], dtype=torch.float64) for _ in a]
        for l in range(L - 3, -1, -1):
            mag[l] = mag[l + 1] * net.U[:, l].abs()
        r = net.xi + a[-1].abs() @ net.alpha - yt
    variables = [(lvl, n, i) for lvl, fz in enumerate(free) for n, i in torch.nonzero(fz).tolist()]

    def grad(delta: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            E = [None] * len(a)
            dl = [torch.zeros_like(ak) for ak in a]
            for k, (lvl, n, i) in enumerate(variables):
                dl[lvl][n, i] = float(delta[k])
            for l in range(L - 2, -1, -1):
                up = torch.ones_like(a[l]) if l == L - 2 else E[l + 1] * net.U[:, l]
                E[l] = torch.where(free[l], dl[l] * mag[l], up * torch.sign(a[l]))
        net.zero_grad()
        surrogate = net.xi * r.sum() + (a[-1].abs() @ net.alpha) @ r  # d/d alpha, d/d xi
        h = Xt @ net.W.T + net.b1
        ra = r[:, None] * net.alpha.detach()
        terms = [(h * (ra * E[0])).sum()]
        for l in range(L - 2):
            pre = net.U[:, l] * a[l].abs() + net.B[:, l]  # direct dependence on level-l parameters only
            terms.append((pre * (ra * E[l + 1])).sum())
        (surrogate + sum(terms) + beta / L * net.penalty()).backward()
        return _flat_grad(net).numpy().copy()

    g0 = grad(np.zeros(len(variables)))
    net.zero_grad()
    (beta / L * net.penalty()).backward()
    pen = float(_flat_grad(net).norm())
    net.zero_grad()
    if not variables:
        return float(np.linalg.norm(g0)) / max(pen, 1e-300)
    J = np.stack([grad(np.eye(len(variables))[k]) - g0 for k in range(len(variables))], axis=1)
    sol = lsq_linear(J, -g0, bounds=(-1.0, 1.0), method="bvls", tol=1e-15)
    return float(np.linalg.norm(g0 + J @ sol.x)) / max(pen, 1e-300)
