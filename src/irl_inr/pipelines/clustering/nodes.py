"""Clustering nodes that train: SCAN (mining, heads, self-labelling) on the IRL-INR
encoder, and DTI clustering, on the images of ``clustering.split``; the k-means
baselines and the comparison of every method are :mod:`.comparison`.

Every number comes from the ``clustering`` parameter section (see
``conf/base/parameters_clustering.yml`` and :class:`ClusteringParameters`). Nodes only
read their inputs and return values; the one file they write is a resumable training
checkpoint per trained model, in ``clustering.checkpoint_dir``, through :func:`fit` as the
IRL-INR training does. A checkpoint's file name holds a hash of everything the run
depends on (images, neighbours, starting weights and all settings), because SCAN's
training data is a tensor of indices that the training loop's own fingerprint cannot tell
apart between data sets.

Which images: ``clustering.split`` of ``images`` / ``image_table``; the codes
(``semantic_codes``) and canonical images are the rows of ``predicted_poses`` (the
embedded split), of which the same split is taken and matched by ``image_id``.

``n_clusters`` must equal the number of label classes among those images: the comparison
scores clusters against classes one to one (Hungarian ACC), so another K would measure
something else; a mismatch is a ``ValueError`` that names both.  Images without labels
(one class, such as a cryo-EM stack without angles) are clustered into ``n_clusters``
unscored: the measures that need labels (acc, nmi, ari, acc_69, neighbour_acc) are left
out, and a warning says so. The figures of the comparison are drawn by
:mod:`.figures`; mining split into shards is :mod:`.sharding`.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import torch

from irl_inr import metrics
from irl_inr.fingerprint import digest
from irl_inr.geometry import pixels_to_normalised
from irl_inr.inference import cluster_probabilities
from irl_inr.metrics.clustering import head_agreement, pairwise_rand_index
from irl_inr.models.augmentation import AppearanceAugmentation
from irl_inr.models.dti import DTIClustering
from irl_inr.models.head_selection import kept_head, mean_agreement
from irl_inr.models.irl_inr import IRLINRConfig
from irl_inr.models.neighbour_pairs import NeighbourPairs
from irl_inr.models.scan import SCANModel
from irl_inr.models.selflabel import SelfLabelModel
from irl_inr.pipelines.clustering.inputs import (
    check_trained_on,
    downsampled,
    mining_codes,
    mining_measures,
    selected_images,
)
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.runtime import thread_limit
from irl_inr.saved_models import (
    check_trained_from,
    model_digest,
    normalises_codes,
    restore_encoder,
    restore_irl_inr,
    restore_scan_head,
)
from irl_inr.training import checkpoint_file, fit, resolve_device, state_signature
from irl_inr.training.checkpoint import cpu_state_dict

logger = logging.getLogger(__name__)


def _train_seconds(history: pd.DataFrame) -> float:
    """Training time of a run: the loop's per-epoch wall times, summed (also over resumes)."""
    return float(history["seconds"].sum()) if len(history) else 0.0


# ---------------------------------------------------------------------------------- nodes


def mine_neighbours(
    semantic_codes: np.ndarray, predicted_poses: pd.DataFrame, parameters: dict
) -> tuple[np.ndarray, dict]:
    """SCAN's mining step: the ``clustering.mining.neighbours`` nearest codes of every
    image of ``clustering.split`` by cosine (exact, faiss), itself excluded.

    Returns the neighbour indices (N, k) int64 (into the split's images, in table order)
    and ``{"images", "neighbours", "neighbour_acc"}``: the share of (image, neighbour)
    pairs with the same label, what SCAN's consistency term stands on."""
    options = ClusteringParameters.from_dict(parameters)
    codes, table = mining_codes(semantic_codes, predicted_poses, options)
    k = options.mining.neighbours
    if len(codes) < options.n_clusters:
        raise ValueError(
            f"clustering.split = {options.split!r} selects {len(codes)} images of semantic_codes, fewer than "
            f"clustering.n_clusters = {options.n_clusters}"
        )
    options.check_label_classes(table, "predicted_poses")
    with thread_limit(options.num_threads):
        neighbours, _ = metrics.nearest_neighbours(codes, k, metric="cosine", backend="faiss")
    mining = mining_measures(table, neighbours, k)
    logger.info("Mined %d neighbours of %d codes: %s", k, len(codes), mining)
    return neighbours.astype(np.int64), mining


