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
* Die states (wafer maps, whose pixels are dies at three levels: no die, good die,
  defective die): a mirror image, good dies that fail at random and defective dies that
  pass at random.  A failure pattern is the same pattern mirrored, thinner or with a few
  more random failures, so agreeing on such views takes a code of the pattern rather
  than of the wafer's particular dies.

Images of C channels (C = 3 for colour): a pose, an affine or elastic warp, a contrast
factor, a cutout and a mirror are drawn once per image and move or scale all its channels
together (centres of mass are those of the channel mean); the noise is drawn per channel,
and the stroke's dilation or erosion and die states act on each channel's own values (die
states at the same drawn pixels in every channel).

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
    mirror: bool = False  # mirror (x -> -x about the centre of mass) with probability 1/2
    # Die states: a share uniform in [0, this] of the good-die pixels turned defective, and
    # of the defective pixels turned good; pixels are told apart by the nearest of
    # (0, die_levels[0], die_levels[1]) = (no die, good die, defective die).
    random_defects: float = 0.0
    defect_dropout: float = 0.0
    die_levels: tuple[float, float] = (0.25, 1.0)

    @property
    def enabled(self) -> bool:
        return any((self.scale, self.aspect, self.shear, self.elastic_pixels, self.stroke, self.mirror,
                    self.random_defects, self.defect_dropout))

    @property
    def changes_dies(self) -> bool:
        return bool(self.random_defects or self.defect_dropout)


class AppearanceDraw(NamedTuple):
    """The random numbers of :func:`distort`, one row per image (U: uniform in [-1, 1))."""

    scale: torch.Tensor  # (B,) U
    aspect: torch.Tensor  # (B,) U
    shear: torch.Tensor  # (B,) U
    lattice: torch.Tensor  # (B, 2, g, g) standard normal: the elastic displacement's lattice
    stroke: torch.Tensor  # (B,) U
    # Drawn only when their option is on (None otherwise), after the others, so that a
    # draw without them is the same stream of numbers as before they existed.
    mirror: torch.Tensor | None = None  # (B,) U: mirrored where < 0
    dies: torch.Tensor | None = None  # (B, 2) U in [0, 1): shares of random defects and of dropout
    die_noise: torch.Tensor | None = None  # (B, 1, H, W) U in [0, 1): which pixels change

    def rows(self, select: Callable[[torch.Tensor], torch.Tensor]) -> "AppearanceDraw":
        """The draw with ``select`` applied to every tensor (e.g. a process's share of rows)."""
        return AppearanceDraw(*(None if value is None else select(value) for value in self))


def draw_appearance(
    count: int,
    augmentation: AppearanceAugmentation,
    generator: torch.Generator,
    image_shape: tuple[int, int] | None = None,
) -> AppearanceDraw:
    """The random numbers for ``count`` images of ``image_shape`` (H, W; needed only to
    change die states), on the generator's device."""
    device, grid = generator.device, augmentation.elastic_grid

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=device) * 2 - 1

    draw = AppearanceDraw(
        scale=uniform(count),
        aspect=uniform(count),
        shear=uniform(count),
        lattice=torch.randn(count, 2, grid, grid, generator=generator, device=device),
        stroke=uniform(count),
    )
    if augmentation.mirror:
        draw = draw._replace(mirror=uniform(count))
    if augmentation.changes_dies:
        if image_shape is None:
            raise ValueError("draw_appearance: image_shape is needed to change die states")
        draw = draw._replace(
            dies=torch.rand(count, 2, generator=generator, device=device),
            die_noise=torch.rand(count, 1, *image_shape, generator=generator, device=device),
        )
    return draw


def change_dies(images: torch.Tensor, augmentation: AppearanceAugmentation, draw: AppearanceDraw) -> torch.Tensor:
    """Images (B, C, H, W) whose pixels are die states with good dies turned defective
    (a share ``draw.dies[:, 0] x random_defects`` of them) and defective dies turned good
    (a share ``draw.dies[:, 1] x defect_dropout``); pixels nearer to no die than to a good
    die stay as they are."""
    good, defective = augmentation.die_levels
    is_defective = images >= (good + defective) / 2
    is_good = (images >= good / 2) & ~is_defective
    add = (draw.die_noise < (draw.dies[:, 0] * augmentation.random_defects).view(-1, 1, 1, 1)) & is_good
    drop = (draw.die_noise < (draw.dies[:, 1] * augmentation.defect_dropout).view(-1, 1, 1, 1)) & is_defective
    changed = torch.where(add, torch.full_like(images, defective), images)
    return torch.where(drop, torch.full_like(images, good), changed)


def distort(images: torch.Tensor, augmentation: AppearanceAugmentation, draw: AppearanceDraw) -> torch.Tensor:
    """Distorted copies (B, C, H, W) of images (B, C, H, W) under ``draw`` (B rows)."""
    batch, _, height, width = images.shape
    draw = draw.rows(lambda value: value.to(images.device))
    if augmentation.changes_dies:
        images = change_dies(images, augmentation, draw)
    # Geometry: the input point seen at output point p is c + A (p - c) + displacement(p),
    # c the image's centre of mass, A a random scale, aspect and shear.
    scale = torch.exp(augmentation.scale * draw.scale)
    aspect = torch.exp(augmentation.aspect * draw.aspect)
    linear = torch.zeros(batch, 2, 2, device=images.device, dtype=images.dtype)  # (B, 2, 2)
    linear[:, 0, 0] = scale * aspect
    linear[:, 0, 1] = augmentation.shear * draw.shear
    linear[:, 1, 1] = scale / aspect
    if augmentation.mirror:  # x -> -x before the rest, for the images drawn < 0
        linear[:, :, 0] = linear[:, :, 0] * torch.where(draw.mirror < 0, -1.0, 1.0).to(linear.dtype).unsqueeze(1)
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
