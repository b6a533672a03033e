"""Closed-form canonicalisation of images by their intensity moments.

A no-learning baseline for rotation/translation invariance: every image is given
the pose read off its own moments, and :func:`canonicalise` undoes that pose.  The
learned (IRL-INR) codes have to do better than clustering these canonical images.

Conventions are those of :mod:`irl_inr.geometry` (normalised coordinates, ``x``
right, ``y`` down, rotation positive from +x towards +y, and a pose
``(rotation, translation)`` maps a canonical image ``C`` to
``J(p) = C(R(-rotation) (p - translation))``).

The canonical frame chosen here ("upright"):

* the intensity centre of mass is at the image centre (the origin);
* the principal axis (the eigenvector of the largest eigenvalue of the second
  central moments) lies along the ``y`` axis;
* of the two directions along that axis, the one with *positive* third central
  moment (the side the distribution's longer tail points to) is +y, i.e.
  *down* on screen.  For an upright "9", "7" or "4" the tail points down, so such
  digits stay roughly upright.

:func:`moment_pose` returns the pose that maps this canonical image to the input:
``translation`` is the centre of mass and ``rotation = phi - pi/2`` (in
``[0, 2*pi)``), where ``phi`` is the angle of the oriented principal axis.  Hence
``transform_images(canonicalise(J), *moment_pose(J)) ≈ J`` up to resampling and
cropping at the border.

Limits (inherent to moments, not bugs): the axis is undefined for images whose
second moments are isotropic (a disc, a "0" drawn as a circle) -- those get
``phi = pi/2`` from the second moments; and the up/down choice is unstable for
images that are (nearly) symmetric along the axis (third moment ~ 0), so such
images may canonicalise to either of two 180°-apart orientations.  Negative
intensities are treated as zero, as in :func:`irl_inr.geometry.centre_of_mass`;
the mass of a pixel is the mean of its channels (a colour image is posed by its
brightness; one channel as it is).  Moments are taken in
normalised coordinates, so on non-square images the "axis" is that of the
normalised (stretched) picture, consistent with ``transform_images``.
"""

from __future__ import annotations

import math

import torch

from irl_inr.geometry import centre_of_mass, pixel_grid, rotation_matrices, transform_images

# Relative anisotropy of the second moments below which the principal axis is
# treated as undefined.
_ISOTROPY_TOLERANCE = 1e-9
# Images per block when computing moments (bounds the float64 working memory).
_CHUNK = 256


