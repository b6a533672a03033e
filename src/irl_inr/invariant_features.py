"""Closed-form rotation-invariant features of centred images: the bar a learned code must
clear on domains whose images are centred (wafer maps, cryo-EM particles).

Each image is resampled on a polar grid about the image centre (rings of equal width out
to the inscribed circle, ``angles`` samples per ring, bilinear), and then

* :func:`radial_profile`: the mean intensity of every ring (``rings`` numbers per
  channel), exactly invariant to a rotation about the centre;
* :func:`angular_spectrum`: the magnitudes of the Fourier transform of every ring along
  the angle, frequencies ``0 .. frequencies`` (``rings x (frequencies + 1)`` numbers per
  channel).  A
  rotation shifts each ring along the angle, which changes only the phases, so the
  magnitudes are invariant too; frequency 0 is the radial profile, frequency 1 says how
  lopsided a ring is (a local defect against a full ring), 2 how elongated (a scratch).

:data:`FEATURES` names them; :func:`closed_form_features` computes one by name for a stack
of images, each channel's numbers one after the other (channel-major), and
:func:`feature_table` lays them out as a table (the catalog's
``<domain>.closed_form_features``).  The stages compare them :func:`standardised`.  Pixels
canonicalised by their moments (:func:`irl_inr.moments.canonicalise`) and raw pixels are
the other closed-form inputs the stages measure; they are not here because they are not
resampled on rings.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

FEATURES = ("radial_profile", "angular_spectrum")
# Images per block of the polar resampling (bounds the working memory to about
# block x rings x angles floats).
_CHUNK = 512


def polar_resample(images: np.ndarray | torch.Tensor, rings: int, angles: int) -> np.ndarray:
    """Images (N, H, W) (one channel) or (N, C, H, W) -> float32 (N, C, rings, angles): the
    intensity of every channel at radius ``(i + 0.5) / rings`` (normalised, 1 = the
    inscribed circle) and angle ``2 pi j / angles`` about the image centre, bilinear
    between pixel centres."""
    data = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if data.dim() == 3:
        data = data.unsqueeze(1)
    if data.dim() != 4:
        raise ValueError(f"images must have shape (N, H, W) or (N, C, H, W), got {tuple(data.shape)}")
    if not torch.isfinite(data).all():
        raise ValueError("images hold NaN or infinite values")
    if not (isinstance(rings, int) and rings >= 1 and isinstance(angles, int) and angles >= 4):
        raise ValueError(f"rings must be >= 1 and angles >= 4, got rings = {rings!r}, angles = {angles!r}")
    radius = (torch.arange(rings, dtype=torch.float32) + 0.5) / rings  # (R,)
    theta = torch.arange(angles, dtype=torch.float32) * (2 * math.pi / angles)  # (A,)
    grid = torch.stack(
        [radius[:, None] * torch.cos(theta)[None, :], radius[:, None] * torch.sin(theta)[None, :]], dim=-1
    )  # (R, A, 2) as (x, y), the convention of irl_inr.geometry
    blocks = []
    for start in range(0, len(data), _CHUNK):
        block = data[start : start + _CHUNK]
        sampled = F.grid_sample(
            block, grid.expand(len(block), -1, -1, -1), mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (b, C, R, A)
        blocks.append(sampled)
    if not blocks:
        return np.zeros((0, data.shape[1], rings, angles), dtype=np.float32)
    return torch.cat(blocks).numpy()


def radial_profile(images: np.ndarray | torch.Tensor, rings: int = 16, angles: int = 64) -> np.ndarray:
    """The mean intensity on each of ``rings`` rings about the centre, per channel:
    (N, C * rings) float32, channel-major (C = 1 for (N, H, W) images)."""
    return _flattened(polar_resample(images, rings, angles).mean(axis=-1))


def angular_spectrum(
    images: np.ndarray | torch.Tensor, rings: int = 16, angles: int = 64, frequencies: int = 4
) -> np.ndarray:
    """|Fourier coefficient| of every ring along the angle for frequencies 0..``frequencies``,
    divided by the number of angles (so frequency 0 is the ring's mean), per channel: (N, C *
    rings * (frequencies + 1)) float32, channel-major, then ring-major."""
    if not (isinstance(frequencies, int) and 0 <= frequencies <= angles // 2):
        raise ValueError(f"frequencies must be an integer in [0, angles / 2 = {angles // 2}], got {frequencies!r}")
    polar = polar_resample(images, rings, angles)
    spectrum = np.abs(np.fft.rfft(polar, axis=-1))[..., : frequencies + 1] / angles  # (N, C, R, F + 1)
    return _flattened(spectrum).astype(np.float32)


def _flattened(values: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, features) in the order of the axes (also for N = 0)."""
    return values.reshape(len(values), math.prod(values.shape[1:]))


def closed_form_features(
    name: str, images: np.ndarray | torch.Tensor, rings: int = 16, angles: int = 64, frequencies: int = 4
) -> np.ndarray:
    """The feature ``name`` of :data:`FEATURES` for every image, (N, features) float32."""
    if name == "radial_profile":
        return radial_profile(images, rings, angles)
    if name == "angular_spectrum":
        return angular_spectrum(images, rings, angles, frequencies)
    raise ValueError(f"unknown closed-form feature {name!r}; known: {list(FEATURES)}")


def feature_table(
    images: np.ndarray, image_ids: np.ndarray, names: list[str], rings: int, angles: int, frequencies: int
) -> pd.DataFrame:
    """One row per image: ``image_id`` and, for every feature of ``names``, its columns
    ``<name>_000``, ``<name>_001``, ... (read back with :func:`feature_columns`)."""
    columns: dict[str, np.ndarray] = {"image_id": np.asarray(image_ids, dtype=np.int64)}
    for name in names:
        values = closed_form_features(name, images, rings, angles, frequencies)
        columns.update({f"{name}_{index:03d}": values[:, index] for index in range(values.shape[1])})
    return pd.DataFrame(columns)


def feature_names(table: pd.DataFrame) -> list[str]:
    """The features of a :func:`feature_table`, in the order of its columns."""
    names = [column.rsplit("_", 1)[0] for column in table.columns if column != "image_id"]
    return list(dict.fromkeys(names))


def feature_columns(table: pd.DataFrame, name: str) -> np.ndarray:
    """The values (N, features) float32 of feature ``name`` in a :func:`feature_table`."""
    columns = [column for column in table.columns if column.rsplit("_", 1)[0] == name]
    if not columns:
        raise ValueError(f"the closed-form feature table holds no feature {name!r}; it holds {feature_names(table)}")
    return table[columns].to_numpy(dtype=np.float32)


def standardised(features: np.ndarray) -> np.ndarray:
    """Each column scaled to mean 0 and standard deviation 1 over the rows (constant columns
    to 0): how the closed-form features are compared, so that rings of little variance
    weigh as much as the bright ones."""
    features = np.asarray(features, dtype=np.float64)
    spread = features.std(axis=0)
    return ((features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)).astype(np.float32)
