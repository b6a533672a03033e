"""Exact nearest neighbours of codes (faiss or numpy) and the share of neighbours that
share a label."""

from __future__ import annotations

from typing import Any

import numpy as np

from irl_inr.metrics.arrays import as_numpy, check_same_length, feature_matrix, label_array, unit_rows

# Queries per block in the brute-force searches (bounds memory to block * N floats).
BLOCK = 1024


def _faiss():
    try:
        import faiss  # noqa: PLC0415 - optional, heavy import
    except ImportError:  # pragma: no cover - faiss-cpu is a project dependency
        return None
    return faiss


def inner_product_search(
    database: np.ndarray, queries: np.ndarray, k: int, backend: str
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner-product search: (indices, scores), best first.

    float32 in; the numpy path works block by block; ties are ordered by index in
    the numpy path and arbitrarily by faiss."""
    faiss = _faiss() if backend in ("faiss", "auto") else None
    if backend == "faiss" and faiss is None:  # pragma: no cover
        raise ValueError("backend='faiss' requested but faiss is not installed")
    if faiss is not None:
        index = faiss.IndexFlatIP(database.shape[1])
        index.add(np.ascontiguousarray(database, dtype=np.float32))
        scores, indices = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return indices.astype(np.int64), scores
    n_queries = queries.shape[0]
    indices = np.empty((n_queries, k), dtype=np.int64)
    scores = np.empty((n_queries, k), dtype=np.float32)
    for start in range(0, n_queries, BLOCK):
        block = queries[start : start + BLOCK] @ database.T  # (b, N)
        if k < block.shape[1]:
            top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(block.shape[1]), block.shape).copy()
        top_scores = np.take_along_axis(block, top, axis=1)
        # Sort by descending score, then ascending index for ties.
        order = np.lexsort((top, -top_scores), axis=1)
        indices[start : start + BLOCK] = np.take_along_axis(top, order, axis=1)
        scores[start : start + BLOCK] = np.take_along_axis(top_scores, order, axis=1)
    return indices, scores


def check_backend(backend: str) -> None:
    if backend not in ("auto", "faiss", "numpy"):
        raise ValueError(f"backend must be 'auto', 'faiss' or 'numpy', got {backend!r}")


def nearest_neighbours(
    codes: Any, k: int, metric: str = "cosine", backend: str = "auto", rows: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours of every row of ``codes`` among the others (of the
    rows ``[start, stop)`` alone when ``rows`` is given, still among all rows).

    codes: (N, d).  ``metric="cosine"`` searches inner products of the L2-normalised
    float32 codes (an all-zero code has cosine 0 with everything);
    ``metric="euclidean"`` uses ``-||a - b||^2`` as the similarity, found as
    ``2 a.b - ||b||^2`` (exact up to float32 rounding).  ``backend``: ``"faiss"``
    (``IndexFlatIP``), ``"numpy"`` (brute force, the reference) or ``"auto"``
    (faiss when importable).  The point itself is excluded (if exact duplicates
    push it out of the candidate list, the last candidate is dropped instead).

    Returns ``(indices (N, k) int64, similarities (N, k) float32)``, most similar
    first (cosine, or minus the squared distance); N is ``stop - start`` for ``rows``.
    """
    codes = feature_matrix(codes, "codes", min_samples=2)
    n = codes.shape[0]
    start, stop = (0, n) if rows is None else rows
    if not 0 <= start <= stop <= n:
        raise ValueError(f"rows must be a range [start, stop) within the {n} codes, got {rows!r}")
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n - 1:
        raise ValueError(f"k must be an integer in [1, {n - 1}] for {n} codes, got {k!r}")
    check_backend(backend)
    if metric == "cosine":
        database = queries = unit_rows(codes)
        offset = None
    elif metric == "euclidean":
        base = np.asarray(codes, dtype=np.float32)
        squared = (base.astype(np.float64) ** 2).sum(axis=1)
        # a.b' with b' = [2 b, -||b||^2] and a' = [a, 1] gives 2 a.b - ||b||^2.
        database = np.concatenate([2 * base, -squared[:, None].astype(np.float32)], axis=1)
        queries = np.concatenate([base, np.ones((n, 1), dtype=np.float32)], axis=1)
        offset = squared.astype(np.float32)
    else:
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")

    indices, scores = inner_product_search(database, queries[start:stop], k + 1, backend)
    keep = indices != np.arange(start, stop)[:, None]
    no_self = keep.all(axis=1)
    keep[no_self, -1] = False
    indices = indices[keep].reshape(stop - start, k)
    scores = scores[keep].reshape(stop - start, k)
    if offset is not None:
        scores = scores - offset[start:stop, None]  # -(||a||^2 - 2 a.b + ||b||^2)
    return indices, scores.astype(np.float32)


def neighbour_accuracy(labels: Any, neighbour_indices: Any) -> float:
    """Share of (sample, neighbour) pairs whose labels agree.

    labels: (N,); neighbour_indices: (N, k) indices into ``labels`` (as returned by
    :func:`nearest_neighbours`).  This is the "neighbour label accuracy" of SCAN's
    mining step (not a majority-vote classifier).
    """
    labels = label_array(labels, "labels")
    indices = as_numpy(neighbour_indices, "neighbour_indices")
    if indices.ndim != 2 or indices.shape[1] < 1:
        raise ValueError(f"neighbour_indices must have shape (N, k), got {indices.shape}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"neighbour_indices must be integers, got dtype {indices.dtype}")
    check_same_length(labels, "labels", indices, "neighbour_indices")
    if indices.size and (indices.min() < 0 or indices.max() >= labels.shape[0]):
        raise ValueError(
            f"neighbour_indices must lie in [0, {labels.shape[0] - 1}], "
            f"got values in [{indices.min()}, {indices.max()}]"
        )
    return float((labels[indices] == labels[:, None]).mean())
