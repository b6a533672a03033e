"""DTI's transformation network: a small CNN that looks at an image and gives the hidden
features from which DTI's output layer predicts every prototype's transformation."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from irl_inr.models.checks import positive_int
from irl_inr.parameters import is_int


def transformation_network(in_channels: int, channels: Sequence[int], hidden: int) -> nn.Sequential:
    """(B, in_channels, H, W) -> (B, hidden): 3x3 stride-2 convolutions of ``channels``
    widths with ReLU, a 4x4 average pool and one hidden layer with ReLU."""
    if (
        isinstance(channels, (str, bytes))
        or not isinstance(channels, Sequence)
        or not channels
        or not all(is_int(width) and width >= 1 for width in channels)
    ):
        raise ValueError(f"channels must be a non-empty list of positive integers, got {channels!r}")
    hidden = positive_int(hidden, "hidden")
    layers: list[nn.Module] = []
    previous = in_channels
    for width in channels:
        layers += [nn.Conv2d(previous, width, 3, 2, 1), nn.ReLU(inplace=True)]
        previous = width
    layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(previous * 16, hidden), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)