def encoder_appearance(config: IRLINRConfig) -> AppearanceAugmentation:
    """The appearance augmentation of the IRL-INR encoder's views (mirrored too where the
    model mirrors its encoder-only views): what ``clustering.scan.views: encoder`` adds."""
    return dataclasses.replace(config.appearance_augmentation(), mirror=config.augment_mirror)


def train_scan(
    irl_inr_model: dict, images: np.ndarray, image_table: pd.DataFrame, scan_neighbours: np.ndarray, parameters: dict
) -> tuple[dict, pd.DataFrame]:
    """Train SCAN's clustering heads on the IRL-INR encoder (frozen unless
    ``clustering.scan.train_features``): an image and one of its mined neighbours, each
    under a random rotation and shift, should get the same confident cluster, while the
    batch uses every cluster (entropy weight ``clustering.scan.entropy_weight``).

    One head is kept (``clustering.scan.keep_head``): by default the one whose clusters
    agree best with the other heads' (adjusted Rand index), else the lowest SCAN loss.

    Returns ``{"config", "state_dict"}`` (the config records the kept head,
    ``best_head``, every head's SCAN loss and mean ARI with the other heads, how far the
    heads agree, ``head_agreement_ari`` and ``kept_head_agreement_ari`` (see
    :func:`irl_inr.metrics.clustering.head_agreement`; absent with one head), and the
    training time) and the per-epoch history (``head_<h>`` columns follow each head)."""
    options = ClusteringParameters.from_dict(parameters)
    block = options.scan
    data, _ = selected_images(images, image_table, options)
    scan_neighbours = np.asarray(scan_neighbours)
    if scan_neighbours.ndim != 2 or scan_neighbours.shape[0] != len(data) or scan_neighbours.dtype.kind not in "iu":
        raise ValueError(
            f"scan_neighbours must be integer indices (N, k) for the {len(data)} images of clustering.split = "
            f"{options.split!r}, got {scan_neighbours.dtype} {scan_neighbours.shape}: rerun mine_neighbours"
        )
    optimisation = options.training_config("scan")
    max_shift = float(pixels_to_normalised(block.max_shift_pixels, data.shape[-1]))
    trained = {name: value for name, value in block.model_settings().items() if name != "keep_head"}  # chosen after
    settings = {"n_clusters": options.n_clusters, "scan": trained, "max_shift": max_shift,
                "normalise_codes": options.normalise_codes}
    irl_digest = model_digest(irl_inr_model, "irl_inr_model")

    torch.manual_seed(options.seed)
    pairs = NeighbourPairs(data, torch.from_numpy(scan_neighbours.astype(np.int64)))
    network = restore_irl_inr(irl_inr_model)
    model = SCANModel(
        network.encoder,
        pairs,
        options.n_clusters,
        block.n_heads,
        entropy_weight=float(block.entropy_weight),
        rotate=block.rotate,
        max_shift=max_shift,
        train_features=block.train_features,
        normalise_features=options.normalise_codes,
        cached_views=block.cached_views,
        view_seed=options.seed,
        head_hidden=block.head_hidden,
        features_learning_rate_scale=float(block.features_learning_rate_scale),
        appearance=encoder_appearance(network.config) if block.views == "encoder" else None,
    )
    path = checkpoint_file(
        options.checkpoint_dir, "scan", settings, optimisation.fingerprint_fields(), irl_digest, state_signature(model),
        data, scan_neighbours,
    )
    logger.info("Training SCAN (%d heads) on %d images; checkpoints in %s", block.n_heads, len(data), path)
    result = fit(model, pairs, optimisation, checkpoint_path=path, progress=options.progress)
    with thread_limit(options.num_threads):
        head_losses, assignments = model.judge_heads(pairs, options.batch_size)
    head_losses, assignments = head_losses.cpu(), assignments.cpu().numpy()  # (H,), (H, N)
    agreement = pairwise_rand_index(assignments)  # (H, H)
    best = kept_head(block.keep_head, head_losses, agreement)
    model.selected_head.fill_(best)
    stability = head_agreement(agreement, best) if block.n_heads > 1 else {}
    logger.info(
        "SCAN heads' losses %s, mean ARI with the other heads %s: head %d kept (by %s); %s",
        [round(float(v), 4) for v in head_losses], [round(float(v), 3) for v in mean_agreement(agreement)], best,
        block.keep_head, stability,
    )
    scan_model = {
        "config": {
            "irl_inr": irl_inr_model["config"],
            "irl_inr_digest": irl_digest,
            "n_clusters": options.n_clusters,
            "n_heads": block.n_heads,
            "feature_dim": int(model.heads.feature_dim),
            "normalise_codes": options.normalise_codes,
            "scan": block.model_settings(),
            "optimisation": optimisation.to_dict(),
            "best_head": best,
            "head_losses": [float(v) for v in head_losses],
            "head_mean_agreement": [float(v) for v in mean_agreement(agreement)],
            **stability,
            "images": int(len(data)),
            "images_digest": digest(data),
            "train_seconds": _train_seconds(result.history),
        },
        "state_dict": cpu_state_dict(model),
    }
    return scan_model, result.history


