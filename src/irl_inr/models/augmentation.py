"""Augmentation of training views: what each model must learn to ignore.

* Poses and light photometric changes (:func:`posed_views`, :func:`photometric`): the
  views of the clustering models (SCAN, self-labelling), in :mod:`irl_inr.geometry`'s
  convention.
* Appearance (:class:`AppearanceAugmentation`, :func:`draw_appearance`, :func:`distort`):
  what IRL-INR's encoder sees.  Two views that differ only by pose are, after the
  closed-form alignment of the encoder, almost the same picture, so a contrastive
  consistency between them is solved by codes that tell single images apart rather
  than classes.  Distorting each view's *appearance* independently -- a random affine
  (scale, aspect, shear) and a smooth elastic warp about the image's centre of mass,
  thinner or thicker strokes -- makes the two views differ in what handwriting varies
  in, so agreeing on them takes a code of the shape's class (the SimCLR recipe; Chen et
  al., ICML 2020).  The encoder sees the distorted views; the reconstruction target
  stays the undistorted view, so the code must still describe the image (a denoising
  reconstruction), and the pose is unchanged up to the small shift of the principal
  axis that a shear brings.

Every draw comes from the generator that the training loop passes to
``training_losses``, so a step is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from irl_inr.geometry import centre_of_mass, pixel_grid, random_poses, transform_images


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


# ------------------------------------------------------- appearance (IRL-INR's encoder)


@dataclass(frozen=True)
class AppearanceAugmentation:
    """How strongly each view's appearance is distorted; all zeros: not at all."""

    scale: float = 0.0  # log-scale uniform in +-this (0.15: x0.86 .. x1.16)
    aspect: float = 0.0  # log aspect ratio uniform in +-this
    shear: float = 0.0  # shear uniform in +-this
    elastic_pixels: float = 0.0  # standard deviation of the smooth displacement, in pixels
    elastic_grid: int = 4  # the displacement is bicubic over a grid x grid lattice of random vectors
    stroke: float = 0.0  # blend towards a 3x3 dilation (> 0) or erosion (< 0), uniform in +-this

    @property
    def enabled(self) -> bool:
        return any((self.scale, self.aspect, self.shear, self.elastic_pixels, self.stroke))


class AppearanceDraw(NamedTuple):
    """The random numbers of :func:`distort`, one row per image (U: uniform in [-1, 1))."""

    scale: torch.Tensor  # (B,) U
    aspect: torch.Tensor  # (B,) U
    shear: torch.Tensor  # (B,) U
    lattice: torch.Tensor  # (B, 2, g, g) standard normal: the elastic displacement's lattice
    stroke: torch.Tensor  # (B,) U

    def rows(self, select: Callable[[torch.Tensor], torch.Tensor]) -> "AppearanceDraw":
        """The draw with ``select`` applied to every tensor (e.g. a process's share of rows)."""
        return AppearanceDraw(*(select(value) for value in self))


def draw_appearance(count: int, augmentation: AppearanceAugmentation, generator: torch.Generator) -> AppearanceDraw:
    """The random numbers for ``count`` images, on the generator's device."""
    device, grid = generator.device, augmentation.elastic_grid

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=device) * 2 - 1

    return AppearanceDraw(
        scale=uniform(count),
        aspect=uniform(count),
        shear=uniform(count),
        lattice=torch.randn(count, 2, grid, grid, generator=generator, device=device),
        stroke=uniform(count),
    )


def distort(images: torch.Tensor, augmentation: AppearanceAugmentation, draw: AppearanceDraw) -> torch.Tensor:
    """Distorted copies (B, C, H, W) of images (B, C, H, W) under ``draw`` (B rows)."""
    batch, _, height, width = images.shape
    draw = draw.rows(lambda value: value.to(images.device))
    # Geometry: the input point seen at output point p is c + A (p - c) + displacement(p),
    # c the image's centre of mass, A a random scale, aspect and shear.
    scale = torch.exp(augmentation.scale * draw.scale)
    aspect = torch.exp(augmentation.aspect * draw.aspect)
    linear = torch.zeros(batch, 2, 2, device=images.device, dtype=images.dtype)  # (B, 2, 2)
    linear[:, 0, 0] = scale * aspect
    linear[:, 0, 1] = augmentation.shear * draw.shear
    linear[:, 1, 1] = scale / aspect
    centre = centre_of_mass(images)  # (B, 2) normalised (x, y)
    offset = centre - torch.einsum("bij,bj->bi", linear, centre)
    grid = F.affine_grid(torch.cat([linear, offset.unsqueeze(-1)], dim=-1), list(images.shape), align_corners=False)
    if augmentation.elastic_pixels:
        pixel = 2.0 / max(height, width)  # one pixel in normalised units
        displacement = F.interpolate(
            draw.lattice.to(images.dtype), size=(height, width), mode="bicubic", align_corners=True
        )  # (B, 2, H, W)
        grid = grid + augmentation.elastic_pixels * pixel * displacement.permute(0, 2, 3, 1)
    distorted = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    if augmentation.stroke:  # blend towards the 3x3 grey-level dilation (> 0) or erosion (< 0)
        stroke = (augmentation.stroke * draw.stroke).view(batch, 1, 1, 1)
        dilated = F.max_pool2d(distorted, 3, stride=1, padding=1)
        eroded = -F.max_pool2d(-distorted, 3, stride=1, padding=1)
        distorted = distorted + stroke.abs() * (torch.where(stroke > 0, dilated, eroded) - distorted)

    return distorted
