"""The checks of a domain's parameters against its images, run as soon as the images'
table exists (the project hook runs them on a front-end node's outputs before they are
saved, and on a table a run reads from disk before its first node), so that a run that
cannot finish stops before any model or report is written.

Each shared section says what it needs of the images in ``check_images``: labels that fit
it (``clustering.n_clusters`` against the label classes, a supervised interpretation
against labels that exist) and image counts (a batch size that drops the last short
batch, SCAN's neighbours, one image per cluster). The counts are checked together, so the
error states the least number of images these settings need."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from irl_inr.parameters import ImageRequirement, Parameters
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.pipelines.embedding.parameters import EmbeddingParameters
from irl_inr.pipelines.interpretation.parameters import InterpretationParameters
from irl_inr.pipelines.training.parameters import TrainingParameters
from irl_inr.tables import is_unlabelled, rows_of_split

# The shared sections whose settings depend on the images, by section name.
SECTIONS: dict[str, Callable[[Any], Parameters]] = {
    "training": TrainingParameters.from_dict,
    "embedding": EmbeddingParameters.from_dict,
    "clustering": ClusteringParameters.from_dict,
    "interpretation": InterpretationParameters.from_dict,
}


def split_counts(table: pd.DataFrame) -> dict[str, int]:
    """Images per split: ``all`` and each value of the ``split`` column (0 when absent)."""
    counts = {"all": len(table), "train": 0, "test": 0}
    if "split" in table.columns:
        counts.update({str(split): int(count) for split, count in table["split"].value_counts().items()})
    return counts


def _named(domain: str, requirement: ImageRequirement) -> str:
    return (f"{domain}.{requirement.parameter} = {requirement.value!r} needs {requirement.minimum} "
            f"{_images_of(requirement.split)} ({requirement.why})")


def check_counts(domain: str, counts: Mapping[str, int], requirements: list[ImageRequirement]) -> None:
    """Raise ``ValueError`` naming every requirement the image counts miss, and the least
    number of images (per split) that all of them need."""
    short = [need for need in requirements if counts.get(need.split, 0) < need.minimum]
    if not short:
        return
    splits = sorted({need.split for need in short})
    least = {split: max(need.minimum for need in requirements if need.split == split) for split in splits}
    have = ", ".join(f"{counts.get(split, 0)} {_images_of(split)}" for split in splits)
    needed = ", ".join(f"{least[split]} {_images_of(split)}" for split in splits)
    raise ValueError(
        f"{domain}: too few images for these settings: {have}, where they need at least {needed}. "
        + "; ".join(_named(domain, need) for need in short)
        + ". Lower those parameters or give more images"
    )


def _images_of(split: str) -> str:
    return "images" if split == "all" else f"{split} images"


def check_images(domain: str, table: pd.DataFrame, sections: Mapping[str, Any]) -> str:
    """Check the ``sections`` of ``domain`` (section name -> its parameters, for those of
    :data:`SECTIONS` the run uses) against ``table`` (one row per image, with ``label``
    and, where the domain splits, ``split``). Raises ``ValueError`` naming the parameter
    with its domain; returns a line saying what was checked."""
    if "label" not in table.columns:
        raise ValueError(f"{domain}: the table of images has no label column (columns {list(table.columns)})")
    requirements: list[ImageRequirement] = []
    for name, values in sections.items():
        try:
            requirements += SECTIONS[name](values).check_images(table)
        except ValueError as error:
            message = str(error)
            raise ValueError(message if message.startswith(f"{domain}.") else f"{domain}.{message}") from error
    counts = split_counts(table)
    check_counts(domain, counts, requirements)
    labels = table["label"].to_numpy()
    classes = "unlabelled" if is_unlabelled(labels) else f"{len(np.unique(labels))} label classes"
    needed = max((need.minimum for need in requirements if need.split == "all"), default=1)
    train = len(rows_of_split(table, "train")) if "split" in table.columns else 0
    return (f"{domain}: {counts['all']} images ({train} train), {classes}; checked {', '.join(sections) or 'nothing'}"
            f" (these settings need at least {needed} images)")
