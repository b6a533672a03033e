"""The clustering stage's figures: the self-label clusters against the labels (confusion
matrix, canonical images of each cluster's most confident members) and DTI's prototypes.
Clusters are shown in the order of the Hungarian matching (:func:`irl_inr.metrics.match_clusters`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from irl_inr import metrics
from irl_inr.pipelines.clustering.inputs import embedded_rows
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.reporting import figures
from irl_inr.tables import row_positions


def _class_names(cluster_assignments: pd.DataFrame) -> dict:
    """Each label's name where the table has ``label_name`` (wafer failure types), else the label."""
    if "label_name" not in cluster_assignments.columns:
        return {}
    return dict(zip(cluster_assignments["label"].tolist(), cluster_assignments["label_name"].astype(str).tolist()))


def _commonest_class(matching: metrics.ClusterMatching, column: int, names: dict) -> tuple[int, object]:
    """The size of the cluster in ``column`` of the matching and the name of its commonest
    label ('-' when empty)."""
    size = int(matching.counts[:, column].sum())
    if not size:
        return size, "-"
    label = matching.classes[int(np.argmax(matching.counts[:, column]))]
    return size, names.get(label, label)


def plot_confusion_matrix(cluster_assignments: pd.DataFrame, parameters: dict) -> Figure:
    """Labels (rows) against self-label clusters (columns, in the order of the Hungarian
    matching, so the diagonal holds the matched pairs), with the counts written in."""
    options = ClusteringParameters.from_dict(parameters)
    labels = cluster_assignments["label"].to_numpy()
    clusters = cluster_assignments["selflabel"].to_numpy().astype(np.int64)
    matching = metrics.match_clusters(labels, clusters, np.arange(options.n_clusters))
    accuracy = metrics.clustering_accuracy(labels, clusters)
    names = _class_names(cluster_assignments)
    return figures.confusion_matrix(
        matching.counts, [str(names.get(c, c)) for c in matching.classes], [str(c) for c in matching.clusters],
        f"Self-labelled clusters against labels (ACC {accuracy:.3f})",
        "self-label cluster (in the order of the matching)",
    )


def plot_cluster_exemplars(
    cluster_assignments: pd.DataFrame, canonical_images: np.ndarray, predicted_poses: pd.DataFrame, parameters: dict
) -> Figure:
    """One row per self-label cluster (in the order of the matching): the canonical images
    (IRL-INR at pose 0) of its ``clustering.exemplars`` most confident members."""
    options = ClusteringParameters.from_dict(parameters)
    canonical, table = embedded_rows(np.asarray(canonical_images), predicted_poses, options, "canonical_images")
    missing = row_positions(table, cluster_assignments["image_id"].to_numpy()) < 0
    if missing.any():
        raise ValueError(
            f"canonical_images lacks {int(missing.sum())} of the clustered images: "
            "rerun extract_embeddings and render_images"
        )
    labels = cluster_assignments["label"].to_numpy()
    clusters = cluster_assignments["selflabel"].to_numpy().astype(np.int64)
    matching = metrics.match_clusters(labels, clusters, np.arange(options.n_clusters))
    count, names = options.exemplars, _class_names(cluster_assignments)
    exemplars, titles = [], []
    for column, cluster in enumerate(matching.clusters):
        members = cluster_assignments[clusters == cluster].sort_values("selflabel_confidence", ascending=False)
        exemplars.append(canonical[row_positions(table, members["image_id"].to_numpy()[:count])])
        members_count, major = _commonest_class(matching, column, names)
        titles.append(f"cluster {cluster}: n={members_count}, mostly {major}")
    return figures.cluster_gallery(
        None, exemplars, titles, max(6.0, 0.9 * count + 1.2),
        "Self-label clusters: canonical images of the most confident members", exemplar_columns=count,
    )


def plot_dti_prototypes(dti_model: dict, cluster_assignments: pd.DataFrame) -> Figure:
    """The DTI prototypes (grey, or RGB for three channels), each titled with its size and
    commonest label."""
    prototypes = dti_model["state_dict"]["prototypes"].float().numpy()  # (K, C, h, w)
    n_clusters = prototypes.shape[0]
    clusters = cluster_assignments["dti"].to_numpy().astype(np.int64)
    labels = cluster_assignments["label"].to_numpy()
    matching = metrics.match_clusters(labels, clusters, np.arange(n_clusters))
    names = _class_names(cluster_assignments)
    columns = min(n_clusters, 10)
    rows = math.ceil(n_clusters / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(5.0, 1.3 * columns), 1.5 * rows + 0.5), squeeze=False)
    for cluster, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if cluster >= n_clusters:
            continue
        axis.imshow(figures.shown(prototypes[cluster]), cmap="gray")
        size, major = _commonest_class(matching, matching.clusters.index(cluster), names)
        axis.set_title(f"{cluster}: n={size}\nmostly {major}", fontsize=7)
    figure.suptitle("DTI prototypes", fontsize=10)
    figure.tight_layout()
    return figure
