"""Solvers of the reflection Lasso, behind one interface.

    min_(z, xi)  1/2 || A z + xi 1 - y ||^2 + beta ||z||_1          A: (N, p), y: (N,)

xi is eliminated by centring: xi = mean(y - A z), so the problem is a plain Lasso in the centred
A_c, y_c with residual r = y_c - A_c z, dual point lambda = r (1^T lambda = 0), optimality
|A^T lambda| <= beta, and dual objective D(lambda) = 1/2 ||y_c||^2 - 1/2 ||y_c - lambda||^2.

- `fast`: a working set grown by pricing all columns (A^T r), with an exact sign-constrained
  active-set solve on the working set (finite termination, warm-started). Cheap when N is small and
  the support has at most about N columns, as on these dictionaries (theory.md section 7).
- `cvxpy`: the reference, cvxpy with the Clarabel interior-point solver (always named explicitly).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
from scipy.linalg import qr, qr_delete, solve_triangular

from symcli.core.errors import UserError
from symcli.core.numerics import BETA_MIN_FRACTION, KKT_TOL

#: `stream` (lasso/streaming.py) prices implicit dictionaries (lasso/implicit.py); on a materialised matrix it
#: is `fast`.
SOLVERS = ("fast", "cvxpy", "stream")
_BLAS = None


def single_thread_blas():
    """Context with single-threaded BLAS/LAPACK: the small factorisations of the active-set solve run
    slower on threads, and hundreds of times slower when the cores are busy (OpenBLAS spin-waits).
    A no-op without threadpoolctl."""
    global _BLAS
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return contextlib.nullcontext()
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


#: Why a solver stopped (LassoResult.stop_reason). Only 'converged' means its own optimality test passed.
STOP_REASONS = ("converged", "stalled", "max_iterations", "max_rounds")
#: Total active-set steps one solve_fast call may take (over all its pricing rounds).
MAX_ITERATIONS = 100_000
#: solve_fast stops as `stalled` after STALL_ROUNDS pricing rounds in a row that lowered the objective by
#: less than STALL_RTOL x 1/2 ||y_c||^2 (the objective of z = 0): the rounding floor of near-interpolating
#: fits, where the remaining KKT violations (~1e-9 relative) are noise and the active set only cycles.
STALL_ROUNDS = 5
STALL_RTOL = 1e-13
#: The active-set method inserts up to INSERT_BATCH violators (the worst) per gradient: a gradient reads all
#: of B, an insertion only updates the factorisation.
INSERT_BATCH = 8


@dataclass
class LassoResult:
    """z: (p,) coefficients; xi: output bias; objective: primal value; duality_gap: P - D (absolute) at
    the scaled residual, over every column of A; relative_gap: duality_gap / objective.

    converged: the solver's own stopping test passed (fast/stream: no column has |A_j^T r| > beta (1 + KKT_TOL);
    cvxpy: Clarabel's status is optimal). stop_reason says why it stopped: 'converged'; 'stalled' (the
    objective stopped falling at the rounding floor with violations left, see STALL_ROUNDS); 'max_iterations'
    (MAX_ITERATIONS active-set steps spent); 'max_rounds' (every pricing round spent); for cvxpy any other
    Clarabel status. Whether the point is nonetheless optimal is for the duality gap and the certificate to
    say (fit.py reports `converged` true when an exact certificate proves it)."""

    z: np.ndarray
    xi: float
    objective: float
    duality_gap: float
    relative_gap: float
    nnz: int
    iterations: int
    seconds: float
    solver: str
    converged: bool
    stop_reason: str = ""

    def __post_init__(self):
        if not self.stop_reason:  # solvers that do not say (lasso/streaming.py): only its pricing rounds end it
            self.stop_reason = "converged" if self.converged else "max_rounds"


def beta_max(A: np.ndarray, y: np.ndarray) -> float:
    """Smallest beta for which z = 0 is optimal: max_j |A_j^T (y - mean y)|."""
    return float(np.abs(A.T @ (y - y.mean())).max(initial=0.0))


def check_beta(beta: float, bmax: float) -> None:
    """UserError when beta is below BETA_MIN_FRACTION of beta_max: the Lasso is then interpolation up to
    rounding, which the solvers can neither stop on nor certify. (beta_max 0: z = 0 is exact, nothing to check.)"""
    if bmax > 0 and beta < BETA_MIN_FRACTION * bmax:
        raise UserError(
            f"beta {beta:.3g} is below {BETA_MIN_FRACTION:g} x beta_max = {BETA_MIN_FRACTION * bmax:.3g} (beta_max "
            f"{bmax:.3g}), where the Lasso is interpolation up to rounding and cannot be solved to a certified "
            f"optimum; pass --beta {BETA_MIN_FRACTION * bmax:.3g} or more"
        )


def residual(A: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, float]:
    """Residual lambda = y - A z - xi 1 at the optimal xi = mean(y - A z); returns (lambda (N,), xi)."""
    q = y - A @ z
    xi = float(q.mean())
    return q - xi, xi


def primal_dual(A: np.ndarray, y: np.ndarray, z: np.ndarray, beta: float) -> tuple[float, float, float, np.ndarray]:
    """(objective, duality gap, xi, lambda) of z, with lambda = residual scaled into the dual feasible set."""
    r, xi = residual(A, y, z)
    P = 0.5 * r @ r + beta * np.abs(z).sum()
    g = np.abs(A.T @ r).max(initial=0.0)
    lam = r * min(1.0, beta / g) if g > 0 else r
    yc = y - y.mean()
    D = 0.5 * yc @ yc - 0.5 * (yc - lam) @ (yc - lam)
    return float(P), float(max(P - D, 0.0)), xi, r


class _ActiveQR:
    """QR of the active columns of M = [B; rho I_k] (B: (N, k)), kept up to date by column insertions
    (classical Gram-Schmidt, twice) and deletions (scipy.linalg.qr_delete), in place in a Fortran-ordered
    buffer, refactored every `refresh` updates.

    M_P^T M_P = B_P^T B_P + rho^2 I, so the signed stationary point on P,
    argmin_z 1/2 ||y - B_P z||^2 + rho^2/2 ||z||^2 + beta s_P^T z, is z_P = R^-1 (Q_1^T y - beta R^-T s_P)
    with Q_1 the first N rows of Q. Only the rho rows of columns in P (or deleted since the last
    refactoring, then zero) are held: Q is (N + |P| + refresh, |P|) (the spare rows zero), not N + k rows;
    the rho row keeps every inserted column independent of the others, so R stays nonsingular."""

    def __init__(self, B: np.ndarray, rho: float, refresh: int = 256):
        self.B, self.rho, self.refresh = B, rho, refresh
        self.reset([])

    @property
    def Q(self) -> np.ndarray:
        return self._Q[:, : len(self.P)]

    def reset(self, P) -> None:
        self.P = [int(j) for j in P]
        self.updates = 0
        N, n = self.B.shape[0], len(self.P)
        self.free = N + n  # the next spare (zero) row of Q: the next inserted column's rho row
        self._Q = np.zeros((N + n + self.refresh, n + self.refresh), order="F")
        self.R = np.zeros((n, n), order="F")
        if n:
            M = np.zeros((N + n, n))
            M[:N] = self.B[:, self.P]
            M[N + np.arange(n), np.arange(n)] = self.rho
            self._Q[: N + n, :n], self.R[:] = qr(M, mode="economic")

    def insert(self, j: int) -> None:
        if not self.P or self.updates >= self.refresh:
            self.reset(self.P + [int(j)])
            return
        Q, n = self.Q, len(self.P)
        u = np.zeros(Q.shape[0])
        u[: self.B.shape[0]] = self.B[:, j]
        u[self.free] = self.rho
        w = Q.T @ u
        u -= Q @ w
        w2 = Q.T @ u
        u -= Q @ w2
        norm = float(np.linalg.norm(u))
        self._Q[:, n] = u / norm
        R = np.zeros((n + 1, n + 1), order="F")
        R[:n, :n] = self.R
        R[:n, n] = w + w2
        R[n, n] = norm
        self.R = R
        self.free += 1
        self.P.append(int(j))
        self.updates += 1

    def delete(self, drop: set[int]) -> None:
        keep = [j for j in self.P if j not in drop]
        if not keep or self.updates + len(drop) > self.refresh:
            self.reset(keep)
            return
        for pos in sorted((i for i, j in enumerate(self.P) if j in drop), reverse=True):
            n = len(self.P)
            Q, self.R = qr_delete(self.Q, self.R, pos, 1, which="col", overwrite_qr=True, check_finite=False)
            if Q.ctypes.data != self._Q.ctypes.data:  # pragma: no cover - scipy updated a copy
                self._Q[:, : n - 1] = Q
            del self.P[pos]
            self.updates += 1

    def stationary(self, y: np.ndarray, beta: float, s: np.ndarray) -> np.ndarray:
        """z_P (in the order of self.P) for signs s (indexed like B's columns)."""
        w = self.Q[: len(y)].T @ y - beta * solve_triangular(self.R, s[self.P], trans="T", check_finite=False)
        return solve_triangular(self.R, w, check_finite=False)


def active_set_lasso(
    B: np.ndarray, y: np.ndarray, beta: float, z: np.ndarray, tol: float = KKT_TOL, max_iter: int = 10_000
) -> tuple[np.ndarray, int]:
    """Exact Lasso min 1/2 ||y - B z||^2 + beta ||z||_1 on centred B (N, k), y (N,), from z (k,).

    Lawson-Hanson style: the active set P holds nonzeros with fixed signs s; the worst violators (up to
    INSERT_BATCH) enter P with the signs of their gradients, and each step solves the stationarity system
    on P (a QR of [B_P; rho I] kept up to date by column updates) and steps back to the first sign change
    when the solution crosses zero; an entering column that cannot move off zero with its sign leaves
    (tabu until the next stationary point). Each step lowers the objective. Stops when every inactive
    column has |B_j^T r| <= beta (1 + tol). Returns (z, iterations: stationarity solves).
    """
    with single_thread_blas():
        return _active_set(B, y, beta, z, tol, max_iter)


def _active_set(B, y, beta, z, tol, max_iter, batch=INSERT_BATCH):
    z = z.astype(float).copy()
    s = np.sign(z)
    rho = 1e-8 * max(float(np.linalg.norm(B, axis=0).max(initial=0.0)), 1e-300)
    fac = _ActiveQR(B, rho)
    fac.reset(np.flatnonzero(z))
    tabu: set[int] = set()
    it = 0
    need_inner = len(fac.P) > 0
    while it < max_iter:
        if not need_inner:
            g = B.T @ (y - B[:, fac.P] @ z[fac.P])
            viol = np.abs(g) - beta * (1 + tol)
            viol[fac.P] = -np.inf
            viol[list(tabu)] = -np.inf
            new = np.flatnonzero(viol > 0)
            if len(new) == 0:
                break
            if len(new) > batch:
                new = new[np.argpartition(-viol[new], batch - 1)[:batch]]
            for j in new[np.argsort(-viol[new])]:
                fac.insert(int(j))
                s[j] = np.sign(g[j])
        need_inner = False
        while True:
            it += 1
            P = np.array(fac.P, dtype=np.int64)
            zP = fac.stationary(y, beta, s)
            bad = s[P] * zP <= 0
            if not bad.any():
                z[P] = zP
                tabu.clear()
                break
            cur = s[P] * z[P]
            stuck = bad & (cur <= 0)
            if stuck.any():  # degenerate: new columns (at 0) that cannot enter with their signs
                tabu.update(P[stuck].tolist())
                drop = stuck
            else:
                alpha = np.min(cur[bad] / (cur[bad] - s[P][bad] * zP[bad]))
                z[P] = z[P] + alpha * (zP - z[P])
                drop = s[P] * z[P] <= 1e-15 * max(np.abs(z).max(initial=0.0), 1e-300)
            z[P[drop]] = 0.0
            s[P[drop]] = 0.0
            fac.delete(set(P[drop].tolist()))
            if len(fac.P) == 0 or it >= max_iter:
                break
    return z, it


def solve_fast(
    A: np.ndarray,
    y: np.ndarray,
    beta: float,
    z0: np.ndarray | None = None,
    tol: float = KKT_TOL,
    max_outer: int = 200,
    max_iterations: int = MAX_ITERATIONS,
) -> LassoResult:
    """Working-set solver: price all columns, grow the working set by the worst KKT violators,
    solve exactly on it (warm start), until no column violates |A_j^T r| <= beta (1 + tol) (stop_reason
    'converged'). It also stops, not converged, after max_iterations active-set steps in all
    ('max_iterations'), max_outer pricing rounds ('max_rounds'), or STALL_ROUNDS rounds without progress
    ('stalled'); the reported duality gap is then what the point is worth. One working-set solve takes at
    most max(1000, 10 k) steps (k columns): on degenerate near-interpolating problems the active set can
    cycle, and the next pricing round does better than more of the same steps."""
    t0 = time.perf_counter()
    N, p = A.shape
    yc = y - y.mean()
    mean = A.mean(axis=0)
    g = A.T @ yc
    z = np.zeros(p) if z0 is None else np.asarray(z0, dtype=float).copy()
    grow = max(N // 2, 10)
    W = np.union1d(np.flatnonzero(z), np.argsort(-np.abs(g))[: min(p, grow)])
    iters, converged, stop = 0, False, "max_rounds"
    best, idle, floor = np.inf, 0, STALL_RTOL * 0.5 * float(yc @ yc)
    for _ in range(max_outer):
        B = A[:, W] - mean[W]
        zW, it = active_set_lasso(B, yc, beta, z[W], tol, max_iter=min(max(1_000, 10 * len(W)), max_iterations - iters))
        iters += it
        z[:] = 0.0
        z[W] = zW
        r = yc - B @ zW
        r -= r.mean()
        viol = np.abs(A.T @ r) - beta * (1 + tol)
        viol[W] = -np.inf
        cand = np.flatnonzero(viol > 0)
        if len(cand) == 0:
            converged, stop = True, "converged"
            break
        if iters >= max_iterations:
            stop = "max_iterations"
            break
        objective = 0.5 * r @ r + beta * np.abs(zW).sum()
        idle = idle + 1 if objective > best - floor else 0
        best = min(best, objective)
        if idle >= STALL_ROUNDS:
            stop = "stalled"
            break
        new = cand[np.argsort(-viol[cand])[:grow]]
        keep = W[zW != 0] if len(W) > 4 * N else W
        W = np.union1d(keep, new)
    P, gap, xi, _ = primal_dual(A, y, z, beta)
    return LassoResult(
        z,
        xi,
        P,
        gap,
        gap / max(P, 1e-300),
        int(np.count_nonzero(z)),
        iters,
        time.perf_counter() - t0,
        "fast",
        converged,
        stop,
    )


def solve_cvxpy(
    A: np.ndarray, y: np.ndarray, beta: float, z0: np.ndarray | None = None, tol: float = 1e-10
) -> LassoResult:
    """Reference: cvxpy + Clarabel on the full matrix (slow; for checking and small problems).

    Clarabel's tolerances are absolute, so it solves the problem rescaled to unit data: A / sa, y / sy,
    beta / (sa sy), whose solution z' gives z = z' sy / sa (the objective scales by sy^2)."""
    import cvxpy as cp

    t0 = time.perf_counter()
    N, p = A.shape
    sa = float(np.abs(A).max(initial=0.0)) or 1.0
    sy = float(np.abs(y - y.mean()).max(initial=0.0)) or 1.0
    z, xi = cp.Variable(p), cp.Variable()
    objective = 0.5 * cp.sum_squares((A / sa) @ z + xi - (y - y.mean()) / sy) + beta / (sa * sy) * cp.norm1(z)
    prob = cp.Problem(cp.Minimize(objective))
    try:
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, max_iter=500)
    except cp.error.SolverError as e:
        raise UserError(f"cvxpy + Clarabel failed ({str(e).splitlines()[0]}); use --solver fast") from None
    if z.value is None:
        raise UserError(f"cvxpy + Clarabel found no solution (status {prob.status}); use --solver fast")
    zv = np.asarray(z.value, dtype=float) * (sy / sa)
    yc = y - y.mean()
    scale = np.linalg.norm(yc) / max(float(np.linalg.norm(A - A.mean(0), axis=0).max(initial=0.0)), 1e-300)
    zv[np.abs(zv) < 1e-9 * scale] = 0.0  # interior-point iterates are never exactly zero
    P, gap, xi_v, _ = primal_dual(A, y, zv, beta)
    return LassoResult(
        zv,
        xi_v,
        P,
        gap,
        gap / max(P, 1e-300),
        int(np.count_nonzero(zv)),
        int(prob.solver_stats.num_iters or 0),
        time.perf_counter() - t0,
        "cvxpy+clarabel",
        prob.status == cp.OPTIMAL,
        "converged" if prob.status == cp.OPTIMAL else str(prob.status),
    )


def solve(A: np.ndarray, y: np.ndarray, beta: float, solver: str = "fast", z0: np.ndarray | None = None) -> LassoResult:
    """Solve the Lasso with the named solver ('fast' or 'cvxpy'; 'stream' on a materialised A is 'fast')."""
    if solver in ("fast", "stream"):
        return solve_fast(A, y, beta, z0)
    if solver == "cvxpy":
        return solve_cvxpy(A, y, beta, z0)
    raise ValueError(f"unknown solver {solver!r}")
