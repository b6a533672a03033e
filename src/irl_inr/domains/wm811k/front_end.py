"""Wafer maps as the model's input: die states (0 no die, 1 good die, 2 defective die)
kept exact by a nearest-neighbour resize to ``supersample`` times the image size, one
intensity per state, then the mean intensity of every ``supersample`` x ``supersample``
block (for ingestion, where the wafer is turned before the blocks are averaged, and for
new wafers alike)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from irl_inr.domains.domain import RawImageBatch

# How a wafer map is drawn, one colour per die state: no die (light grey), good die
# (green), defective die (red), the convention of wafer-inspection tools.  The report
# draws intensities with the same colours (wm811k.reporting.image_colours).
DIE_COLOURS = ("#eeeeee", "#5a9e6f", "#c0392b")


def resize_nearest(die_states: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W) -> (size, size) by nearest neighbour at pixel centres, so die states
    stay 0/1/2.  The map spans the wafer's bounding box, so stretching both sides to
    ``size`` makes the wafer round again whatever the dies' aspect ratio."""
    height, width = die_states.shape
    rows = np.minimum(((np.arange(size) + 0.5) * height / size).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * width / size).astype(np.int64), width - 1)
    return die_states[np.ix_(rows, cols)]


def encode_die_states(die_maps: np.ndarray, die_intensities) -> np.ndarray:
    """uint8 die states (..., H, W) -> float32 intensities, one value per state (by
    default 0 no die -> 0.0, the background; good die -> 0.25, the wafer, dim since it
    is alike in every class; defective die -> 1.0, the pattern that tells the classes
    apart, brightest)."""
    return np.asarray(die_intensities, dtype=np.float32)[die_maps]


def block_means(intensities: np.ndarray | torch.Tensor, supersample: int) -> np.ndarray:
    """float32 (B, S * f, S * f) -> (B, S, S), the mean of every f x f block (f =
    ``supersample``; 1 returns the intensities as they are). A die that covers part of a
    pixel counts in proportion: a thin scratch or a small cluster on a map of more dies
    than pixels dims instead of vanishing between the sampled dies."""
    data = torch.as_tensor(intensities, dtype=torch.float32)
    if supersample == 1:
        return data.numpy()
    return F.avg_pool2d(data.unsqueeze(1), supersample).squeeze(1).numpy()


def prepare_images(batch: RawImageBatch, front_end: dict) -> np.ndarray:
    """New die states -> (B, size, size) like WM-811K (:func:`resize_nearest` to ``size``
    x ``supersample``, :func:`encode_die_states`, :func:`block_means`). A PNG wafer map's
    gray levels (/255) are read as the die state whose intensity is nearest."""
    size, intensities = front_end["image_size"], front_end["die_intensities"]
    supersample = front_end.get("supersample", 1)  # front ends from before supersampling: 1
    if batch.format == "png":
        levels = np.asarray(intensities, dtype=np.float32)
        gray = batch.pixels.astype(np.float32) / 255.0
        maps = list(np.abs(gray[..., None] - levels).argmin(-1).astype(np.uint8))
    else:
        maps = batch.pixels
    fine = np.stack([resize_nearest(states, size * supersample) for states in maps])
    return block_means(encode_die_states(fine, intensities), supersample)
