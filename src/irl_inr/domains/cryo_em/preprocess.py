"""Particle images -> the model's input: float32 (N, S, S) in [0, 1], background ~0,
particle bright.

Steps (each a function, :func:`preprocess_stack` runs them in order):

1. **downsample** to the working size ``S`` by Fourier cropping (keeps the band below the
   new Nyquist frequency, no aliasing) or area averaging;
2. **normalise** each particle: zero mean and unit variance over a background ring, the
   pixels farther than ``background_radius`` (fraction of half the box) from the centre;
   a ring with no variance (noise-free data) uses the whole image's standard deviation
   instead, and the count is logged;
3. **contrast**: density must be bright.  ``bright`` keeps the sign, ``dark`` flips it,
   ``auto`` flips it when the stack's mean over the central disc is below its mean over
   the ring (decided once for the whole stack, logged);
4. **map** to [0, 1]: ``clip((x - floor_sigma) / (ceiling_sigma - floor_sigma), 0, 1)``,
   i.e. background noise below ``floor_sigma`` standard deviations becomes 0 and density
   at ``ceiling_sigma`` or more becomes 1;
5. optional **circular mask** of radius ``mask_radius`` (fraction of half the box):
   zero outside.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from irl_inr.domains.domain import RawImageBatch

logger = logging.getLogger(__name__)

DOWNSAMPLING_METHODS = ("fourier", "area")
CONTRASTS = ("auto", "bright", "dark")


def radial_distance(size: int) -> np.ndarray:
    """(size, size) distance of each pixel centre from the image centre, in units of half
    the box (1.0 = the inscribed circle)."""
    axis = (np.arange(size) * 2 + 1) / size - 1.0
    return np.sqrt(axis[None, :] ** 2 + axis[:, None] ** 2)


def fourier_crop(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, H) -> (N, size, size) keeping the lowest ``size`` frequencies per axis; the
    mean of each image is kept."""
    height = images.shape[-1]
    if size == height:
        return images.astype(np.float32)
    spectrum = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
    start = height // 2 - size // 2
    cropped = spectrum[:, start : start + size, start : start + size]
    scale = (size / height) ** 2
    return (np.fft.ifft2(np.fft.ifftshift(cropped, axes=(-2, -1))).real * scale).astype(np.float32)


def downsample(images: np.ndarray, size: int, method: str) -> np.ndarray:
    """(N, H, H) -> (N, size, size) with ``size <= H`` by ``fourier`` cropping or ``area``
    averaging."""
    if method not in DOWNSAMPLING_METHODS:
        raise ValueError(f"downsample: method must be one of {DOWNSAMPLING_METHODS}, got {method!r}")
    height = images.shape[-1]
    if size > height:
        raise ValueError(f"downsample: cannot downsample {height}-pixel images to {size} pixels")
    if method == "fourier":
        return fourier_crop(images, size)
    resized = F.interpolate(torch.from_numpy(np.ascontiguousarray(images, np.float32))[:, None], size=size, mode="area")
    return resized[:, 0].numpy()


def normalise_by_background(images: np.ndarray, background_radius: float) -> np.ndarray:
    """Per image: subtract the mean and divide by the standard deviation of the pixels
    outside ``background_radius`` (see the module doc for flat rings)."""
    ring = radial_distance(images.shape[-1]) > background_radius
    if ring.sum() < 4:
        raise ValueError(f"normalise_by_background: background_radius {background_radius} leaves "
                         f"{int(ring.sum())} background pixels in a {images.shape[-1]}-pixel image")
    values = images.astype(np.float64)
    background = values[:, ring]  # (N, ring pixels)
    mean = background.mean(axis=1)
    spread = background.std(axis=1)
    whole = values.reshape(len(values), -1).std(axis=1)
    flat = spread <= 1e-6 * np.maximum(whole, 1e-30)
    if flat.any():
        logger.info("%d of %d particles have a flat background ring; scaled by the whole image's spread",
                    int(flat.sum()), len(images))
    scale = np.where(flat, whole, spread)
    if not (scale > 0).all():
        blank = int(np.flatnonzero(~(scale > 0))[0])
        raise ValueError(f"normalise_by_background: image {blank} is constant; there is no particle in it")
    return ((values - mean[:, None, None]) / scale[:, None, None]).astype(np.float32)


def contrast_sign(images: np.ndarray, background_radius: float, contrast: str) -> int:
    """+1 to keep, -1 to flip the stack so that density is bright (see the module doc)."""
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    if contrast != "auto":
        return 1 if contrast == "bright" else -1
    distance = radial_distance(images.shape[-1])
    centre = float(images[:, distance <= background_radius / 2].mean())
    ring = float(images[:, distance > background_radius].mean())
    sign = 1 if centre >= ring else -1
    logger.info("contrast auto: mean %.3f in the centre vs %.3f in the ring -> %s", centre, ring,
                "kept (density bright)" if sign > 0 else "flipped (density was dark)")
    return sign


def to_unit_range(images: np.ndarray, floor_sigma: float, ceiling_sigma: float) -> np.ndarray:
    """Normalised images -> [0, 1] (see the module doc)."""
    return np.clip((images - floor_sigma) / (ceiling_sigma - floor_sigma), 0.0, 1.0).astype(np.float32)


def preprocess_stack(
    images: np.ndarray,
    image_size: int,
    method: str,
    background_radius: float,
    contrast: str,
    floor_sigma: float,
    ceiling_sigma: float,
    mask_radius: float | None,
) -> np.ndarray:
    """Raw particles (N, H, H) -> model input float32 (N, S, S) in [0, 1]."""
    small = downsample(images, image_size, method)
    normalised = normalise_by_background(small, background_radius)
    normalised *= contrast_sign(normalised, background_radius, contrast)
    mapped = to_unit_range(normalised, floor_sigma, ceiling_sigma)
    if mask_radius is not None:
        mapped *= radial_distance(image_size) <= mask_radius
    return mapped


def prepare_images(batch: RawImageBatch, front_end: dict) -> np.ndarray:
    """New particles -> the model's input through :func:`preprocess_stack` with the
    ``cryo_em.preprocessing`` settings that ``front_end`` holds (as ingestion applies them)."""
    return preprocess_stack(
        np.asarray(batch.pixels, dtype=np.float32), front_end["image_size"], front_end["downsampling"],
        front_end["background_radius"], front_end["contrast"], front_end["floor_sigma"],
        front_end["ceiling_sigma"], front_end["mask_radius"],
    )
