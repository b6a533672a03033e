"""Clustering nodes: SCAN (mining, heads, self-labelling) on the IRL-INR encoder, against
k-means baselines and DTI clustering, all on the same images and scored the same way.

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

import logging
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from irl_inr import baselines, metrics
from irl_inr.fingerprint import digest
from irl_inr.geometry import pixels_to_normalised
from irl_inr.inference import cluster_probabilities, finite_codes
from irl_inr.models.dti import DTIClustering
from irl_inr.models.scan import SCANModel, SelfLabelModel
from irl_inr.moments import canonicalise
from irl_inr.pipelines.clustering.inputs import (
    check_label_classes,
    embedded_rows,
    is_unlabelled,
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
    restore_dti,
    restore_encoder,
    restore_irl_inr,
    restore_scan_head,
    restore_selflabel_head,
)
from irl_inr.training import checkpoint_file, fit, resolve_device
from irl_inr.training.checkpoint import cpu_state_dict

logger = logging.getLogger(__name__)

# The methods of the comparison, in the order of its table.
BASELINE_METHODS = ("kmeans_pixels", "kmeans_z", "kmeans_z_normalised", "kmeans_canonical", "spectral_neighbours")
METHODS = (*BASELINE_METHODS, "dti", "scan", "selflabel")
# Digits that a rotation-invariant code cannot tell apart (``acc_69``).
SIX_NINE = (6, 9)


def _check_images(saved_model: dict, name: str, data: torch.Tensor, options: ClusteringParameters) -> None:
    """``saved_model`` must have been trained on these images (those of ``clustering.split``)."""
    if saved_model["config"].get("images_digest") != digest(data):
        raise ValueError(
            f"{name} was trained on other images than the {len(data)} of clustering.split = {options.split!r}: "
            "rerun its training node"
        )


def _same_images(ids: np.ndarray, other: np.ndarray, what: str, options: ClusteringParameters) -> None:
    if len(ids) != len(other) or not np.array_equal(np.asarray(ids), np.asarray(other)):
        raise ValueError(
            f"{what} does not hold the images of clustering.split = {options.split!r} of image_table "
            f"({len(other)} rows against {len(ids)} images): embedding.split must cover clustering.split, "
            "and every input must come from the same run"
        )


def _train_seconds(history: pd.DataFrame) -> float:
    """Training time of a run: the loop's per-epoch wall times, summed (also over resumes)."""
    return float(history["seconds"].sum()) if len(history) else 0.0


