"""Wafer maps as the model's input: die states (0 no die, 1 good die, 2 defective die)
kept exact by a nearest-neighbour resize, then one intensity per state."""

from __future__ import annotations

import numpy as np

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
