"""How widely the true viewing directions (3-D unit vectors, e.g. of particle images)
spread within each cluster of a clustering, for the report."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _checked_assignments(assignments: np.ndarray, count: int, n_clusters: int) -> np.ndarray:
    assignments = np.asarray(assignments)
    if assignments.shape != (count,):
        raise ValueError(f"expected {count} cluster assignments, got shape {assignments.shape}")
    if count and (assignments.min() < 0 or assignments.max() >= n_clusters):
        raise ValueError(f"cluster assignments must lie in [0, {n_clusters}), got [{assignments.min()}, "
                         f"{assignments.max()}]")
    return assignments.astype(np.int64)


def angle_between_degrees(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Angle in degrees between unit vectors, row by row: (N, 3), (N, 3) or (3,) -> (N,)."""
    cosine = np.clip(np.sum(np.asarray(first) * np.asarray(second), axis=-1), -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


def viewing_direction_spread(directions: np.ndarray, assignments: np.ndarray, n_clusters: int) -> pd.DataFrame:
    """Per cluster: ``size``, the mean viewing direction (``mean_view_x/y/z``, a unit vector)
    and ``spread_degrees``, the mean angle between the true viewing directions (N, 3) of
    its members and that mean direction (0 = one view; about 90 for directions spread over
    the whole sphere).  Empty clusters have NaN."""
    directions = np.asarray(directions, dtype=np.float64)
    assignments = _checked_assignments(assignments, len(directions), n_clusters)
    rows = []
    for cluster in range(n_clusters):
        members = directions[assignments == cluster]
        total = members.sum(axis=0)
        norm = np.linalg.norm(total)
        if len(members) == 0 or norm == 0:
            mean, spread = np.full(3, np.nan), np.nan
        else:
            mean = total / norm
            spread = float(angle_between_degrees(members, mean).mean())
        rows.append({"cluster": cluster, "size": len(members), "mean_view_x": mean[0], "mean_view_y": mean[1],
                     "mean_view_z": mean[2], "spread_degrees": spread})
    return pd.DataFrame(rows)
