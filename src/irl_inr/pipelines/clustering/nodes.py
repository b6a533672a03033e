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
out, and a warning says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_limits
from torch import nn

from irl_inr import baselines, metrics
from irl_inr.geometry import pixels_to_normalised
from irl_inr.models.dti import DTIClustering
from irl_inr.models.scan import ClusteringHeads, SCANModel, SelfLabelModel, clustering_head
from irl_inr.moments import canonicalise
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.pipelines.training.nodes import images_as_tensor, load_irl_inr, select_split
from irl_inr.training import fit, resolve_device
from irl_inr.training.checkpoint import cpu_state_dict

logger = logging.getLogger(__name__)

# The methods of the comparison, in the order of its table.
BASELINE_METHODS = ("kmeans_pixels", "kmeans_z", "kmeans_z_normalised", "kmeans_canonical", "spectral_neighbours")
METHODS = (*BASELINE_METHODS, "dti", "scan", "selflabel")
# Digits that a rotation-invariant code cannot tell apart (``acc_69``).
SIX_NINE = (6, 9)


# ------------------------------------------------------------------------------- helpers


def _digest(*parts: Any) -> str:
    """12 hex digits of a sha256 over arrays, tensors, state dicts and plain settings."""
    hasher = hashlib.sha256()
    for part in parts:
        _feed(hasher, part)
    return hasher.hexdigest()[:12]


def _feed(hasher, part: Any) -> None:
    if isinstance(part, torch.Tensor):
        tensor = part.detach().to("cpu").contiguous()
        hasher.update(f"tensor{list(tensor.shape)}{tensor.dtype}".encode())
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(part, np.ndarray):
        array = np.ascontiguousarray(part)
        hasher.update(f"array{list(array.shape)}{array.dtype}".encode())
        hasher.update(array.tobytes())
    elif isinstance(part, Mapping):
        hasher.update(b"{")
        for key in sorted(part, key=str):
            hasher.update(json.dumps(str(key)).encode())
            _feed(hasher, part[key])
        hasher.update(b"}")
    elif isinstance(part, list | tuple):
        hasher.update(b"[")
        for item in part:
            _feed(hasher, item)
        hasher.update(b"]")
    else:
        hasher.update(json.dumps(part, default=str).encode())


def _checkpoint(options: ClusteringParameters, name: str, *identity: Any) -> Path:
    return Path(options.checkpoint_dir) / f"{name}-{_digest(*identity)}.pt"


def _model_digest(bundle: Mapping, name: str) -> str:
    if not isinstance(bundle, Mapping) or not {"config", "state_dict"} <= set(bundle):
        raise ValueError(f"{name} must be a model bundle {{'config', 'state_dict'}}, got {type(bundle).__name__}")
    return _digest(bundle["state_dict"])


def _unlabelled(labels: np.ndarray) -> bool:
    """One label class: nothing to score clusters against."""
    return len(pd.unique(labels)) == 1


def _check_label_classes(table: pd.DataFrame, options: ClusteringParameters, name: str = "image_table") -> None:
    classes = sorted(pd.unique(table["label"]).tolist())
    if len(classes) == 1:
        logger.warning(
            "The %d images of clustering.split = %r (%s) hold one label class %s: they are clustered into "
            "clustering.n_clusters = %d unscored (acc, nmi, ari, acc_69 and neighbour_acc need labels and are "
            "skipped)", len(table), options.split, name, classes, options.n_clusters,
        )
        return
    if len(classes) != options.n_clusters:
        raise ValueError(
            f"clustering.n_clusters = {options.n_clusters} but the labels of the {len(table)} images of "
            f"clustering.split = {options.split!r} ({name}) hold {len(classes)} classes {classes}: set "
            "n_clusters to the number of classes (clusters are scored against classes one to one)"
        )


def _selected_images(images: np.ndarray, image_table: pd.DataFrame, options: ClusteringParameters):
    """The images of ``clustering.split`` as a (N, 1, H, W) tensor, and their table rows."""
    if "label" not in image_table or "image_id" not in image_table:
        raise ValueError(f"image_table must have image_id and label columns, got {list(image_table.columns)}")
    images, table = select_split(images, image_table, options.split)
    if len(table) < options.n_clusters:
        raise ValueError(
            f"clustering.split = {options.split!r} selects {len(table)} images of the domain, fewer than "
            f"clustering.n_clusters = {options.n_clusters}"
        )
    _check_label_classes(table, options)
    return images_as_tensor(images), table.reset_index(drop=True)


