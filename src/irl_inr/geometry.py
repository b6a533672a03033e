"""Rotations and shifts of image batches, and the coordinate grid they act on.

One convention everywhere (augmentation, the INR, SCAN and DTI views):

* Coordinates are normalised to ``[-1, 1]`` over the image with pixel *centres*
  at ``-1 + (2k + 1) / size`` (``align_corners=False``); ``x`` grows to the
  right, ``y`` grows downwards, exactly as ``torch.nn.functional.affine_grid``.
* ``rotation`` is an angle in radians, positive from +x towards +y (clockwise
  on screen, since y points down).
* ``translation`` is a shift ``(dx, dy)`` in the same normalised units, so one
  pixel is ``2 / size``.
* A pose ``(rotation, translation)`` turns a canonical image ``C`` into
  ``J(p) = C(R(-rotation) (p - translation))``: rotate about the centre, then
  shift.  :func:`canonical_coordinates` gives the point ``q`` of ``C`` seen at
  each pixel ``p`` of ``J``; the INR renders a posed image by evaluating the
  canonical function at those points.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def pixel_grid(height: int, width: int | None = None, device=None) -> torch.Tensor:
    """Normalised coordinates of pixel centres, shape ``(height * width, 2)`` as (x, y),
    row-major (the order of ``image.flatten()``)."""
    width = height if width is None else width
    ys = (torch.arange(height, device=device, dtype=torch.float32) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=device, dtype=torch.float32) * 2 + 1) / width - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)


def rotation_matrices(rotation: torch.Tensor) -> torch.Tensor:
    """``(B,)`` angles -> ``(B, 2, 2)`` rotation matrices.

    Computed in float64 and rounded so that multiples of a quarter turn give exact
    0/±1 entries (keeps quarter turns exact on a square grid).  The rounding changes
    values only: gradients flow as through plain cos and sin, also at angle 0."""
    angle = rotation.to(torch.float64)
    cos, sin = torch.cos(angle), torch.sin(angle)
    cos = cos + (torch.where(cos.abs() < 1e-12, torch.zeros_like(cos), cos) - cos).detach()
    sin = sin + (torch.where(sin.abs() < 1e-12, torch.zeros_like(sin), sin) - sin).detach()
    matrix = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    return matrix.to(rotation.dtype if rotation.is_floating_point() else torch.float32)


def canonical_coordinates(
    coordinates: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor
) -> torch.Tensor:
    """Points of the canonical image seen at ``coordinates`` under each pose.

    coordinates: (P, 2) or (B, P, 2); rotation: (B,); translation: (B, 2)
    returns (B, P, 2) = R(-rotation) (coordinates - translation)
    """
    if coordinates.dim() == 2:
        coordinates = coordinates.unsqueeze(0)
    inverse_rotation = rotation_matrices(-rotation).to(coordinates.dtype)  # (B, 2, 2)
    shifted = coordinates - translation.to(coordinates.dtype).unsqueeze(1)  # (B, P, 2)
    return torch.einsum("bij,bpj->bpi", inverse_rotation, shifted)


def transform_images(
    images: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor | None = None,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Rotate then shift every image of a batch by its own pose.

    images: (B, C, H, W) float; rotation: (B,) radians; translation: (B, 2)
    normalised (x, y) or None for rotation only.  Pixels that come from outside
    the image are zero.  Returns (B, C, H, W).
    """
    if images.dim() != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
    batch = images.shape[0]
    if rotation.shape != (batch,):
        raise ValueError(f"rotation must have shape ({batch},), got {tuple(rotation.shape)}")
    if translation is None:
        translation = images.new_zeros(batch, 2)
    if translation.shape != (batch, 2):
        raise ValueError(
            f"translation must have shape ({batch}, 2), got {tuple(translation.shape)}"
        )
    # affine_grid maps output coordinates p to input coordinates A p + b;
    # here A = R(-rotation) and b = -R(-rotation) translation.
    inverse_rotation = rotation_matrices(-rotation.to(images.dtype))
    offset = -torch.einsum("bij,bj->bi", inverse_rotation, translation.to(images.dtype))
    affine = torch.cat([inverse_rotation, offset.unsqueeze(-1)], dim=-1)  # (B, 2, 3)
    grid = F.affine_grid(affine, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


def pixels_to_normalised(shift_pixels: torch.Tensor, size: int) -> torch.Tensor:
    """A shift in pixels -> the same shift in normalised coordinates."""
    return shift_pixels * (2.0 / size)


def normalised_to_pixels(shift: torch.Tensor, size: int) -> torch.Tensor:
    """A shift in normalised coordinates -> the same shift in pixels."""
    return shift * (size / 2.0)


def random_poses(
    batch: int,
    max_shift: float,
    generator: torch.Generator | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One uniform rotation in [0, 2π) and one uniform shift in [-max_shift, max_shift]²
    (normalised units) per image."""
    rotation = torch.rand(batch, generator=generator, device=device) * (2 * math.pi)
    translation = (torch.rand(batch, 2, generator=generator, device=device) * 2 - 1) * max_shift
    return rotation, translation


def centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted centre of each image in normalised (x, y); (B, C, H, W) -> (B, 2).

    The intensity of a pixel is the mean of its channels (negative values as zero), so
    one channel is weighted as it is.  An empty image has its centre at the origin."""
    batch, _, height, width = images.shape
    mass = images.clamp_min(0).mean(dim=1).reshape(batch, -1)  # (B, H*W)
    grid = pixel_grid(height, width, device=images.device).to(images.dtype)  # (H*W, 2)
    total = mass.sum(dim=1, keepdim=True)
    centre = mass @ grid / total.clamp_min(1e-12)
    return torch.where(total > 0, centre, torch.zeros_like(centre))
