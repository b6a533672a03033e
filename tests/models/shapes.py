"""Synthetic shapes shared by the clustering model tests."""

import math

import torch

from irl_inr.geometry import transform_images

SIZE = 16


def rotated_bar_and_ell(count: int, seed: int = 0):
    """Rotated copies (uniform full turn) of a bar and of an L of the same mass, 16x16.

    Returns images (count, 1, 16, 16), labels (count,), rotations (count,)."""
    bar = torch.zeros(SIZE, SIZE)
    bar[7:9, 2:14] = 1.0
    ell = torch.zeros(SIZE, SIZE)
    ell[3:11, 4:6] = 1.0
    ell[9:11, 6:10] = 1.0
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    rotation = torch.rand(count, generator=generator) * 2 * math.pi
    return transform_images(torch.stack([bar, ell])[labels].unsqueeze(1), rotation), labels, rotation
