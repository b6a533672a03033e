"""The report's clustering section: the comparison of methods, the best method's
confusion matrices, per-class scores, cluster purity and a gallery of each cluster."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pandas as pd

from irl_inr import metrics
from irl_inr.reporting import figures
from irl_inr.reporting.formatting import percent, significant
from irl_inr.reporting.html import Section, figure_html, mapping_table_html, paragraph_html, table_html
from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.reporting.sections.inputs import (
    check_known_labels,
    id_rows,
    image_stack,
    label_names,
    require_columns,
    rows_for,
)


def best_method(clustering_comparison: pd.DataFrame) -> str:
    """The method with the highest Hungarian accuracy (the first of equals)."""
    require_columns(clustering_comparison, ("method", "acc"), "clustering_comparison")
    if clustering_comparison.empty:
        raise ValueError("clustering_comparison has no rows: rerun compare_clusterings")
    return str(clustering_comparison["method"].iloc[int(np.argmax(clustering_comparison["acc"].to_numpy()))])


# SCAN's heads agreeing less than this (mean ARI between every two heads' clusters): the
# clusters depend on the clustering seed. Five clustering seeds on the same codes of three
# runs: where the heads agreed at 0.89-0.96 (digits) and 0.97 (cryo-EM), SCAN's ACC stayed
# within 0.006 (0.009 with 30 heads on cryo-EM); where they agreed at 0.60-0.68 (wafers,
# whatever the number of heads), it moved over 0.02 (30 heads, kept by agreement) to 0.07
# (10, kept by loss). 0.8 lies in the gap between the two.
TRUSTED_HEAD_AGREEMENT = 0.8


def head_agreement_reading(clustering_comparison: pd.DataFrame) -> tuple[str, bool] | None:
    """How far to trust the clusters, from SCAN's ``head_agreement_ari`` (the mean ARI
    between its heads' clusters, a column of the comparison): a sentence and whether it is
    a warning (below :data:`TRUSTED_HEAD_AGREEMENT`); None where the comparison lacks it."""
    if "head_agreement_ari" not in clustering_comparison:
        return None
    values = clustering_comparison.loc[clustering_comparison["method"] == "scan", "head_agreement_ari"].dropna()
    if values.empty:
        return None
    agreement = float(values.iloc[0])
    measured = (f"the mean adjusted Rand index between the clusters of SCAN's heads is {significant(agreement)} "
                f"(1: the same clusters, 0: no more alike than chance)")
    if agreement >= TRUSTED_HEAD_AGREEMENT:
        return (f"The clusters hardly depend on the clustering seed: {measured}, at least "
                f"{TRUSTED_HEAD_AGREEMENT}. Where the heads agreed this well, five clustering seeds gave SCAN "
                "accuracies within 0.01 of each other.", False)
    return (f"Distrust these clusters: {measured}, below {TRUSTED_HEAD_AGREEMENT}. Where the heads agreed this "
            "little, another clustering seed moved SCAN's accuracy by 0.02 to 0.07 and regrouped the classes "
            "that the code confuses; rerun with another clustering.seed and believe only the clusters that stay.",
            True)


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
    options: ReportingParameters, images=None,
) -> Section:
    """The comparison of methods, the best method's confusion matrix, the purity of each
    of its clusters, and per cluster its mean canonical image and most confident members
    (with ``reporting.gallery_inputs`` and ``images``: each member's input image beside
    its canonical image)."""
    method = best_method(clustering_comparison)
    require_columns(cluster_assignments, ("image_id", "label", method), "cluster_assignments")
    names = label_names(image_table)
    check_known_labels(cluster_assignments, names, "cluster_assignments")
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
    reading = head_agreement_reading(clustering_comparison)
    if reading is not None:
        text, warn = reading
        body += paragraph_html(("Warning: " if warn else "") + text)
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
        inputs = None
        if options.gallery_inputs and images is not None:
            inputs = (image_stack(images, len(image_table), "images", "image_table"), id_rows(image_table, "image_table"))
        body += _gallery_html(
            cluster_assignments, canonical_images, predicted_poses, method, matching, purity, len(flagged), options,
            inputs,
        )
    return Section("Clustering", body)


def _gallery_html(
    cluster_assignments: pd.DataFrame, canonical_images, predicted_poses: pd.DataFrame, method: str,
    matching: metrics.ClusterMatching, purity: pd.DataFrame, mixed: int, options: ReportingParameters,
    inputs: tuple | None = None,
) -> str:
    """Per cluster, its mean canonical image and most confident members (each as its input
    image then its canonical image when ``inputs`` = (images, rows by image id) is given),
    titled with its size and purity (mixed clusters marked)."""
    require_columns(predicted_poses, ("image_id",), "predicted_poses")
    canonical_images = image_stack(canonical_images, len(predicted_poses), "canonical_images", "predicted_poses")
    ids = cluster_assignments["image_id"].to_numpy()
    canonical_rows = rows_for(id_rows(predicted_poses, "predicted_poses"), ids, "canonical_images", "cluster_assignments")
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
        shown = ranked[: options.exemplars]
        if inputs is None:
            exemplars.append(canonical_images[canonical_rows[shown]])
        else:  # input, canonical, input, canonical, ...
            images, image_rows = inputs
            members_inputs = images[rows_for(image_rows, ids[shown], "images", "cluster_assignments")]
            pairs = np.stack([members_inputs, canonical_images[canonical_rows[shown]]], axis=1)
            exemplars.append(pairs.reshape(-1, *pairs.shape[2:]))
        row = purity.iloc[position]
        marker = " MIXED" if row["flag"] else ""
        titles.append(f"{cluster}: n={len(members)}{marker}\n{row['largest classes']}")
    ranking = "most confident" if confidence_column in cluster_assignments else "first"
    shown_as = "input and canonical image" if inputs is not None else "canonical image"
    gallery = figures.cluster_gallery(
        np.stack(averages), exemplars, titles, options.figure_width_inches,
        f"{method} clusters: mean canonical image and {ranking} members ({shown_as})",
        flagged=purity["flag"].astype(bool).to_numpy(), colours=figures.image_colours(options.image_colours),
        exemplar_title=f"{ranking} members: " + ("input, canonical (upright) image" if inputs is not None else "canonical image"),
    )
    verdict = (
        f"{mixed} of {len(matching.clusters)} clusters are mixed (marked MIXED, in red): read their members, "
        "not their matched label." if mixed
        else f"all {len(matching.clusters)} clusters hold at least {percent(options.purity_warning_below)} of one class."
    )
    return figure_html(
        gallery, f"Per {method} cluster: the mean canonical image of its members, then its {ranking} members "
        f"({shown_as}); the "
        "label gives the cluster's size and its largest classes with their shares. Look for members that look "
        "alike within a row and a sharp mean image; a blurred mean is a cluster of several shapes.",
        options.figure_dpi, verdict, bool(mixed),
    )
