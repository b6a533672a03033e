"""The report's representations section: reconstructions and canonical images, a 2-D
map of the semantic codes and the embedding measures."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from irl_inr import metrics
from irl_inr.reporting import figures
from irl_inr.reporting.formatting import percent
from irl_inr.reporting.html import Section, figure_html, mapping_table_html
from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.reporting.sections.clustering import best_method
from irl_inr.reporting.sections.inputs import (
    check_known_labels,
    id_rows,
    image_stack,
    label_names,
    require_columns,
    rows_for,
)

PREDICTED_POSE_COLUMNS = ("image_id", "predicted_rotation_radians", "predicted_shift_x_pixels", "predicted_shift_y_pixels")
# What the embedding measures mean (see the README); others are listed without a note.
EMBEDDING_MEANINGS = {
    "images": "images embedded",
    "recon_mse": "pixel MSE of the reconstructions at the predicted pose",
    "invariance_cos": "mean cosine between an image's z and the z of its re-posed copies (invariance: near 1)",
    "between_cos": "mean cosine between the z of different images (should be well below invariance_cos)",
    "pose_retrieval_top1": "share of re-posed copies whose nearest original code is their own",
    "pose_retrieval_chance": "the same by chance",
    "neighbour_acc": "share of each image's nearest codes with the same label",
    "neighbour_acc_69": "the same with 6 and 9 as one class",
    "neighbour_acc_canonical_pixels": "the same on moment-canonicalised pixels (closed-form bar)",
    "neighbour_acc_pixels": "the same on raw pixels",
    "pose_error_deg": "median rotation error (degrees) of re-posed copies relative to their original",
    "pose_error_vs_truth_deg": "median rotation error (degrees) against the ground truth, after the median offset",
}



def _map_points(codes: np.ndarray, options: ReportingParameters) -> np.ndarray:
    """2-D coordinates (n, 2) of codes (n, d) by ``reporting.map_method``."""
    if options.map_method == "pca":
        return PCA(n_components=2, random_state=options.seed).fit_transform(codes)
    unit = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    perplexity = min(options.map_perplexity, (len(codes) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=options.seed).fit_transform(unit)


MAP_NEIGHBOURS = 10


def map_neighbour_agreement(points: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The share of each point's ``MAP_NEIGHBOURS`` nearest other points (in the 2-D map)
    with its label, and that share by chance (the sum of squared class shares)."""
    neighbours = min(MAP_NEIGHBOURS, len(points) - 1)
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :neighbours]
    agreement = float((labels[nearest] == labels[:, None]).mean())
    _, counts = np.unique(labels, return_counts=True)
    return agreement, float(((counts / counts.sum()) ** 2).sum())


