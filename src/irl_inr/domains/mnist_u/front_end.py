"""MNIST digits as the model's input: centred on a larger zero canvas (MNIST-U's first
step, for ingestion and for new digits alike)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from irl_inr.domains.domain import RawImageBatch


def pad_to_canvas(digits: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, h, w) -> float32 (N, 1, size, size) in [0, 1], digits centred."""
    count, height, width = digits.shape
    canvas = torch.zeros(count, 1, size, size)
    top, left = (size - height) // 2, (size - width) // 2
    canvas[:, 0, top : top + height, left : left + width] = torch.from_numpy(digits).float() / 255.0
    return canvas


def _shrunk(pixels: np.ndarray, size: int) -> np.ndarray:
    """(B, H, W) -> (B, size, size) float32 by area averaging (each output pixel the mean of
    the input pixels it covers)."""
    tensor = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).unsqueeze(1)
    return F.interpolate(tensor, size=(size, size), mode="area").squeeze(1).numpy()


def prepare_images(batch: RawImageBatch, front_end: dict) -> np.ndarray:
    """New uint8 digits -> (B, size, size) in [0, 1]: centred on a zero canvas like MNIST-U
    when they fit (:func:`pad_to_canvas`); PNGs larger than the canvas are shrunk to it by
    area averaging (IDX digits must fit)."""
    size = front_end["image_size"]
    height, width = batch.pixels.shape[1:]
    if height <= size and width <= size:
        return pad_to_canvas(batch.pixels, size).squeeze(1).numpy()
    if batch.format == "png":
        return _shrunk(batch.pixels.astype(np.float32) / 255.0, size)
    raise ValueError(f"{batch.sources[0]}: digits of {height}x{width} pixels do not fit the model's {size}-pixel canvas")
