"""The hypernetwork: a semantic code z -> every weight and bias of that image's INR.

Interface shared by every weight generator: ``weights = hypernetwork(z)`` with ``z`` of
shape (B, d) returns ``INRWeights``, one batched ``(weight (B, out, in), bias (B, out))``
pair per INR layer, in the order of ``INR.layer_shapes``.  The INR consumes nothing else,
so the low-rank generator below replaces the full one without touching the INR or the
losses.

``HyperNetwork`` is the paper's: an MLP with LeakyReLU(0.1) whose last layer emits all P INR
parameters as one flat vector.  Its last bias starts as a well-scaled (He-initialised) INR,
and its last weight starts small, so that training begins from one shared, trainable INR
that each code modulates, instead of from P numbers of arbitrary scale.

``LowRankHyperNetwork`` follows the instance pattern composers of Kim et al. (CVPR 2023):
every INR weight is shared by all images (learned parameters), except one early layer,
``W_i = W_shared + U_i V^T`` with a shared V (in, r) and an instance pattern composer
U_i (out, r) that an MLP predicts from z.  Its head emits out * r numbers per image
instead of every INR weight, so its size grows with the rank, not with the INR.
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

        self.body, width = _emitter(latent_dim, hidden)
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


def _emitter(latent_dim: int, hidden: tuple[int, ...] | list[int]) -> tuple[nn.Sequential, int]:
    """The MLP body z (B, d) -> (B, hidden[-1]) with LeakyReLU(0.1), and its output width."""
    layers: list[nn.Module] = []
    width = latent_dim
    for size in hidden:
        layers += [nn.Linear(width, size), nn.LeakyReLU(0.1)]
        width = size
    return nn.Sequential(*layers), width


class LowRankHyperNetwork(nn.Module):
    """z (B, d) -> INR weights: shared weights, plus U(z) V^T on layer ``modulated_layer``.

    The shared weights start He-initialised like the full hypernetwork's starting INR; the
    composer head starts small (``modulation_scale``), so training begins from one shared
    INR that each code modulates a little."""

    def __init__(
        self,
        latent_dim: int,
        hidden: tuple[int, ...] | list[int],
        layer_shapes: list[tuple[int, int]],
        rank: int,
        modulated_layer: int = 0,
        modulation_scale: float = 0.1,
    ) -> None:
        super().__init__()
        self.layer_shapes = [tuple(shape) for shape in layer_shapes]
        if not 0 <= modulated_layer < len(self.layer_shapes):
            raise ValueError(
                f"modulated_layer = {modulated_layer}: the INR has layers 0..{len(self.layer_shapes) - 1}"
            )
        self.rank = rank
        self.modulated_layer = modulated_layer
        last = len(self.layer_shapes) - 1
        self.shared_weights = nn.ParameterList()
        self.shared_biases = nn.ParameterList()
        for index, (out, inp) in enumerate(self.layer_shapes):
            gain = 1.0 if index == last else math.sqrt(2.0)  # He gain before a ReLU
            self.shared_weights.append(nn.Parameter(torch.randn(out, inp) * gain / math.sqrt(inp)))
            self.shared_biases.append(nn.Parameter(torch.zeros(out)))
        out, inp = self.layer_shapes[modulated_layer]
        # V (in, r): unit-variance columns scaled like a weight of fan-in ``in``.
        self.basis = nn.Parameter(torch.randn(inp, rank) / math.sqrt(inp))
        self.body, width = _emitter(latent_dim, hidden)
        self.head = nn.Linear(width, out * rank)  # the composer U, flattened
        with torch.no_grad():
            self.head.weight.mul_(modulation_scale)
            self.head.bias.zero_()

    def composers(self, semantic_code: torch.Tensor) -> torch.Tensor:
        """The instance pattern composers U: z (B, d) -> (B, out, r)."""
        out, _ = self.layer_shapes[self.modulated_layer]
        return self.head(self.body(semantic_code)).reshape(-1, out, self.rank)

    def compose(self, composer: torch.Tensor) -> INRWeights:
        """INR weights from composers U (B, out, r): shared weights everywhere, and
        ``W_shared + U V^T`` on the modulated layer (exactly W_shared when U = 0)."""
        batch = composer.shape[0]
        weights: INRWeights = []
        for index, (weight, bias) in enumerate(zip(self.shared_weights, self.shared_biases)):
            if index == self.modulated_layer:
                batched = weight + composer @ self.basis.T  # (B, out, r) x (r, in) -> (B, out, in)
            else:
                batched = weight.expand(batch, -1, -1)
            weights.append((batched, bias.expand(batch, -1)))
        return weights

    def forward(self, semantic_code: torch.Tensor) -> INRWeights:
        return self.compose(self.composers(semantic_code))