def train_selflabel(
    irl_inr_model: dict, scan_model: dict, images: np.ndarray, image_table: pd.DataFrame, parameters: dict
) -> tuple[dict, pd.DataFrame]:
    """SCAN's self-labelling from the best SCAN head: images whose weakly augmented view is
    predicted with probability above ``clustering.selflabel.threshold`` get that cluster as
    a pseudo-label for a strongly augmented view (class-balanced cross-entropy).

    A collapse, a cluster left without any member, is logged as a warning and recorded in
    the model's config (``empty_clusters``, ``cluster_sizes``); the comparison reports it as
    ``selflabel.empty_clusters``. Returns ``{"config", "state_dict"}`` and the history."""
    options = ClusteringParameters.from_dict(parameters)
    block = options.selflabel
    data, _ = selected_images(images, image_table, options)
    check_trained_from(irl_inr_model, scan_model, "scan_model")
    scan_config = scan_model["config"]
    if scan_config["n_clusters"] != options.n_clusters:
        raise ValueError(
            f"scan_model has {scan_config['n_clusters']} clusters but clustering.n_clusters = {options.n_clusters}: "
            "rerun train_scan"
        )
    check_trained_on(scan_model, "scan_model", data, options)
    optimisation = options.training_config("selflabel")
    max_shift = float(pixels_to_normalised(block.max_shift_pixels, data.shape[-1]))
    scan_digest = model_digest(scan_model, "scan_model")
    settings = {"n_clusters": options.n_clusters, "selflabel": block.model_settings(), "max_shift": max_shift}

    torch.manual_seed(options.seed)
    encoder = restore_encoder(irl_inr_model, scan_model["state_dict"], "features.")
    device = resolve_device(options.device)
    with thread_limit(options.num_threads):
        scan_probs = cluster_probabilities(
            encoder, restore_scan_head(scan_model), data, options.batch_size, device, normalises_codes(scan_model)
        )
    scan_sizes = np.bincount(scan_probs.argmax(1), minlength=options.n_clusters)
    model = SelfLabelModel(
        encoder.cpu(),
        restore_scan_head(scan_model),
        threshold=float(block.threshold),
        rotate=block.rotate,
        max_shift=max_shift,
        contrast=float(block.contrast),
        noise_std=float(block.noise_std),
        cutout_size=float(block.cutout_size),
        class_balance=block.class_balance,
        train_features=block.train_features,
        normalise_features=normalises_codes(scan_model),
        features_learning_rate_scale=float(block.features_learning_rate_scale),
        ema_decay=float(block.ema_decay),
    )
    path = checkpoint_file(
        options.checkpoint_dir, "selflabel", settings, optimisation.fingerprint_fields(), scan_digest,
        scan_config["best_head"], state_signature(model), data,
    )
    logger.info("Self-labelling (threshold %.3g) on %d images; checkpoints in %s", block.threshold, len(data), path)
    result = fit(model, data, optimisation, checkpoint_path=path, progress=options.progress)
    with thread_limit(options.num_threads):
        probs = model.predict(data, options.batch_size)
    sizes = np.bincount(probs.argmax(1).cpu().numpy(), minlength=options.n_clusters)
    empty = [int(c) for c in np.flatnonzero(sizes == 0)]
    if empty:
        lost = [c for c in empty if scan_sizes[c] > 0]
        logger.warning(
            "Self-labelling collapsed: %d of %d clusters have no member (%s; %s had members after SCAN). "
            "Cluster sizes after SCAN %s, after self-labelling %s. Try a lower clustering.selflabel.threshold, "
            "fewer epochs or a smaller learning rate.",
            len(empty), options.n_clusters, empty, lost or "none", scan_sizes.tolist(), sizes.tolist(),
        )
    selflabel_model = {
        "config": {
            "irl_inr": irl_inr_model["config"],
            "irl_inr_digest": scan_config["irl_inr_digest"],
            "scan_digest": scan_digest,
            "scan_head": int(scan_config["best_head"]),
            "head_hidden": int(scan_config["scan"].get("head_hidden", 0)),
            "normalise_codes": normalises_codes(scan_model),
            "n_clusters": options.n_clusters,
            "selflabel": block.model_settings(),
            "optimisation": optimisation.to_dict(),
            "images": int(len(data)),
            "images_digest": digest(data),
            "cluster_sizes": sizes.tolist(),
            "scan_cluster_sizes": scan_sizes.tolist(),
            "empty_clusters": len(empty),
            "train_seconds": _train_seconds(result.history),
        },
        "state_dict": cpu_state_dict(model.prediction_state_dict()),
    }
    return selflabel_model, result.history


