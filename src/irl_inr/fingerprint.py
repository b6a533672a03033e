"""Fingerprints of what a result depends on: 12 hex digits of a sha256 over arrays,
tensors, state dicts and plain settings. They name checkpoints (one file per identity)
and record, in a saved model's config, which images and which model it was trained from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def digest(*parts: Any) -> str:
    """12 hex digits of a sha256 over ``parts`` (mappings by sorted key, sequences in order)."""
    hasher = hashlib.sha256()
    for part in parts:
        _feed(hasher, part)
    return hasher.hexdigest()[:12]


def _feed(hasher, part: Any) -> None:
    if isinstance(part, torch.Tensor):
        tensor = part.detach().to("cpu").contiguous()
        hasher.update(f"tensor{list(tensor.shape)}{tensor.dtype}".encode())
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(part, np.ndarray):
        array = np.ascontiguousarray(part)
        hasher.update(f"array{list(array.shape)}{array.dtype}".encode())
        hasher.update(array.tobytes())
    elif isinstance(part, Mapping):
        hasher.update(b"{")
        for key in sorted(part, key=str):
            hasher.update(json.dumps(str(key)).encode())
            _feed(hasher, part[key])
        hasher.update(b"}")
    elif isinstance(part, list | tuple):
        hasher.update(b"[")
        for item in part:
            _feed(hasher, item)
        hasher.update(b"]")
    else:
        hasher.update(json.dumps(part, default=str).encode())
