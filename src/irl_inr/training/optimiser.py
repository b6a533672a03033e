"""Adam's parameter groups of a model: its own declared groups, or every trainable parameter."""

from __future__ import annotations

import math
from typing import Any

from torch import nn


def optimiser_groups(model: nn.Module, learning_rate: float) -> list[dict[str, Any]]:
    """Adam's parameter groups for ``model``: its ``optimiser_groups()`` (each group's
    ``learning_rate_scale`` times ``learning_rate``) or one group of every parameter
    that requires a gradient. Empty groups are dropped; none left raises."""
    name = type(model).__name__
    declared = getattr(model, "optimiser_groups", None)
    if declared is None:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "learning_rate_scale": 1.0}]
    else:
        groups = list(declared())
    built, seen = [], set()
    for group in groups:
        params = [p for p in group["params"] if p.requires_grad]
        scale = group.get("learning_rate_scale", 1.0)
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"{name}.optimiser_groups: learning_rate_scale must be a positive number, got {scale!r}")
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}.optimiser_groups: a parameter is in more than one group")
        seen.update(id(p) for p in params)
        if params:
            built.append({"params": params, "lr": learning_rate * float(scale)})
    if not built:
        raise ValueError(f"{name} has no trainable parameters")
    return built
