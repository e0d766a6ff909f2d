"""Every symmetry statistic of one fit next to its null model (symcli.science.nulls), as the cell records it.

Each entry is {observed, null, p_value, test, ...}: observed on the fit or the trained networks, null from the
stated random model on the same training points, p_value from a one-sided within-cell test. Statistics:

- share_reflection_features: l1-mass share of the Lasso's selected reflection-family features (every family but `plane`)
  vs a size-matched uniform draw from the same dictionary;
- mean_E_H: mean symmetry error of the Lasso's function about its top mirrors vs random hyperplanes through
  training points;
- share_units_pinned: share of live units of the trained |.| networks whose plane passes within eps of d
  training points vs random hyperplanes, over the units whose plane cuts the data (a plane with every training
  point on one side is linear on them, like one through an extreme point, so the data do not place it);
- pin_distance: median over those units of the d-th smallest distance of a training point to the unit's plane
  (over the data scale; 0 when d points lie on it) vs random hyperplanes;
- offset_to_pinned: median distance of the networks' deeper offsets to the nearest pinned value vs random offsets
  (offsets whose nested kink falls inside the data, strictly between the smallest and largest pinned value; one
  outside is linear on the training points);
- share_kinks_near (d = 1): share of the networks' kinks in the data range near a data point or a reflection
  2 x_j - x_k vs kinks uniform on the data range.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from symcli.lasso.features import FAMILIES
from symcli.science.nulls import (
    family_share_statistic,
    kink_statistic,
    kink_tolerance,
    mirror_symmetry_statistic,
    offset_statistic,
    pin_distance_statistic,
    pinning_statistic,
)

REFLECTION_CODES = frozenset(i for i, f in enumerate(FAMILIES) if f != "plane")


def lasso_statistics(
    families: np.ndarray | None,
    selected: np.ndarray,
    z: np.ndarray,
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    X_eval: np.ndarray,
    mirror_errors: list[float],
    seed: int,
) -> dict:
    """share_reflection_features and mean_E_H with their nulls. families: (p,) family codes of every dictionary column
    (None when the dictionary is implicit: the share's null is then not computed); selected (k,) indices of the
    selected columns and z (p,) the coefficients; f the fitted function; X (N, d); X_eval (M, d)."""
    out = {}
    if families is not None:
        out["share_reflection_features"] = family_share_statistic(
            families, selected, np.abs(z[selected]), set(REFLECTION_CODES), seed
        )
    if mirror_errors:
        out["mean_E_H"] = mirror_symmetry_statistic(f, X, X_eval, mirror_errors, seed)
    return out


def nets_statistics(syms: list[dict], X: np.ndarray, depth: int, seed: int) -> dict:
    """share_units_pinned, offset_to_pinned (depth >= 3) and share_kinks_near (d = 1) of a cell's trained
    networks (syms: symcli.science.symmetry.network_symmetry of each, with `units`), pooled over the networks."""
    if not syms:
        return {}
    units = [u for s in syms for u in s["units"]]
    cutting = [u for u in units if u["crosses_data"]]  # a plane beside the data is not placed by it
    near = np.array([u["points_within_eps"] for u in cutting], dtype=np.int64)
    out = {
        "share_units_pinned": pinning_statistic(near, X, syms[0]["eps"], seed),
        "pin_distance": pin_distance_statistic([u["pin_distance"] for u in cutting], X, seed),
    }
    out["share_units_pinned"]["units_outside_data"] = len(units) - len(cutting)
    if depth >= 3:
        inside = [o for u in units for o, cut in zip(u["offset_to_pinned"], u["offset_cuts_data"], strict=True) if cut]
        out["offset_to_pinned"] = offset_statistic(inside, X, depth, seed)
    if X.shape[1] == 1:
        x = X[:, 0]
        kinks = np.concatenate([np.asarray(s.get("kinks", []), dtype=np.float64) for s in syms])
        out["share_kinks_near"] = kink_statistic(kinks, x, kink_tolerance(x))
    return out


def flatten(stats: dict, shuffled: dict | None = None) -> dict:
    """{stat, stat_null, stat_p[, stat_shuffled]} columns of a results row from lasso/nets statistics."""
    row = {}
    for name, s in stats.items():
        row[name], row[f"{name}_null"], row[f"{name}_p"] = s.get("observed"), s.get("null"), s.get("p_value")
    for name, s in (shuffled or {}).items():
        row[f"{name}_shuffled"] = s.get("observed")
    return row