def _embedded_rows(
    rows: np.ndarray, pose_table: pd.DataFrame, options: ClusteringParameters, name: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """The rows of ``name`` (one per row of ``predicted_poses``) of ``clustering.split``."""
    if len(rows) != len(pose_table):
        raise ValueError(
            f"{name} has {len(rows)} rows but predicted_poses has {len(pose_table)}: rerun extract_embeddings"
        )
    if options.split == "all":
        return rows, pose_table.reset_index(drop=True)
    keep = (pose_table["split"] == options.split).to_numpy()
    if not keep.any():
        raise ValueError(
            f"clustering.split = {options.split!r} but predicted_poses (embedding.split) holds no image of that "
            f"split: embed it (embedding.split = 'all' or {options.split!r})"
        )
    return rows[keep], pose_table[keep].reset_index(drop=True)


def _same_images(ids: np.ndarray, other: np.ndarray, what: str, options: ClusteringParameters) -> None:
    if len(ids) != len(other) or not np.array_equal(np.asarray(ids), np.asarray(other)):
        raise ValueError(
            f"{what} does not hold the images of clustering.split = {options.split!r} of image_table "
            f"({len(other)} rows against {len(ids)} images): embedding.split must cover clustering.split, "
            "and every input must come from the same run"
        )


def _finite_codes(codes: np.ndarray, name: str) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d), got {codes.shape}")
    bad = ~np.isfinite(codes).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} holds NaN or infinite values in {int(bad.sum())} of {len(codes)} rows (first: row "
            f"{int(np.flatnonzero(bad)[0])}): the IRL-INR model diverged; retrain it and rerun extract_embeddings"
        )
    return codes


def _train_seconds(history: pd.DataFrame) -> float:
    """Training time of a run: the loop's per-epoch wall times, summed (also over resumes)."""
    return float(history["seconds"].sum()) if len(history) else 0.0


def _load_encoder(irl_inr_model: dict, state_dict: Mapping[str, torch.Tensor], prefix: str) -> nn.Module:
    """The IRL-INR encoder with the weights stored under ``prefix`` in ``state_dict``."""
    encoder = load_irl_inr(irl_inr_model).encoder
    weights = {key.removeprefix(prefix): value for key, value in state_dict.items() if key.startswith(prefix)}
    encoder.load_state_dict(weights)
    return encoder


def _scan_head(scan_model: dict) -> nn.Module:
    """The best SCAN head (as chosen after training), in eval mode."""
    config = scan_model["config"]
    weights = {key.removeprefix("heads."): value for key, value in scan_model["state_dict"].items()
               if key.startswith("heads.")}
    heads = ClusteringHeads(int(config["feature_dim"]), int(config["n_clusters"]), int(config["n_heads"]),
                            int(config["scan"].get("head_hidden", 0)))
    heads.load_state_dict(weights)
    return heads.eval().head(int(config["best_head"]))


def _selflabel_head(selflabel_model: dict) -> nn.Module:
    """The self-labelled head, in eval mode."""
    config = selflabel_model["config"]
    weights = {key.removeprefix("head."): value for key, value in selflabel_model["state_dict"].items()
               if key.startswith("head.")}
    last = weights["3.weight" if config.get("head_hidden", 0) else "weight"]
    first = weights["0.weight" if config.get("head_hidden", 0) else "weight"]
    head = clustering_head(first.shape[1], last.shape[0], int(config.get("head_hidden", 0)))
    head.load_state_dict(weights)
    return head.eval()


def normalises_codes(bundle: dict) -> bool:
    """Whether a SCAN or self-label model's head reads unit-length codes (models saved
    before ``clustering.normalise_codes`` existed read raw codes)."""
    return bool(bundle["config"].get("normalise_codes", False))


