"""The compiled inner loop of the 2-D angle sweep (sweep.py; theory.md section 7), one pin tuple at a time.

For a tuple with kink points q_K and signs s_K, every term s_K lambda_n |(x_n - q_K) . w| flips sign at the
angle where w is normal to x_n - q_K, carried as kappa = -cot(theta) = v_y / v_x (v = x_n - q_K), with jump
J = 2 s_K lambda_n (sigma v), sigma v = -|v_x| (1, kappa) (a vertical v: kappa = -infinity, J = (0, 2 s_K
lambda_n |v_y|)). The K N breakpoints are ordered by a bucket sort on kappa / (1 + |kappa|) (monotone, in
[-1, 1]) finished by insertion sort within buckets, linear time on spread angles; their prefix sums give the
tuple's linear form G on every interval (G(0+) = -sum J / 2), and the value G . w(kappa) is largest at a
breakpoint, at theta = 0, or (`l2`) at w = G / ||G|| inside an interval. F1 and F2 tuples are genuine features
only where (D1 . w)(D2 . w) >= 0 (F1) or <= 0 (F2): values outside are skipped and the domain's two ends are
extra evaluation points. One tuple costs O(K N) and allocates nothing; the GIL is released, so threads run
chunks of tuples side by side.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from symcli.lasso.features import F1, F2, PLAIN

#: Stand-in for kappa = -infinity (theta = 0): its square stays finite (data and lambda are scaled to 1).
KAPPA_FAR = 1e150


def _compiled(fn):
    """fn compiled without the GIL, its machine code cached on disk; where numba finds no writable cache
    folder (a read-only install and home), compiled afresh in each process instead of failing the import."""
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:
        return njit(nogil=True)(fn)


@_compiled
def _kappa(dx: float, dy: float) -> float:
    """kappa of the angle where w is normal to (dx, dy); theta = 0 (-KAPPA_FAR) for dx = 0."""
    if dx == 0.0:
        return -KAPPA_FAR
    return min(max(dy / dx, -KAPPA_FAR), KAPPA_FAR)


@_compiled
def _order(key, n, count, idx, bucket):
    """idx[:n] = the argsort of key[:n]: a bucket sort on key / (1 + |key|) over n buckets, then insertion sort
    inside each bucket. count (n + 1,) and bucket (n,) are scratch."""
    count[: n + 1] = 0
    for e in range(n):
        k = key[e]
        b = min(max(int((k / (1.0 + abs(k)) + 1.0) * 0.5 * n), 0), n - 1)  # clamped: never out of bounds
        bucket[e] = b
        count[b + 1] += 1
    for b in range(n):
        count[b + 1] += count[b]
    for e in range(n):
        b = bucket[e]
        idx[count[b]] = e
        count[b] += 1
    start = 0  # count[b] is now the end of bucket b
    for b in range(n):
        end = count[b]
        for i in range(start + 1, end):
            e = idx[i]
            k = key[e]
            j = i - 1
            while j >= start and key[idx[j]] > k:
                idx[j + 1] = idx[j]
                j -= 1
            idx[j + 1] = e
        start = end


@_compiled
def _outside(kind, d1, d2):
    """Whether a point with D1 . w = d1 and D2 . w = d2 is outside the tuple's domain."""
    return (kind == F1 and d1 * d2 < 0.0) or (kind == F2 and d1 * d2 > 0.0)


