"""The report's data section: a sample grid per class, images per class and split, and
the ground-truth pose distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irl_inr.reporting import figures
from irl_inr.reporting.formatting import significant
from irl_inr.reporting.html import Section, figure_html, paragraph_html, table_html
from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.reporting.sections.inputs import image_stack, label_names, require_columns

POSE_COLUMNS = ("rotation_radians", "shift_x_pixels", "shift_y_pixels")
IMAGE_TABLE_COLUMNS = ("image_id", "label", "split", *POSE_COLUMNS)


def data_section(images, image_table: pd.DataFrame, options: ReportingParameters) -> Section:
    """A sample grid (one row per class), images per class and split, and the ground-truth
    pose distribution."""
    require_columns(image_table, IMAGE_TABLE_COLUMNS, "image_table")
    images = image_stack(images, len(image_table), "images", "image_table")
    names = label_names(image_table)
    labels = image_table["label"].to_numpy()
    generator = np.random.default_rng(options.seed)
    sample_rows = []
    for label, name in names.items():
        members = np.flatnonzero(labels == label)
        chosen = np.sort(generator.choice(members, size=min(options.samples_per_class, len(members)), replace=False))
        sample_rows.append((name, images[chosen]))
    width = options.figure_width_inches
    grid = figures.image_rows(
        sample_rows, width, f"{options.samples_per_class} random images per class",
        colours=figures.image_colours(options.image_colours),
    )

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
    size = images.shape[-1]
    channels = "" if images.ndim == 3 else f" and {images.shape[1]} channels"
    body = (
        paragraph_html(f"{len(images)} images of {size}x{size} pixels{channels} in {len(names)} classes.")
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
