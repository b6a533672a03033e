"""The hypernetwork: a semantic code z -> every weight and bias of that image's INR.

Interface shared by every weight generator: ``weights = hypernetwork(z)`` with ``z`` of
shape (B, d) returns ``INRWeights``, one batched ``(weight (B, out, in), bias (B, out))``
pair per INR layer, in the order of ``INR.layer_shapes``.  The INR consumes nothing else,
so a low-rank generator (shared INR weights plus a per-image ``U V^T`` modulation of one
layer) can replace this one without touching the INR or the losses.

This one is the paper's: an MLP with LeakyReLU(0.1) whose last layer emits all P INR
parameters as one flat vector.  Its last bias starts as a well-scaled (He-initialised) INR,
and its last weight starts small, so that training begins from one shared, trainable INR
that each code modulates, instead of from P numbers of arbitrary scale.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from irl_inr.models.inr import INRWeights


class HyperNetwork(nn.Module):
    """MLP z (B, d) -> INR weights for layers of shapes ``layer_shapes`` [(out, in), ...]."""

    def __init__(
        self,
        latent_dim: int,
        hidden: tuple[int, ...] | list[int],
        layer_shapes: list[tuple[int, int]],
        modulation_scale: float = 0.1,
    ) -> None:
        super().__init__()
        self.layer_shapes = [tuple(shape) for shape in layer_shapes]
        self.sizes = [out * inp + out for out, inp in self.layer_shapes]  # per layer: W then b

        layers: list[nn.Module] = []
        width = latent_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.1)]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, sum(self.sizes))

        # Every emitted parameter is multiplied by 1 / sqrt(fan_in) of its INR layer, so the
        # head works on unit scale whatever the INR widths are.
        scale = torch.cat(
            [
                torch.full((size,), 1.0 / math.sqrt(inp))
                for size, (_, inp) in zip(self.sizes, self.layer_shapes)
            ]
        )
        self.register_buffer("scale", scale)
        self._initialise_head(modulation_scale)

    def _initialise_head(self, modulation_scale: float) -> None:
        base = []
        last = len(self.layer_shapes) - 1
        for index, (out, inp) in enumerate(self.layer_shapes):
            gain = 1.0 if index == last else math.sqrt(2.0)  # He gain before a ReLU
            base += [torch.randn(out * inp) * gain, torch.zeros(out)]
        with torch.no_grad():
            self.head.bias.copy_(torch.cat(base))
            self.head.weight.mul_(modulation_scale)

    def forward(self, semantic_code: torch.Tensor) -> INRWeights:
        flat = self.head(self.body(semantic_code)) * self.scale  # (B, P)
        weights: INRWeights = []
        for chunk, (out, inp) in zip(flat.split(self.sizes, dim=1), self.layer_shapes):
            weight, bias = chunk.split([out * inp, out], dim=1)
            weights.append((weight.reshape(-1, out, inp), bias))  # (B, out, in), (B, out)
        return weights