@_compiled
def sweep_tuples(X, lam, C, signs, coef, kind, l1, tup, value, w):
    """max over theta of |tuple function| for each pin tuple, written to value (T,) and a maximising direction
    (unnormalised) to w (T, 2).

    X (N, 2) and lam (N,) scaled to max |entry| 1; C (K, n_pins) the kink points as combinations of the pins,
    signs (K,) their s_K; coef (3, n_pins) the M, A, B rows (for the F1 / F2 domain); kind PLAIN, F1 or F2;
    l1: the `l1` norm of w (else `l2`); tup (T, n_pins) the pins."""
    N = X.shape[0]
    K, P = C.shape
    E = K * N + 3
    key, jx, jy = np.empty(E), np.empty(E), np.empty(E)
    ks, Gx, Gy = np.empty(E), np.empty(E), np.empty(E)
    end = np.zeros(E, np.bool_)  # a domain end: always inside
    idx, bucket, count = np.empty(E, np.int64), np.empty(E, np.int64), np.empty(E + 1, np.int64)
    q = np.empty((K, 2))
    for t in range(tup.shape[0]):
        for k in range(K):
            q[k, 0] = q[k, 1] = 0.0
            for p in range(P):
                q[k, 0] += C[k, p] * X[tup[t, p], 0]
                q[k, 1] += C[k, p] * X[tup[t, p], 1]
        n_e, tx, ty = 0, 0.0, 0.0
        for k in range(K):
            s2 = -2.0 * signs[k]
            for n in range(N):
                vx, vy = X[n, 0] - q[k, 0], X[n, 1] - q[k, 1]
                sc = s2 * lam[n]
                if vx != 0.0 and abs(vx) * KAPPA_FAR > abs(vy):
                    kk = vy / vx
                    key[n_e], jx[n_e], jy[n_e] = kk, sc * abs(vx), sc * abs(vx) * kk
                elif vy != 0.0:  # within 1e-150 of theta = 0: there
                    key[n_e], jx[n_e], jy[n_e] = -KAPPA_FAR, 0.0, -sc * abs(vy)
                else:  # x_n = q_K: no term
                    continue
                end[n_e] = False
                tx += jx[n_e]
                ty += jy[n_e]
                n_e += 1
        if l1:  # theta = pi / 2: |G . w| / ||w||_1 is monotone between axes
            key[n_e], jx[n_e], jy[n_e], end[n_e] = 0.0, 0.0, 0.0, False
            n_e += 1
        d1x = d1y = d2x = d2y = 0.0
        if kind != PLAIN:  # D1, D2 = A' -+ B with A' = A (F1) or 2 A (F2)
            ax = ay = bx = by = 0.0
            for p in range(P):
                ax += coef[1, p] * X[tup[t, p], 0]
                ay += coef[1, p] * X[tup[t, p], 1]
                bx += coef[2, p] * X[tup[t, p], 0]
                by += coef[2, p] * X[tup[t, p], 1]
            if kind == F2:
                ax, ay = 2.0 * ax, 2.0 * ay
            d1x, d1y, d2x, d2y = ax - bx, ay - by, ax + bx, ay + by
            for kk in (_kappa(d1x, d1y), _kappa(d2x, d2y)):
                key[n_e], jx[n_e], jy[n_e], end[n_e] = kk, 0.0, 0.0, True
                n_e += 1
        if n_e == 0:
            value[t], w[t, 0], w[t, 1] = 0.0, 1.0, 0.0
            continue
        _order(key, n_e, count, idx, bucket)
        gx, gy = -0.5 * tx, -0.5 * ty
        g0x, g0y = gx, gy
        for i in range(n_e):
            e = idx[i]
            gx += jx[e]
            gy += jy[e]
            ks[i], Gx[i], Gy[i] = key[e], gx, gy
        best = -1.0 if _outside(kind, d1x, d2x) else g0x * g0x  # theta = 0: w = (1, 0)
        wx, wy = 1.0, 0.0
        for i in range(n_e):  # breakpoints: the value there is G . (-kappa, 1) / ||(-kappa, 1)||
            k = ks[i]
            v = Gy[i] - k * Gx[i]
            den = (abs(k) + 1.0) ** 2 if l1 else k * k + 1.0
            if v * v > best * den and (end[idx[i]] or not _outside(kind, d1y - k * d1x, d2y - k * d2x)):
                best, wx, wy = v * v / den, -k, 1.0
        if not l1:  # interval i (G_(i-1) between kappa_(i-1) and kappa_i): its maximum w = G / ||G|| if inside
            for i in range(n_e + 1):
                gx, gy = (g0x, g0y) if i == 0 else (Gx[i - 1], Gy[i - 1])
                if i == 0:
                    inside = (gx + ks[0] * gy) * gy >= 0.0
                elif i == n_e:
                    inside = (gx + ks[i - 1] * gy) * gy <= 0.0
                else:
                    inside = (gx + ks[i - 1] * gy) * (gx + ks[i] * gy) <= 0.0
                s = gx * gx + gy * gy
                if inside and s > best and not _outside(kind, d1x * gx + d1y * gy, d2x * gx + d2y * gy):
                    best, wx, wy = s, gx, gy
        value[t], w[t, 0], w[t, 1] = np.sqrt(max(best, 0.0)), wx, wy
