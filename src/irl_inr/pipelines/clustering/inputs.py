"""The checked inputs of the clustering nodes: the images of ``clustering.split`` and
their table rows (and DTI's downsampled copy), the rows of the embedding stage's outputs
(one per row of ``predicted_poses``) of that split, the label classes they are scored
against, and whether a saved model was trained on these images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from irl_inr import metrics
from irl_inr.fingerprint import digest
from irl_inr.inference import finite_codes, images_as_tensor
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.tables import is_unlabelled, rows_of_split, select_split


def selected_images(
    images: np.ndarray, image_table: pd.DataFrame, options: ClusteringParameters
) -> tuple[torch.Tensor, pd.DataFrame]:
    """The images of ``clustering.split`` as a (N, C, H, W) tensor, and their table rows."""
    if "label" not in image_table or "image_id" not in image_table:
        raise ValueError(f"image_table must have image_id and label columns, got {list(image_table.columns)}")
    images, table = select_split(images, image_table, options.split)
    if len(table) < options.n_clusters:
        raise ValueError(
            f"clustering.split = {options.split!r} selects {len(table)} images of the domain, fewer than "
            f"clustering.n_clusters = {options.n_clusters}"
        )
    options.check_label_classes(table)
    return images_as_tensor(images), table.reset_index(drop=True)


def downsampled(data: torch.Tensor, factor: int) -> torch.Tensor:
    """DTI's input: the images average-pooled by ``factor``."""
    return data if factor == 1 else F.avg_pool2d(data, factor)


def check_trained_on(saved_model: dict, name: str, data: torch.Tensor, options: ClusteringParameters) -> None:
    """``saved_model`` must have been trained on these images (those of ``clustering.split``)."""
    if saved_model["config"].get("images_digest") != digest(data):
        raise ValueError(
            f"{name} was trained on other images than the {len(data)} of clustering.split = {options.split!r}: "
            "rerun its training node"
        )


def embedded_rows(
    rows: np.ndarray, predicted_poses: pd.DataFrame, options: ClusteringParameters, name: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """The rows of ``name`` (one per row of ``predicted_poses``) of ``clustering.split``."""
    if len(rows) != len(predicted_poses):
        raise ValueError(
            f"{name} has {len(rows)} rows but predicted_poses has {len(predicted_poses)}: rerun extract_embeddings"
        )
    if options.split == "all":
        return rows, predicted_poses.reset_index(drop=True)
    keep = rows_of_split(predicted_poses, options.split)
    if not len(keep):
        raise ValueError(
            f"clustering.split = {options.split!r} but predicted_poses (embedding.split) holds no image of that "
            f"split: embed it (embedding.split = 'all' or {options.split!r})"
        )
    return rows[keep], predicted_poses.iloc[keep].reset_index(drop=True)


def mining_codes(
    semantic_codes: np.ndarray, predicted_poses: pd.DataFrame, options: ClusteringParameters
) -> tuple[np.ndarray, pd.DataFrame]:
    """The codes of ``clustering.split`` that SCAN's mining searches, and their table."""
    codes, table = embedded_rows(finite_codes(semantic_codes, "semantic_codes"), predicted_poses, options,
                                 "semantic_codes")
    k = options.mining.neighbours
    if k >= len(codes):
        raise ValueError(
            f"clustering.mining.neighbours = {k}: must be below the number of images ({len(codes)}) of "
            f"clustering.split = {options.split!r} in semantic_codes"
        )
    return codes, table


def mining_measures(table: pd.DataFrame, neighbours: np.ndarray, k: int) -> dict:
    """``{"images", "neighbours", "neighbour_acc"}`` of mined neighbours: the share of
    (image, neighbour) pairs with the same label, what SCAN's consistency term stands on
    (left out for images of one label class)."""
    mining = {"images": int(len(neighbours)), "neighbours": int(k)}
    if not is_unlabelled(table["label"].to_numpy()):
        mining["neighbour_acc"] = metrics.neighbour_accuracy(table["label"].to_numpy(), neighbours)
    return mining
