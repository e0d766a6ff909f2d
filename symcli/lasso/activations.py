"""The activations of the parallel network (symcli.lasso.network.ParallelNet), written once for numpy arrays and
torch tensors alike (only operators, abs() and .clip() are used), so the trained model and the numpy symmetry
statistics (symcli.science.symmetry) share one forward pass.

A unit i carries scalar pre-activations s_1 .. s_(L-1) (a chain after its first layer):

    s_1 = w_i^T x + b_i1,    s_l = sigma(s_(l-1); u_il) + b_il  (l = 2 .. L-1),    unit output sigma(s_(L-1); alpha_i)

with the weighted activation sigma(s; v) of a weight v:

    abs:    v |s|
    relu:   v relu(s)
    srelu:  v+ relu(s) + v- relu(-s)   (each half of the mirrored pair has its own weight; v = (v+, v-))

srelu contains abs (v+ = v-) and relu (v- = 0). The size of a weight, which the penalty raises to the L-th power
and gains multiply, is |v|, and max(|v+|, |v-|) for srelu.
"""

from __future__ import annotations

ACTIVATIONS = ("abs", "relu", "srelu")


def weighted(s, v, v2, activation: str):
    """sigma(s; v) for pre-activations s (n, m) and weights v (m,) (srelu: v = v+ and v2 = v-, else v2 None):
    (n, m)."""
    if activation == "abs":
        return v * abs(s)
    if activation == "relu":
        return v * s.clip(min=0)
    if activation == "srelu":
        return v * s.clip(min=0) + v2 * (-s).clip(min=0)
    raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")


def size(v, v2):
    """|v|, or max(|v|, |v2|) when v2 (srelu's second weight) is given; elementwise, any shape."""
    return abs(v) if v2 is None else abs(v).clip(min=abs(v2))


def preactivations(X, W, b1, U, B, activation: str, U2=None) -> list:
    """[s_1, .., s_(L-1)] of every unit at points X (n, d): each (n, m). W (m, d), b1 (m,), U and B (m, L-2),
    U2 (m, L-2) srelu's weights u- (None otherwise, U then holds u or u+)."""
    s = [X @ W.T + b1]
    for l in range(U.shape[1]):
        s.append(weighted(s[-1], U[:, l], None if U2 is None else U2[:, l], activation) + B[:, l])
    return s