def representations_section(
    images, image_table: pd.DataFrame, semantic_codes, predicted_poses: pd.DataFrame, reconstructions,
    canonical_images, embedding_metrics: Mapping | None, cluster_assignments: pd.DataFrame | None,
    clustering_comparison: pd.DataFrame | None, options: ReportingParameters,
) -> Section:
    """Input / reconstruction / canonical images, a 2-D map of z coloured by label (and by
    the best method's clusters when there are clusters), and the embedding measures."""
    require_columns(image_table, ("image_id", "label"), "image_table")
    require_columns(predicted_poses, PREDICTED_POSE_COLUMNS, "predicted_poses")
    rows = len(predicted_poses)
    codes = np.asarray(semantic_codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) != rows:
        raise ValueError(f"semantic_codes must have shape (N, d) with N = {rows} (predicted_poses), got {codes.shape}")
    bad = ~np.isfinite(codes).all(axis=1)
    if bad.any():
        raise ValueError(f"semantic_codes has NaN or infinite values in {int(bad.sum())} rows (first: row {int(np.flatnonzero(bad)[0])})")
    images = image_stack(images, len(image_table), "images", "image_table")
    reconstructions = image_stack(reconstructions, rows, "reconstructions", "predicted_poses")
    canonical_images = image_stack(canonical_images, rows, "canonical_images", "predicted_poses")
    if reconstructions.shape[1:] != images.shape[1:]:
        raise ValueError(
            f"reconstructions are images of shape {reconstructions.shape[1:]} but images are {images.shape[1:]}: "
            "they come from different runs"
        )
    ids = predicted_poses["image_id"].to_numpy()
    image_rows_of = rows_for(id_rows(image_table, "image_table"), ids, "image_table", "predicted_poses")
    names = label_names(image_table)
    labels = image_table["label"].to_numpy()[image_rows_of]
    width, dpi = options.figure_width_inches, options.figure_dpi

    count = min(options.reconstruction_count, rows)
    grid = figures.image_rows(
        [("input", images[image_rows_of[:count]]), ("reconstruction", reconstructions[:count]),
         ("canonical", canonical_images[:count])],
        width, "Input, reconstruction at the predicted pose, canonical image (pose 0)",
        column_titles=[names[int(label)] for label in labels[:count]], colours=figures.image_colours(options.image_colours),
    )
    explained = 1.0 - float(np.mean((images[image_rows_of] - reconstructions) ** 2)) / max(float(np.var(images)), 1e-12)
    body = figure_html(
        grid, f"The first {count} embedded images; column titles are their label names. Look for reconstructions "
        "that match the input's shape and pose, and canonical images of one class that share an orientation.",
        dpi, f"the reconstructions explain {percent(max(explained, 0.0))} of the images' pixel variance"
        + (" (good)." if explained >= 0.7 else ": the decoder misses much of the images."), explained < 0.7,
    )

    # The map's images: with clusters, those that were clustered (the clustering split,
    # which the embedded split covers).
    candidates, clusters_of = np.arange(rows), None
    if cluster_assignments is not None and clustering_comparison is not None:
        method = best_method(clustering_comparison)
        require_columns(cluster_assignments, ("image_id", "label", method), "cluster_assignments")
        check_known_labels(cluster_assignments, names, "cluster_assignments")
        cluster_ids = id_rows(cluster_assignments, "cluster_assignments").index.to_numpy()  # unique image ids
        candidates = rows_for(id_rows(predicted_poses, "predicted_poses"), cluster_ids, "semantic_codes", "cluster_assignments")
        clusters_of = pd.Series(cluster_assignments[method].to_numpy(), index=cluster_ids)
    generator = np.random.default_rng(options.seed)
    sample = np.sort(generator.choice(candidates, size=min(options.map_sample_size, len(candidates)), replace=False))
    if len(sample) < 4:
        raise ValueError(f"the 2-D map of semantic_codes needs at least 4 images, got {len(sample)}")
    # Colour by label, and each cluster in the colour of the class it is matched to
    # (matched on every clustered image, as in the confusion matrix).
    classes = list(names)
    colourings = [("by label", np.searchsorted(classes, labels[sample]), [names[label] for label in classes])]
    if clusters_of is not None:
        matching = metrics.match_clusters(cluster_assignments["label"].to_numpy(), cluster_assignments[method].to_numpy())
        unmatched = [cluster for cluster in matching.clusters if cluster not in matching.class_of]
        group_of = {cluster: classes.index(label) for cluster, label in matching.class_of.items()}
        group_of.update({cluster: len(classes) + position for position, cluster in enumerate(unmatched)})
        legend = [""] * (len(classes) + len(unmatched))
        for cluster, group in group_of.items():
            matched_name = names[matching.class_of[cluster]] if cluster in matching.class_of else "unmatched"
            legend[group] = f"{cluster} ~ {matched_name}"
        groups = np.array([group_of[cluster] for cluster in clusters_of[ids[sample]].to_numpy().tolist()])
        colourings.append((f"by {method} cluster (best method) ~ matched label", groups, legend))
    points = _map_points(codes[sample], options)
    method_name = {"tsne": "t-SNE of the unit-length codes", "pca": "First two principal components of the codes"}
    title = f"Semantic codes z in 2-D ({method_name[options.map_method]}, {len(sample)} images)"
    agreement, chance = map_neighbour_agreement(points, labels[sample])
    body += figure_html(
        figures.embedding_map(points, colourings, width, title),
        f"{method_name[options.map_method]}: {len(sample)} of {len(candidates)} images drawn with seed "
        f"{options.seed}. Look for one island per colour"
        + ("; distances between islands mean little in t-SNE." if options.map_method == "tsne" else "."), dpi,
        f"{percent(agreement)} of each point's {MAP_NEIGHBOURS} nearest points in the map share its label "
        f"(chance: {percent(chance)})" + (" — the classes separate." if agreement >= 0.5 + chance / 2
                                         else " — the classes overlap in the map."),
        agreement < 0.5 + chance / 2,
    )
    if embedding_metrics is not None:
        body += "<h3>Invariance and pose error</h3>" + mapping_table_html(embedding_metrics, EMBEDDING_MEANINGS)
    return Section("Representations", body)