def _cluster_sizes(clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    return np.bincount(np.asarray(clusters, dtype=np.int64), minlength=n_clusters)


def _downsampled(data: torch.Tensor, factor: int) -> torch.Tensor:
    return data if factor == 1 else F.avg_pool2d(data, factor)


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
    check_label_classes(table, options, "predicted_poses")
    with thread_limit(options.num_threads):
        neighbours, _ = metrics.nearest_neighbours(codes, k, metric="cosine", backend="faiss")
    mining = mining_measures(table, neighbours, k)
    logger.info("Mined %d neighbours of %d codes: %s", k, len(codes), mining)
    return neighbours.astype(np.int64), mining


def train_scan(
    irl_inr_model: dict, images: np.ndarray, image_table: pd.DataFrame, neighbours: np.ndarray, parameters: dict
) -> tuple[dict, pd.DataFrame]:
    """Train SCAN's clustering heads on the IRL-INR encoder (frozen unless
    ``clustering.scan.train_features``): an image and one of its mined neighbours, each
    under a random rotation and shift, should get the same confident cluster, while the
    batch uses every cluster (entropy weight ``clustering.scan.entropy_weight``).

    Returns ``{"config", "state_dict"}`` (the config records the head with the lowest
    SCAN loss over all images, ``best_head``, every head's loss and the training time)
    and the per-epoch history (``head_<h>`` columns follow each head)."""
    options = ClusteringParameters.from_dict(parameters)
    block = options.scan
    data, _ = selected_images(images, image_table, options)
    neighbours = np.asarray(neighbours)
    if neighbours.ndim != 2 or neighbours.shape[0] != len(data) or neighbours.dtype.kind not in "iu":
        raise ValueError(
            f"scan_neighbours must be integer indices (N, k) for the {len(data)} images of clustering.split = "
            f"{options.split!r}, got {neighbours.dtype} {neighbours.shape}: rerun mine_neighbours"
        )
    optimisation = options.training_config("scan")
    max_shift = float(pixels_to_normalised(block.max_shift_pixels, data.shape[-1]))
    settings = {"n_clusters": options.n_clusters, "scan": block.model_settings(), "max_shift": max_shift,
                "normalise_codes": options.normalise_codes}
    irl_digest = model_digest(irl_inr_model, "irl_inr_model")
    path = checkpoint_file(
        options.checkpoint_dir, "scan", settings, optimisation.fingerprint_fields(), irl_digest, data, neighbours
    )

    torch.manual_seed(options.seed)
    model = SCANModel(
        restore_irl_inr(irl_inr_model).encoder,
        data,
        torch.from_numpy(neighbours.astype(np.int64)),
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
    )
    logger.info("Training SCAN (%d heads) on %d images; checkpoints in %s", block.n_heads, len(data), path)
    result = fit(model, model.training_data(), optimisation, checkpoint_path=path, progress=options.progress)
    with thread_limit(options.num_threads):
        head_losses = model.head_losses(options.batch_size).cpu()
    best = int(torch.argmin(head_losses))
    model.selected_head.fill_(best)
    logger.info("SCAN heads' losses %s: head %d kept", [round(float(v), 4) for v in head_losses], best)
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
    _check_images(scan_model, "scan_model", data, options)
    optimisation = options.training_config("selflabel")
    max_shift = float(pixels_to_normalised(block.max_shift_pixels, data.shape[-1]))
    scan_digest = model_digest(scan_model, "scan_model")
    settings = {"n_clusters": options.n_clusters, "selflabel": block.model_settings(), "max_shift": max_shift}
    path = checkpoint_file(
        options.checkpoint_dir, "selflabel", settings, optimisation.fingerprint_fields(), scan_digest,
        scan_config["best_head"], data,
    )

    torch.manual_seed(options.seed)
    encoder = restore_encoder(irl_inr_model, scan_model["state_dict"], "features.")
    device = resolve_device(options.device)
    with thread_limit(options.num_threads):
        scan_probs = cluster_probabilities(
            encoder, restore_scan_head(scan_model), data, options.batch_size, device, normalises_codes(scan_model)
        )
    scan_sizes = _cluster_sizes(scan_probs.argmax(1), options.n_clusters)
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
    )
    logger.info("Self-labelling (threshold %.3g) on %d images; checkpoints in %s", block.threshold, len(data), path)
    result = fit(model, data, optimisation, checkpoint_path=path, progress=options.progress)
    with thread_limit(options.num_threads):
        probs = model.predict(data, options.batch_size)
    sizes = _cluster_sizes(probs.argmax(1).cpu().numpy(), options.n_clusters)
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
        "state_dict": cpu_state_dict(model),
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
    data = _downsampled(data, block.downsample)
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
    path = checkpoint_file(
        options.checkpoint_dir, "dti", options.n_clusters, block.model_settings(), optimisation.fingerprint_fields(),
        data,
    )
    torch.manual_seed(options.seed)
    model = DTIClustering.from_data(
        data, options.n_clusters, init=block.init, init_subsample=block.init_subsample, seed=options.seed,
        **model_options,
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


def _timed(cluster, *args, **kwargs) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    clusters = cluster(*args, **kwargs)
    return clusters, time.perf_counter() - started


def cluster_baselines(
    images: np.ndarray,
    image_table: pd.DataFrame,
    semantic_codes: np.ndarray,
    predicted_poses: pd.DataFrame,
    neighbours: np.ndarray,
    parameters: dict,
) -> tuple[pd.DataFrame, dict]:
    """The classical baselines on the same images (:data:`BASELINE_METHODS`): k-means on raw
    pixels (``kmeans_pixels``), on the IRL-INR codes (``kmeans_z``), on the codes scaled to
    unit length (``kmeans_z_normalised``, spherical k-means: the fair k-means of a
    contrastive code), on pixels canonicalised by their moments (``kmeans_canonical``, the
    closed-form invariance bar), and spectral clustering of the very k-NN graph that SCAN
    mines (``spectral_neighbours``). SCAN must beat the best of them.

    Returns a table ``image_id, label, <method>...`` and each method's seconds
    (canonicalisation included)."""
    options = ClusteringParameters.from_dict(parameters)
    data, table = selected_images(images, image_table, options)
    codes, code_table = embedded_rows(
        finite_codes(semantic_codes, "semantic_codes"), predicted_poses, options, "semantic_codes"
    )
    _same_images(table["image_id"].to_numpy(), code_table["image_id"].to_numpy(), "semantic_codes", options)
    neighbours = np.asarray(neighbours)
    if neighbours.ndim != 2 or neighbours.shape[0] != len(codes):
        raise ValueError(
            f"scan_neighbours must be (N, k) for the {len(codes)} images of clustering.split = {options.split!r}, "
            f"got {neighbours.shape}: rerun mine_neighbours"
        )
    k, restarts, seed = options.n_clusters, options.kmeans_n_init, options.seed
    clusters, seconds = {}, {}
    with thread_limit(options.num_threads):
        clusters["kmeans_pixels"], seconds["kmeans_pixels"] = _timed(
            baselines.kmeans, data.flatten(1).numpy(), k, restarts, seed
        )
        clusters["kmeans_z"], seconds["kmeans_z"] = _timed(baselines.kmeans, codes, k, restarts, seed)
        clusters["kmeans_z_normalised"], seconds["kmeans_z_normalised"] = _timed(
            baselines.spherical_kmeans, codes, k, restarts, seed
        )
        canonical, canonical_seconds = _timed(canonicalise, data)
        clusters["kmeans_canonical"], seconds["kmeans_canonical"] = _timed(
            baselines.kmeans, canonical.flatten(1).numpy(), k, restarts, seed
        )
        seconds["kmeans_canonical"] += canonical_seconds
        clusters["spectral_neighbours"], seconds["spectral_neighbours"] = _timed(
            baselines.spectral_neighbour_graph, neighbours, k, seed
        )
    result = pd.DataFrame(
        {"image_id": table["image_id"].to_numpy(), "label": table["label"].to_numpy(),
         **{method: clusters[method] for method in BASELINE_METHODS}}
    )
    logger.info("Baseline seconds: %s", {key: round(value, 2) for key, value in seconds.items()})
    return result, seconds


def assign_clusters(
    irl_inr_model: dict,
    scan_model: dict,
    selflabel_model: dict,
    dti_model: dict,
    images: np.ndarray,
    image_table: pd.DataFrame,
    baseline_clusters: pd.DataFrame,
    parameters: dict,
) -> pd.DataFrame:
    """One cluster column per method for every image of ``clustering.split``:
    ``image_id, label``, one column per method of :data:`METHODS`,
    plus ``selflabel_confidence`` (the self-label model's max probability)."""
    options = ClusteringParameters.from_dict(parameters)
    data, table = selected_images(images, image_table, options)
    _same_images(table["image_id"].to_numpy(), baseline_clusters["image_id"].to_numpy(), "baseline_clusters", options)
    check_trained_from(irl_inr_model, scan_model, "scan_model")
    check_trained_from(irl_inr_model, selflabel_model, "selflabel_model", model_digest(scan_model, "scan_model"))
    for name, saved_model in (("scan_model", scan_model), ("selflabel_model", selflabel_model),
                              ("dti_model", dti_model)):
        if saved_model["config"]["n_clusters"] != options.n_clusters:
            raise ValueError(
                f"{name} has {saved_model['config']['n_clusters']} clusters but clustering.n_clusters = "
                f"{options.n_clusters}: rerun its training node"
            )
        _check_images(saved_model, name, data, options)
    device = resolve_device(options.device)
    with thread_limit(options.num_threads):
        scan = cluster_probabilities(
            restore_encoder(irl_inr_model, scan_model["state_dict"], "features."), restore_scan_head(scan_model), data,
            options.batch_size, device, normalises_codes(scan_model),
        )
        selflabel = cluster_probabilities(
            restore_encoder(irl_inr_model, selflabel_model["state_dict"], "features."),
            restore_selflabel_head(selflabel_model), data, options.batch_size, device, normalises_codes(selflabel_model),
        )
    dti = restore_dti(dti_model).to(device)
    dti_data = _downsampled(data, dti_model["config"]["dti"]["downsample"])
    if tuple(dti_data.shape[1:]) != dti.image_shape:
        raise ValueError(
            f"dti_model was trained on images of shape {dti.image_shape}, these are {tuple(dti_data.shape[1:])}: "
            "rerun train_dti"
        )
    # DTI renders K x R transformed prototypes per image: smaller batches, and its threads.
    with thread_limit(options.training_config("dti").num_threads):
        dti_clusters = dti.assign(dti_data, max(1, options.batch_size // 4), return_reconstructions=False).clusters
    assignments = baseline_clusters[["image_id", "label", *BASELINE_METHODS]].reset_index(drop=True).assign(
        dti=dti_clusters.cpu().numpy().astype(np.int64),
        scan=scan.argmax(1).astype(np.int64),
        selflabel=selflabel.argmax(1).astype(np.int64),
        selflabel_confidence=selflabel.max(1).astype(np.float32),
    )
    return assignments


def compare_clusterings(
    cluster_assignments: pd.DataFrame,
    baseline_seconds: dict,
    scan_model: dict,
    selflabel_model: dict,
    dti_model: dict,
    mining_metrics: dict,
    parameters: dict,
) -> tuple[pd.DataFrame, dict]:
    """Every method scored against the labels on the same images.

    Returns the table ``method, acc, nmi, ari, acc_69, empty_clusters, train_seconds`` (one
    row per method of :data:`METHODS`) and ``{"<method>": {...}, "mining": {...}}`` for the
    metrics file (``acc_69``: ACC with 6 and 9 as one class; ``train_seconds``: the
    method's own training, k-means fits timed here, the rest the training loop's epoch
    times; self-labelling's excludes the SCAN it starts from). Images of one label class
    have no acc, nmi, ari or acc_69 (empty in the table, absent from the metrics)."""
    options = ClusteringParameters.from_dict(parameters)
    missing = [name for name in ("label", *METHODS) if name not in cluster_assignments]
    if missing:
        raise ValueError(f"cluster_assignments lacks the column(s) {missing}: rerun assign_clusters")
    labels = cluster_assignments["label"].to_numpy()
    seconds = {
        **{name: float(baseline_seconds[name]) for name in BASELINE_METHODS},
        "dti": float(dti_model["config"]["train_seconds"]),
        "scan": float(scan_model["config"]["train_seconds"]),
        "selflabel": float(selflabel_model["config"]["train_seconds"]),
    }
    unlabelled = is_unlabelled(labels)
    if unlabelled:
        logger.warning("The clustered images hold one label class: acc, nmi, ari and acc_69 are skipped")
    rows, measures = [], {}
    for method in METHODS:
        clusters = cluster_assignments[method].to_numpy()
        empty = int((_cluster_sizes(clusters, options.n_clusters) == 0).sum())
        scores = {
            **({} if unlabelled else {**metrics.clustering_scores(labels, clusters),
                                      "acc_69": metrics.merged_class_accuracy(labels, clusters, SIX_NINE)}),
            "empty_clusters": empty,
            "train_seconds": seconds[method],
        }
        measures[method] = scores
        rows.append({"method": method, **scores})
    if measures["selflabel"]["empty_clusters"]:
        logger.warning(
            "selflabel.empty_clusters = %d: the self-labelling step left clusters without members",
            measures["selflabel"]["empty_clusters"],
        )
    measures["mining"] = dict(mining_metrics)
    table = pd.DataFrame(rows, columns=["method", "acc", "nmi", "ari", "acc_69", "empty_clusters", "train_seconds"])
    logger.info("Clustering comparison:\n%s", table.to_string(index=False, float_format="%.4f"))
    return table, measures
