"""Report sections from the stages beside the main line: the model options (the
hypernetwork, the decoder's isometry, the interpretation network) and, for particles
with known 3-D orientations, the spread of viewing directions within each class.

Each node returns a list of ``(title, html)`` sections for ``build_report``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irl_inr.metrics.directions import viewing_direction_spread
from irl_inr.reporting.formatting import significant
from irl_inr.reporting.html import mapping_table_html, paragraph_html, png_figure_html, table_html
from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.reporting.sections import best_method

VIEW_COLUMNS = ["view_x", "view_y", "view_z"]


def model_option_sections(
    irl_inr_model: dict,
    isometry_metrics: dict,
    interpretation_metrics: dict,
    interpretation_traversals: bytes,
    traversal_metrics: dict,
    reporting_parameters: dict,
) -> list[tuple[str, str]]:
    """The hypernetwork and isometry settings with the decoder's mean condition number,
    and the interpretation network's measures with its factor traversals (the figure the
    interpretation stage drew, as PNG bytes, read by the measures of how much its images
    differ)."""
    options = ReportingParameters.from_dict(reporting_parameters)
    model = irl_inr_model["config"]["model"]
    settings = {
        "hypernetwork_kind": model.get("hypernetwork_kind", "full"),
        "isometry_weight": model.get("isometry_weight", 0.0),
    }
    if settings["hypernetwork_kind"] == "low_rank":
        settings["hypernetwork_rank"] = model["hypernetwork_rank"]
        settings["hypernetwork_modulated_layer"] = model["hypernetwork_modulated_layer"]
    parameters = sum(tensor.numel() for tensor in irl_inr_model["state_dict"].values())
    decoder = (
        paragraph_html(
            "Low-rank instance pattern composers (Kim et al., CVPR 2023): the INR's weights are shared and the "
            "hypernetwork predicts only a rank-r modulation U·Vᵀ of one layer."
            if settings["hypernetwork_kind"] == "low_rank"
            else "Full hypernetwork: z gives every weight of the image's INR (the IRL-INR paper)."
        )
        + paragraph_html(
            "Isometry of the decoder z → canonical image (IRVAE, Lee et al., ICLR 2022): the mean condition number of "
            "the pullback metric G = JᵀJ over test codes; 1 is a scaled isometry, larger is more distorted. "
            + ("The relaxed distortion regulariser was on during training." if settings["isometry_weight"] > 0
               else "The regulariser was off (isometry_weight = 0); the number is measured all the same.")
        )
        + mapping_table_html({**settings, "model_parameters": parameters, **isometry_metrics})
    )
    verdict, warn = traversal_verdict(traversal_metrics, options.traversal_distinct_ratio)
    interpretation = (
        paragraph_html(
            "Invertible interpretation network (Esser, Rombach & Ommer, CVPR 2020) over the frozen codes: an exact "
            "inverse (max |f⁻¹(f(z)) − z| below), its negative log-likelihood, and traversals of its factors decoded "
            "back through f⁻¹ and the INR at the canonical pose."
        )
        + mapping_table_html(interpretation_metrics)
        + png_figure_html(
            interpretation_traversals,
            "Factor traversals of one test image's code, decoded at the canonical pose: first row (supervised flow) "
            "the class factor set to each class mean, then one residual coordinate swept per row. Look for a first "
            "row whose images change from class to class as the classes do, and residual rows that change style, "
            "not class.", verdict, warn,
        )
        + mapping_table_html(traversal_metrics)
    )
    return [("Model options: hypernetwork and isometry", decoder), ("Interpretation of the codes", interpretation)]


def traversal_verdict(traversal_metrics: dict, distinct_ratio: float) -> tuple[str, bool]:
    """The traversal figure's reading from its measures (see ``measure_traversals``):
    the class row against the differences between the codes' own class means decoded."""
    residual = f"residual rows change the image by {significant(traversal_metrics['residual_row_rms'])} RMS"
    if "class_row_ratio" not in traversal_metrics:
        return f"unsupervised flow, no class row; {residual}.", False
    ratio = traversal_metrics["class_row_ratio"]
    compared = (
        f"the class-row images differ by {significant(traversal_metrics['class_row_rms'])} RMS on average, "
        f"{significant(ratio)} times the difference between real images of different classes decoded "
        f"({significant(traversal_metrics['class_example_rms'])})"
    )
    if ratio < distinct_ratio:
        return (
            f"the traversals look the same across classes: {compared}, below {significant(distinct_ratio)} "
            f"(reporting.traversal_distinct_ratio); the class factor barely reaches the decoder; {residual}.", True
        )
    return f"the class factor changes the image as the classes do: {compared}; {residual}.", False


def view_spread_sections(
    cluster_assignments: pd.DataFrame, clustering_comparison: pd.DataFrame, image_table: pd.DataFrame
) -> list[tuple[str, str]]:
    """For images with true viewing directions (``view_x/y/z``, simulated or refined
    particles): per class of the best method, its size, mean direction and the mean angle
    of its members' directions to it (2-D classes of one view have a small spread).
    Nothing for images without them."""
    if not set(VIEW_COLUMNS) <= set(image_table.columns):
        return []
    method = best_method(clustering_comparison)
    views = image_table.set_index("image_id").loc[cluster_assignments["image_id"], VIEW_COLUMNS].to_numpy()
    clusters = cluster_assignments[method].to_numpy()
    spread = viewing_direction_spread(views, clusters, int(clusters.max()) + 1)
    overall = viewing_direction_spread(views, np.zeros(len(views), dtype=int), 1)["spread_degrees"].iloc[0]
    html = paragraph_html(
        f"Classes of {method} (the best method by ACC): the mean angle between each member's true viewing direction "
        f"and the class's mean direction. For comparison, all particles together spread {overall:.1f}° around their "
        "mean direction."
    ) + table_html(spread)
    return [("Viewing directions within each class", html)]
