"""Clustering scores against labels, all on the one Hungarian matching of clusters to
classes (:func:`match_clusters`): accuracy, accuracy with merged classes, NMI, ARI."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from irl_inr import baselines
from irl_inr.metrics.arrays import as_numpy, check_same_length, feature_matrix, label_array


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
    labels = label_array(labels, "labels")
    clusters = label_array(clusters, "clusters")
    check_same_length(labels, "labels", clusters, "clusters")
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


# Digits that a rotation-invariant code cannot tell apart but by handwriting: a 6 turned
# upside down is a 9 (``acc_69``, ``neighbour_acc_69``).
SIX_NINE = (6, 9)


def merged_class_accuracy(labels: Any, clusters: Any, group: Iterable[Any]) -> float:
    """Hungarian accuracy with the labels of ``group`` as one class (:func:`merge_labels`)
    that as many clusters may match as the group has members present, one in the place
    of each: a clustering that keeps them apart still scores 1, and one that lumps them
    together loses nothing for it (``acc_69``: 6 and 9, which a rotation-invariant code
    cannot tell apart)."""
    members = list(group)
    labels = label_array(labels, "labels")
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
    labels = label_array(labels, "labels")
    clusters = label_array(clusters, "clusters")
    check_same_length(labels, "labels", clusters, "clusters")
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
    labels = label_array(labels, "labels")
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
    features = as_numpy(features, "features")
    if features.ndim < 2:
        raise ValueError(f"features must have shape (N, d) or (N, ...), got {features.shape}")
    features = features.reshape(features.shape[0], -1)
    features = feature_matrix(features, "features")
    labels = label_array(labels, "labels")
    check_same_length(features, "features", labels, "labels")
    if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    if features.shape[0] < n_clusters:
        raise ValueError(
            f"features has {features.shape[0]} samples, fewer than n_clusters={n_clusters}"
        )
    return clustering_scores(labels, baselines.kmeans(features, int(n_clusters), n_init=10, seed=seed))


def _pairs(counts: np.ndarray) -> np.ndarray:
    """n choose 2 of every count, as floats (their products overflow 64-bit integers)."""
    counts = counts.astype(np.float64)
    return counts * (counts - 1) / 2


def pairwise_rand_index(partitions: Any) -> np.ndarray:
    """The adjusted Rand index (ARI, as sklearn's ``adjusted_rand_score``) between every two
    of ``partitions`` (P, N): P assignments of the same N samples to clusters, compared
    without labels (1 = the same partition up to renaming the clusters, about 0 = no more
    alike than chance). Returns (P, P), symmetric, ones on the diagonal."""
    partitions = as_numpy(partitions, "partitions")
    if partitions.ndim != 2 or partitions.shape[0] < 1 or partitions.shape[1] < 2:
        raise ValueError(f"partitions must have shape (P, N) with P >= 1 and N >= 2, got {partitions.shape}")
    coded = [np.unique(label_array(row, f"partitions[{index}]"), return_inverse=True)
             for index, row in enumerate(partitions)]  # (clusters, (N,) indices into them) per partition
    total = _pairs(np.array(partitions.shape[1]))
    same = [_pairs(np.bincount(indices)).sum() for _, indices in coded]  # pairs together, per partition
    agreement = np.ones((len(coded), len(coded)))
    for first in range(len(coded)):
        for second in range(first + 1, len(coded)):
            width = len(coded[second][0])
            together = _pairs(np.bincount(coded[first][1] * width + coded[second][1])).sum()
            expected = same[first] * same[second] / total
            ceiling = (same[first] + same[second]) / 2
            score = 1.0 if ceiling == expected else (together - expected) / (ceiling - expected)
            agreement[first, second] = agreement[second, first] = score
    return agreement


def head_agreement(agreement: Any, kept: int) -> dict[str, float]:
    """How alike the partitions of several heads (or runs) are, from their
    :func:`pairwise_rand_index` ``agreement`` (H, H), H >= 2: ``head_agreement_ari``, the
    mean ARI over every two of them, and ``kept_head_agreement_ari``, the mean ARI between
    partition ``kept`` (the answer given) and each other."""
    agreement = feature_matrix(agreement, "agreement")
    count = len(agreement)
    if agreement.shape != (count, count) or count < 2:
        raise ValueError(f"agreement must be a square matrix of at least two partitions, got {agreement.shape}")
    if not isinstance(kept, int | np.integer) or not 0 <= kept < count:
        raise ValueError(f"kept must be an integer in [0, {count}), got {kept!r}")
    off_diagonal = ~np.eye(count, dtype=bool)
    return {
        "head_agreement_ari": float(agreement[off_diagonal].mean()),
        "kept_head_agreement_ari": float(np.delete(agreement[kept], kept).mean()),
    }