def _check_chain(irl_inr_model: dict, bundle: dict, name: str, expected: str | None = None) -> None:
    """``bundle`` must have been trained from this IRL-INR model (and, for self-labelling,
    from the SCAN model whose digest is ``expected``)."""
    config = bundle.get("config", {}) if isinstance(bundle, Mapping) else {}
    if config.get("irl_inr_digest") != _model_digest(irl_inr_model, "irl_inr_model"):
        raise ValueError(f"{name} was trained on another irl_inr_model: rerun its training node")
    if expected is not None and config.get("scan_digest") != expected:
        raise ValueError(f"{name} was trained from another scan_model: rerun train_selflabel")


def _check_images(bundle: dict, name: str, data: torch.Tensor, options: ClusteringParameters) -> None:
    """``bundle`` must have been trained on these images (those of ``clustering.split``)."""
    if bundle["config"].get("images_digest") != _digest(data):
        raise ValueError(
            f"{name} was trained on other images than the {len(data)} of clustering.split = {options.split!r}: "
            "rerun its training node"
        )


@torch.no_grad()
def _predict(
    encoder: nn.Module, head: nn.Module, data: torch.Tensor, batch_size: int, device, normalise: bool
) -> np.ndarray:
    """Cluster probabilities (N, K) of images under encoder + head (eval mode, no
    augmentation); the codes are scaled to unit length first when ``normalise``."""
    encoder, head = encoder.to(device).eval(), head.to(device).eval()
    chunks = []
    for start in range(0, len(data), batch_size):
        codes = encoder(data[start : start + batch_size].to(device)).semantic_code.float()
        if not torch.isfinite(codes).all():
            raise ValueError(f"the encoder gives NaN or infinite codes for images {start}..{start + len(codes) - 1}")
        if normalise:
            codes = F.normalize(codes, dim=1)
        chunks.append(torch.softmax(head(codes).float(), dim=-1).cpu())
    return torch.cat(chunks).numpy()


