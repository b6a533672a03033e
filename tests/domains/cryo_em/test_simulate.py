import math

import numpy as np
import pytest
import torch

from irl_inr.domains.cryo_em.rotations import reference_directions, relion_euler_to_matrix
from irl_inr.metrics.directions import angle_between_degrees
from irl_inr.domains.cryo_em.simulate import (
    add_noise,
    ctf_images,
    draw_poses,
    gaussian_blob_phantom,
    project_volume,
)
from irl_inr.geometry import pixels_to_normalised, transform_images
from irl_inr.domains.cryo_em.mrc import read_particle_stack, read_volume
from irl_inr.io.safe_pickle import load_numpy_pickle


def _correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    a = first.reshape(len(first), -1) - first.reshape(len(first), -1).mean(1, keepdims=True)
    b = second.reshape(len(second), -1) - second.reshape(len(second), -1).mean(1, keepdims=True)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_projections_match_cryodrgn_toy_projections(shared_data):
    """The pickle's rotations are the pose matrices A (not A^T) about pixel D/2; its shifts
    were not applied to the stored projections (they agree exactly without them)."""
    folder = shared_data / "cryoem"
    rotations, shifts = load_numpy_pickle(folder / "toy_rot_trans.pkl")
    volume, _ = read_volume(folder / "toymodel_small_nocenter.mrc")
    chosen = np.arange(0, 1000, 50)
    reference = read_particle_stack(folder / "toy_projections.mrcs", chosen)
    projected = project_volume(volume, rotations[chosen], centre="fft")
    assert _correlation(projected, reference).min() > 0.9999
    transposed = project_volume(volume, rotations[chosen].transpose(0, 2, 1), centre="fft")
    assert _correlation(transposed, reference).mean() < 0.8
    shifted = project_volume(volume, rotations[chosen], shifts[chosen] * 30, centre="fft")
    assert _correlation(shifted, reference).mean() < 0.9


def test_in_plane_rotation_and_shift_follow_the_project_geometry():
    """Projecting at psi and shift equals the psi = 0 projection transformed by
    ``geometry.transform_images`` with rotation -psi (the project's rotation) and that shift."""
    volume = gaussian_blob_phantom(24, 4, 0.1, 0.25, 0.4, seed=3)
    psi = np.array([0.0, 40.0, -75.0, 180.0])
    shift = np.array([[0.0, 0.0], [2.0, -1.0], [-1.5, 0.5], [0.0, 3.0]])
    posed = project_volume(volume, relion_euler_to_matrix([20.0] * 4, [50.0] * 4, psi), shift)
    upright = project_volume(volume, relion_euler_to_matrix([20.0] * 4, [50.0] * 4, [0.0] * 4))
    moved = transform_images(torch.from_numpy(upright)[:, None], torch.from_numpy(-np.radians(psi)).float(),
                             pixels_to_normalised(torch.from_numpy(shift).float(), 24))[:, 0].numpy()
    assert _correlation(posed, moved).min() > 0.99


def test_phantom_is_seeded_and_centred():
    first = gaussian_blob_phantom(20, 5, 0.08, 0.2, 0.4, seed=1)
    assert np.array_equal(first, gaussian_blob_phantom(20, 5, 0.08, 0.2, 0.4, seed=1))
    assert not np.array_equal(first, gaussian_blob_phantom(20, 5, 0.08, 0.2, 0.4, seed=2))
    assert first.shape == (20, 20, 20) and first.max() == pytest.approx(1.0) and first.min() >= 0
    index = np.arange(20)
    centre = [np.sum(first.sum(axis=tuple(a for a in range(3) if a != axis)) * index) / first.sum() for axis in range(3)]
    np.testing.assert_allclose(centre, 9.5, atol=0.3)


def test_views_are_balanced_classes_with_the_chosen_jitter():
    poses = draw_poses(800, views=8, jitter_degrees=5.0, max_shift_pixels=2.0, seed=0)
    assert np.bincount(poses["view_index"]).tolist() == [100] * 8
    off = angle_between_degrees(poses["directions"], reference_directions(8)[poses["view_index"]])
    assert 4.0 < np.median(off) < 8.0  # Rayleigh with sigma 5 degrees: median 5.9
    assert np.abs(poses["shift_pixels"]).max() <= 2.0
    np.testing.assert_allclose(poses["pose_matrices"][:, 2, :], poses["directions"], atol=1e-9)
    assert draw_poses(10, views=None, jitter_degrees=0.0, max_shift_pixels=0.0, seed=0)["view_index"] is None


def test_ctf_is_negative_at_low_frequency_and_oscillates():
    ctf = ctf_images(64, 2.0, np.array([15000.0]), 300.0, 2.7, 0.1)[0]
    assert ctf[0, 0] == pytest.approx(-0.1)
    assert ctf.min() < -0.9 and ctf.max() > 0.9


def test_noise_has_the_requested_snr():
    rng = np.random.default_rng(0)
    clean = np.zeros((200, 16, 16), np.float32)
    clean[:, 4:12, 4:12] = rng.uniform(0, 2, size=(200, 8, 8))
    noisy, noise_std = add_noise(clean, clean > 0, 0.5, rng)
    signal_variance = clean[:, 4:12, 4:12].reshape(200, -1).var(axis=1)
    assert np.median(signal_variance / noise_std**2) == pytest.approx(0.5)
    assert (noisy - clean).std() == pytest.approx(math.sqrt(np.mean(noise_std**2)), rel=0.02)
