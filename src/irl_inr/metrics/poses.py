"""Pose errors: rotation (degrees, up to a global offset) and translation (pixels)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from irl_inr.metrics.arrays import as_numpy, check_same_length, feature_matrix


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Wrap radians to (-pi, pi]."""
    return angle - 2 * np.pi * np.ceil((angle - np.pi) / (2 * np.pi))


def _angles(value: Any, name: str) -> np.ndarray:
    array = as_numpy(value, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (N,), got shape {array.shape}")
    if array.shape[0] < 1:
        raise ValueError(f"{name} needs at least 1 sample, got 0")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array.astype(np.float64)


def _circular_median(angles: np.ndarray, max_candidates: int = 2048) -> float:
    """The angle minimising the summed arc distance to ``angles`` (radians).

    The objective is piecewise linear with its minimum at a data point, so the data
    points are the candidates; above ``max_candidates`` points, evenly spaced order
    statistics of them are used (approximate to within their spacing)."""
    angles = _wrap(angles)
    candidates = np.sort(angles)
    if candidates.shape[0] > max_candidates:
        pick = np.linspace(0, candidates.shape[0] - 1, max_candidates).round().astype(int)
        candidates = candidates[pick]
    best, best_cost = 0.0, np.inf
    step = max(1, (1 << 22) // angles.shape[0])  # ~4M residuals per block
    for start in range(0, candidates.shape[0], step):
        block = candidates[start : start + step]
        cost = np.abs(_wrap(angles[None, :] - block[:, None])).sum(axis=1)
        position = int(np.argmin(cost))
        if cost[position] < best_cost:
            best, best_cost = float(block[position]), float(cost[position])
    return best


def rotation_offset(true_rotation: Any, predicted_rotation: Any, align: str = "median") -> float:
    """Global offset ``c`` (radians, in (-pi, pi]) with ``predicted ≈ true + c``.

    ``align="median"``: circular median of ``predicted - true`` (robust to a share
    of gross errors, e.g. 180° flips); ``"mean"``: circular mean (direction of the
    mean unit vector; 0 if that vector vanishes); ``"none"``: 0.
    """
    true = _angles(true_rotation, "true_rotation")
    predicted = _angles(predicted_rotation, "predicted_rotation")
    check_same_length(true, "true_rotation", predicted, "predicted_rotation")
    difference = _wrap(predicted - true)
    if align == "median":
        return float(_wrap(np.array(_circular_median(difference))))
    if align == "mean":
        s, c = np.sin(difference).mean(), np.cos(difference).mean()
        if math.hypot(s, c) < 1e-12:
            return 0.0
        return float(_wrap(np.array(math.atan2(s, c))))
    if align == "none":
        return 0.0
    raise ValueError(f"align must be 'median', 'mean' or 'none', got {align!r}")


def pose_error_degrees(
    true_rotation: Any, predicted_rotation: Any, align: str = "median"
) -> float:
    """Median absolute rotation error in degrees, up to the arbitrary canonical
    orientation.

    true_rotation, predicted_rotation: (N,) radians.  A model's canonical frame
    may differ from the data's by a fixed angle, so predictions are first aligned
    by the global offset of :func:`rotation_offset` (default: circular median of
    ``predicted - true``; ``align="none"`` when the frames are known to agree).
    The residuals are wrapped to (-180°, 180°] and the median of their absolute
    values is returned (in [0, 180]).  Mirror images are not considered.
    """
    true = _angles(true_rotation, "true_rotation")
    predicted = _angles(predicted_rotation, "predicted_rotation")
    check_same_length(true, "true_rotation", predicted, "predicted_rotation")
    offset = rotation_offset(true, predicted, align)
    residual = _wrap(predicted - true - offset)
    return float(np.degrees(np.median(np.abs(residual))))


def translation_error_pixels(
    true_translation: Any,
    predicted_translation: Any,
    image_size: int,
    align: str = "median",
    predicted_rotation: Any | None = None,
) -> float:
    """Median Euclidean translation error in pixels.

    true_translation, predicted_translation: (N, 2) normalised ``(x, y)``;
    ``image_size``: pixels per side (one pixel is ``2 / image_size``).

    A model's canonical frame may be shifted by some ``s`` relative to the data's;
    that is removed before measuring.  Without ``predicted_rotation`` the shift is
    taken as a constant offset, the coordinate-wise median (``align="median"``) or
    mean (``"mean"``) of ``predicted - true``.  A canonical frame shifted by ``s``
    shows up in an image posed with rotation ``r`` as the offset ``R(r) s``; pass
    ``predicted_rotation`` (N,) (radians) to estimate ``s`` as the median/mean of
    ``R(-r) (predicted - true)`` and subtract ``R(r) s`` per image.  ``"none"``:
    no alignment.
    """
    true = feature_matrix(true_translation, "true_translation")
    predicted = feature_matrix(predicted_translation, "predicted_translation")
    for name, array in (("true_translation", true), ("predicted_translation", predicted)):
        if array.shape[1] != 2:
            raise ValueError(f"{name} must have shape (N, 2), got {array.shape}")
    check_same_length(true, "true_translation", predicted, "predicted_translation")
    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if align not in ("median", "mean", "none"):
        raise ValueError(f"align must be 'median', 'mean' or 'none', got {align!r}")
    difference = predicted.astype(np.float64) - true.astype(np.float64)
    reduce = np.median if align == "median" else np.mean
    if align == "none":
        residual = difference
    elif predicted_rotation is None:
        residual = difference - reduce(difference, axis=0)
    else:
        angle = _angles(predicted_rotation, "predicted_rotation")
        check_same_length(true, "true_translation", angle, "predicted_rotation")
        cos, sin = np.cos(angle), np.sin(angle)
        # R(-r) d  with R(r) = [[cos, -sin], [sin, cos]].
        local = np.stack(
            [cos * difference[:, 0] + sin * difference[:, 1],
             -sin * difference[:, 0] + cos * difference[:, 1]],
            axis=1,
        )
        shift = reduce(local, axis=0)
        posed_shift = np.stack(
            [cos * shift[0] - sin * shift[1], sin * shift[0] + cos * shift[1]], axis=1
        )
        residual = difference - posed_shift
    distance = np.linalg.norm(residual, axis=1) * (image_size / 2.0)
    return float(np.median(distance))
