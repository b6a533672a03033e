"""MNIST-U as in the IRL-INR and TARGET-VAE papers: each digit padded to a larger canvas,
rotated by a uniform angle and shifted by a uniform offset, one draw per image."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from irl_inr.domains.mnist_u.front_end import pad_to_canvas
from irl_inr.geometry import pixels_to_normalised, transform_images
from irl_inr.domains.mnist_u.parameters import AugmentationParameters


def draw_poses(count: int, options: AugmentationParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded per-image poses: rotation (N,) radians uniform in [0, max_rotation),
    shift (N, 2) pixels uniform in [-max_shift, max_shift]²."""
    generator = torch.Generator().manual_seed(options.seed)
    rotation = torch.rand(count, generator=generator, dtype=torch.float64) * math.radians(options.max_rotation_degrees)
    shift = (torch.rand(count, 2, generator=generator, dtype=torch.float64) * 2 - 1) * options.max_shift_pixels
    return rotation, shift


def build_mnist_u(
    mnist_digits: np.ndarray, mnist_digit_table: pd.DataFrame, parameters: dict
) -> tuple[np.ndarray, pd.DataFrame]:
    """Digits uint8 (N, 28, 28) -> MNIST-U float32 (N, S, S) in [0, 1] and its pose table
    (the digit table plus ``rotation_radians``, ``shift_x_pixels``, ``shift_y_pixels``;
    rotation is positive from +x towards +y, i.e. clockwise on screen, see ``geometry``)."""
    options = AugmentationParameters.from_dict(parameters)
    if len(mnist_digits) != len(mnist_digit_table):
        raise ValueError(f"{len(mnist_digits)} digits but {len(mnist_digit_table)} rows in the digit table")
    rotation, shift = draw_poses(len(mnist_digits), options)
    pieces = []
    for start in range(0, len(mnist_digits), options.batch_size):
        stop = start + options.batch_size
        canvas = pad_to_canvas(mnist_digits[start:stop], options.image_size)
        translation = pixels_to_normalised(shift[start:stop].float(), options.image_size)
        pieces.append(transform_images(canvas, rotation[start:stop].float(), translation))
    images = torch.cat(pieces).squeeze(1).clamp_(0.0, 1.0).numpy().astype(np.float32)
    poses = mnist_digit_table.assign(
        rotation_radians=rotation.numpy(),
        shift_x_pixels=shift[:, 0].numpy(),
        shift_y_pixels=shift[:, 1].numpy(),
    )
    return images, poses


def preview_mnist_u(
    mnist_digits: np.ndarray, images: np.ndarray, image_table: pd.DataFrame, parameters: dict
) -> Figure:
    """A grid: the original digit above its MNIST-U version, with the pose drawn."""
    options = AugmentationParameters.from_dict(parameters)
    count = min(options.preview_count, len(images))
    figure, axes = plt.subplots(2, count, figsize=(1.5 * count, 3.6), squeeze=False)
    for column in range(count):
        row = image_table.iloc[column]
        axes[0, column].imshow(mnist_digits[column], cmap="gray", vmin=0, vmax=255)
        axes[1, column].imshow(images[column], cmap="gray", vmin=0, vmax=1)
        axes[0, column].set_title(f"label {row['label']}", fontsize=8)
        axes[1, column].set_title(
            f"{math.degrees(row['rotation_radians']):.0f}°\n({row['shift_x_pixels']:+.1f}, {row['shift_y_pixels']:+.1f})",
            fontsize=7,
        )
        for axis in axes[:, column]:
            axis.set_axis_off()
    figure.suptitle("MNIST (top) and MNIST-U (bottom): rotation, shift in pixels")
    figure.tight_layout()
    return figure


def digit_front_end(augmentation: dict) -> dict:
    """MNIST-U's front end for new digits (``predict``): the canvas size of ``mnist_u.augmentation``."""
    options = AugmentationParameters.from_dict(augmentation)
    return {"domain": "mnist_u", "image_size": options.image_size}
