"""Tests of irl_inr.moments on a smooth asymmetric synthetic blob."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from irl_inr import moments
from irl_inr.geometry import centre_of_mass, pixel_grid, rotation_matrices, transform_images
from irl_inr.moments import canonicalise, moment_pose

SIZE = 64


def blob(size: int = SIZE) -> torch.Tensor:
    """(1, 1, size, size): an elongated Gaussian plus an off-axis bump, so both the
    principal axis (second moments) and its direction (third moment) are well
    defined; everything lies within radius ~0.6 so poses below keep it in frame."""
    grid = pixel_grid(size).reshape(size, size, 2)
    x, y = grid[..., 0], grid[..., 1]
    body = torch.exp(-((x - 0.05) ** 2 / (2 * 0.08**2) + (y + 0.05) ** 2 / (2 * 0.25**2)))
    bump = 0.8 * torch.exp(-((x - 0.15) ** 2 + (y - 0.25) ** 2) / (2 * 0.08**2))
    return (body + bump)[None, None]


def circular_difference_degrees(a: float, b: float) -> float:
    return abs((math.degrees(a - b) + 180.0) % 360.0 - 180.0)


POSES = [(0.3, (0.1, -0.08)), (2.0, (-0.12, 0.05)), (math.pi, (0.0, 0.1)), (5.5, (0.08, 0.08))]


def posed_copies() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rotation = torch.tensor([p[0] for p in POSES])
    translation = torch.tensor([p[1] for p in POSES])
    images = transform_images(blob().expand(len(POSES), -1, -1, -1), rotation, translation)
    return images, rotation, translation


def test_moment_pose_recovers_a_known_rotation_and_shift():
    reference_rotation, reference_centre = moment_pose(blob())
    images, rotation, translation = posed_copies()
    estimated_rotation, estimated_translation = moment_pose(images)
    assert estimated_rotation.shape == (len(POSES),)
    assert estimated_translation.shape == (len(POSES), 2)
    for i in range(len(POSES)):
        # the estimate moves with the pose: rotation adds, 180° ambiguity resolved
        change = float(estimated_rotation[i] - reference_rotation[0])
        assert circular_difference_degrees(change, float(rotation[i])) < 2.0
        # the centre of mass of J(p) = C(R(-r)(p - t)) is R(r) c + t
        expected = rotation_matrices(rotation[i : i + 1])[0] @ reference_centre[0] + translation[i]
        torch.testing.assert_close(estimated_translation[i], expected, atol=2e-3, rtol=0)
    assert ((estimated_rotation >= 0) & (estimated_rotation <= 2 * math.pi)).all()


def test_translation_is_the_geometry_centre_of_mass():
    images, _, _ = posed_copies()
    torch.testing.assert_close(moment_pose(images)[1], centre_of_mass(images), atol=1e-5, rtol=0)


def test_half_turn_is_told_apart_from_no_turn():
    image = blob()
    turned = transform_images(image, torch.tensor([math.pi]))
    r0, r1 = moment_pose(image)[0], moment_pose(turned)[0]
    assert circular_difference_degrees(float(r1 - r0), math.pi) < 2.0


def test_upright_convention():
    # a vertical bar heavier at the top: principal axis along y, third moment along
    # +y (down) positive, so it is already canonical: rotation 0
    grid = pixel_grid(SIZE).reshape(SIZE, SIZE, 2)
    x, y = grid[..., 0], grid[..., 1]
    bar = torch.exp(-(x**2 / (2 * 0.05**2) + y**2 / (2 * 0.3**2)))
    top = torch.exp(-(x**2 + (y + 0.2) ** 2) / (2 * 0.06**2))
    image = (bar + top)[None, None]
    rotation, _ = moment_pose(image)
    assert circular_difference_degrees(float(rotation[0]), 0.0) < 1.0
    # a canonical image turned by r has pose r
    turned = transform_images(image, torch.tensor([1.0]))
    assert circular_difference_degrees(float(moment_pose(turned)[0][0]), 1.0) < 1.0


def test_canonicalise_makes_posed_copies_agree():
    """An image and its rotated/shifted copies canonicalise to nearly the same image.

    Tolerance: the copies are resampled twice with bilinear interpolation, which
    blurs the blob slightly; the largest pixel difference stays below 5% of the
    peak and the mean below 0.2%."""
    image = blob()
    images, _, _ = posed_copies()
    reference = canonicalise(image)
    canonical = canonicalise(images)
    assert canonical.shape == images.shape
    peak = float(image.max())
    difference = (canonical - reference).abs()
    assert float(difference.max()) < 0.05 * peak
    assert float(difference.mean()) < 0.002 * peak


def test_canonical_images_have_zero_pose():
    images, _, _ = posed_copies()
    canonical, rotation, translation = canonicalise(images, return_pose=True)
    torch.testing.assert_close(rotation, moment_pose(images)[0])
    again_rotation, again_translation = moment_pose(canonical)
    for value in again_rotation:
        assert circular_difference_degrees(float(value), 0.0) < 1.0
    torch.testing.assert_close(again_translation, torch.zeros_like(again_translation), atol=2e-3, rtol=0)
    # and re-posing the canonical image gives the input back
    restored = transform_images(canonical, rotation, translation)
    assert float((restored - images).abs().max()) < 0.05 * float(images.max())


def test_empty_images():
    images = torch.zeros(3, 1, 16, 16)
    images[1] = blob(16)[0]
    rotation, translation = moment_pose(images)
    assert torch.isfinite(rotation).all() and torch.isfinite(translation).all()
    assert float(rotation[0]) == 0.0 and float(rotation[2]) == 0.0
    assert translation[0].tolist() == [0.0, 0.0]
    canonical = canonicalise(images)
    assert torch.isfinite(canonical).all()
    assert float(canonical[0].abs().max()) == 0.0
    assert float(canonical[1].abs().max()) > 0.0
    # an empty batch is fine too
    assert canonicalise(torch.zeros(0, 1, 8, 8)).shape == (0, 1, 8, 8)


def test_isotropic_image_is_left_unrotated():
    grid = pixel_grid(SIZE).reshape(SIZE, SIZE, 2)
    disc = torch.exp(-(grid**2).sum(-1) / (2 * 0.2**2))[None, None]
    rotation, translation = moment_pose(disc)
    assert circular_difference_degrees(float(rotation[0]), 0.0) < 1e-3
    assert float(translation.abs().max()) < 1e-6


def test_dtype_and_batch_independence():
    images, _, _ = posed_copies()
    rotation64, translation64 = moment_pose(images.double())
    assert rotation64.dtype == torch.float64 and translation64.dtype == torch.float64
    single = torch.stack([moment_pose(images[i : i + 1])[0][0] for i in range(len(POSES))])
    torch.testing.assert_close(single, moment_pose(images)[0])


def test_chunking_does_not_change_results(monkeypatch):
    images, _, _ = posed_copies()
    whole = canonicalise(images, return_pose=True)
    monkeypatch.setattr(moments, "_CHUNK", 3)  # 4 images -> blocks of 3 and 1
    chunked = canonicalise(images, return_pose=True)
    for a, b in zip(whole, chunked):
        torch.testing.assert_close(a, b)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="images"):
        moment_pose(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="images"):
        canonicalise(torch.zeros(8, 8))
    bad = torch.zeros(2, 1, 8, 8)
    bad[1, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="images.*NaN"):
        canonicalise(bad)
    with pytest.raises(TypeError, match="images"):
        moment_pose(np.zeros((1, 1, 8, 8)))
    with pytest.raises(TypeError, match="images"):
        moment_pose(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))


def _wafer_with_blob(angle: float, size: int = 32) -> torch.Tensor:
    """A dim disc filling the image and a bright blob half-way to its edge at ``angle``
    (radians, clockwise on screen from +x): (1, 1, size, size)."""
    grid = pixel_grid(size, size).reshape(size, size, 2)
    radius = grid.norm(dim=-1)
    centre = torch.tensor([math.cos(angle), math.sin(angle)]) * 0.5
    blob = torch.exp(-((grid - centre) ** 2).sum(-1) / 0.01)
    return (0.25 * (radius < 0.95) + blob).clamp(max=1.0).reshape(1, 1, size, size)


def test_moments_about_the_centre_turn_without_moving():
    """About the image centre: no translation, and the rotation follows the blob round the
    wafer, so un-posing puts every blob at the same place, still half-way to the edge."""
    rotations, canonical = [], []
    for angle in (0.3, 1.7, 4.0):
        image = _wafer_with_blob(angle)
        rotation, translation = moment_pose(image, about_centre=True)
        assert torch.equal(translation, torch.zeros(1, 2))
        rotations.append(float(rotation))
        canonical.append(transform_images(image, -rotation))
    turns = np.diff(rotations)
    np.testing.assert_allclose(np.remainder(turns, 2 * math.pi), [1.4, 2.3], atol=0.05)
    blobs = [centre_of_mass((image - 0.3).clamp_min(0)) for image in canonical]  # the blob alone
    for blob in blobs:
        torch.testing.assert_close(blob, blobs[0], atol=0.03, rtol=0)  # every blob at one place
    assert 0.4 < float(blobs[0].norm()) < 0.6  # still half-way out: about the centre of mass it would be at 0


def test_the_pose_of_a_colour_image_is_that_of_its_channel_mean():
    images, _, _ = posed_copies()
    colour = torch.cat([images, 0.5 * images.roll(3, dims=-1), images.flip(-2)], dim=1)  # (B, 3, H, W)
    for ours, of_the_mean in zip(moment_pose(colour), moment_pose(colour.mean(dim=1, keepdim=True)), strict=True):
        torch.testing.assert_close(ours, of_the_mean, atol=1e-6, rtol=0)
    # three equal channels: the grey image's pose (their mean is exact in float64)
    for ours, grey in zip(moment_pose(images.expand(-1, 3, -1, -1)), moment_pose(images), strict=True):
        assert torch.equal(ours, grey)
    assert canonicalise(colour).shape == colour.shape
