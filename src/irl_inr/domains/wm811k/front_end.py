"""Wafer maps as the model's input: die states (0 no die, 1 good die, 2 defective die)
kept exact by a nearest-neighbour resize, then one intensity per state (for ingestion
and for new wafers alike)."""

from __future__ import annotations

import numpy as np

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


def prepare_images(batch: RawImageBatch, front_end: dict) -> np.ndarray:
    """New die states -> (B, size, size) like WM-811K (:func:`resize_nearest`, then
    :func:`encode_die_states`). A PNG wafer map's gray levels (/255) are read as the die
    state whose intensity is nearest."""
    size, intensities = front_end["image_size"], front_end["die_intensities"]
    if batch.format == "png":
        levels = np.asarray(intensities, dtype=np.float32)
        gray = batch.pixels.astype(np.float32) / 255.0
        maps = list(np.abs(gray[..., None] - levels).argmin(-1).astype(np.uint8))
    else:
        maps = batch.pixels
    return encode_die_states(np.stack([resize_nearest(states, size) for states in maps]), intensities)
