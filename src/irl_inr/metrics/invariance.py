"""How invariant codes are to the pose: cosines of re-posed copies against those between
images, and whether a re-posed copy retrieves its own image."""

from __future__ import annotations

from typing import Any

import numpy as np

from irl_inr.metrics.arrays import as_numpy, feature_matrix, unit_rows
from irl_inr.metrics.neighbours import check_backend, inner_product_search


def _original_and_reposed(
    codes_original: Any, codes_reposed: Any, min_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    original = feature_matrix(codes_original, "codes_original", min_samples=min_samples)
    reposed = as_numpy(codes_reposed, "codes_reposed")
    if reposed.ndim == 2:
        reposed = reposed[None]
    reposed = feature_matrix(reposed, "codes_reposed", ndim=3, min_samples=min_samples)
    if reposed.shape[0] < 1:
        raise ValueError(f"codes_reposed needs at least one copy, got shape {reposed.shape}")
    if reposed.shape[1:] != original.shape:
        raise ValueError(
            "codes_reposed must have shape (K, N, d) matching codes_original (N, d) = "
            f"{original.shape}, got {reposed.shape}"
        )
    return original, reposed


def invariance_scores(codes_original: Any, codes_reposed: Any) -> dict[str, float]:
    """How much codes move under re-posing, against how far apart images are.

    codes_original: (N, d) codes of N images; codes_reposed: (K, N, d) codes of K
    re-posed copies of each image ((N, d) is taken as K = 1).

    * ``invariance_cos``: mean cosine between each image's code and the codes of
      its re-posed copies (1 for perfectly invariant codes);
    * ``between_cos``: mean cosine between the codes of two different images,
      over all N (N - 1) ordered pairs.  It is computed exactly in O(N d) from
      ``sum_{i != j} u_i.u_j = ||sum_i u_i||^2 - sum_i ||u_i||^2`` on the unit
      codes ``u``, so no pair sampling (and no seed) is needed.

    Invariance means something only relative to ``between_cos``: collapsed codes
    score 1 on both.  All-zero codes count as cosine 0 with everything.
    """
    original, reposed = _original_and_reposed(codes_original, codes_reposed, min_samples=2)
    unit = unit_rows(original, np.float64)
    unit_reposed = unit_rows(reposed, np.float64)
    invariance = float(np.einsum("nd,knd->kn", unit, unit_reposed).mean())
    n = unit.shape[0]
    summed = unit.sum(axis=0)
    off_diagonal = float(summed @ summed) - float((unit * unit).sum())
    between = off_diagonal / (n * (n - 1))
    return {"invariance_cos": invariance, "between_cos": float(between)}


def pose_retrieval_top1(
    codes_original: Any, codes_reposed: Any, backend: str = "auto"
) -> float:
    """Share of re-posed copies whose most similar original code (cosine) is
    their own image's, among all N originals.

    codes_original: (N, d); codes_reposed: (K, N, d) or (N, d).  A tie for the top
    place counts as a miss (so collapsed codes score 0, not 1).  Exact search
    (faiss ``IndexFlatIP`` or numpy, see :func:`nearest_neighbours`).
    """
    original, reposed = _original_and_reposed(codes_original, codes_reposed, min_samples=1)
    check_backend(backend)
    copies, n, d = reposed.shape
    database = unit_rows(original)
    queries = unit_rows(reposed.reshape(copies * n, d))
    own = np.tile(np.arange(n), copies)
    if n == 1:
        return 1.0
    indices, scores = inner_product_search(database, queries, 2, backend)
    hit = (indices[:, 0] == own) & (scores[:, 0] > scores[:, 1])
    return float(hit.mean())
