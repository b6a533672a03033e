"""Closed-form rotation-invariant features: what they measure, that a rotation about the
centre leaves them unchanged, and that bad input is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from irl_inr.geometry import transform_images
from irl_inr.invariant_features import FEATURES, angular_spectrum, closed_form_features, polar_resample, radial_profile


def _disc_and_ring(size: int = 32) -> np.ndarray:
    """A centred disc of radius 0.3 and, in a second image, a ring between 0.6 and 0.8."""
    coordinates = (np.arange(size) + 0.5) / size * 2 - 1
    radius = np.hypot(coordinates[None, :], coordinates[:, None])
    return np.stack([(radius < 0.3), (radius > 0.6) & (radius < 0.8)]).astype(np.float32)


def _off_centre_blob(size: int = 32) -> np.ndarray:
    """A bright blob half-way to the edge on the right, (1, size, size)."""
    coordinates = (np.arange(size) + 0.5) / size * 2 - 1
    return np.exp(-((coordinates[None, :] - 0.5) ** 2 + coordinates[:, None] ** 2) / 0.02)[None].astype(np.float32)


def test_the_radial_profile_finds_a_disc_inside_and_a_ring_outside():
    profile = radial_profile(_disc_and_ring(), rings=10, angles=64)
    radii = (np.arange(10) + 0.5) / 10
    np.testing.assert_allclose(profile[0][radii < 0.25], 1.0, atol=1e-6)
    np.testing.assert_allclose(profile[0][radii > 0.35], 0.0, atol=1e-6)
    np.testing.assert_allclose(profile[1][(radii > 0.65) & (radii < 0.75)], 1.0, atol=1e-6)
    np.testing.assert_allclose(profile[1][radii < 0.55], 0.0, atol=1e-6)


def test_frequency_zero_is_the_radial_profile_and_one_sees_a_lopsided_ring():
    blob = _off_centre_blob()
    spectrum = angular_spectrum(blob, rings=8, angles=64, frequencies=3).reshape(8, 4)
    np.testing.assert_allclose(spectrum[:, 0], radial_profile(blob, rings=8, angles=64)[0], rtol=1e-5, atol=1e-7)
    ring = int(0.5 * 8)  # the ring through the blob
    assert spectrum[ring, 1] > 0.5 * spectrum[ring, 0]  # one-sided: strong first harmonic
    centred = angular_spectrum(_disc_and_ring(), rings=8, angles=64, frequencies=3).reshape(2, 8, 4)
    assert centred[..., 1:].max() < 1e-3 * centred[..., 0].max()  # round shapes: no harmonics


@pytest.mark.parametrize("name", FEATURES)
def test_a_rotation_about_the_centre_leaves_the_features_unchanged(name):
    blob = _off_centre_blob(48)
    turned = transform_images(torch.from_numpy(blob).unsqueeze(1), torch.tensor([2 * math.pi / 64 * 11]))  # 11 angle steps
    original = closed_form_features(name, blob, rings=12, angles=64)
    rotated = closed_form_features(name, turned.squeeze(1).numpy(), rings=12, angles=64)
    # A turn by whole angle steps moves every ring sample onto another: equal up to the
    # resampling of the rotated image itself.
    np.testing.assert_allclose(rotated, original, atol=0.02 * original.max())
    moved = closed_form_features(name, np.roll(blob, 6, axis=-1), rings=12, angles=64)  # a shift is not a rotation
    assert np.abs(moved - original).max() > 0.1 * original.max()


@pytest.mark.parametrize("name", FEATURES)
def test_every_channel_has_its_features_one_after_the_other(name):
    images = np.random.default_rng(0).random((5, 3, 16, 16)).astype(np.float32)
    per_channel = [closed_form_features(name, images[:, channel], 6, 32, 2) for channel in range(3)]
    np.testing.assert_array_equal(closed_form_features(name, images, 6, 32, 2), np.concatenate(per_channel, axis=1))
    np.testing.assert_array_equal(closed_form_features(name, images[:, :1], 6, 32, 2), per_channel[0])


def test_shapes_follow_the_settings():
    images = np.random.default_rng(0).random((5, 3, 16, 16)).astype(np.float32)
    assert polar_resample(images, 6, 32).shape == (5, 3, 6, 32)
    assert polar_resample(images[:, 0], 6, 32).shape == (5, 1, 6, 32)
    assert radial_profile(images, 6, 32).shape == (5, 18)
    assert angular_spectrum(images, 6, 32, 2).shape == (5, 54)
    assert closed_form_features("radial_profile", np.zeros((0, 16, 16), dtype=np.float32)).shape == (0, 16)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: radial_profile(np.full((2, 8, 8), np.nan)), "NaN"),
        (lambda: radial_profile(np.zeros((8, 8))), r"\(N, H, W\)"),
        (lambda: radial_profile(np.zeros((2, 8, 8)), rings=0), "rings"),
        (lambda: angular_spectrum(np.zeros((2, 8, 8)), angles=16, frequencies=9), "frequencies"),
        (lambda: closed_form_features("zernike", np.zeros((2, 8, 8))), "unknown closed-form feature 'zernike'"),
    ],
)
def test_bad_input_is_refused_with_a_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
