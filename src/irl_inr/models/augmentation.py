"""The augmentation of the clustering models' training views: a random pose per image
(:mod:`irl_inr.geometry`'s convention) and light photometric changes, drawn from the
generator that the training loop passes to ``training_losses``."""

from __future__ import annotations

import torch

from irl_inr.geometry import pixel_grid, random_poses, transform_images


def posed_views(
    images: torch.Tensor, generator: torch.Generator, rotate: bool, max_shift: float
) -> torch.Tensor:
    """Each image under its own random pose (uniform rotation if ``rotate``, shift up to
    ``max_shift``); poses drawn on the generator's device.  No-op without either."""
    if not rotate and max_shift == 0:
        return images
    rotation, translation = random_poses(images.shape[0], max_shift, generator=generator, device=generator.device)
    if not rotate:
        rotation = torch.zeros_like(rotation)
    return transform_images(images, rotation.to(images.device), translation.to(images.device))


def photometric(
    images: torch.Tensor,
    generator: torch.Generator,
    contrast: float,
    noise_std: float,
    cutout_size: float,
) -> torch.Tensor:
    """Light photometric augmentation of (B, C, H, W) images: a contrast factor uniform
    in ``[1 - contrast, 1 + contrast]``, Gaussian noise of std ``noise_std`` and one
    zeroed square of side ``cutout_size`` x the image side at a uniform position."""
    batch, _, height, width = images.shape
    device = generator.device
    factor = 1 + (torch.rand(batch, 1, 1, 1, generator=generator, device=device) * 2 - 1) * contrast
    noise = torch.randn(images.shape, generator=generator, device=device) * noise_std
    centre = torch.rand(batch, 1, 2, generator=generator, device=device) * 2 - 1  # normalised (x, y)
    out = images * factor.to(images.device) + noise.to(images.device, images.dtype)
    if cutout_size > 0:
        grid = pixel_grid(height, width, device=images.device)  # (P, 2)
        inside = ((grid.unsqueeze(0) - centre.to(images.device)).abs() < cutout_size).all(dim=-1)  # (B, P)
        out = out * (~inside).to(out.dtype).reshape(batch, 1, height, width)
    return out
