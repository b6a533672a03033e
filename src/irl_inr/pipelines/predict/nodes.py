"""Prediction on new images: a domain's trained IRL-INR and clustering models applied to
images it has never seen, streamed in batches.

Per image: the cluster and its probability under the chosen clustering head (exactly as
``assign_clusters`` computes them), the pose (rotation, shift) and canonical image from
the IRL-INR encoder and INR (exactly as ``extract_embeddings`` and ``render_images``
compute them; the canonical image only when ``predict.canonical_images`` is true), and a
novelty score with a flag.

Novelty score: the Euclidean distance of the image's code z to the nearest cluster's mean
code, the means taken over the images the clustering stage assigned (their codes from
``semantic_codes``); the threshold is the ``predict.novelty_quantile`` quantile of those
images' own scores. It is a distance rather than the head's max probability because the
head is linear in z: the farther a code lies from the data, the larger its logits and the
closer its max probability to 1, so a softmax flags least what lies farthest away.

New images pass the domain's own front end first (its ``prepare_images`` with the
parameters of ``new_image_front_end``; :class:`irl_inr.domains.domain.Domain`): the same
functions its ingestion applies.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from irl_inr.datasets.new_images import ImageBatches, NewImages, StreamChunk
from irl_inr.domains import get_domain
from irl_inr.domains.domain import RawImageBatch
from irl_inr.geometry import normalised_to_pixels
from irl_inr.inference import (
    cluster_probabilities,
    encode_in_batches,
    finite_codes,
    image_shape,
    images_as_tensor,
    render_in_batches,
)
from irl_inr.pipelines.predict.parameters import PredictParameters
from irl_inr.runtime import thread_limit
from irl_inr.saved_models import (
    check_trained_from,
    model_digest,
    normalises_codes,
    restore_encoder,
    restore_irl_inr,
    restore_scan_head,
    restore_selflabel_head,
)
from irl_inr.tables import row_positions
from irl_inr.training import resolve_device

PREDICTION_COLUMNS = (
    "image_id", "source", "cluster", "confidence", "rotation_radians", "shift_x_pixels", "shift_y_pixels",
    "novelty_score", "is_novel",
)


# --------------------------------------------------------------------------- front ends


def prepare_images(batch: RawImageBatch, front_end: dict) -> np.ndarray:
    """A batch as read -> the model's input float32 (B, S, S) (one channel) or (B, C, S, S)
    in [0, 1] through the domain's front end; errors name the batch's first and last images."""
    domain = get_domain(front_end["domain"])
    if batch.format not in domain.formats:
        raise ValueError(
            f"{batch.sources[0]}: format {batch.format!r} is not an input of the {domain.name} front end, which reads "
            f"{domain.formats}"
        )
    try:
        images = domain.prepare_images(batch, front_end)
    except ValueError as error:
        raise ValueError(f"images {batch.sources[0]} .. {batch.sources[-1]}: {error}") from error
    images = np.asarray(images, dtype=np.float32)
    bad = ~np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{batch.sources[int(np.flatnonzero(bad)[0])]}: NaN or infinite pixels after the {domain.name} front end "
            f"({int(bad.sum())} of {len(images)} images of its batch)"
        )
    return images


# ------------------------------------------------------------------------------ novelty


def nearest_centroid_distances(codes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(N,) Euclidean distance of every code (N, d) to its nearest centroid (K, d)."""
    codes, centroids = np.asarray(codes, np.float64), np.asarray(centroids, np.float64)
    squared = (codes**2).sum(1)[:, None] - 2 * codes @ centroids.T + (centroids**2).sum(1)[None, :]
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def calibrate_novelty(
    semantic_codes: np.ndarray, predicted_poses: pd.DataFrame, cluster_assignments: pd.DataFrame, parameters: dict
) -> dict:
    """Each cluster's mean code over the images the clustering stage assigned to it (column
    ``predict.head`` of ``cluster_assignments``, codes matched by ``image_id``), and the
    novelty threshold: the ``predict.novelty_quantile`` quantile of those images' distances
    to their nearest mean code."""
    options = PredictParameters.from_dict(parameters)
    codes = finite_codes(semantic_codes, "semantic_codes")
    if len(codes) != len(predicted_poses):
        raise ValueError(
            f"semantic_codes has {len(codes)} rows but predicted_poses has {len(predicted_poses)}: rerun "
            "extract_embeddings"
        )
    if options.head not in cluster_assignments:
        raise ValueError(f"cluster_assignments lacks the column predict.head = {options.head!r}: rerun assign_clusters")
    positions = row_positions(predicted_poses, cluster_assignments["image_id"].to_numpy())
    missing = positions < 0
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} of the {len(cluster_assignments)} clustered images have no code in semantic_codes "
            "(embedding.split must cover clustering.split): rerun extract_embeddings"
        )
    calibration = codes[positions]
    clusters = cluster_assignments[options.head].to_numpy().astype(np.int64)
    present = np.unique(clusters)
    centroids = np.stack([calibration[clusters == cluster].mean(axis=0) for cluster in present])
    scores = nearest_centroid_distances(calibration, centroids)
    return {
        "score": "Euclidean distance of z to the nearest cluster's mean code",
        "head": options.head,
        "novelty_quantile": float(options.novelty_quantile),
        "threshold": float(np.quantile(scores, options.novelty_quantile)),
        "calibration_images": int(len(calibration)),
        "calibration_score_median": float(np.median(scores)),
        "clusters": present.tolist(),
        "centroids": centroids.astype(np.float64).tolist(),
    }


