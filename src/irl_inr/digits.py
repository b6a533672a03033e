"""MNIST digits as the model's input: centred on a larger zero canvas (MNIST-U's first step)."""

from __future__ import annotations

import numpy as np
import torch


def pad_to_canvas(digits: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, h, w) -> float32 (N, 1, size, size) in [0, 1], digits centred."""
    count, height, width = digits.shape
    canvas = torch.zeros(count, 1, size, size)
    top, left = (size - height) // 2, (size - width) // 2
    canvas[:, 0, top : top + height, left : left + width] = torch.from_numpy(digits).float() / 255.0
    return canvas
