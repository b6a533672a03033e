import numpy as np
import pytest

from irl_inr.domains.cryo_em.preprocess import (
    downsample,
    normalise_by_background,
    preprocess_stack,
    radial_distance,
)


def _disc_particles(sign: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(20, 48, 48))
    images[:, radial_distance(48) < 0.3] += sign * 5.0
    return images.astype(np.float32)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_particles_come_out_bright_in_unit_range(sign):
    images = preprocess_stack(_disc_particles(sign), 16, "fourier", 0.8, "auto", 1.0, 6.0, 1.0)
    assert images.shape == (20, 16, 16) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    distance = radial_distance(16)
    assert images[:, distance < 0.2].mean() > 0.3 > 0.05 > images[:, distance > 0.8].mean()
    assert (images[:, distance > 1.0] == 0).all()


def test_explicit_contrast_is_obeyed():
    dark = _disc_particles(-1.0)
    kept = preprocess_stack(dark, 16, "area", 0.8, "bright", 1.0, 6.0, None)
    assert kept[:, radial_distance(16) < 0.2].mean() < 0.05


def test_downsampling_keeps_the_mean_and_rejects_upsampling():
    images = np.random.default_rng(1).uniform(size=(3, 32, 32)).astype(np.float32)
    for method in ("fourier", "area"):
        small = downsample(images, 16, method)
        np.testing.assert_allclose(small.mean(axis=(1, 2)), images.mean(axis=(1, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="cannot downsample 32-pixel images to 40"):
        downsample(images, 40, "fourier")


def test_noise_free_particles_use_the_whole_image_spread(caplog):
    images = np.zeros((2, 16, 16), np.float32)
    images[:, 6:10, 6:10] = 3.0
    with caplog.at_level("INFO"):
        normalised = normalise_by_background(images, 0.8)
    assert "2 of 2 particles have a flat background ring" in caplog.text
    assert normalised[:, 0, 0].tolist() == [0.0, 0.0] and normalised.max() > 1
    with pytest.raises(ValueError, match="image 0 is constant"):
        normalise_by_background(np.ones((1, 16, 16), np.float32), 0.8)
