"""Interpretation nodes: an invertible interpretation network (IIN) over the frozen
semantic codes, its measures, and traversals of its factors decoded by IRL-INR.

The rows of ``semantic_codes`` are the rows of ``image_table`` (the embedding stage with
``embedding.split: all``); the flow trains on the ``train`` rows and is measured on
``train`` and ``test``.  Training goes through the project's loop (:func:`fit`): it
passes one tensor of samples to the model, so the supervised flow receives each code
with its label appended as a last column (labels 0..K-1 are exact in float32).  The one
file a node writes is fit's resumable checkpoint, in ``interpretation.checkpoint_dir``,
named by a hash of the codes, labels and settings.
"""

from __future__ import annotations

import dataclasses

import logging

import numpy as np
import pandas as pd
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from irl_inr.models.interpretation import InvertibleInterpretationNetwork
from irl_inr.pipelines.interpretation.parameters import InterpretationParameters
from irl_inr.reporting import figures
from irl_inr.saved_models import interpretation_flow, restore_interpretation, restore_irl_inr
from irl_inr.tables import rows_of_split
from irl_inr.training import checkpoint_file, fit, state_signature

logger = logging.getLogger(__name__)


def _codes_and_labels(semantic_codes: np.ndarray, image_table: pd.DataFrame) -> tuple[torch.Tensor, np.ndarray]:
    """Checked codes (N, d) float32 and labels (N,) int64 of the same rows."""
    if semantic_codes.ndim != 2 or semantic_codes.shape[1] < 2:
        raise ValueError(f"semantic_codes must have shape (N, d) with d >= 2, got {semantic_codes.shape}")
    if len(semantic_codes) != len(image_table):
        raise ValueError(
            f"semantic_codes has {len(semantic_codes)} rows but image_table has {len(image_table)}; "
            "the interpretation needs the codes of every image (embedding.split: all)"
        )
    missing = sorted({"label", "split"} - set(image_table.columns))
    if missing:
        raise ValueError(f"image_table has no column(s) {missing}")
    if not np.isfinite(semantic_codes).all():
        bad = np.flatnonzero(~np.isfinite(semantic_codes).all(axis=1))
        raise ValueError(f"semantic_codes: rows {bad[:5].tolist()} ({len(bad)} in all) hold NaN or infinite values")
    labels = image_table["label"].to_numpy()
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(f"image_table.label must hold integers 0..K-1, got dtype {labels.dtype}, min {labels.min()}")
    return torch.from_numpy(np.ascontiguousarray(semantic_codes, dtype=np.float32)), labels.astype(np.int64)


