"""Simulated particle images: projections of a 3-D density at chosen poses, optionally
modulated by a CTF, with Gaussian noise at a chosen SNR.

Projection (see ``rotations`` for the convention): ``image(p) = sum_z volume(A^T (p - shift, z))``,
sampled trilinearly with ``grid_sample`` at one depth sample per voxel, so the in-plane
rotation and the shift are part of the one interpolation.  Coordinates are about a centre
that is, by default, the middle of the box (``(D - 1) / 2`` in pixel indices, the
project's ``geometry`` convention), or pixel ``D // 2`` (``centre="fft"``, RELION's and
cryoDRGN's convention; the toy-projection test uses it).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from irl_inr.domains.cryo_em.rotations import (
    direction_to_rot_tilt,
    reference_directions,
    relion_euler_to_matrix,
    rotation_radians_to_psi,
)

CENTRES = ("middle", "fft")


def gaussian_blob_phantom(
    size: int, blobs: int, min_sigma: float, max_sigma: float, spread: float, seed: int
) -> np.ndarray:
    """A seeded density of ``blobs`` anisotropic 3-D Gaussians, float32 ``(size,)*3`` in
    [0, 1], indexed ``[z, y, x]``, its centre of mass at the middle of the box.

    Lengths are in units of half the box: each blob has three axis widths drawn uniformly in
    ``[min_sigma, max_sigma]``, a random orientation, an amplitude in [0.5, 1] and a centre
    drawn uniformly in the ball of radius ``spread``."""
    rng = np.random.default_rng(seed)
    axis = (np.arange(size) * 2 + 1) / size - 1.0
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    points = np.stack([x, y, z], axis=-1).reshape(-1, 3)  # (size³, 3) as (x, y, z)
    density = np.zeros(len(points))
    for _ in range(blobs):
        direction = rng.normal(size=3)
        centre = direction / np.linalg.norm(direction) * spread * rng.uniform() ** (1 / 3)
        orientation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        widths = rng.uniform(min_sigma, max_sigma, size=3)
        local = (points - centre) @ orientation / widths  # (size³, 3) in the blob's own axes
        density += rng.uniform(0.5, 1.0) * np.exp(-0.5 * np.sum(local**2, axis=1))
    density = density.reshape(size, size, size)
    mass_centre = np.array([np.sum(density * grid) for grid in (x, y, z)]) / density.sum()
    shifted = torch.from_numpy(density)[None, None].float()
    grid = torch.from_numpy(np.stack([x, y, z], axis=-1) + mass_centre)[None].float()
    density = F.grid_sample(shifted, grid, align_corners=False, padding_mode="zeros")[0, 0].numpy()
    return (density / density.max()).astype(np.float32)


def draw_views(
    count: int, views: int | None, jitter_degrees: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Viewing directions (count, 3) and their view index (count,) int64.

    ``views`` = K: K reference directions spread on the sphere
    (:func:`~irl_inr.domains.cryo_em.rotations.reference_directions`), the same number of images
    per direction (±1, shuffled), each direction tilted by a Gaussian angle of
    ``jitter_degrees`` standard deviation per tangent axis; the index is the direction's.
    ``views`` = None: directions uniform on the sphere and no index."""
    if views is None:
        directions = rng.normal(size=(count, 3))
        return directions / np.linalg.norm(directions, axis=1, keepdims=True), None
    labels = rng.permutation(np.arange(count) % views).astype(np.int64)
    directions = reference_directions(views)[labels]
    tilt = rng.normal(size=(count, 3)) * math.radians(jitter_degrees)
    tilt -= np.sum(tilt * directions, axis=1, keepdims=True) * directions  # tangent to the sphere
    directions = directions + tilt
    return directions / np.linalg.norm(directions, axis=1, keepdims=True), labels


def draw_poses(
    count: int,
    views: int | None,
    jitter_degrees: float,
    max_shift_pixels: float,
    seed: int,
) -> dict[str, np.ndarray | None]:
    """Seeded poses: a viewing direction and view index (:func:`draw_views`), an in-plane
    rotation uniform in [0, 2π) (the project's ``rotation_radians``) and a shift uniform in
    ``[-max, max]²`` pixels; also RELION's angles and the pose matrices (count, 3, 3)."""
    rng = np.random.default_rng(seed)
    directions, labels = draw_views(count, views, jitter_degrees, rng)
    rotation = rng.uniform(0.0, 2 * math.pi, size=count)
    shift = rng.uniform(-max_shift_pixels, max_shift_pixels, size=(count, 2))
    rot, tilt = direction_to_rot_tilt(directions)
    psi = rotation_radians_to_psi(rotation)
    return {
        "view_index": labels,
        "directions": directions,
        "angle_rot_degrees": rot,
        "angle_tilt_degrees": tilt,
        "angle_psi_degrees": psi,
        "rotation_radians": rotation,
        "shift_pixels": shift,
        "pose_matrices": relion_euler_to_matrix(rot, tilt, psi),
    }


