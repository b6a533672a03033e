"""The comparison of clustering methods on the same images: the classical baselines, one
cluster column per method for every image, and every method scored against the labels
(Hungarian ACC, NMI, ARI, ACC with 6 and 9 as one class where the labels are digits,
empty clusters, training time).  The methods' own models are trained by :mod:`.nodes`."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from irl_inr import baselines, metrics
from irl_inr.metrics.clustering import SIX_NINE
from irl_inr.inference import cluster_probabilities, finite_codes
from irl_inr.invariant_features import feature_columns, feature_names, standardised
from irl_inr.moments import canonicalise
from irl_inr.pipelines.clustering.inputs import (
    check_trained_on,
    downsampled,
    embedded_rows,
    is_unlabelled,
    selected_images,
)
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.runtime import thread_limit
from irl_inr.tables import has_six_and_nine
from irl_inr.saved_models import (
    check_trained_from,
    model_digest,
    normalises_codes,
    restore_dti,
    restore_encoder,
    restore_scan_head,
    restore_selflabel_head,
)
from irl_inr.training import resolve_device

logger = logging.getLogger(__name__)

# The methods of the comparison, in the order of its table; k-means on each closed-form
# feature of the embedding stage (``kmeans_<feature>``) follows kmeans_canonical.
BASELINE_METHODS = ("kmeans_pixels", "kmeans_z", "kmeans_z_normalised", "kmeans_canonical", "spectral_neighbours")
TRAINED_METHODS = ("dti", "scan", "selflabel")
METHODS = (*BASELINE_METHODS, *TRAINED_METHODS)
# The columns of the cluster assignments that are not a method's clusters.
IMAGE_COLUMNS = ("image_id", "label", "label_name")
# How far SCAN's heads agree (irl_inr.metrics.clustering.head_agreement), from its model's
# config into its measures; the first is also a column of the comparison (SCAN's row).
HEAD_AGREEMENT = ("head_agreement_ari", "kept_head_agreement_ari")


def compared_methods(cluster_assignments: pd.DataFrame) -> list[str]:
    """The methods of ``cluster_assignments``, in the order of its columns."""
    return [column for column in cluster_assignments.columns if column not in (*IMAGE_COLUMNS, "selflabel_confidence")]


def _same_images(ids: np.ndarray, other: np.ndarray, what: str, options: ClusteringParameters) -> None:
    if len(ids) != len(other) or not np.array_equal(np.asarray(ids), np.asarray(other)):
        raise ValueError(
            f"{what} does not hold the images of clustering.split = {options.split!r} of image_table "
            f"({len(other)} rows against {len(ids)} images): embedding.split must cover clustering.split, "
            "and every input must come from the same run"
        )


def _timed(cluster, *args, **kwargs) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    clusters = cluster(*args, **kwargs)
    return clusters, time.perf_counter() - started


def cluster_baselines(
    images: np.ndarray,
    image_table: pd.DataFrame,
    semantic_codes: np.ndarray,
    predicted_poses: pd.DataFrame,
    scan_neighbours: np.ndarray,
    closed_form_features: pd.DataFrame,
    parameters: dict,
) -> tuple[pd.DataFrame, dict]:
    """The classical baselines on the same images (:data:`BASELINE_METHODS`): k-means on raw
    pixels (``kmeans_pixels``, every channel of every pixel), on the IRL-INR codes
    (``kmeans_z``), on the codes scaled to unit length (``kmeans_z_normalised``, spherical
    k-means: the fair k-means of a contrastive code), on pixels canonicalised by their
    moments (``kmeans_canonical``), on each closed-form rotation-invariant feature of the
    embedding stage, standardised (``kmeans_<feature>``: the closed-form bar of centred
    images), and spectral clustering of the very k-NN graph that SCAN mines
    (``spectral_neighbours``). SCAN must beat the best of them.

    Returns a table ``image_id, label[, label_name], <method>...`` and each method's
    seconds (canonicalisation included)."""
    options = ClusteringParameters.from_dict(parameters)
    data, table = selected_images(images, image_table, options)
    codes, code_table = embedded_rows(
        finite_codes(semantic_codes, "semantic_codes"), predicted_poses, options, "semantic_codes"
    )
    _same_images(table["image_id"].to_numpy(), code_table["image_id"].to_numpy(), "semantic_codes", options)
    scan_neighbours = np.asarray(scan_neighbours)
    if scan_neighbours.ndim != 2 or scan_neighbours.shape[0] != len(codes):
        raise ValueError(
            f"scan_neighbours must be (N, k) for the {len(codes)} images of clustering.split = {options.split!r}, "
            f"got {scan_neighbours.shape}: rerun mine_neighbours"
        )
    if not np.array_equal(closed_form_features["image_id"].to_numpy(), predicted_poses["image_id"].to_numpy()):
        raise ValueError("closed_form_features does not hold the embedded images: rerun compute_closed_form_features")
    features = {
        f"kmeans_{name}": standardised(
            embedded_rows(feature_columns(closed_form_features, name), predicted_poses, options, "closed_form_features")[0]
        )
        for name in feature_names(closed_form_features)
    }
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
        for method, values in features.items():
            clusters[method], seconds[method] = _timed(baselines.kmeans, values, k, restarts, seed)
        clusters["spectral_neighbours"], seconds["spectral_neighbours"] = _timed(
            baselines.spectral_neighbour_graph, scan_neighbours, k, seed
        )
    order = [*BASELINE_METHODS[:4], *features, *BASELINE_METHODS[4:]]
    result = pd.DataFrame(
        {**{column: table[column].to_numpy() for column in IMAGE_COLUMNS if column in table},
         **{method: clusters[method] for method in order}}
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
    """One cluster column per method for every image of ``clustering.split``: the columns of
    ``baseline_clusters`` (``image_id, label[, label_name]``, the baselines), then ``dti``,
    ``scan``, ``selflabel`` and ``selflabel_confidence`` (the self-label model's max
    probability)."""
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
        check_trained_on(saved_model, name, data, options)
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
    dti_data = downsampled(data, dti_model["config"]["dti"]["downsample"])
    if tuple(dti_data.shape[1:]) != dti.image_shape:
        raise ValueError(
            f"dti_model was trained on images of shape {dti.image_shape}, these are {tuple(dti_data.shape[1:])}: "
            "rerun train_dti"
        )
    # DTI renders K x R transformed prototypes per image: smaller batches, and its threads.
    with thread_limit(options.training_config("dti").num_threads):
        dti_clusters = dti.assign(dti_data, max(1, options.batch_size // 4), return_reconstructions=False).clusters
    assignments = baseline_clusters.reset_index(drop=True).assign(
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

    Returns the table ``method, acc, nmi, ari[, acc_69], empty_clusters, train_seconds[,
    head_agreement_ari]`` (one row per method of ``cluster_assignments``: :data:`METHODS` and
    ``kmeans_<feature>``; ``head_agreement_ari`` on SCAN's row alone: the mean ARI between
    its heads' clusters, where it trained several) and ``{"<method>": {...}, "mining":
    {...}}`` for the metrics file (SCAN's with :data:`HEAD_AGREEMENT`; ``acc_69``: ACC with
    6 and 9 as one class, only where the labels are the digits; ``train_seconds``: the
    method's own training, k-means fits timed here, the rest the training loop's epoch
    times; self-labelling's excludes the SCAN it starts from). Images of one label class
    have no acc, nmi, ari or acc_69 (empty in the table, absent from the metrics)."""
    options = ClusteringParameters.from_dict(parameters)
    missing = [name for name in ("label", *METHODS) if name not in cluster_assignments]
    if missing:
        raise ValueError(f"cluster_assignments lacks the column(s) {missing}: rerun assign_clusters")
    methods = compared_methods(cluster_assignments)
    labels = cluster_assignments["label"].to_numpy()
    seconds = {
        **{name: float(baseline_seconds[name]) for name in methods if name not in TRAINED_METHODS},
        "dti": float(dti_model["config"]["train_seconds"]),
        "scan": float(scan_model["config"]["train_seconds"]),
        "selflabel": float(selflabel_model["config"]["train_seconds"]),
    }
    unlabelled = is_unlabelled(labels)
    if unlabelled:
        logger.warning("The clustered images hold one label class: acc, nmi, ari and acc_69 are skipped")
    digits = not unlabelled and has_six_and_nine(cluster_assignments)
    rows, measures = [], {}
    for method in methods:
        clusters = cluster_assignments[method].to_numpy()
        empty = int((np.bincount(np.asarray(clusters, dtype=np.int64), minlength=options.n_clusters) == 0).sum())
        scores = {
            **({} if unlabelled else metrics.clustering_scores(labels, clusters)),
            **({"acc_69": metrics.merged_class_accuracy(labels, clusters, SIX_NINE)} if digits else {}),
            "empty_clusters": empty,
            "train_seconds": seconds[method],
        }
        measures[method] = scores
        rows.append({"method": method, **scores})
    agreement = {name: float(scan_model["config"][name]) for name in HEAD_AGREEMENT if name in scan_model["config"]}
    measures["scan"].update(agreement)
    if agreement:
        rows[methods.index("scan")][HEAD_AGREEMENT[0]] = agreement[HEAD_AGREEMENT[0]]
    if measures["selflabel"]["empty_clusters"]:
        logger.warning(
            "selflabel.empty_clusters = %d: the self-labelling step left clusters without members",
            measures["selflabel"]["empty_clusters"],
        )
    measures["mining"] = dict(mining_metrics)
    columns = ["method", "acc", "nmi", "ari", *(["acc_69"] if digits else []), "empty_clusters", "train_seconds",
               *(HEAD_AGREEMENT[:1] if agreement else [])]
    table = pd.DataFrame(rows, columns=columns)
    logger.info("Clustering comparison:\n%s", table.to_string(index=False, float_format="%.4f"))
    return table, measures