def _check_images(images: torch.Tensor, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(
            f"{name} must have shape (B, C, H, W) (e.g. (B, 1, H, W)), "
            f"got {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {images.dtype}")
    if any(size == 0 for size in images.shape[1:]):
        raise ValueError(f"{name} must have C, H, W >= 1, got {tuple(images.shape)}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def moment_pose(images: torch.Tensor, about_centre: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose of each image read off its intensity moments.

    images: (B, C, H, W) floating point, non-negative intensities; the moments are
    those of the channel mean.

    Returns ``(rotation (B,), translation (B, 2))`` in the dtype of ``images``:
    ``translation`` is the centre of mass (normalised ``(x, y)``), ``rotation``
    (radians, in ``[0, 2*pi)``) turns the canonical "upright" frame (principal
    axis along +y, positive third moment towards +y) into the image's frame.  An
    empty (all-zero) image gets rotation 0 and translation (0, 0).  Computed in
    float64 on detached inputs (no gradient flows through the pose), in blocks of
    ``_CHUNK`` images.

    ``about_centre``: for images centred by construction (a wafer, a particle): the
    moments are taken about the image centre, not the centre of mass, and the
    translation is (0, 0), so un-posing turns the image about its centre and keeps where
    things lie relative to it (a defect at the edge stays at the edge).
    """
    _check_images(images)
    if images.shape[0] == 0:
        return images.new_zeros(0), images.new_zeros(0, 2)
    rotations, translations = [], []
    for start in range(0, images.shape[0], _CHUNK):
        rotation, translation = _moment_pose_chunk(images[start : start + _CHUNK].detach(), about_centre)
        rotations.append(rotation)
        translations.append(translation)
    return torch.cat(rotations).to(images.dtype), torch.cat(translations).to(images.dtype)


def _moment_pose_chunk(images: torch.Tensor, about_centre: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`moment_pose` of a validated, non-empty batch, in float64."""
    batch, _, height, width = images.shape
    work = images.to(torch.float64)
    mass = work.clamp_min(0).mean(dim=1).reshape(batch, -1)  # (B, H*W): the channel mean
    total = mass.sum(dim=1)  # (B,)
    empty = total <= 0
    # (B, 2): the centre of mass (the origin for empty images), or the image centre
    centre = work.new_zeros(batch, 2) if about_centre else centre_of_mass(work)

    grid = pixel_grid(height, width, device=images.device).to(torch.float64)  # (P, 2)
    weights = mass / total.clamp_min(1e-300).unsqueeze(1)  # (B, P), sums to 1
    dx = grid[:, 0].unsqueeze(0) - centre[:, 0:1]  # (B, P)
    dy = grid[:, 1].unsqueeze(0) - centre[:, 1:2]
    mu20 = (weights * dx * dx).sum(dim=1)
    mu02 = (weights * dy * dy).sum(dim=1)
    mu11 = (weights * dx * dy).sum(dim=1)

    # Angle of the major axis of the covariance [[mu20, mu11], [mu11, mu02]].
    phi = 0.5 * torch.atan2(2 * mu11, mu20 - mu02)
    anisotropy = torch.sqrt((mu20 - mu02) ** 2 + 4 * mu11**2)
    isotropic = anisotropy <= _ISOTROPY_TOLERANCE * (mu20 + mu02).clamp_min(1e-300)
    phi = torch.where(isotropic, torch.full_like(phi, math.pi / 2), phi)

    # Orient the axis so that the third central moment along it is positive.
    along = dx * torch.cos(phi).unsqueeze(1) + dy * torch.sin(phi).unsqueeze(1)  # (B, P)
    third = (weights * along**3).sum(dim=1)
    phi = torch.where(third < 0, phi + math.pi, phi)

    rotation = torch.remainder(phi - math.pi / 2, 2 * math.pi)
    rotation = torch.where(rotation >= 2 * math.pi, rotation - 2 * math.pi, rotation)
    rotation = torch.where(empty, torch.zeros_like(rotation), rotation)
    centre = torch.where(empty.unsqueeze(1), torch.zeros_like(centre), centre)
    return rotation, centre


def canonicalise(
    images: torch.Tensor, mode: str = "bilinear", return_pose: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Undo each image's moment pose: centre of mass to the centre, principal axis
    along y with the positive-third-moment side down (see the module docstring).

    images: (B, C, H, W) floating point.  ``mode`` is passed to
    :func:`irl_inr.geometry.transform_images`; content moved outside the frame is
    lost and pixels coming from outside are zero.  Returns (B, C, H, W), plus
    ``(rotation, translation)`` from :func:`moment_pose` when ``return_pose``.
    Empty images come back unchanged.
    """
    rotation, translation = moment_pose(images)
    if images.shape[0] == 0:
        out = images.clone()
    else:
        # The inverse of the pose (r, t) is (-r, -R(-r) t):
        # out(p) = J(R(r) (p + R(-r) t)) = J(R(r) p + t) = C(p).
        angle = rotation.to(torch.float64)
        inverse_shift = -torch.einsum(
            "bij,bj->bi", rotation_matrices(-angle), translation.to(torch.float64)
        ).to(images.dtype)
        out = torch.cat(
            [
                transform_images(
                    images[start : start + _CHUNK],
                    -rotation[start : start + _CHUNK],
                    inverse_shift[start : start + _CHUNK],
                    mode=mode,
                )
                for start in range(0, images.shape[0], _CHUNK)
            ]
        )
    if return_pose:
        return out, rotation, translation
    return out
