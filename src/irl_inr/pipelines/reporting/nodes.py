"""Reporting nodes."""

from __future__ import annotations

import math
from collections.abc import Mapping


def flatten_metrics(prefix: str, metrics: Mapping) -> dict[str, float]:
    """``{"kmeans_z": {"acc": 0.5}}`` with prefix ``mnist_u`` -> ``{"mnist_u.kmeans_z.acc": 0.5}``.
    Only numbers are kept; a NaN is an error (DVC and JSON readers choke on it)."""
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(name, value))
        elif isinstance(value, bool):
            flat[name] = int(value)
        elif isinstance(value, int | float):
            if not math.isfinite(value):
                raise ValueError(f"metric {name} is {value}")
            flat[name] = value
    return flat


def merge_metrics(domain: str, *stage_metrics: Mapping) -> dict[str, float]:
    """Every stage's metrics as one flat, sorted mapping with keys ``<domain>.<measure>``."""
    merged: dict[str, float] = {}
    for metrics in stage_metrics:
        for key, value in flatten_metrics(domain, metrics).items():
            if key in merged:
                raise ValueError(f"metric {key} is reported by two stages")
            merged[key] = value
    return dict(sorted(merged.items()))
