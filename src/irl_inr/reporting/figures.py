"""The report's figures, drawn on ``matplotlib.figure.Figure`` objects (never pyplot, so
no global figure state and no display needed). Every function takes plain arrays and
returns a figure; choosing what to draw is the caller's job (:mod:`irl_inr.reporting.sections`).

An image is (S, S), one channel, drawn in a colour map, or (C, S, S): three channels are
drawn as RGB (:func:`shown`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap, LinearSegmentedColormap
from matplotlib.figure import Figure

GREY = "gray"
FLAG_RED = "#b3261e"


def image_colours(anchors: Sequence[Sequence] | None) -> str | Colormap:
    """How images in [0, 1] are coloured: grey, or ``anchors`` ``[[level, colour], ...]``
    (levels rising from 0 to 1, colours as matplotlib reads them) with colours blended
    linearly between the levels, e.g. a wafer map's no die / good die / defective die."""
    if not anchors:
        return GREY
    return LinearSegmentedColormap.from_list("image_colours", [(float(level), colour) for level, colour in anchors])


def shown(image: np.ndarray) -> np.ndarray:
    """One image as ``imshow`` draws it: (S, S) as it is (in a colour map), (3, S, S) as RGB
    (S, S, 3) clipped to [0, 1], any other (C, S, S) as its channel mean (in a colour map)."""
    if image.ndim == 2:
        return image
    if image.shape[0] == 3:
        return np.clip(np.moveaxis(image, 0, -1), 0.0, 1.0)
    return image.mean(axis=0)


def _hide_axes(axis) -> None:
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_visible(False)


def image_rows(
    rows: Sequence[tuple[str, np.ndarray]], width_inches: float, title: str, column_titles: Sequence[str] = (),
    colours: str | Colormap = GREY,
) -> Figure:
    """One row of images (each (S, S), shown in [0, 1] in ``colours``, or (3, S, S) in RGB)
    per ``(row title, stack (n, S, S) or (n, 3, S, S))``; rows may hold fewer images than the
    longest one (blank cells then)."""
    columns = max(len(stack) for _, stack in rows)
    cell = width_inches / (columns + 1.2)
    figure = Figure(figsize=(width_inches, cell * len(rows) + 0.7), layout="constrained")
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for row, (row_title, stack) in enumerate(rows):
        for column in range(columns):
            axis = axes[row, column]
            _hide_axes(axis)
            if column < len(stack):
                axis.imshow(shown(stack[column]), cmap=colours, vmin=0.0, vmax=1.0, interpolation="nearest")
            if row == 0 and column < len(column_titles):
                axis.set_title(column_titles[column], fontsize=8)
        axes[row, 0].set_ylabel(row_title, fontsize=8, rotation=0, ha="right", va="center")
    figure.suptitle(title, fontsize=10)
    return figure


def pose_histograms(poses: Mapping[str, np.ndarray], bins: int, width_inches: float) -> Figure:
    """One histogram per named pose component (finite values only; the caller counts the rest)."""
    figure = Figure(figsize=(width_inches, 2.6), layout="constrained")
    axes = figure.subplots(1, len(poses), squeeze=False)[0]
    for axis, (name, values) in zip(axes, poses.items()):
        axis.hist(values[np.isfinite(values)], bins=bins, color="#3b6e99")
        axis.set_xlabel(name, fontsize=9)
        axis.set_ylabel("images", fontsize=9)
        axis.tick_params(labelsize=8)
    figure.suptitle("Ground-truth pose of the images", fontsize=10)
    return figure


