"""The report's sections, each built from a stage's outputs: the data, training,
representations, clustering, and the parameters and versions that produced them.

Rows are matched by ``image_id``: ``images`` follow ``image_table``; ``semantic_codes``,
``reconstructions`` and ``canonical_images`` follow ``predicted_poses`` (the embedded
split); ``cluster_assignments`` holds the clustered split. A wrong shape, a missing
column or an image id that another table lacks is a ``ValueError`` naming the dataset."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pandas as pd
import yaml
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from irl_inr import metrics
from irl_inr.reporting import figures
from irl_inr.reporting.html import (
    Section,
    figure_html,
    mapping_table_html,
    paragraph_html,
    preformatted_html,
    table_html,
)
from irl_inr.reporting.formatting import percent, significant
from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.training.loop import RESERVED_COLUMNS

POSE_COLUMNS = ("rotation_radians", "shift_x_pixels", "shift_y_pixels")
IMAGE_TABLE_COLUMNS = ("image_id", "label", "split", *POSE_COLUMNS)
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
    "neighbour_acc_canonical_pixels": "the same on moment-canonicalised pixels (closed-form bar)",
    "neighbour_acc_pixels": "the same on raw pixels",
    "pose_error_deg": "median rotation error (degrees) of re-posed copies relative to their original",
    "pose_error_vs_truth_deg": "median rotation error (degrees) against the ground truth, after the median offset",
}


# ------------------------------------------------------------------------------ checks


def _require_columns(frame: pd.DataFrame, columns, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; it has {list(frame.columns)}")


def _image_stack(stack, rows: int, name: str, rows_of: str) -> np.ndarray:
    """A float array (N, S, S) with one image per row of ``rows_of``."""
    stack = np.asarray(stack)
    if stack.ndim != 3 or stack.shape[1] != stack.shape[2]:
        raise ValueError(f"{name} must have shape (N, S, S), got {stack.shape}")
    if len(stack) != rows:
        raise ValueError(f"{name} has {len(stack)} images but {rows_of} has {rows} rows: they come from different runs")
    return stack


def _row_of(table: pd.DataFrame, name: str) -> pd.Series:
    """image_id -> row position in ``table``; image ids must be unique."""
    ids = table["image_id"].to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"{name} repeats image ids (e.g. {int(pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0])})")
    return pd.Series(np.arange(len(ids)), index=ids)


def _rows_for(row_of: pd.Series, ids: np.ndarray, name: str, of: str) -> np.ndarray:
    known = np.isin(ids, row_of.index.to_numpy())
    if not known.all():
        raise ValueError(
            f"{name} lacks {int((~known).sum())} of the {len(ids)} images of {of} (first image_id "
            f"{int(ids[~known][0])}): every input must come from the same run"
        )
    return row_of[ids].to_numpy()


def _check_known_labels(frame: pd.DataFrame, names: Mapping[int, str], name: str) -> None:
    unknown = sorted(set(frame["label"].astype("int64").tolist()) - set(names))
    if unknown:
        raise ValueError(f"{name} has label(s) {unknown[:10]} that image_table lacks: every input must come from the same run")


def label_names(image_table: pd.DataFrame) -> dict[int, str]:
    """label -> its name (``label_name`` when the table has it, else the label itself)."""
    labels = image_table["label"].astype("int64")
    if "label_name" not in image_table:
        return {int(label): str(label) for label in sorted(labels.unique())}
    pairs = pd.DataFrame({"label": labels, "name": image_table["label_name"].astype(str)}).drop_duplicates()
    clashes = pairs["label"][pairs["label"].duplicated()]
    if len(clashes):
        label = int(clashes.iloc[0])
        names = sorted(pairs.loc[pairs["label"] == label, "name"])
        raise ValueError(f"image_table gives label {label} more than one label_name: {names}")
    return {int(label): name for label, name in sorted(zip(pairs["label"], pairs["name"]))}


# ----------------------------------------------------------------------------- the data


def data_section(images, image_table: pd.DataFrame, options: ReportingParameters) -> Section:
    """A sample grid (one row per class), images per class and split, and the ground-truth
    pose distribution."""
    _require_columns(image_table, IMAGE_TABLE_COLUMNS, "image_table")
    images = _image_stack(images, len(image_table), "images", "image_table")
    names = label_names(image_table)
    labels = image_table["label"].to_numpy()
    generator = np.random.default_rng(options.seed)
    sample_rows = []
    for label, name in names.items():
        members = np.flatnonzero(labels == label)
        chosen = np.sort(generator.choice(members, size=min(options.samples_per_class, len(members)), replace=False))
        sample_rows.append((name, images[chosen]))
    width = options.figure_width_inches
    grid = figures.image_rows(sample_rows, width, f"{options.samples_per_class} random images per class")

    poses = {
        "rotation (degrees, clockwise on screen)": np.degrees(image_table["rotation_radians"].to_numpy(dtype=float)),
        "shift x (pixels)": image_table["shift_x_pixels"].to_numpy(dtype=float),
        "shift y (pixels, down)": image_table["shift_y_pixels"].to_numpy(dtype=float),
    }
    unknown = {name: int((~np.isfinite(values)).sum()) for name, values in poses.items()}
    caption = "Ground-truth in-plane pose of every image."
    if any(unknown.values()):
        caption += " Left out (no known value): " + ", ".join(f"{name}: {count}" for name, count in unknown.items()) + "."
    histograms = figures.pose_histograms(poses, options.histogram_bins, width)

    per_class = image_table["label"].value_counts()
    balance = per_class.min() / per_class.max()
    balance_verdict = (
        f"classes range from {per_class.min()} to {per_class.max()} images"
        + (" (balanced)." if balance >= 0.5 else ": unbalanced, so accuracy favours the large classes.")
    )
    rotations = poses["rotation (degrees, clockwise on screen)"]
    rotations = rotations[np.isfinite(rotations)]
    pose_verdict = (
        f"rotations span {significant(np.ptp(rotations))}° (a rotation-invariant code has to undo all of them)."
        if len(rotations) else "no ground-truth rotation is known for these images."
    )
    counts = pd.crosstab(image_table["label"], image_table["split"], margins=True, margins_name="all")
    counts.index = [names.get(label, label) for label in counts.index]  # rows by label, then "all"
    counts = counts.rename_axis("label").reset_index()
    size = images.shape[1]
    body = (
        paragraph_html(f"{len(images)} images of {size}x{size} pixels in {len(names)} classes.")
        + table_html(counts)
        + figure_html(
            grid, "Sample images, one row per class (label name on the left). Look for images that a person would "
            "sort into their row: a row of mixed shapes means noisy labels.", options.figure_dpi, balance_verdict,
            balance < 0.5,
        )
        + figure_html(
            histograms, caption + " Look for the spread the model must be invariant to.", options.figure_dpi,
            pose_verdict,
        )
    )
    return Section("The data", body)


# ------------------------------------------------------------------------------ training


def training_section(training_history: pd.DataFrame, options: ReportingParameters) -> Section:
    """One loss curve per term of the training history and a summary of the run."""
    _require_columns(training_history, ("epoch", "seconds"), "training_history")
    terms = [column for column in training_history.columns if column not in RESERVED_COLUMNS]
    if not terms or training_history.empty:
        raise ValueError(
            f"training_history holds no loss term or no epoch (columns {list(training_history.columns)}, "
            f"{len(training_history)} rows): rerun train_irl_inr"
        )
    epochs = training_history["epoch"].to_numpy()
    curves = {term: training_history[term].to_numpy(dtype=float) for term in terms}
    summary = pd.DataFrame(
        [{"epochs": len(training_history), "training seconds": float(training_history["seconds"].sum()),
          **{f"last {term}": curves[term][-1] for term in terms}}]
    )
    figure = figures.loss_curves(epochs, curves, options.figure_width_inches)
    verdict, warn = loss_verdict(curves.get("total", next(iter(curves.values()))), options.loss_plateau_share)
    body = table_html(summary) + figure_html(
        figure, f"Loss terms: {', '.join(terms)}. Look for curves that fall and then flatten; a curve still falling "
        "at the last epoch means more epochs would help, one that rises means the learning rate is too high.",
        options.figure_dpi, verdict, warn,
    )
    return Section("Training", body)


def loss_verdict(total: np.ndarray, plateau_share: float) -> tuple[str, bool]:
    """The loss curve's reading: how much the loss fell, and whether it still fell by
    more than ``plateau_share`` of its first value over the last quarter of the epochs."""
    values = total[np.isfinite(total)]
    if len(values) < 2:
        return "only one epoch: no trend to read.", True
    first, last = float(values[0]), float(values[-1])
    scale = max(abs(first), 1e-12)
    quarter = values[-max(2, len(values) // 4):]
    still_falling = (quarter[0] - quarter[-1]) / scale > plateau_share
    text = f"the total loss went from {significant(first)} to {significant(last)}"
    if last > first:
        return text + ": it rose, so training diverged or the learning rate is too high.", True
    if still_falling:
        return text + " and was still falling at the end: more epochs would likely help.", True
    return text + " and levelled off.", False


# ----------------------------------------------------------------------- representations


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


def best_method(clustering_comparison: pd.DataFrame) -> str:
    """The method with the highest Hungarian accuracy (the first of equals)."""
    _require_columns(clustering_comparison, ("method", "acc"), "clustering_comparison")
    if clustering_comparison.empty:
        raise ValueError("clustering_comparison has no rows: rerun compare_clusterings")
    return str(clustering_comparison["method"].iloc[int(np.argmax(clustering_comparison["acc"].to_numpy()))])


def representations_section(
    images, image_table: pd.DataFrame, semantic_codes, predicted_poses: pd.DataFrame, reconstructions,
    canonical_images, embedding_metrics: Mapping | None, cluster_assignments: pd.DataFrame | None,
    clustering_comparison: pd.DataFrame | None, options: ReportingParameters,
) -> Section:
    """Input / reconstruction / canonical images, a 2-D map of z coloured by label (and by
    the best method's clusters when there are clusters), and the embedding measures."""
    _require_columns(image_table, ("image_id", "label"), "image_table")
    _require_columns(predicted_poses, PREDICTED_POSE_COLUMNS, "predicted_poses")
    rows = len(predicted_poses)
    codes = np.asarray(semantic_codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) != rows:
        raise ValueError(f"semantic_codes must have shape (N, d) with N = {rows} (predicted_poses), got {codes.shape}")
    bad = ~np.isfinite(codes).all(axis=1)
    if bad.any():
        raise ValueError(f"semantic_codes has NaN or infinite values in {int(bad.sum())} rows (first: row {int(np.flatnonzero(bad)[0])})")
    images = _image_stack(images, len(image_table), "images", "image_table")
    reconstructions = _image_stack(reconstructions, rows, "reconstructions", "predicted_poses")
    canonical_images = _image_stack(canonical_images, rows, "canonical_images", "predicted_poses")
    ids = predicted_poses["image_id"].to_numpy()
    image_rows_of = _rows_for(_row_of(image_table, "image_table"), ids, "image_table", "predicted_poses")
    names = label_names(image_table)
    labels = image_table["label"].to_numpy()[image_rows_of]
    width, dpi = options.figure_width_inches, options.figure_dpi

    count = min(options.reconstruction_count, rows)
    grid = figures.image_rows(
        [("input", images[image_rows_of[:count]]), ("reconstruction", reconstructions[:count]),
         ("canonical", canonical_images[:count])],
        width, "Input, reconstruction at the predicted pose, canonical image (pose 0)",
        column_titles=[names[int(label)] for label in labels[:count]],
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
        _require_columns(cluster_assignments, ("image_id", "label", method), "cluster_assignments")
        _check_known_labels(cluster_assignments, names, "cluster_assignments")
        cluster_ids = _row_of(cluster_assignments, "cluster_assignments").index.to_numpy()  # unique image ids
        candidates = _rows_for(_row_of(predicted_poses, "predicted_poses"), cluster_ids, "semantic_codes", "cluster_assignments")
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


# ---------------------------------------------------------------------------- clustering


def cluster_purity(counts: np.ndarray) -> np.ndarray:
    """Per cluster (column of ``counts``, classes x clusters), the share of its images in
    its largest class (0 for an empty cluster)."""
    sizes = counts.sum(axis=0)
    return np.where(sizes > 0, counts.max(axis=0) / np.maximum(sizes, 1), 0.0)


def purity_label(column: np.ndarray, class_names: list[str], shown: int = 2) -> str:
    """A cluster's largest classes with their shares, ``"27 % 4, 27 % 2"`` (counts per
    class in ``column``, names in the same order); a class holding the whole cluster
    alone prints as ``"100 % 4"``, an empty cluster as ``"empty"``."""
    size = int(column.sum())
    if size == 0:
        return "empty"
    order = np.argsort(-column, kind="stable")[:shown]
    return ", ".join(f"{percent(column[row] / size)} {class_names[row]}" for row in order if column[row] > 0)


def per_class_scores(matching: metrics.ClusterMatching) -> dict[str, np.ndarray]:
    """Per class (in ``matching.classes`` order): ``precision`` = members of the class in its
    matched cluster / that cluster's size, ``recall`` = the same count / the class's size
    (both 0 for a class without a matched cluster)."""
    precision, recall = np.zeros(len(matching.classes)), np.zeros(len(matching.classes))
    class_sizes = matching.counts.sum(axis=1)
    for column, cluster in enumerate(matching.clusters):
        if cluster not in matching.class_of:
            continue
        row = matching.classes.index(matching.class_of[cluster])
        together = matching.counts[row, column]
        size = matching.counts[:, column].sum()
        precision[row] = together / size if size else 0.0
        recall[row] = together / class_sizes[row] if class_sizes[row] else 0.0
    return {"precision": precision, "recall": recall}


def applicable_columns(clustering_comparison: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """The comparison without the columns that do not apply to this domain: ``acc_69``
    (6 and 9 as one class) only where the labels include both digits, and no column
    that is empty for every method (no labels, nothing to score)."""
    dropped = [column for column in clustering_comparison.columns if clustering_comparison[column].isna().all()]
    if "acc_69" in clustering_comparison and not {"6", "9"} <= set(names.values()):
        dropped.append("acc_69")
    return clustering_comparison.drop(columns=dropped)


def purity_table(matching: metrics.ClusterMatching, names: Mapping[int, str], flag_below: float) -> pd.DataFrame:
    """Per cluster of ``matching``: its size, the class it is matched to, its purity (the
    share of its largest class) and its two largest classes, ``flag`` where the purity is
    below ``flag_below``."""
    class_names = [names.get(label, str(label)) for label in matching.classes]
    purity = cluster_purity(matching.counts)
    return pd.DataFrame({
        "cluster": matching.clusters,
        "images": matching.counts.sum(axis=0),
        "matched class": [names.get(matching.class_of[cluster], "?") if cluster in matching.class_of else "none"
                          for cluster in matching.clusters],
        "purity": [percent(share) for share in purity],
        "largest classes": [purity_label(matching.counts[:, column], class_names)
                            for column in range(len(matching.clusters))],
        "flag": ["mixed" if share < flag_below else "" for share in purity],
    })


def confusion_verdict(name: str, accuracy: float, purity: np.ndarray, flag_below: float, chance: float) -> tuple[str, bool]:
    """A confusion matrix's reading: its accuracy against chance and how many clusters
    are mixed."""
    mixed = int((purity < flag_below).sum())
    text = f"{name} matches {percent(accuracy)} of the images to their class (chance: {percent(chance)})"
    if mixed:
        text += f"; {mixed} of {len(purity)} clusters hold less than {percent(flag_below)} of one class"
    else:
        text += f"; every cluster holds at least {percent(flag_below)} of one class"
    return text + ".", mixed > 0 or accuracy < 2 * chance


def clustering_section(
    cluster_assignments: pd.DataFrame, clustering_comparison: pd.DataFrame, image_table: pd.DataFrame,
    canonical_images, predicted_poses: pd.DataFrame | None, mining_metrics: Mapping | None,
    options: ReportingParameters,
) -> Section:
    """The comparison of methods, the best method's confusion matrix, the purity of each
    of its clusters, and per cluster its mean canonical image and most confident members."""
    method = best_method(clustering_comparison)
    _require_columns(cluster_assignments, ("image_id", "label", method), "cluster_assignments")
    names = label_names(image_table)
    _check_known_labels(cluster_assignments, names, "cluster_assignments")
    labels = cluster_assignments["label"].to_numpy().astype(np.int64)
    clusters = cluster_assignments[method].to_numpy().astype(np.int64)
    matching = metrics.match_clusters(labels, clusters)
    best_row = int(np.flatnonzero(clustering_comparison["method"].astype(str).to_numpy() == method)[0])
    shares = np.bincount(np.searchsorted(matching.classes, labels)) / len(labels)
    chance = float(shares.max())  # every image given the largest class
    flag_below, dpi = options.purity_warning_below, options.figure_dpi
    body = (
        paragraph_html(f"Best method by Hungarian accuracy: {method} (highlighted).")
        + table_html(applicable_columns(clustering_comparison, names), highlight_rows=[best_row])
    )
    if mining_metrics is not None:
        body += "<h3>Neighbour mining</h3>" + mapping_table_html(mining_metrics)
    # The best method beside SCAN's own result (self-labelling), so that a merge (one cluster
    # holding two classes) or a split (one class over several clusters) of either is visible.
    shown = [method] + [other for other in ("selflabel",) if other != method and other in cluster_assignments]
    per_class = {}
    for name in shown:
        own = cluster_assignments[name].to_numpy().astype(np.int64)
        own_matching = matching if name == method else metrics.match_clusters(labels, own)
        accuracy = metrics.clustering_accuracy(labels, own)
        matrix = figures.confusion_matrix(
            own_matching.counts, [names.get(label, str(label)) for label in own_matching.classes],
            [str(cluster) for cluster in own_matching.clusters],
            f"{name}: clusters against labels (ACC {significant(accuracy)})",
            f"{name} cluster (in the order of the matching)",
        )
        verdict, warn = confusion_verdict(name, accuracy, cluster_purity(own_matching.counts), flag_below, chance)
        body += figure_html(
            matrix, f"Confusion matrix of {name}; the diagonal holds the matched pairs. Look for a dark diagonal: "
            "counts off it in a column are a cluster that mixes classes, counts off it in a row a class split "
            "over clusters.", dpi, verdict, warn,
        )
        per_class[name] = per_class_scores(own_matching)
    table = pd.DataFrame({"class": [names.get(label, str(label)) for label in matching.classes]})
    for name, scores in per_class.items():
        table[f"{name} precision"] = scores["precision"]
        table[f"{name} recall"] = scores["recall"]
    body += (
        "<h3>Per class</h3>"
        + paragraph_html(
            "Precision: the share of the class's matched cluster that belongs to the class; recall: the share of "
            "the class that its matched cluster holds. A low precision marks a merge, a low recall a split."
        )
        + table_html(table)
    )
    purity = purity_table(matching, names, flag_below)
    flagged = [int(row) for row in np.flatnonzero(purity["flag"].to_numpy() == "mixed")]
    body += (
        f"<h3>Purity of the {html.escape(method)} clusters</h3>"
        + paragraph_html(
            f"Purity: the share of a cluster's images in its largest class; its two largest classes follow. Clusters "
            f"below {percent(flag_below)} (reporting.purity_warning_below) are flagged as mixed: their images do not "
            "share one class, whatever the matching calls them."
        )
        + f'<div class="purity">{table_html(purity, flag_rows=flagged)}</div>'
    )

    if canonical_images is not None and predicted_poses is not None:
        body += _gallery_html(
            cluster_assignments, canonical_images, predicted_poses, method, matching, purity, len(flagged), options,
        )
    return Section("Clustering", body)


def _gallery_html(
    cluster_assignments: pd.DataFrame, canonical_images, predicted_poses: pd.DataFrame, method: str,
    matching: metrics.ClusterMatching, purity: pd.DataFrame, mixed: int, options: ReportingParameters,
) -> str:
    """Per cluster, its mean canonical image and most confident members, titled with its
    size and purity (mixed clusters marked)."""
    _require_columns(predicted_poses, ("image_id",), "predicted_poses")
    canonical_images = _image_stack(canonical_images, len(predicted_poses), "canonical_images", "predicted_poses")
    ids = cluster_assignments["image_id"].to_numpy()
    canonical_rows = _rows_for(_row_of(predicted_poses, "predicted_poses"), ids, "canonical_images", "cluster_assignments")
    clusters = cluster_assignments[method].to_numpy().astype(np.int64)
    confidence_column = f"{method}_confidence"
    confidence = (
        cluster_assignments[confidence_column].to_numpy() if confidence_column in cluster_assignments
        else np.zeros(len(ids))
    )
    averages, exemplars, titles = [], [], []
    for position, cluster in enumerate(matching.clusters):
        members = np.flatnonzero(clusters == cluster)
        ranked = members[np.argsort(-confidence[members], kind="stable")]
        averages.append(canonical_images[canonical_rows[members]].mean(axis=0))
        exemplars.append(canonical_images[canonical_rows[ranked[: options.exemplars]]])
        row = purity.iloc[position]
        marker = " MIXED" if row["flag"] else ""
        titles.append(f"{cluster}: n={len(members)}{marker}\n{row['largest classes']}")
    ranking = "most confident" if confidence_column in cluster_assignments else "first"
    gallery = figures.cluster_gallery(
        np.stack(averages), exemplars, titles, options.figure_width_inches,
        f"{method} clusters: mean canonical image and {ranking} members",
        flagged=purity["flag"].astype(bool).to_numpy(),
    )
    verdict = (
        f"{mixed} of {len(matching.clusters)} clusters are mixed (marked MIXED, in red): read their members, "
        "not their matched label." if mixed
        else f"all {len(matching.clusters)} clusters hold at least {percent(options.purity_warning_below)} of one class."
    )
    return figure_html(
        gallery, f"Per {method} cluster: the mean canonical image of its members, then its {ranking} members; the "
        "label gives the cluster's size and its largest classes with their shares. Look for members that look "
        "alike within a row and a sharp mean image; a blurred mean is a cluster of several shapes.",
        options.figure_dpi, verdict, bool(mixed),
    )


# ----------------------------------------------------------------- parameters and versions


def used_parameters(parameters: Mapping[str, Mapping]) -> dict[str, Mapping]:
    """The parameter sections a run read, the training section cut to its active
    configuration (``configurations[config]``, shown as ``configuration``)."""
    sections = {}
    for name, values in parameters.items():
        if not isinstance(values, Mapping):
            continue
        values = dict(values)
        if name == "training" and isinstance(values.get("configurations"), Mapping):
            configurations = values.pop("configurations")
            active = values.get("config")
            if active not in configurations:
                raise ValueError(f"training.config = {active!r} is not one of the configurations {sorted(configurations)}")
            values["configuration"] = configurations[active]
        sections[name] = values
    return sections


def provenance_html(generated_at: str, provenance: Mapping) -> str:
    """The run's origin as a definition list: commit and dirty flag, ``dvc.lock`` hash,
    data sources, Python and package versions."""
    git = provenance["git"]
    entries = [
        ("generated", generated_at),
        ("git commit", git["commit"] + (" (dirty: uncommitted changes)" if git["dirty"] else " (clean)")),
        ("dvc.lock sha256", provenance["dvc_lock"]),
        *((f"data source: {name}", text) for name, text in provenance["data_sources"].items()),
        ("python", provenance["python"]),
        *provenance["packages"].items(),
    ]
    rows = "".join(f"<dt>{html.escape(str(key))}</dt><dd>{html.escape(str(value))}</dd>" for key, value in entries)
    return f'<dl class="provenance" id="provenance">{rows}</dl>'


def provenance_section(
    generated_at: str, provenance: Mapping, parameters: Mapping[str, Mapping], options: ReportingParameters
) -> Section:
    """Where the run came from (:func:`provenance_html`) and every parameter section it read."""
    body = paragraph_html(
        f"Report generated at {generated_at} for the domain {options.domain}. A dirty checkout means the code that "
        "ran differs from the commit named here."
    ) + provenance_html(generated_at, provenance)
    for name, values in parameters.items():
        text = yaml.safe_dump(_plain(values), sort_keys=True, default_flow_style=None, width=100)
        body += f"<h3>{html.escape(name)}</h3>" + preformatted_html(text)
    return Section("Provenance: code, data, parameters and versions", body)


def _plain(values):
    """Parameters as plain dicts, lists and scalars (as Kedro may hand over OmegaConf-made
    containers or tuples), so that they print as ordinary YAML."""
    if isinstance(values, Mapping):
        return {str(key): _plain(value) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [_plain(value) for value in values]
    if values is None or isinstance(values, bool | int | float | str):
        return values
    return str(values)