def train_interpretation(semantic_codes: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> dict:
    """Fit the flow to the ``train`` codes by maximum likelihood; returns
    ``{"config": {...}, "state_dict": ...}`` (config: the flow's shape, the label names,
    the optimisation settings, ``train_seconds``)."""
    options = InterpretationParameters.from_dict(parameters)
    optimisation = options.training_config()
    codes, labels = _codes_and_labels(semantic_codes, image_table)
    train = rows_of_split(image_table, "train")
    if len(train) == 0:
        raise ValueError("image_table has no 'train' rows to fit the interpretation network on")
    num_classes = int(labels.max()) + 1
    supervised = options.is_supervised(labels[train])
    config = {
        "dim": int(codes.shape[1]),
        "blocks": options.blocks,
        "hidden": options.hidden,
        "scale_bound": float(options.scale_bound),
        "permutation_seed": options.permutation_seed,
        "num_classes": num_classes if supervised else None,
        "class_dims": options.class_dims if supervised else 0,
    }
    data = codes[train]
    if optimisation.batch_size > len(data):
        # A small domain (a few hundred wafers) has fewer train codes than one batch:
        # one full-batch step per epoch instead of none.
        logger.info("interpretation: batch_size %d > %d train codes; using one batch of all of them",
                    optimisation.batch_size, len(data))
        optimisation = dataclasses.replace(optimisation, batch_size=len(data))
    if supervised:
        data = torch.cat([data, torch.from_numpy(labels[train]).float().unsqueeze(1)], dim=1)  # (n, d + 1)
    torch.manual_seed(options.seed)
    flow = interpretation_flow(config)
    flow.train()
    with torch.no_grad():
        flow(codes[train])  # actnorm's data-dependent start, on every train code
    path = checkpoint_file(
        options.checkpoint_dir, "interpretation", config, optimisation.fingerprint_fields(), state_signature(flow), data
    )
    logger.info("Training the interpretation flow on %d codes (%s); checkpoint %s", len(data),
                "supervised" if supervised else "unsupervised", path)
    result = fit(flow, data, optimisation, checkpoint_path=path, progress=options.progress)
    label_names = _label_names(image_table, num_classes)
    return {
        "config": {
            **config,
            "label_names": label_names,
            "optimisation": optimisation.to_dict(),
            "train_seconds": float(result.history["seconds"].sum()),
        },
        "state_dict": result.state_dict,
    }


def _label_names(image_table: pd.DataFrame, num_classes: int) -> list[str]:
    """``label_name`` of each label 0..K-1 where the table has it, else the number."""
    names = [str(label) for label in range(num_classes)]
    if "label_name" in image_table.columns:
        for label, name in image_table.groupby("label")["label_name"].first().items():
            names[int(label)] = str(name)
    return names


def measure_interpretation(
    interpretation_model: dict, semantic_codes: np.ndarray, image_table: pd.DataFrame
) -> dict:
    """``inverse_max_abs_error`` (max |f^-1(f(z)) - z| over every code, float32),
    ``nll_{train,test}`` (mean -log p(z) or, supervised, -log p(z | y), in nats per
    dimension), for the supervised flow ``class_factor_accuracy_{train,test}`` (nearest
    class mean of the class factor), and ``train_seconds``."""
    with torch.no_grad():
        flow = restore_interpretation(interpretation_model)
        codes, labels = _codes_and_labels(semantic_codes, image_table)
        if codes.shape[1] != flow.dim:
            raise ValueError(f"semantic_codes have {codes.shape[1]} dimensions but the flow was trained on {flow.dim}")
        factors, _ = flow(codes)
        metrics = {
            "inverse_max_abs_error": float((flow.inverse(factors) - codes).abs().max()),
            "train_seconds": float(interpretation_model["config"]["train_seconds"]),
        }
        for split in ("train", "test"):
            rows = rows_of_split(image_table, split)
            if len(rows) == 0:
                logger.warning("interpretation: no %r rows; its measures are skipped", split)
                continue
            split_labels = torch.from_numpy(labels[rows])
            label_arg = split_labels if flow.supervised else None
            nll = flow.negative_log_likelihood(codes[rows], label_arg).mean() / flow.dim
            metrics[f"nll_{split}"] = float(nll)
            if flow.supervised:
                correct = flow.predict_class(codes[rows]) == split_labels
                metrics[f"class_factor_accuracy_{split}"] = float(correct.float().mean())
        return metrics


def _traversal_factors(flow: InvertibleInterpretationNetwork, factors: torch.Tensor, options) -> tuple[list, list]:
    """Rows of the figure: (title, u (columns, d)) per row, from one code's u (d,)."""
    rows, titles = [], []
    if flow.supervised:
        row = factors.repeat(flow.num_classes, 1)
        row[:, : flow.class_dims] = flow.class_means  # the class factor moved to each class mean
        rows.append(row)
        titles.append("class factor")
    values = torch.linspace(-options.traversal_extent, options.traversal_extent, options.traversal_steps)
    first = flow.class_dims
    for coordinate in range(first, min(flow.dim, first + options.traversal_rows)):
        row = factors.repeat(options.traversal_steps, 1)
        row[:, coordinate] = values
        rows.append(row)
        titles.append(f"u[{coordinate}]")
    return titles, rows


def _traversed_row(image_table: pd.DataFrame, count: int, options) -> int:
    """The row of the code that the traversals start from: ``traversal_index`` among the test rows."""
    candidates = rows_of_split(image_table, "test")
    if len(candidates) == 0:
        candidates = np.arange(count)
    if options.traversal_index >= len(candidates):
        raise ValueError(
            f"interpretation.traversal_index = {options.traversal_index}: only {len(candidates)} codes to choose from"
        )
    return int(candidates[options.traversal_index])


def plot_traversals(
    interpretation_model: dict,
    irl_inr_model: dict,
    semantic_codes: np.ndarray,
    image_table: pd.DataFrame,
    parameters: dict,
) -> Figure:
    """One code's factors traversed, decoded back through f^-1 and IRL-INR's decoder at
    the canonical pose: for the supervised flow a first row with the class factor set to
    each class mean, then one row per residual coordinate swept over
    [-traversal_extent, traversal_extent] (the others kept at the code's values); images in
    grey, or RGB for a model of three channels."""
    with torch.no_grad():
        options = InterpretationParameters.from_dict(parameters)
        flow = restore_interpretation(interpretation_model)
        decoder = restore_irl_inr(irl_inr_model)
        codes, _ = _codes_and_labels(semantic_codes, image_table)
        row_index = _traversed_row(image_table, len(codes), options)
        factors = flow(codes[row_index : row_index + 1])[0][0]  # (d,)
        titles, rows = _traversal_factors(flow, factors, options)
        columns = max(len(row) for row in rows)
        image_shape = (decoder.config.channels, decoder.config.image_size, decoder.config.image_size)
        figure, axes = plt.subplots(len(rows), columns, figsize=(1.1 * columns, 1.2 * len(rows) + 0.4), squeeze=False)
        label_names = interpretation_model["config"]["label_names"]
        for row_number, (title, row) in enumerate(zip(titles, rows)):
            images = decoder.decode_canonical(flow.inverse(row)).reshape(-1, *image_shape).numpy()  # (n, C, S, S)
            for column, axis in enumerate(axes[row_number]):
                axis.set_axis_off()
                if column >= len(images):
                    continue
                axis.imshow(figures.shown(images[column]), cmap="gray", vmin=0, vmax=1)
                if flow.supervised and row_number == 0:
                    axis.set_title(label_names[column], fontsize=7)
            axes[row_number, 0].text(-0.1, 0.5, title, transform=axes[row_number, 0].transAxes, ha="right",
                                     va="center", fontsize=7)
        kind = "supervised" if flow.supervised else "unsupervised"
        image = image_table["image_id"].iloc[row_index] if "image_id" in image_table.columns else row_index
        figure.suptitle(f"IIN ({kind}) traversals of image {image} at the canonical pose", fontsize=9)
        return figure


def measure_traversals(
    interpretation_model: dict,
    irl_inr_model: dict,
    semantic_codes: np.ndarray,
    image_table: pd.DataFrame,
    parameters: dict,
) -> dict:
    """How much the images of :func:`plot_traversals` differ, so that its reader need not
    judge by eye. ``residual_row_rms``: the mean RMS pixel change from the first to the
    last image of each residual row. For the supervised flow also ``class_row_rms``: the
    mean RMS difference between two images of the class row (the class factor at each
    class mean); ``class_example_rms``: the same between the decoded codes of one real
    image per class (the first of each label: how different the classes look through the
    decoder); and ``class_row_ratio``, the first over the second (near 0: the class
    factor changes next to nothing)."""
    with torch.no_grad():
        options = InterpretationParameters.from_dict(parameters)
        flow = restore_interpretation(interpretation_model)
        decoder = restore_irl_inr(irl_inr_model)
        codes, labels = _codes_and_labels(semantic_codes, image_table)
        factors = flow(codes[_traversed_row(image_table, len(codes), options)].unsqueeze(0))[0][0]
        titles, rows = _traversal_factors(flow, factors, options)

        def decoded(code_rows: torch.Tensor) -> torch.Tensor:
            return decoder.decode_canonical(code_rows).reshape(len(code_rows), -1)

        def mean_pairwise_rms(images: torch.Tensor) -> float:
            differences = ((images[:, None, :] - images[None, :, :]) ** 2).mean(dim=-1).sqrt()
            count = len(images)
            return float(differences.sum() / max(count * (count - 1), 1))

        residual = [decoded(flow.inverse(row)) for title, row in zip(titles, rows) if title != "class factor"]
        measures = {"residual_row_rms": float(np.mean([((row[-1] - row[0]) ** 2).mean().sqrt() for row in residual]))
                    if residual else 0.0}
        if flow.supervised:
            class_row = decoded(flow.inverse(rows[0]))
            examples = torch.stack([codes[int(np.flatnonzero(labels == label)[0])] for label in np.unique(labels)])
            measures["class_row_rms"] = mean_pairwise_rms(class_row)
            measures["class_example_rms"] = mean_pairwise_rms(decoded(examples))
            measures["class_row_ratio"] = measures["class_row_rms"] / max(measures["class_example_rms"], 1e-12)
        return measures
