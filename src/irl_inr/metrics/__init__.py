"""Evaluation metrics: clustering scores, nearest neighbours, invariance, pose error.

Pure functions: numpy arrays or torch tensors in, floats / numpy arrays / dicts of
floats out.  Inputs are validated and bad ones raise ``ValueError`` (``TypeError``
for a wrong kind of object) whose message names the argument.

Angles follow :mod:`irl_inr.geometry`: radians in, and translations in normalised
units (one pixel is ``2 / size``).

One module per family: :mod:`.clustering` (the one Hungarian matching of clusters to
classes, :func:`match_clusters`, and the scores on it), :mod:`.neighbours`,
:mod:`.invariance`, :mod:`.poses`; :mod:`.arrays` checks their inputs.
"""

from __future__ import annotations

from irl_inr.metrics.clustering import (
    ClusterMatching,
    clustering_accuracy,
    clustering_scores,
    kmeans_scores,
    match_clusters,
    merge_labels,
    merged_class_accuracy,
)
from irl_inr.metrics.invariance import invariance_scores, pose_retrieval_top1
from irl_inr.metrics.neighbours import nearest_neighbours, neighbour_accuracy
from irl_inr.metrics.poses import pose_error_degrees, rotation_offset, translation_error_pixels

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
