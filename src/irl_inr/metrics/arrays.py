"""The metrics' inputs: numpy views of arrays or torch tensors, checked, with errors that
name the argument; rows scaled to unit length."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(value: Any, name: str) -> np.ndarray:
    """numpy view of an array-like or torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        value = value.detach().cpu()
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        value = value.numpy()
    try:
        array = np.asarray(value)
    except Exception as error:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} could not be converted to an array: {error}") from error
    if array.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got an object array")
    return array


def label_array(value: Any, name: str, min_samples: int = 1) -> np.ndarray:
    array = as_numpy(value, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples, got {array.shape[0]}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if array.dtype.kind not in "biufUS":
        raise TypeError(f"{name} must hold integer or string labels, got dtype {array.dtype}")
    return array


def feature_matrix(value: Any, name: str, ndim: int = 2, min_samples: int = 1) -> np.ndarray:
    array = as_numpy(value, name)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.shape[-2 if ndim >= 2 else 0] < min_samples:
        raise ValueError(
            f"{name} needs at least {min_samples} samples, got shape {array.shape}"
        )
    if ndim >= 2 and array.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one feature column, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def check_same_length(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} and {b_name} must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )


def unit_rows(codes: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero (cosine 0 to everything)."""
    codes = np.asarray(codes, dtype=dtype)
    norms = np.linalg.norm(codes, axis=-1, keepdims=True)
    return codes / np.where(norms > 0, norms, 1).astype(dtype)