def train_dti(images: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> tuple[dict, pd.DataFrame]:
    """DTI clustering: K prototypes in pixel space (images average-pooled by
    ``clustering.dti.downsample``), each aligned to every image by a predicted rotation,
    shift and scale (plus ``rotation_hypotheses`` base angles over the full turn), trained
    on ``clustering.dti.train_images`` images drawn at random.

    Returns ``{"config", "state_dict"}`` and the per-epoch history."""
    options = ClusteringParameters.from_dict(parameters)
    block = options.dti
    data, _ = selected_images(images, image_table, options)
    images_digest = digest(data)
    data = downsampled(data, block.downsample)
    if block.train_images is not None and block.train_images < len(data):
        if block.train_images < options.n_clusters:
            raise ValueError(
                f"clustering.dti.train_images = {block.train_images}: fewer than clustering.n_clusters = "
                f"{options.n_clusters}"
            )
        chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(options.seed))
        data = data[chosen[: block.train_images].sort().values]
    optimisation = options.training_config("dti")
    model_options = block.model_options()
    torch.manual_seed(options.seed)
    model = DTIClustering.from_data(
        data, options.n_clusters, init=block.init, init_subsample=block.init_subsample, seed=options.seed,
        **model_options,
    )
    path = checkpoint_file(
        options.checkpoint_dir, "dti", options.n_clusters, block.model_settings(), optimisation.fingerprint_fields(),
        state_signature(model), data,
    )
    logger.info("Training DTI on %d images of %s; checkpoints in %s", len(data), tuple(data.shape[1:]), path)
    result = fit(model, data, optimisation, checkpoint_path=path, progress=options.progress)
    dti_model = {
        "config": {
            "n_clusters": options.n_clusters,
            "image_shape": list(model.image_shape),
            "options": {**model_options, "transformations": list(model_options["transformations"]),
                        "channels": list(model_options["channels"])},
            "dti": block.model_settings(),
            "optimisation": optimisation.to_dict(),
            "train_images": int(len(data)),
            "images_digest": images_digest,
            "train_seconds": _train_seconds(result.history),
        },
        "state_dict": cpu_state_dict(model),
    }
    return dti_model, result.history
