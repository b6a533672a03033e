"""Inference copies of trained modules with each batch norm folded into the convolution
before it.

In eval mode a batch norm is an affine map per channel, ``y = (x - mean) * g + beta``
with ``g = weight / sqrt(running_var + eps)``, so a convolution followed by it is one
convolution with weights ``w * g`` (per output channel) and bias ``(b - mean) * g + beta``.
The folded copy computes the same values up to float rounding (the products are formed
in float64 and rounded once) and skips one pass over every activation map.  The copy is
for inference only: it has no batch norms left to train.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold_batch_norm(convolution: nn.Conv2d, batch_norm: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution computing ``batch_norm(convolution(x))`` of the eval-mode batch
    norm (its running statistics); the inputs are left as they are."""
    if batch_norm.running_mean is None or batch_norm.running_var is None:
        raise ValueError("a batch norm without running statistics normalises by the batch: it cannot be folded")
    if batch_norm.num_features != convolution.out_channels:
        raise ValueError(
            f"the batch norm has {batch_norm.num_features} channels, the convolution {convolution.out_channels} outputs"
        )
    weight = convolution.weight.detach()
    with torch.no_grad():
        scale = torch.rsqrt(batch_norm.running_var.double() + batch_norm.eps)
        if batch_norm.weight is not None:
            scale = scale * batch_norm.weight.double()
        shift = -batch_norm.running_mean.double() * scale
        if convolution.bias is not None:
            shift = shift + convolution.bias.double() * scale
        if batch_norm.bias is not None:
            shift = shift + batch_norm.bias.double()
        folded = copy.deepcopy(convolution)
        folded.weight = nn.Parameter(
            (weight.double() * scale.reshape(-1, 1, 1, 1)).to(weight.dtype), requires_grad=False
        )
        folded.bias = nn.Parameter(shift.to(weight.dtype), requires_grad=False)
    return folded


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` in which every ``nn.Conv2d`` directly followed by an
    ``nn.BatchNorm2d`` (subclasses included) inside an ``nn.Sequential`` becomes one folded
    convolution and an ``nn.Identity``; the rest is copied as it is.  The original is not
    changed.  Its outputs equal those of ``module.eval()`` up to float rounding."""
    folded = copy.deepcopy(module).eval()
    for sequential in [part for part in folded.modules() if isinstance(part, nn.Sequential)]:
        for index in range(len(sequential) - 1):
            convolution, batch_norm = sequential[index], sequential[index + 1]
            if isinstance(convolution, nn.Conv2d) and isinstance(batch_norm, nn.BatchNorm2d):
                sequential[index] = fold_batch_norm(convolution, batch_norm)
                sequential[index + 1] = nn.Identity()
    for parameter in folded.parameters():
        parameter.requires_grad_(False)
    return folded