def loss_curves(epochs: np.ndarray, terms: Mapping[str, np.ndarray], width_inches: float) -> Figure:
    """One panel per loss term against the epoch (log scale when a term stays positive)."""
    columns = min(len(terms), 3)
    rows = -(-len(terms) // columns)
    figure = Figure(figsize=(width_inches, 0.3 * width_inches * rows + 0.5), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat[len(terms):]:
        axis.set_visible(False)
    for axis, (name, values) in zip(axes.flat, terms.items()):
        axis.plot(epochs, values, marker="o", markersize=3, color="#1f3b57")
        finite = values[np.isfinite(values)]
        if len(finite) and (finite > 0).all():
            axis.set_yscale("log")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("epoch", fontsize=8)
        axis.tick_params(labelsize=7)
    figure.suptitle("Training losses per epoch (mean over the epoch's batches)", fontsize=10)
    return figure


def _palette(count: int) -> list:
    if count <= 10:
        return [colormaps["tab10"](index) for index in range(count)]
    if count <= 20:
        return [colormaps["tab20"](index) for index in range(count)]
    return [colormaps["viridis"](index / max(count - 1, 1)) for index in range(count)]


def embedding_map(
    points: np.ndarray, colourings: Sequence[tuple[str, np.ndarray, Sequence[str]]], width_inches: float,
    title: str,
) -> Figure:
    """Scatter plots of the same 2-D points (n, 2), one panel per ``(panel title, group
    per point (n,) in 0..G-1, legend name per group (G,))``, one above the other, each
    wide enough to read; group g has the same colour in every panel."""
    figure = Figure(figsize=(width_inches, 0.62 * width_inches * len(colourings) + 0.4), layout="constrained")
    axes = figure.subplots(len(colourings), 1, squeeze=False)[:, 0]
    palette = _palette(max(len(names) for _, _, names in colourings))
    for axis, (panel_title, groups, names) in zip(axes, colourings):
        for group, (colour, name) in enumerate(zip(palette, names)):
            chosen = groups == group
            if chosen.any():
                axis.scatter(points[chosen, 0], points[chosen, 1], s=6, color=colour, label=name)
        axis.set_title(panel_title, fontsize=9)
        _hide_axes(axis)
        axis.legend(fontsize=7, markerscale=2, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    figure.suptitle(title, fontsize=10)
    return figure


def confusion_matrix(
    counts: np.ndarray, row_names: Sequence[str], column_names: Sequence[str], title: str, xlabel: str
) -> Figure:
    """Counts (classes x clusters) as a heat map with the numbers written in."""
    figure = Figure(
        figsize=(max(5.0, 1.8 + 0.55 * len(column_names)), max(3.0, 1.2 + 0.45 * len(row_names))),
        layout="constrained",
    )
    axis = figure.subplots()
    axis.imshow(counts, cmap="Blues")
    threshold = counts.max() / 2 if counts.size else 0
    for row in range(counts.shape[0]):
        for column in range(counts.shape[1]):
            colour = "white" if counts[row, column] > threshold else "black"
            axis.text(column, row, str(counts[row, column]), ha="center", va="center", fontsize=7, color=colour)
    axis.set_xticks(range(len(column_names)), column_names, fontsize=8)
    axis.set_yticks(range(len(row_names)), row_names, fontsize=8)
    axis.set_xlabel(xlabel, fontsize=9)
    axis.set_ylabel("label", fontsize=9)
    axis.set_title(title, fontsize=10)
    return figure


def cluster_gallery(
    averages: np.ndarray | None, exemplars: Sequence[np.ndarray], row_titles: Sequence[str], width_inches: float,
    title: str, flagged: Sequence[bool] = (), exemplar_columns: int = 0, colours: str | Colormap = GREY,
    exemplar_title: str = "exemplars",
) -> Figure:
    """Per cluster, one row: its mean image (averages (K, S, S) or (K, 3, S, S); ``None``:
    no mean column), then its exemplars (each (E_k, S, S) or (E_k, 3, S, S), E_k may be
    smaller than the widest row; at least ``exemplar_columns`` columns of them), all in
    ``colours`` (one channel) or RGB (three); the titles of the rows ``flagged`` true are
    drawn in red."""
    lead = 0 if averages is None else 1
    columns = lead + max(exemplar_columns, max((len(stack) for stack in exemplars), default=0))
    cell = min(1.0, width_inches / (columns + 2.5))
    figure = Figure(figsize=(cell * (columns + 2.5), cell * len(exemplars) + 0.7), layout="constrained")
    axes = figure.subplots(len(exemplars), columns, squeeze=False)
    for row, stack in enumerate(exemplars):
        for column in range(columns):
            axis = axes[row, column]
            _hide_axes(axis)
            if column < lead:
                image = averages[row]
            else:
                image = stack[column - lead] if column - lead < len(stack) else None
            if image is not None:
                axis.imshow(shown(image), cmap=colours, vmin=0.0, vmax=1.0, interpolation="nearest")
        colour = FLAG_RED if row < len(flagged) and flagged[row] else "black"
        axes[row, 0].set_ylabel(row_titles[row], fontsize=7, rotation=0, ha="right", va="center", color=colour)
    if lead:
        axes[0, 0].set_title("mean", fontsize=8)
    if columns > lead:
        axes[0, lead].set_title(exemplar_title, fontsize=8, loc="left")
    figure.suptitle(title, fontsize=10)
    return figure
