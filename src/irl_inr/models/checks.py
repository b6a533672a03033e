"""Argument checks of the clustering models (SCAN, self-labelling, DTI): each returns the
checked value or raises an error that names the argument."""

from __future__ import annotations

import math
from typing import Any

import torch

from irl_inr.parameters import is_int


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value``, an integer of at least ``minimum``; else a ``ValueError`` naming ``name``."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def non_negative_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def probability(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_probability_matrix(value: Any, name: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dim() != 2 or value.shape[0] < 1 or value.shape[1] < 1:
        raise ValueError(f"{name} must have shape (B, K) with B, K >= 1, got {tuple(value.shape)}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {value.dtype}")


def check_images(images: Any, name: str, min_count: int = 1) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {images.dtype}")
    if images.dim() < 2 or images.shape[0] < min_count:
        raise ValueError(f"{name} must hold at least {min_count} samples along dim 0, got shape {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return images


def finite_number(value: Any, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def check_image_batch(images: Any, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {images.dtype}")
    if images.dim() != 4 or images.shape[0] < 1:
        raise ValueError(f"{name} must have shape (N, C, H, W) with N >= 1, got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return images
