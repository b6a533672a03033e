"""Evaluation metrics: clustering scores, nearest neighbours, invariance, pose error.

Pure functions: numpy arrays or torch tensors in, floats / numpy arrays / dicts of
floats out.  Inputs are validated and bad ones raise ``ValueError`` (``TypeError``
for a wrong kind of object) whose message names the argument.

Angles follow :mod:`irl_inr.geometry`: radians in, and translations in normalised
units (one pixel is ``2 / size``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from irl_inr import baselines

__all__ = [
    "ClusterMatching",
    "match_clusters",
    "clustering_accuracy",
    "merged_class_accuracy",
    "clustering_scores",
    "merge_labels",
    "nearest_neighbours",
    "neighbour_accuracy",
    "invariance_scores",
    "pose_retrieval_top1",
    "rotation_offset",
    "pose_error_degrees",
    "translation_error_pixels",
    "kmeans_scores",
]

# Queries per block in the brute-force searches (bounds memory to block * N floats).
_BLOCK = 1024


# --------------------------------------------------------------------------- inputs


def _as_numpy(value: Any, name: str) -> np.ndarray:
    """numpy view of an array-like or torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        value = value.detach().cpu()
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        value = value.numpy()
    try:
        array = np.asarray(value)
    except Exception as error:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} could not be converted to an array: {error}") from error
    if array.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got an object array")
    return array


def _labels(value: Any, name: str, min_samples: int = 1) -> np.ndarray:
    array = _as_numpy(value, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples, got {array.shape[0]}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if array.dtype.kind not in "biufUS":
        raise TypeError(f"{name} must hold integer or string labels, got dtype {array.dtype}")
    return array


def _matrix(value: Any, name: str, ndim: int = 2, min_samples: int = 1) -> np.ndarray:
    array = _as_numpy(value, name)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.shape[-2 if ndim >= 2 else 0] < min_samples:
        raise ValueError(
            f"{name} needs at least {min_samples} samples, got shape {array.shape}"
        )
    if ndim >= 2 and array.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one feature column, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _same_length(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} and {b_name} must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )


def _unit_rows(codes: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero (cosine 0 to everything)."""
    codes = np.asarray(codes, dtype=dtype)
    norms = np.linalg.norm(codes, axis=-1, keepdims=True)
    return codes / np.where(norms > 0, norms, 1).astype(dtype)


# ----------------------------------------------------------------------- clustering


@dataclasses.dataclass(frozen=True)
class ClusterMatching:
    """Clusters against classes under the Hungarian matching: the one-to-one cluster ->
    class assignment with the most samples on matched pairs."""

    classes: list  # the labels present, sorted
    clusters: list[int]  # the clusters counted: those matched, in the order of their class, then the rest
    counts: np.ndarray  # (classes, clusters) samples per class and cluster, columns in the order of ``clusters``
    class_of: dict  # matched cluster -> its class
    matched: int  # samples on matched pairs


def _best_assignment(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (ascending) and columns of the one-to-one assignment with the largest total
    count (the Hungarian algorithm)."""
    return linear_sum_assignment(counts, maximize=True)


def match_clusters(labels: Any, clusters: Any, cluster_ids: Any = None) -> ClusterMatching:
    """The Hungarian matching of ``clusters`` to the classes of ``labels``.

    ``cluster_ids``: the clusters to count, sorted (default: those present in
    ``clusters``); one without samples gets an empty column. Labels and clusters can be
    any integers or strings."""
    labels = _labels(labels, "labels")
    clusters = _labels(clusters, "clusters")
    _same_length(labels, "labels", clusters, "clusters")
    classes = np.unique(labels)
    ids = np.unique(clusters) if cluster_ids is None else np.asarray(cluster_ids)
    if not np.isin(clusters, ids).all():
        raise ValueError(f"clusters holds values outside cluster_ids {ids.tolist()}")
    counts = np.zeros((len(classes), len(ids)), dtype=np.int64)
    np.add.at(counts, (np.searchsorted(classes, labels), np.searchsorted(ids, clusters)), 1)
    rows, columns = _best_assignment(counts)
    matched = [int(column) for column in columns]
    order = matched + [column for column in range(len(ids)) if column not in matched]
    return ClusterMatching(
        classes=classes.tolist(),
        clusters=[ids[column].item() for column in order],
        counts=counts[:, order],
        class_of={ids[column].item(): classes[row].item() for row, column in zip(rows, columns)},
        matched=int(counts[rows, columns].sum()),
    )


def clustering_accuracy(labels: Any, clusters: Any) -> float:
    """Accuracy of ``clusters`` under the best one-to-one cluster -> class mapping.

    The mapping maximises the number of matched samples (:func:`match_clusters`, the
    Hungarian algorithm on the class x cluster contingency table).  Works when the
    number of clusters differs from the number of classes: with more clusters than
    classes, the samples of the unmatched clusters count as errors (the standard,
    strict definition), so over-clustering is not rewarded.  Labels and clusters can be
    any integers or strings.
    """
    matching = match_clusters(labels, clusters)
    return float(matching.matched / matching.counts.sum())


def merged_class_accuracy(labels: Any, clusters: Any, group: Iterable[Any]) -> float:
    """Hungarian accuracy with the labels of ``group`` as one class (:func:`merge_labels`)
    that as many clusters may match as the group has members present, one in the place
    of each: a clustering that keeps them apart still scores 1, and one that lumps them
    together loses nothing for it (``acc_69``: 6 and 9, which a rotation-invariant code
    cannot tell apart)."""
    members = list(group)
    labels = _labels(labels, "labels")
    merged = merge_labels(labels, [members])
    counts = match_clusters(merged, clusters).counts
    classes = np.unique(merged)
    merged_row = counts[np.flatnonzero(classes == members[0])]
    present = sum(bool(np.isin(member, labels)) for member in members)
    counts = np.concatenate([counts, *[merged_row] * max(0, present - 1)], axis=0)
    rows, columns = _best_assignment(counts)
    return float(counts[rows, columns].sum() / len(labels))


def clustering_scores(labels: Any, clusters: Any) -> dict[str, float]:
    """``{"acc", "nmi", "ari"}``: Hungarian accuracy (:func:`clustering_accuracy`),
    normalised mutual information (sklearn, arithmetic-mean normalisation) and the
    adjusted Rand index."""
    labels = _labels(labels, "labels")
    clusters = _labels(clusters, "clusters")
    _same_length(labels, "labels", clusters, "clusters")
    return {
        "acc": clustering_accuracy(labels, clusters),
        "nmi": float(normalized_mutual_info_score(labels, clusters)),
        "ari": float(adjusted_rand_score(labels, clusters)),
    }


def merge_labels(labels: Any, groups: Iterable[Iterable[Any]]) -> np.ndarray:
    """Relabel so that every label of a group becomes the group's first label.

    ``merge_labels(y, [(6, 9)])`` treats 6 and 9 as one class (all 9s become 6),
    e.g. to score rotation-invariant codes that cannot tell them apart.  Labels not
    in any group are unchanged; group members absent from ``labels`` are allowed.
    A label may belong to at most one group.  Returns a new array.
    """
    labels = _labels(labels, "labels")
    merged = labels.copy()
    seen: set = set()
    for position, group in enumerate(groups):
        members = list(group)
        if not members:
            raise ValueError(f"groups[{position}] is empty")
        for member in members:
            key = member.item() if hasattr(member, "item") else member
            if key in seen:
                raise ValueError(f"groups: label {key!r} appears in more than one group")
            seen.add(key)
        merged[np.isin(labels, members)] = members[0]
    return merged


def kmeans_scores(
    features: Any, labels: Any, n_clusters: int = 10, seed: int = 0
) -> dict[str, float]:
    """k-means (sklearn, k-means++, ``n_init=10``, ``random_state=seed``) on
    ``features`` scored against ``labels`` with :func:`clustering_scores`.

    features: (N, ...) -- trailing dimensions are flattened, so images can be given
    directly.  Returns ``{"acc", "nmi", "ari"}``.
    """
    features = _as_numpy(features, "features")
    if features.ndim < 2:
        raise ValueError(f"features must have shape (N, d) or (N, ...), got {features.shape}")
    features = features.reshape(features.shape[0], -1)
    features = _matrix(features, "features")
    labels = _labels(labels, "labels")
    _same_length(features, "features", labels, "labels")
    if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    if features.shape[0] < n_clusters:
        raise ValueError(
            f"features has {features.shape[0]} samples, fewer than n_clusters={n_clusters}"
        )
    return clustering_scores(labels, baselines.kmeans(features, int(n_clusters), n_init=10, seed=seed))


# ------------------------------------------------------------------- neighbours


def _faiss():
    try:
        import faiss  # noqa: PLC0415 - optional, heavy import
    except ImportError:  # pragma: no cover - faiss-cpu is a project dependency
        return None
    return faiss


def _search(
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
    for start in range(0, n_queries, _BLOCK):
        block = queries[start : start + _BLOCK] @ database.T  # (b, N)
        if k < block.shape[1]:
            top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(block.shape[1]), block.shape).copy()
        top_scores = np.take_along_axis(block, top, axis=1)
        # Sort by descending score, then ascending index for ties.
        order = np.lexsort((top, -top_scores), axis=1)
        indices[start : start + _BLOCK] = np.take_along_axis(top, order, axis=1)
        scores[start : start + _BLOCK] = np.take_along_axis(top_scores, order, axis=1)
    return indices, scores


def _check_backend(backend: str) -> None:
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
    codes = _matrix(codes, "codes", min_samples=2)
    n = codes.shape[0]
    start, stop = (0, n) if rows is None else rows
    if not 0 <= start <= stop <= n:
        raise ValueError(f"rows must be a range [start, stop) within the {n} codes, got {rows!r}")
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n - 1:
        raise ValueError(f"k must be an integer in [1, {n - 1}] for {n} codes, got {k!r}")
    _check_backend(backend)
    if metric == "cosine":
        database = queries = _unit_rows(codes)
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

    indices, scores = _search(database, queries[start:stop], k + 1, backend)
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
    labels = _labels(labels, "labels")
    indices = _as_numpy(neighbour_indices, "neighbour_indices")
    if indices.ndim != 2 or indices.shape[1] < 1:
        raise ValueError(f"neighbour_indices must have shape (N, k), got {indices.shape}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"neighbour_indices must be integers, got dtype {indices.dtype}")
    _same_length(labels, "labels", indices, "neighbour_indices")
    if indices.size and (indices.min() < 0 or indices.max() >= labels.shape[0]):
        raise ValueError(
            f"neighbour_indices must lie in [0, {labels.shape[0] - 1}], "
            f"got values in [{indices.min()}, {indices.max()}]"
        )
    return float((labels[indices] == labels[:, None]).mean())


# ------------------------------------------------------------------- invariance


def _original_and_reposed(
    codes_original: Any, codes_reposed: Any, min_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    original = _matrix(codes_original, "codes_original", min_samples=min_samples)
    reposed = _as_numpy(codes_reposed, "codes_reposed")
    if reposed.ndim == 2:
        reposed = reposed[None]
    reposed = _matrix(reposed, "codes_reposed", ndim=3, min_samples=min_samples)
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
    unit = _unit_rows(original, np.float64)
    unit_reposed = _unit_rows(reposed, np.float64)
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
    _check_backend(backend)
    copies, n, d = reposed.shape
    database = _unit_rows(original)
    queries = _unit_rows(reposed.reshape(copies * n, d))
    own = np.tile(np.arange(n), copies)
    if n == 1:
        return 1.0
    indices, scores = _search(database, queries, 2, backend)
    hit = (indices[:, 0] == own) & (scores[:, 0] > scores[:, 1])
    return float(hit.mean())


# ------------------------------------------------------------------------- pose


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Wrap radians to (-pi, pi]."""
    return angle - 2 * np.pi * np.ceil((angle - np.pi) / (2 * np.pi))


def _angles(value: Any, name: str) -> np.ndarray:
    array = _as_numpy(value, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (N,), got shape {array.shape}")
    if array.shape[0] < 1:
        raise ValueError(f"{name} needs at least 1 sample, got 0")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array.astype(np.float64)


def _circular_median(angles: np.ndarray, max_candidates: int = 2048) -> float:
    """The angle minimising the summed arc distance to ``angles`` (radians).

    The objective is piecewise linear with its minimum at a data point, so the data
    points are the candidates; above ``max_candidates`` points, evenly spaced order
    statistics of them are used (approximate to within their spacing)."""
    angles = _wrap(angles)
    candidates = np.sort(angles)
    if candidates.shape[0] > max_candidates:
        pick = np.linspace(0, candidates.shape[0] - 1, max_candidates).round().astype(int)
        candidates = candidates[pick]
    best, best_cost = 0.0, np.inf
    step = max(1, (1 << 22) // angles.shape[0])  # ~4M residuals per block
    for start in range(0, candidates.shape[0], step):
        block = candidates[start : start + step]
        cost = np.abs(_wrap(angles[None, :] - block[:, None])).sum(axis=1)
        position = int(np.argmin(cost))
        if cost[position] < best_cost:
            best, best_cost = float(block[position]), float(cost[position])
    return best


def rotation_offset(true_rotation: Any, predicted_rotation: Any, align: str = "median") -> float:
    """Global offset ``c`` (radians, in (-pi, pi]) with ``predicted ≈ true + c``.

    ``align="median"``: circular median of ``predicted - true`` (robust to a share
    of gross errors, e.g. 180° flips); ``"mean"``: circular mean (direction of the
    mean unit vector; 0 if that vector vanishes); ``"none"``: 0.
    """
    true = _angles(true_rotation, "true_rotation")
    predicted = _angles(predicted_rotation, "predicted_rotation")
    _same_length(true, "true_rotation", predicted, "predicted_rotation")
    difference = _wrap(predicted - true)
    if align == "median":
        return float(_wrap(np.array(_circular_median(difference))))
    if align == "mean":
        s, c = np.sin(difference).mean(), np.cos(difference).mean()
        if math.hypot(s, c) < 1e-12:
            return 0.0
        return float(_wrap(np.array(math.atan2(s, c))))
    if align == "none":
        return 0.0
    raise ValueError(f"align must be 'median', 'mean' or 'none', got {align!r}")


def pose_error_degrees(
    true_rotation: Any, predicted_rotation: Any, align: str = "median"
) -> float:
    """Median absolute rotation error in degrees, up to the arbitrary canonical
    orientation.

    true_rotation, predicted_rotation: (N,) radians.  A model's canonical frame
    may differ from the data's by a fixed angle, so predictions are first aligned
    by the global offset of :func:`rotation_offset` (default: circular median of
    ``predicted - true``; ``align="none"`` when the frames are known to agree).
    The residuals are wrapped to (-180°, 180°] and the median of their absolute
    values is returned (in [0, 180]).  Mirror images are not considered.
    """
    true = _angles(true_rotation, "true_rotation")
    predicted = _angles(predicted_rotation, "predicted_rotation")
    _same_length(true, "true_rotation", predicted, "predicted_rotation")
    offset = rotation_offset(true, predicted, align)
    residual = _wrap(predicted - true - offset)
    return float(np.degrees(np.median(np.abs(residual))))


def translation_error_pixels(
    true_translation: Any,
    predicted_translation: Any,
    image_size: int,
    align: str = "median",
    predicted_rotation: Any | None = None,
) -> float:
    """Median Euclidean translation error in pixels.

    true_translation, predicted_translation: (N, 2) normalised ``(x, y)``;
    ``image_size``: pixels per side (one pixel is ``2 / image_size``).

    A model's canonical frame may be shifted by some ``s`` relative to the data's;
    that is removed before measuring.  Without ``predicted_rotation`` the shift is
    taken as a constant offset, the coordinate-wise median (``align="median"``) or
    mean (``"mean"``) of ``predicted - true``.  A canonical frame shifted by ``s``
    shows up in an image posed with rotation ``r`` as the offset ``R(r) s``; pass
    ``predicted_rotation`` (N,) (radians) to estimate ``s`` as the median/mean of
    ``R(-r) (predicted - true)`` and subtract ``R(r) s`` per image.  ``"none"``:
    no alignment.
    """
    true = _matrix(true_translation, "true_translation")
    predicted = _matrix(predicted_translation, "predicted_translation")
    for name, array in (("true_translation", true), ("predicted_translation", predicted)):
        if array.shape[1] != 2:
            raise ValueError(f"{name} must have shape (N, 2), got {array.shape}")
    _same_length(true, "true_translation", predicted, "predicted_translation")
    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if align not in ("median", "mean", "none"):
        raise ValueError(f"align must be 'median', 'mean' or 'none', got {align!r}")
    difference = predicted.astype(np.float64) - true.astype(np.float64)
    reduce = np.median if align == "median" else np.mean
    if align == "none":
        residual = difference
    elif predicted_rotation is None:
        residual = difference - reduce(difference, axis=0)
    else:
        angle = _angles(predicted_rotation, "predicted_rotation")
        _same_length(true, "true_translation", angle, "predicted_rotation")
        cos, sin = np.cos(angle), np.sin(angle)
        # R(-r) d  with R(r) = [[cos, -sin], [sin, cos]].
        local = np.stack(
            [cos * difference[:, 0] + sin * difference[:, 1],
             -sin * difference[:, 0] + cos * difference[:, 1]],
            axis=1,
        )
        shift = reduce(local, axis=0)
        posed_shift = np.stack(
            [cos * shift[0] - sin * shift[1], sin * shift[0] + cos * shift[1]], axis=1
        )
        residual = difference - posed_shift
    distance = np.linalg.norm(residual, axis=1) * (image_size / 2.0)
    return float(np.median(distance))