# --------------------------------------------------------------------------- prediction


def _head_model(
    irl_inr_model: dict, scan_model: dict, selflabel_model: dict, head: str
) -> tuple[nn.Module, nn.Module, bool]:
    """The clustering model ``head`` (its encoder, linear head and whether the head reads
    unit-length codes), after checking that both
    clustering models were trained from this IRL-INR model (and self-labelling from this
    SCAN model), as ``assign_clusters`` does."""
    check_trained_from(irl_inr_model, scan_model, "scan_model")
    check_trained_from(irl_inr_model, selflabel_model, "selflabel_model", model_digest(scan_model, "scan_model"))
    saved_model, restore_head = (
        (selflabel_model, restore_selflabel_head) if head == "selflabel" else (scan_model, restore_scan_head)
    )
    encoder = restore_encoder(irl_inr_model, saved_model["state_dict"], "features.")
    return encoder, restore_head(saved_model), normalises_codes(saved_model)


def _checked_reference(novelty_reference: dict, options: PredictParameters, latent_dim: int) -> np.ndarray:
    if novelty_reference.get("head") != options.head:
        raise ValueError(
            f"novelty_reference was calibrated on the {novelty_reference.get('head')!r} clusters but predict.head = "
            f"{options.head!r}: rerun calibrate_novelty"
        )
    centroids = np.asarray(novelty_reference["centroids"], dtype=np.float64)
    if centroids.ndim != 2 or centroids.shape[1] != latent_dim:
        raise ValueError(
            f"novelty_reference holds centroids of shape {centroids.shape}, the model's codes have {latent_dim} "
            "dimensions: rerun calibrate_novelty"
        )
    return centroids


def predict_new_images(
    irl_inr_model: dict,
    scan_model: dict,
    selflabel_model: dict,
    novelty_reference: dict,
    new_images: NewImages,
    new_image_front_end: dict,
    parameters: dict,
) -> Iterator[tuple[StreamChunk, StreamChunk]]:
    """Stream the new images through the models, ``predict.batch_size`` at a time.

    Yields, per batch, a chunk of ``predictions`` (``image_id`` (0.. in input order),
    ``source``, ``cluster``, ``confidence`` (the head's max probability),
    ``rotation_radians`` in [0, 2π), ``shift_x_pixels``, ``shift_y_pixels``,
    ``novelty_score``, ``is_novel`` (score above the calibrated threshold)) and the chunk of
    their canonical images (float32 (B, S, S), or (B, C, S, S) for a model of C channels,
    the INR at pose 0). With ``predict.canonical_images`` false nothing is rendered: the
    images' chunk is instead an empty stack (0, S, S) (or (0, C, S, S)) of an output of 0
    rows, so ``new_canonical_images`` is saved as an empty stack (rather than left as an
    earlier run's images)."""
    options = PredictParameters.from_dict(parameters)
    device = resolve_device(options.device)
    model = restore_irl_inr(irl_inr_model).to(device)
    size, channels = model.config.image_size, model.config.channels
    encoder, head, normalise = _head_model(irl_inr_model, scan_model, selflabel_model, options.head)
    centroids = _checked_reference(novelty_reference, options, model.config.latent_dim)
    threshold = float(novelty_reference["threshold"])
    if new_image_front_end["image_size"] != size:
        raise ValueError(
            f"the {new_image_front_end['domain']} front end makes {new_image_front_end['image_size']}-pixel images but "
            f"irl_inr_model was trained on {size}-pixel images: predict with the parameters the model was trained with"
        )
    batches: ImageBatches = new_images.batches(options.batch_size)
    start = 0
    for batch in batches:
        with thread_limit(options.num_threads):
            data = images_as_tensor(prepare_images(batch, new_image_front_end))
            if data.shape[1] != channels:
                raise ValueError(
                    f"the {new_image_front_end['domain']} front end makes images of {data.shape[1]} channel(s) but "
                    f"irl_inr_model was trained on {channels}: predict with the parameters the model was trained with"
                )
            codes, rotations, translations = encode_in_batches(model, data, options.batch_size, device)
            if options.canonical_images:
                canonical = StreamChunk(start, batches.total, render_in_batches(
                    model, codes, torch.zeros(len(codes)), torch.zeros(len(codes), 2), size, options.batch_size,
                    device,
                ))
            else:
                canonical = StreamChunk(0, 0, np.zeros((0, *image_shape(channels, size)), dtype=np.float32))
            probabilities = cluster_probabilities(encoder, head, data, options.batch_size, device, normalise)
        scores = nearest_centroid_distances(codes.numpy(), centroids)
        shift = normalised_to_pixels(translations, size).numpy().astype(np.float64)
        table = pd.DataFrame(
            {
                "image_id": np.arange(start, start + len(batch), dtype=np.int64),
                "source": batch.sources,
                "cluster": probabilities.argmax(1).astype(np.int64),
                "confidence": probabilities.max(1).astype(np.float64),
                "rotation_radians": np.mod(rotations.numpy().astype(np.float64), 2 * math.pi),
                "shift_x_pixels": shift[:, 0],
                "shift_y_pixels": shift[:, 1],
                "novelty_score": scores,
                "is_novel": scores > threshold,
            },
            columns=list(PREDICTION_COLUMNS),
        )
        yield StreamChunk(start, batches.total, table), canonical
        start += len(batch)
