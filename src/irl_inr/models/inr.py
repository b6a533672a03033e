"""The implicit neural representation (INR): a coordinate MLP whose weights are given.

A canonical image of C channels (C = 1: grey, 3: colour) is a function
``C: [-1, 1]^2 -> [0, 1]^C``.  The INR evaluates it as

    C(q) = sigmoid(MLP(gamma(q))),   gamma(q) = [cos 2 pi B q, sin 2 pi B q]

with fixed random Fourier features ``B ~ N(0, sigma^2)`` of shape (frequencies, 2), ReLU
hidden layers and a last layer of C outputs, one per channel.  The MLP owns no parameters:
every image brings its own weights (from the hypernetwork), so all images of a batch are
evaluated at once with batched matrix products.  A posed image is rendered by evaluating
``C`` at the canonical points that each pixel sees under the pose
(``geometry.canonical_coordinates``); pose (0, 0) renders the canonical image itself.

Memory: every pixel of every image holds 2F + 3 x 256 activations for the backward pass
(about 15 MB per 50 x 50 view of the paper's INR).  With ``chunk_pixels`` the pixels are
evaluated ``chunk_pixels`` at a time and, when gradients are recorded, each chunk keeps
only its inputs and recomputes its activations in the backward pass
(``torch.utils.checkpoint``): the same values and gradients (up to the order in which
the weight gradients of the chunks are summed) for one more forward pass of the INR.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from irl_inr.geometry import canonical_coordinates, pixel_grid

# One (weight, bias) pair per INR layer, batched over images:
# weight (B, out_features, in_features), bias (B, out_features).
INRWeights = list[tuple[torch.Tensor, torch.Tensor]]


class FourierFeatures(nn.Module):
    """gamma(q) = [cos 2 pi B q, sin 2 pi B q] with a fixed, seeded B ~ N(0, scale^2)."""

    def __init__(self, num_frequencies: int, scale: float, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        frequencies = torch.randn(num_frequencies, 2, generator=generator) * scale  # (F, 2)
        self.register_buffer("frequencies", frequencies)

    @property
    def out_features(self) -> int:
        return 2 * self.frequencies.shape[0]

    def forward(self, coordinates: torch.Tensor) -> torch.Tensor:
        # coordinates (B, P, 2) -> phases (B, P, F) -> features (B, P, 2F)
        # (A custom autograd function that reuses cos/sin in backward saved little and broke
        # forward-mode AD, which the isometry term needs: plain ops.)
        phases = 2 * math.pi * coordinates @ self.frequencies.T
        return torch.cat([torch.cos(phases), torch.sin(phases)], dim=-1)


class INR(nn.Module):
    """Fourier features -> hidden ReLU layers -> ``out_channels`` sigmoid intensities,
    weights supplied per image."""

    def __init__(
        self,
        num_frequencies: int,
        hidden: tuple[int, ...] | list[int],
        fourier_scale: float = 2.0,
        fourier_seed: int = 0,
        chunk_pixels: int | None = None,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        if chunk_pixels is not None and chunk_pixels < 1:
            raise ValueError(f"chunk_pixels must be a positive integer or None, got {chunk_pixels!r}")
        self.chunk_pixels = chunk_pixels  # pixels evaluated at a time (recomputed in backward); None: all
        self.features = FourierFeatures(num_frequencies, fourier_scale, fourier_seed)
        widths = [self.features.out_features, *hidden, out_channels]
        self.layer_shapes: list[tuple[int, int]] = [
            (fan_out, fan_in) for fan_in, fan_out in zip(widths[:-1], widths[1:])
        ]

    def forward(
        self,
        weights: INRWeights,
        rotation: torch.Tensor,
        translation: torch.Tensor,
        pixels: torch.Tensor,
    ) -> torch.Tensor:
        """Intensities of each posed image at its pixels.

        weights: per image; rotation (B,) radians; translation (B, 2); pixels (P, 2) shared
        or (B, P, 2) per image, normalised (x, y).  Returns (B, C, P), C the INR's
        ``out_channels``."""
        if len(weights) != len(self.layer_shapes):
            raise ValueError(f"expected {len(self.layer_shapes)} layers, got {len(weights)}")
        if self.chunk_pixels is None or pixels.shape[-2] <= self.chunk_pixels:
            return self._evaluate(weights, rotation, translation, pixels)
        recompute = torch.is_grad_enabled()
        parts = []
        for chunk in pixels.split(self.chunk_pixels, dim=-2):  # (c, 2) or (B, c, 2)
            if recompute:
                # No random draws inside, so the RNG state need not be replayed.
                parts.append(
                    checkpoint(
                        self._evaluate, weights, rotation, translation, chunk, use_reentrant=False, preserve_rng_state=False
                    )
                )
            else:
                parts.append(self._evaluate(weights, rotation, translation, chunk))
        return torch.cat(parts, dim=-1)  # (B, C, P)

    def _evaluate(
        self, weights: INRWeights, rotation: torch.Tensor, translation: torch.Tensor, pixels: torch.Tensor
    ) -> torch.Tensor:
        """``forward`` on all of ``pixels`` at once -> (B, C, P)."""
        # Coordinates and phases stay float32 even under autocast: phases reach tens of
        # radians, where bfloat16 would put errors of ~0.1 rad on them.
        with torch.autocast(device_type=pixels.device.type, enabled=False):
            points = canonical_coordinates(pixels.float(), rotation.float(), translation.float())
            hidden = self.features(points)  # (B, P, 2F)
        last = len(weights) - 1
        for index, (weight, bias) in enumerate(weights):
            # (B, P, in) x (B, in, out) + (B, 1, out) -> (B, P, out)
            hidden = torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2))
            if index < last:
                hidden = hidden.relu_()  # in place: baddbmm's backward does not read its output
        return torch.sigmoid(hidden).transpose(1, 2)  # (B, P, C) -> (B, C, P)

    def render(
        self,
        weights: INRWeights,
        rotation: torch.Tensor,
        translation: torch.Tensor,
        height: int,
        width: int,
    ) -> torch.Tensor:
        """Images of the canonical functions under each pose: rotation (B,) radians,
        translation (B, 2) normalised -> (B, C, height, width)."""
        grid = pixel_grid(height, width, device=rotation.device)  # (H*W, 2)
        rendered = self(weights, rotation, translation, grid)  # (B, C, H*W)
        return rendered.reshape(*rendered.shape[:2], height, width)
