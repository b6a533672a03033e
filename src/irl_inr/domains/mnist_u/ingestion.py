"""Ingestion nodes: pure functions from loaded raw data to checked arrays and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irl_inr.domains.mnist_u.parameters import IngestionParameters
from irl_inr.tables import stratified_split


def check_digits(raw_mnist: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """Check what the MNIST dataset loaded: 28x28 uint8 digits, labels 0..9, equal counts."""
    images, labels, source = raw_mnist["images"], raw_mnist["labels"], raw_mnist["source"]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{source}: digits must have shape (N, 28, 28), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"{source}: digits must be uint8, got {images.dtype}")
    if labels.shape != (len(images),):
        raise ValueError(f"{source}: {len(images)} digits but labels of shape {labels.shape}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{source}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    return images, labels, source


def class_quotas(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest remainder),
    at least one per class, so the quotas add up to exactly ``total``."""
    share = counts * (total / counts.sum())
    quotas = np.maximum(1, np.floor(share).astype(int))
    for index in np.argsort(-(share - np.floor(share)), kind="stable")[: max(0, total - quotas.sum())]:
        quotas[index] += 1
    return np.minimum(quotas, counts)


def shuffled_split(labels: np.ndarray, parameters: IngestionParameters) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle with the seed, keep at most ``max_images`` (the same share of every class)
    and mark a stratified ``test_fraction`` of each class as test.

    Returns (order of kept source indices, split label per kept image)."""
    rng = np.random.default_rng(parameters.seed)
    _, counts = np.unique(labels, return_counts=True)
    total = len(labels) if parameters.max_images is None else min(parameters.max_images, len(labels))
    kept, split = stratified_split(labels, parameters.test_fraction, rng, class_quotas(counts, total))
    shuffle = rng.permutation(len(kept))
    return kept[shuffle], split[shuffle]


def ingest_mnist(mnist_raw: dict, parameters: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """Raw MNIST -> digits uint8 (N, 28, 28) in a seeded, shuffled order, and a table with
    one row per digit: ``image_id``, ``source_index`` (row in the raw file), ``label``,
    ``label_name`` (the digit as text), ``split``, ``source``."""
    options = IngestionParameters.from_dict(parameters)
    images, labels, source = check_digits(mnist_raw)
    order, split = shuffled_split(labels, options)
    table = pd.DataFrame(
        {
            "image_id": np.arange(len(order), dtype=np.int64),
            "source_index": order.astype(np.int64),
            "label": labels[order].astype(np.int64),
            "label_name": labels[order].astype(str),
            "split": split,
            "source": source,
        }
    )
    return images[order], table