def _cluster_sizes(clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    return np.bincount(np.asarray(clusters, dtype=np.int64), minlength=n_clusters)


def _downsampled(data: torch.Tensor, factor: int) -> torch.Tensor:
    return data if factor == 1 else F.avg_pool2d(data, factor)


@contextlib.contextmanager
def _threads(count: int | None):
    """Run with ``count`` torch and BLAS/OpenMP threads (None: leave the settings as they
    are); restored afterwards."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        torch.set_num_threads(before)


def _dti_from_bundle(dti_model: dict) -> DTIClustering:
    config = dti_model["config"]
    model = DTIClustering(config["n_clusters"], tuple(config["image_shape"]), **config["options"])
    model.load_state_dict(dti_model["state_dict"])
    return model.eval()


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
    codes, table = _embedded_rows(_finite_codes(semantic_codes, "semantic_codes"), predicted_poses, options,
                                  "semantic_codes")
    k = options.mining.neighbours
    if k >= len(codes):
        raise ValueError(
            f"clustering.mining.neighbours = {k}: must be below the number of images ({len(codes)}) of "
            f"clustering.split = {options.split!r} in semantic_codes"
        )
    if len(codes) < options.n_clusters:
        raise ValueError(
            f"clustering.split = {options.split!r} selects {len(codes)} images of semantic_codes, fewer than "
            f"clustering.n_clusters = {options.n_clusters}"
        )
    _check_label_classes(table, options, "predicted_poses")
    with _threads(options.num_threads):
        neighbours, _ = metrics.nearest_neighbours(codes, k, metric="cosine", backend="faiss")
    mining = {"images": int(len(codes)), "neighbours": int(k)}
    if not _unlabelled(table["label"].to_numpy()):
        mining["neighbour_acc"] = metrics.neighbour_accuracy(table["label"].to_numpy(), neighbours)
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
    data, _ = _selected_images(images, image_table, options)
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
    irl_digest = _model_digest(irl_inr_model, "irl_inr_model")
    path = _checkpoint(options, "scan", settings, optimisation.fingerprint_fields(), irl_digest, data, neighbours)

    torch.manual_seed(options.seed)
    model = SCANModel(
        load_irl_inr(irl_inr_model).encoder,
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
    with _threads(options.num_threads):
        head_losses = model.head_losses(options.batch_size).cpu()
    best = int(torch.argmin(head_losses))
    model.selected_head.fill_(best)
    logger.info("SCAN heads' losses %s: head %d kept", [round(float(v), 4) for v in head_losses], best)
    bundle = {
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
            "images_digest": _digest(data),
            "train_seconds": _train_seconds(result.history),
        },
        "state_dict": cpu_state_dict(model),
    }
    return bundle, result.history


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
    data, _ = _selected_images(images, image_table, options)
    _check_chain(irl_inr_model, scan_model, "scan_model")
    scan_config = scan_model["config"]
    if scan_config["n_clusters"] != options.n_clusters:
        raise ValueError(
            f"scan_model has {scan_config['n_clusters']} clusters but clustering.n_clusters = {options.n_clusters}: "
            "rerun train_scan"
        )
    _check_images(scan_model, "scan_model", data, options)
    optimisation = options.training_config("selflabel")
    max_shift = float(pixels_to_normalised(block.max_shift_pixels, data.shape[-1]))
    scan_digest = _model_digest(scan_model, "scan_model")
    settings = {"n_clusters": options.n_clusters, "selflabel": block.model_settings(), "max_shift": max_shift}
    path = _checkpoint(options, "selflabel", settings, optimisation.fingerprint_fields(), scan_digest,
                       scan_config["best_head"], data)

    torch.manual_seed(options.seed)
    encoder = _load_encoder(irl_inr_model, scan_model["state_dict"], "features.")
    device = resolve_device(options.device)
    with _threads(options.num_threads):
        scan_probs = _predict(
            encoder, _scan_head(scan_model), data, options.batch_size, device, normalises_codes(scan_model)
        )
    scan_sizes = _cluster_sizes(scan_probs.argmax(1), options.n_clusters)
    model = SelfLabelModel(
        encoder.cpu(),
        _scan_head(scan_model),
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
    with _threads(options.num_threads):
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
    bundle = {
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
            "images_digest": _digest(data),
            "cluster_sizes": sizes.tolist(),
            "scan_cluster_sizes": scan_sizes.tolist(),
            "empty_clusters": len(empty),
            "train_seconds": _train_seconds(result.history),
        },
        "state_dict": cpu_state_dict(model),
    }
    return bundle, result.history


def train_dti(images: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> tuple[dict, pd.DataFrame]:
    """DTI clustering: K prototypes in pixel space (images average-pooled by
    ``clustering.dti.downsample``), each aligned to every image by a predicted rotation,
    shift and scale (plus ``rotation_hypotheses`` base angles over the full turn), trained
    on ``clustering.dti.train_images`` images drawn at random.

    Returns ``{"config", "state_dict"}`` and the per-epoch history."""
    options = ClusteringParameters.from_dict(parameters)
    block = options.dti
    data, _ = _selected_images(images, image_table, options)
    images_digest = _digest(data)
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
    path = _checkpoint(
        options, "dti", options.n_clusters, block.model_settings(), optimisation.fingerprint_fields(), data
    )
    torch.manual_seed(options.seed)
    model = DTIClustering.from_data(
        data, options.n_clusters, init=block.init, init_subsample=block.init_subsample, seed=options.seed,
        **model_options,
    )
    logger.info("Training DTI on %d images of %s; checkpoints in %s", len(data), tuple(data.shape[1:]), path)
    result = fit(model, data, optimisation, checkpoint_path=path, progress=options.progress)
    bundle = {
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
    return bundle, result.history


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
    data, table = _selected_images(images, image_table, options)
    codes, code_table = _embedded_rows(
        _finite_codes(semantic_codes, "semantic_codes"), predicted_poses, options, "semantic_codes"
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
    with _threads(options.num_threads):
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
    data, table = _selected_images(images, image_table, options)
    _same_images(table["image_id"].to_numpy(), baseline_clusters["image_id"].to_numpy(), "baseline_clusters", options)
    _check_chain(irl_inr_model, scan_model, "scan_model")
    _check_chain(irl_inr_model, selflabel_model, "selflabel_model", _model_digest(scan_model, "scan_model"))
    for name, bundle in (("scan_model", scan_model), ("selflabel_model", selflabel_model), ("dti_model", dti_model)):
        if bundle["config"]["n_clusters"] != options.n_clusters:
            raise ValueError(
                f"{name} has {bundle['config']['n_clusters']} clusters but clustering.n_clusters = "
                f"{options.n_clusters}: rerun its training node"
            )
        _check_images(bundle, name, data, options)
    device = resolve_device(options.device)
    with _threads(options.num_threads):
        scan = _predict(
            _load_encoder(irl_inr_model, scan_model["state_dict"], "features."), _scan_head(scan_model), data,
            options.batch_size, device, normalises_codes(scan_model),
        )
        selflabel = _predict(
            _load_encoder(irl_inr_model, selflabel_model["state_dict"], "features."),
            _selflabel_head(selflabel_model), data, options.batch_size, device, normalises_codes(selflabel_model),
        )
    dti = _dti_from_bundle(dti_model).to(device)
    dti_data = _downsampled(data, dti_model["config"]["dti"]["downsample"])
    if tuple(dti_data.shape[1:]) != dti.image_shape:
        raise ValueError(
            f"dti_model was trained on images of shape {dti.image_shape}, these are {tuple(dti_data.shape[1:])}: "
            "rerun train_dti"
        )
    # DTI renders K x R transformed prototypes per image: smaller batches, and its threads.
    with _threads(options.training_config("dti").num_threads):
        dti_clusters = dti.assign(dti_data, max(1, options.batch_size // 4), return_reconstructions=False).clusters
    assignments = baseline_clusters[["image_id", "label", *BASELINE_METHODS]].reset_index(drop=True).assign(
        dti=dti_clusters.cpu().numpy().astype(np.int64),
        scan=scan.argmax(1).astype(np.int64),
        selflabel=selflabel.argmax(1).astype(np.int64),
        selflabel_confidence=selflabel.max(1).astype(np.float32),
    )
    return assignments


def _accuracy_6_9(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Hungarian ACC with 6 and 9 as one class (:func:`metrics.merge_labels`). When both
    digits occur, two clusters may match the merged class (one in the place of each
    digit), so a clustering that keeps all ten digits apart still scores 1 and one that
    lumps 6 with 9 loses nothing for it."""
    labels = np.asarray(labels)
    merged = metrics.merge_labels(labels, [SIX_NINE])
    classes, label_ids = np.unique(merged, return_inverse=True)
    _, cluster_ids = np.unique(clusters, return_inverse=True)
    table = np.zeros((cluster_ids.max() + 1, len(classes)), dtype=np.int64)
    np.add.at(table, (cluster_ids, label_ids), 1)
    if all(np.isin(digit, labels) for digit in SIX_NINE):
        merged_column = int(np.flatnonzero(classes == SIX_NINE[0])[0])
        table = np.concatenate([table, table[:, merged_column : merged_column + 1]], axis=1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(labels))


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
    unlabelled = _unlabelled(labels)
    if unlabelled:
        logger.warning("The clustered images hold one label class: acc, nmi, ari and acc_69 are skipped")
    rows, measures = [], {}
    for method in METHODS:
        clusters = cluster_assignments[method].to_numpy()
        empty = int((_cluster_sizes(clusters, options.n_clusters) == 0).sum())
        scores = {
            **({} if unlabelled else {**metrics.clustering_scores(labels, clusters),
                                      "acc_69": _accuracy_6_9(labels, clusters)}),
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


# -------------------------------------------------------------------------------- figures


def _matching(labels: np.ndarray, clusters: np.ndarray, n_clusters: int) -> tuple[list, np.ndarray, list[int]]:
    """Classes, the class x cluster counts, and the clusters in the order of the Hungarian
    matching (the cluster matched to the first class first; unmatched clusters last)."""
    classes = sorted(np.unique(labels).tolist())
    index = {label: i for i, label in enumerate(classes)}
    counts = np.zeros((len(classes), n_clusters), dtype=np.int64)
    np.add.at(counts, (np.array([index[label] for label in labels.tolist()]), clusters.astype(np.int64)), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    matched = [int(c) for c in cols[np.argsort(rows)]]
    return classes, counts, matched + [c for c in range(n_clusters) if c not in matched]


def plot_confusion_matrix(cluster_assignments: pd.DataFrame, parameters: dict) -> Figure:
    """Labels (rows) against self-label clusters (columns, in the order of the Hungarian
    matching, so the diagonal holds the matched pairs), with the counts written in."""
    options = ClusteringParameters.from_dict(parameters)
    labels = cluster_assignments["label"].to_numpy()
    clusters = cluster_assignments["selflabel"].to_numpy().astype(np.int64)
    classes, counts, order = _matching(labels, clusters, options.n_clusters)
    counts = counts[:, order]
    figure, axis = plt.subplots(figsize=(max(5.0, 1.5 + 0.55 * len(order)), max(3.0, 1.2 + 0.5 * len(classes))))
    axis.imshow(counts, cmap="Blues")
    for row in range(counts.shape[0]):
        for column in range(counts.shape[1]):
            colour = "white" if counts[row, column] > counts.max() / 2 else "black"
            axis.text(column, row, str(counts[row, column]), ha="center", va="center", fontsize=7, color=colour)
    axis.set_xticks(range(len(order)), [str(c) for c in order], fontsize=8)
    axis.set_yticks(range(len(classes)), [str(c) for c in classes], fontsize=8)
    axis.set_xlabel("self-label cluster (in the order of the matching)")
    axis.set_ylabel("label")
    accuracy = metrics.clustering_accuracy(labels, clusters)
    axis.set_title(f"Self-labelled clusters against labels (ACC {accuracy:.3f})", fontsize=10)
    figure.tight_layout()
    return figure


def plot_cluster_exemplars(
    cluster_assignments: pd.DataFrame, canonical_images: np.ndarray, predicted_poses: pd.DataFrame, parameters: dict
) -> Figure:
    """One row per self-label cluster (in the order of the matching): the canonical images
    (IRL-INR at pose 0) of its ``clustering.exemplars`` most confident members."""
    options = ClusteringParameters.from_dict(parameters)
    canonical, table = _embedded_rows(np.asarray(canonical_images), predicted_poses, options, "canonical_images")
    row_of = pd.Series(np.arange(len(table)), index=table["image_id"].to_numpy())
    missing = ~cluster_assignments["image_id"].isin(row_of.index)
    if missing.any():
        raise ValueError(
            f"canonical_images lacks {int(missing.sum())} of the clustered images: rerun extract_embeddings"
        )
    labels = cluster_assignments["label"].to_numpy()
    clusters = cluster_assignments["selflabel"].to_numpy().astype(np.int64)
    classes, counts, order = _matching(labels, clusters, options.n_clusters)
    count = options.exemplars
    size = (max(6.0, 0.9 * count + 1.2), 0.9 * len(order) + 0.6)
    figure, axes = plt.subplots(len(order), count, figsize=size, squeeze=False)
    for row, cluster in enumerate(order):
        members = cluster_assignments[clusters == cluster].sort_values("selflabel_confidence", ascending=False)
        rows = row_of[members["image_id"].to_numpy()[:count]].to_numpy()
        for column in range(count):
            axis = axes[row, column]
            axis.set_axis_off()
            if column < len(rows):
                axis.imshow(canonical[rows[column]], cmap="gray", vmin=0, vmax=1)
        size = int(counts[:, cluster].sum())
        major = classes[int(np.argmax(counts[:, cluster]))] if size else "-"
        axes[row, 0].set_title(f"cluster {cluster}: n={size}, mostly {major}", fontsize=7, loc="left")
    figure.suptitle("Self-label clusters: canonical images of the most confident members", fontsize=10)
    figure.tight_layout()
    return figure


def plot_dti_prototypes(dti_model: dict, cluster_assignments: pd.DataFrame) -> Figure:
    """The DTI prototypes, each titled with its size and commonest label."""
    prototypes = dti_model["state_dict"]["prototypes"].float().numpy()  # (K, C, h, w)
    n_clusters = prototypes.shape[0]
    clusters = cluster_assignments["dti"].to_numpy().astype(np.int64)
    labels = cluster_assignments["label"].to_numpy()
    classes, counts, _ = _matching(labels, clusters, n_clusters)
    columns = min(n_clusters, 10)
    rows = math.ceil(n_clusters / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(5.0, 1.3 * columns), 1.5 * rows + 0.5), squeeze=False)
    for cluster, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if cluster >= n_clusters:
            continue
        axis.imshow(prototypes[cluster].mean(0), cmap="gray")
        size = int(counts[:, cluster].sum())
        major = classes[int(np.argmax(counts[:, cluster]))] if size else "-"
        axis.set_title(f"{cluster}: n={size}\nmostly {major}", fontsize=7)
    figure.suptitle("DTI prototypes", fontsize=10)
    figure.tight_layout()
    return figure
