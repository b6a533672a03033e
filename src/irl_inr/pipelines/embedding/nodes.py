"""Embedding nodes: run the trained encoder and INR over every image and measure the code."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from irl_inr import metrics
from irl_inr.metrics.clustering import SIX_NINE
from irl_inr.geometry import normalised_to_pixels, pixels_to_normalised, random_poses, transform_images
from irl_inr.inference import encode_in_batches, images_as_tensor, inference_copy, render_in_batches
from irl_inr.invariant_features import feature_columns, feature_names, feature_table, standardised
from irl_inr.metrics.readout import linear_probe_accuracy
from irl_inr.models.irl_inr import IRLINR
from irl_inr.moments import canonicalise
from irl_inr.pipelines.embedding.parameters import EmbeddingParameters
from irl_inr.reporting import figures
from irl_inr.saved_models import restore_irl_inr
from irl_inr.tables import has_six_and_nine, select_split
from irl_inr.training import resolve_device

logger = logging.getLogger(__name__)


def encoding_model(irl_inr_model: dict, options: EmbeddingParameters, device: torch.device) -> IRLINR:
    """The trained IRL-INR on ``device`` in eval mode; its ``inference_copy`` with
    ``embedding.fast_encoder``."""
    model = restore_irl_inr(irl_inr_model).to(device)
    return inference_copy(model) if options.fast_encoder else model


def extract_embeddings(
    irl_inr_model: dict, images: np.ndarray, image_table: pd.DataFrame, parameters: dict
) -> tuple[np.ndarray, pd.DataFrame]:
    """For every image of the chosen split: its semantic code z (N, d) and a table of its
    predicted pose (``predicted_rotation_radians``, ``predicted_shift_x_pixels``,
    ``predicted_shift_y_pixels`` beside the image table's columns).  Only the encoder
    runs: the renders are ``render_images``'s."""
    options = EmbeddingParameters.from_dict(parameters)
    images, table = select_split(images, image_table, options.split)
    data = images_as_tensor(images)
    device = resolve_device(options.device)
    model = encoding_model(irl_inr_model, options, device)
    codes, rotations, translations = encode_in_batches(model, data, options.batch_size, device)
    shift = normalised_to_pixels(translations, data.shape[-1]).numpy()
    pose_table = table.assign(
        predicted_rotation_radians=np.mod(rotations.numpy(), 2 * math.pi),
        predicted_shift_x_pixels=shift[:, 0],
        predicted_shift_y_pixels=shift[:, 1],
    )
    return codes.numpy(), pose_table


def render_images(
    irl_inr_model: dict, semantic_codes: np.ndarray, predicted_poses: pd.DataFrame, parameters: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Each embedded image's reconstruction, rendered from its code at its predicted pose
    (read back from the pose table: the same images as at the encoder's own pose up to
    float rounding of the angle taken modulo 2 pi and of the shift in pixels), and its
    canonical image, rendered at pose 0; both float32 in the domains' layout, (N, S, S) for one
    channel and (N, C, S, S) for C, S the model's image size."""
    options = EmbeddingParameters.from_dict(parameters)
    if len(semantic_codes) != len(predicted_poses):
        raise ValueError(
            f"{len(semantic_codes)} semantic codes but {len(predicted_poses)} pose rows: rerun extract_embeddings"
        )
    device = resolve_device(options.device)
    model = restore_irl_inr(irl_inr_model).to(device)
    size = model.config.image_size
    codes = torch.tensor(np.asarray(semantic_codes), dtype=torch.float32)
    rotations = torch.tensor(predicted_poses["predicted_rotation_radians"].to_numpy(), dtype=torch.float32)
    shift = predicted_poses[["predicted_shift_x_pixels", "predicted_shift_y_pixels"]].to_numpy()
    translations = pixels_to_normalised(torch.tensor(shift, dtype=torch.float32), size)
    reconstructions = render_in_batches(model, codes, rotations, translations, size, options.batch_size, device)
    zeros = torch.zeros(len(codes))
    canonical = render_in_batches(model, codes, zeros, torch.zeros(len(codes), 2), size, options.batch_size, device)
    return reconstructions, canonical


def compute_closed_form_features(images: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> pd.DataFrame:
    """The closed-form rotation-invariant features of ``embedding.closed_form_features``
    (radial profile, angular spectrum about the image centre) of every image of
    ``embedding.split``: one row per image, ``image_id`` then each feature's columns
    (``irl_inr.invariant_features.feature_table``); only ``image_id`` when the list is empty."""
    options = EmbeddingParameters.from_dict(parameters)
    images, table = select_split(images, image_table, options.split)
    return feature_table(
        images, table["image_id"].to_numpy(), list(options.closed_form_features), options.polar_rings,
        options.polar_angles, options.angular_frequencies,
    )


def _reposed_codes(model, data, options: EmbeddingParameters, device):
    """Codes and poses of K seeded re-posed copies of the first ``invariance_images`` images.

    Returns (codes of originals (n, d), rotations of originals (n,), codes (K, n, d),
    predicted rotations (K, n), applied rotations (K, n))."""
    subset = data[: options.invariance_images]
    size = subset.shape[-1]
    generator = torch.Generator().manual_seed(options.seed)
    codes, rotations, _ = encode_in_batches(model, subset, options.batch_size, device)
    reposed_codes, reposed_rotations, applied = [], [], []
    for _ in range(options.invariance_poses):
        rotation, translation = random_poses(
            len(subset), pixels_to_normalised(options.max_shift_pixels, size), generator=generator
        )
        reposed = transform_images(subset, rotation, translation)
        code, predicted, _ = encode_in_batches(model, reposed, options.batch_size, device)
        reposed_codes.append(code)
        reposed_rotations.append(predicted)
        applied.append(rotation)
    return codes, rotations, torch.stack(reposed_codes), torch.stack(reposed_rotations), torch.stack(applied)


def _probe_classes(labels: np.ndarray, folds: int) -> np.ndarray:
    """The rows whose class has at least ``folds`` members (the linear read-out's folds
    need one of each class); smaller classes are left out with a warning."""
    classes, counts = np.unique(labels, return_counts=True)
    small = classes[counts < folds]
    if len(small):
        logger.warning(
            "linear_probe: label class(es) %s have fewer than embedding.linear_probe_folds = %d members and are "
            "left out of the read-out", small.tolist(), folds,
        )
    return np.flatnonzero(~np.isin(labels, small))


def _label_measures(
    labels: np.ndarray, features: dict[str, np.ndarray], options: EmbeddingParameters, six_and_nine: bool
) -> dict:
    """Per representation (``""`` the code z, else a suffix such as ``_radial_profile``): the
    share of each image's ``neighbours`` nearest (cosine) with its label
    (``neighbour_acc<suffix>``) and the linear read-out (``linear_probe<suffix>``; for z
    and the closed-form features: pixels have their neighbours only)."""
    measures = {}
    probe_rows = _probe_classes(labels, options.linear_probe_folds)
    probed = len(np.unique(labels[probe_rows])) > 1
    for suffix, values in features.items():
        neighbours, _ = metrics.nearest_neighbours(values, options.neighbours)
        measures[f"neighbour_acc{suffix}"] = metrics.neighbour_accuracy(labels, neighbours)
        if suffix == "" and six_and_nine:
            merged = metrics.merge_labels(labels, [SIX_NINE])
            measures["neighbour_acc_69"] = metrics.neighbour_accuracy(merged, neighbours)
        if probed and suffix not in ("_canonical_pixels", "_pixels"):
            measures[f"linear_probe{suffix}"] = linear_probe_accuracy(
                values[probe_rows], labels[probe_rows], options.linear_probe_folds, options.seed
            )
    return measures


def measure_embeddings(
    irl_inr_model: dict,
    images: np.ndarray,
    image_table: pd.DataFrame,
    semantic_codes: np.ndarray,
    predicted_poses: pd.DataFrame,
    reconstructions: np.ndarray,
    closed_form_features: pd.DataFrame,
    parameters: dict,
) -> dict:
    """The measures of a learned code, each beside the number that gives it meaning:

    * ``recon_mse``: pixel MSE of the reconstructions;
    * ``invariance_cos`` / ``between_cos``: mean cosine of an image's code with those of
      its re-posed copies / between different images (a collapsed code scores 1 on both);
    * ``pose_retrieval_top1``: share of re-posed copies whose nearest original code is
      their own (chance: 1 / number of originals);
    * ``neighbour_acc``: share of each image's nearest codes with its label (what SCAN
      stands on), beside ``neighbour_acc_canonical_pixels``, the same on pixels
      canonicalised by image moments, on raw pixels, and ``neighbour_acc_<feature>`` on
      each closed-form rotation-invariant feature of ``closed_form_features``
      (standardised; the bar on centred images); ``neighbour_acc_69``: the codes' share
      with 6 and 9 as one class (as ``acc_69``), where the labels include the digits 6 and 9;
    * ``linear_probe`` and ``linear_probe_<feature>``: the cross-validated accuracy of a
      logistic regression on z and on each closed-form feature, all standardised (the
      labels train this read-out and nothing else: how much of the classes a
      representation holds at all);
    * ``pose_error_deg``: median error of the predicted rotation of re-posed copies
      relative to the original (independent of the arbitrary canonical frame), and
      ``pose_error_vs_truth_deg`` against the domain's recorded angles aligned by the median
      offset (includes the spread of the digits' natural orientations);

    k-means on the codes and on pixels is measured by the clustering stage, beside the
    other clustering methods.
    """
    options = EmbeddingParameters.from_dict(parameters)
    if not np.isfinite(semantic_codes).all():
        raise ValueError("semantic codes hold NaN or infinite values: the model diverged")
    images, _ = select_split(images, image_table, options.split)
    if not len(images) == len(semantic_codes) == len(predicted_poses) == len(reconstructions):
        raise ValueError(
            f"embedding.split = {options.split!r} selects {len(images)} images, but there are {len(semantic_codes)} codes, "
            f"{len(predicted_poses)} pose rows and {len(reconstructions)} reconstructions: "
            "rerun extract_embeddings and render_images"
        )
    labels = predicted_poses["label"].to_numpy()
    labelled = len(np.unique(labels)) > 1
    if labelled and options.neighbours >= len(semantic_codes):
        raise ValueError(
            f"embedding.neighbours = {options.neighbours}: must be below the number of images ({len(semantic_codes)}) of "
            f"embedding.split = {options.split!r}; set it to at most {len(semantic_codes) - 1}"
        )
    data = images_as_tensor(images)
    device = resolve_device(options.device)
    model = encoding_model(irl_inr_model, options, device)

    original, original_rotation, reposed, reposed_rotation, applied = _reposed_codes(model, data, options, device)
    relative = (reposed_rotation - original_rotation.unsqueeze(0)).flatten()
    measures = {
        "images": int(len(semantic_codes)),
        "recon_mse": float(np.mean((reconstructions - images) ** 2)),
        **metrics.invariance_scores(original.numpy(), reposed.numpy()),
        "pose_retrieval_top1": metrics.pose_retrieval_top1(original.numpy(), reposed.numpy()),
        "pose_retrieval_chance": 1.0 / len(original),
        "pose_error_deg": metrics.pose_error_degrees(applied.flatten().numpy(), relative.numpy(), align="none"),
    }
    if labelled:
        if not np.array_equal(closed_form_features["image_id"].to_numpy(), predicted_poses["image_id"].to_numpy()):
            raise ValueError("closed_form_features does not hold the embedded images: rerun compute_closed_form_features")
        features = {
            "": np.asarray(semantic_codes),
            "_canonical_pixels": canonicalise(data).flatten(1).numpy(),
            "_pixels": images.reshape(len(images), -1),
            **{f"_{name}": standardised(feature_columns(closed_form_features, name))
               for name in feature_names(closed_form_features)},
        }
        measures.update(_label_measures(labels, features, options, has_six_and_nine(image_table)))
    else:
        logger.warning("The %d embedded images hold one label class: the neighbour_acc measures need labels and "
                       "are skipped", len(semantic_codes))
    if "rotation_radians" in predicted_poses and predicted_poses["rotation_radians"].notna().all():
        measures["pose_error_vs_truth_deg"] = metrics.pose_error_degrees(
            predicted_poses["rotation_radians"].to_numpy(), predicted_poses["predicted_rotation_radians"].to_numpy()
        )
    elif "rotation_radians" in predicted_poses:
        logger.warning("Not every embedded image has a recorded rotation: pose_error_vs_truth_deg is skipped")
    return measures


def plot_reconstructions(
    images: np.ndarray,
    image_table: pd.DataFrame,
    reconstructions: np.ndarray,
    canonical_images: np.ndarray,
    parameters: dict,
) -> Figure:
    """Input / reconstruction / canonical image for the first images (the paper's figure 1),
    in grey (one channel) or RGB (three)."""
    options = EmbeddingParameters.from_dict(parameters)
    images, _ = select_split(images, image_table, options.split)
    count = min(options.figure_count, len(canonical_images))
    figure, axes = plt.subplots(3, count, figsize=(1.3 * count, 4.2), squeeze=False)
    stacks = (("input", images), ("reconstruction", reconstructions), ("canonical", canonical_images))
    for row, (name, stack) in enumerate(stacks):
        for column in range(count):
            axes[row, column].imshow(figures.shown(stack[column]), cmap="gray", vmin=0, vmax=1)
            axes[row, column].set_axis_off()
        axes[row, 0].set_title(name, fontsize=8, loc="left")
    figure.suptitle("IRL-INR: input, reconstruction at the predicted pose, canonical image (pose 0)")
    figure.tight_layout()
    return figure
