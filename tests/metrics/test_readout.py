"""The linear read-out: it finds what is linearly there, finds nothing in noise, and
refuses what it cannot measure."""

from __future__ import annotations

import numpy as np
import pytest

from irl_inr.metrics.readout import linear_probe_accuracy


def _blobs(separation: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(300) % 3
    centres = rng.normal(size=(3, 8)) * separation
    return centres[labels] + rng.normal(size=(300, 8)), labels


def test_separated_classes_are_read_out_and_noise_is_at_chance():
    features, labels = _blobs(separation=6.0)
    assert linear_probe_accuracy(features, labels) > 0.98
    noise = np.random.default_rng(1).normal(size=features.shape)
    assert abs(linear_probe_accuracy(noise, labels) - 1 / 3) < 0.1


def test_the_read_out_ignores_the_scale_of_each_column():
    """Columns are standardised on the training folds: a column a million times larger
    than the others counts no more for it."""
    features, labels = _blobs(separation=1.0)
    scaled = features * np.array([1e6, *[1.0] * 7])
    assert linear_probe_accuracy(scaled, labels) == pytest.approx(linear_probe_accuracy(features, labels), abs=0.01)


def test_the_same_seed_gives_the_same_accuracy():
    features, labels = _blobs(separation=1.0)
    assert linear_probe_accuracy(features, labels, seed=3) == linear_probe_accuracy(features, labels, seed=3)


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (np.zeros((6, 2)), np.zeros(6, dtype=int), "at least 2 label classes"),
        (np.zeros((12, 2)), np.array([0] * 9 + [1] * 3), "label 1 has 3 member"),
        (np.full((10, 2), np.nan), np.arange(10) % 2, "NaN"),
        (np.zeros((10, 2)), np.arange(9) % 2, "features"),
    ],
)
def test_what_cannot_be_measured_is_refused(features, labels, message):
    with pytest.raises(ValueError, match=message):
        linear_probe_accuracy(features, labels)