def project_volume(
    volume: np.ndarray,
    pose_matrices: np.ndarray,
    shift_pixels: np.ndarray | None = None,
    centre: str = "middle",
    batch_size: int = 16,
) -> np.ndarray:
    """Projections float32 (N, D, D) of a cubic volume (D, D, D) ``[z, y, x]`` at pose
    matrices (N, 3, 3), each shifted by ``shift_pixels`` (N, 2) (x, y) after rotation."""
    if centre not in CENTRES:
        raise ValueError(f"project_volume: centre must be one of {CENTRES}, got {centre!r}")
    size = volume.shape[0]
    if volume.shape != (size, size, size):
        raise ValueError(f"project_volume: the volume must be cubic, got shape {volume.shape}")
    count = len(pose_matrices)
    shift_pixels = np.zeros((count, 2)) if shift_pixels is None else np.asarray(shift_pixels)
    axis = (torch.arange(size, dtype=torch.float32) * 2 + 1) / size - 1  # pixel centres, normalised
    origin = 0.0 if centre == "middle" else float(axis[size // 2])
    z, y, x = torch.meshgrid(axis - origin, axis - origin, axis - origin, indexing="ij")
    points = torch.stack([x, y, z], dim=-1)  # (D[z], D[y], D[x], 3) about the centre
    density = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
    pieces = []
    for start in range(0, count, batch_size):
        matrices = torch.from_numpy(np.asarray(pose_matrices[start : start + batch_size], dtype=np.float32))
        shift = torch.from_numpy(np.asarray(shift_pixels[start : start + batch_size], dtype=np.float32)) * (2 / size)
        moved = points.unsqueeze(0) - torch.cat([shift, torch.zeros(len(shift), 1)], 1)[:, None, None, None, :]
        # sample at A^T q for each point q = (p - shift, z): q @ A = (A^T q)^T row by row
        sample_at = torch.einsum("bdhwj,bjk->bdhwk", moved, matrices) + origin
        values = F.grid_sample(
            density.expand(len(matrices), -1, -1, -1, -1), sample_at, align_corners=False, padding_mode="zeros"
        )  # (B, 1, D[z], D[y], D[x])
        pieces.append(values.sum(dim=2)[:, 0])
    return torch.cat(pieces).numpy()


def electron_wavelength_angstrom(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å at an acceleration voltage in kV."""
    volts = voltage_kv * 1e3
    return 12.2643247 / math.sqrt(volts * (1 + 0.978466e-6 * volts))


def ctf_images(
    size: int,
    pixel_size_angstrom: float,
    defocus_angstrom: np.ndarray,
    voltage_kv: float,
    spherical_aberration_mm: float,
    amplitude_contrast: float,
) -> np.ndarray:
    """Contrast transfer functions (N, size, size) in ``numpy.fft.fft2`` layout, one per
    defocus (Å, underfocus positive, no astigmatism):
    ``CTF(k) = -sin(pi λ Δf k² - pi/2 Cs λ³ k⁴ + arcsin(amplitude_contrast))``,
    negative at low frequency, so density comes out dark as in micrographs."""
    wavelength = electron_wavelength_angstrom(voltage_kv)
    frequency = np.fft.fftfreq(size, d=pixel_size_angstrom)  # 1/Å
    squared = frequency[None, :] ** 2 + frequency[:, None] ** 2  # (size, size)
    defocus = np.asarray(defocus_angstrom, dtype=np.float64)[:, None, None]
    aberration = spherical_aberration_mm * 1e7  # Å
    phase = math.pi * wavelength * defocus * squared - 0.5 * math.pi * aberration * wavelength**3 * squared**2
    return -np.sin(phase + math.asin(amplitude_contrast))


def apply_ctf(images: np.ndarray, ctf: np.ndarray) -> np.ndarray:
    """Images (N, S, S) filtered by CTFs (N, S, S) in ``fft2`` layout."""
    return np.fft.ifft2(np.fft.fft2(images) * ctf).real.astype(np.float32)


def add_noise(
    images: np.ndarray, footprints: np.ndarray, snr: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Add white Gaussian noise so that, per image, the variance of the signal over the
    particle's footprint (a boolean (N, S, S) mask) divided by the noise variance is
    ``snr``.  Returns the noisy images and the noise standard deviation per image."""
    signal = np.where(footprints, images, np.nan).reshape(len(images), -1)
    noise_std = np.sqrt(np.nanvar(signal, axis=1) / snr)
    noisy = images + rng.normal(size=images.shape) * noise_std[:, None, None]
    return noisy.astype(np.float32), noise_std
