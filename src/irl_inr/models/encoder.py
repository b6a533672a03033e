"""The encoder: an image -> semantic code z, rotation theta and translation tau.

Pose follows ``irl_inr.geometry``: the image is the canonical image C posed as
``J(p) = C(R(-theta) (p - tau))``, theta in radians, tau in normalised (x, y).

Two ways to look at the image (``alignment``):

* ``"none"`` (the paper): the backbone sees the image as it is; the rotation head predicts
  (cos theta, sin theta) and the translation head predicts tau.  Invariance of z then rests
  on the consistency loss alone.
* ``"moments"``: the closed-form pose of ``irl_inr.moments`` comes first -- the intensity
  centre of mass for tau, the principal axis of the second central moments for theta, its
  180 degree ambiguity settled by the sign of the third moment.  The image is un-posed by
  it (no gradient flows through this step) and the backbone sees the result, so z is
  invariant by construction up to resampling and to images whose axis or skew is ill
  defined.  The heads then predict a residual pose in that frame, composed on top of the
  closed-form one.
* ``"moments_centred"``: the same for images centred by construction (wafer maps,
  particles): the moments are taken about the image centre and the closed-form pose is
  a rotation about it, so where things lie relative to the centre reaches the backbone
  (a defect at the wafer's edge stays at the edge instead of being moved to the middle).
"""

from __future__ import annotations

import contextvars
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from irl_inr.geometry import pixel_grid, rotation_matrices, transform_images
from irl_inr.moments import moment_pose
from irl_inr.training.collectives import normalise_over_ranks, statistics_over_ranks

ALIGNMENTS = ("none", "moments", "moments_centred")
BACKBONES = ("resnet18", "small_cnn")


class EncoderOutput(NamedTuple):
    semantic_code: torch.Tensor  # (B, d)
    rotation: torch.Tensor  # (B,) radians
    translation: torch.Tensor  # (B, 2) normalised (x, y)


def compose_poses(
    outer: tuple[torch.Tensor, torch.Tensor], inner: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pose that applies ``inner`` first, then ``outer``: rotations add, and the inner
    shift turns with the outer rotation.  Each pose is (rotation (B,), translation (B, 2));
    the result is float32, also under autocast."""
    (outer_rotation, outer_translation), (inner_rotation, inner_translation) = outer, inner
    with torch.autocast(device_type=outer_rotation.device.type, enabled=False):
        turned = torch.einsum(
            "bij,bj->bi", rotation_matrices(outer_rotation.float()), inner_translation.float()
        )
        return outer_rotation.float() + inner_rotation.float(), outer_translation.float() + turned


def unpose(images: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """The canonical image C(q) = J(R(theta) q + tau) of each posed image J, i.e. the inverse
    of ``transform_images(C, theta, tau)``: rotate by -theta, shift by -R(-theta) tau."""
    shift = -torch.einsum("bij,bj->bi", rotation_matrices(-rotation), translation)
    return transform_images(images, -rotation, shift)


# Set while a block recomputes its forward pass for backward: batch norms then normalise
# as before but leave their running statistics alone (they were updated the first time).
_RECOMPUTING = contextvars.ContextVar("recomputing", default=False)


class _StatisticsOverRanks:
    """Batch-norm forward that switches to
    :func:`~irl_inr.training.collectives.normalise_over_ranks` in training mode within
    :func:`~irl_inr.training.collectives.batch_statistics_over_ranks`; the parent's
    forward otherwise.  While a block recomputes its forward pass (:class:`BasicBlock`
    with ``recompute``), training mode normalises with the batch statistics without
    touching the running ones."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        recomputing = self.training and _RECOMPUTING.get()
        if self.training and statistics_over_ranks():
            return normalise_over_ranks(self, features, update_running=not recomputing)
        if recomputing:  # momentum 0: the running statistics stay as they are
            return F.batch_norm(
                features, self.running_mean, self.running_var, self.weight, self.bias, True, 0.0, self.eps
            )
        return super().forward(features)


class GlobalBatchNorm1d(_StatisticsOverRanks, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose statistics, within
    :func:`~irl_inr.training.collectives.batch_statistics_over_ranks`,
    are those of the batch the ranks share."""


class GlobalBatchNorm2d(_StatisticsOverRanks, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose statistics, within
    :func:`~irl_inr.training.collectives.batch_statistics_over_ranks`,
    are those of the batch the ranks share."""


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projected when the shape changes).

    With ``recompute`` (set by :class:`ResNet18`), a training forward pass that records
    gradients keeps only the block's input and recomputes its activations in the backward
    pass (``torch.utils.checkpoint``): the same values and gradients, for one more forward
    pass of the block, and batch norms' running statistics updated once."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.recompute = False
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            GlobalBatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            GlobalBatchNorm2d(out_channels),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                GlobalBatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.recompute and self.training and torch.is_grad_enabled()):
            return self._forward(x)
        calls = 0

        def run(inputs: torch.Tensor) -> torch.Tensor:
            nonlocal calls
            calls += 1
            if calls == 1:  # the forward pass itself
                return self._forward(inputs)
            token = _RECOMPUTING.set(True)  # its repetition in backward
            try:
                return self._forward(inputs)
            finally:
                _RECOMPUTING.reset(token)

        # No random draws inside, so the RNG state need not be replayed.
        return checkpoint(run, x, use_reentrant=False, preserve_rng_state=False)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 for ``in_channels`` channels: 3x3 stem at stride 1, no max-pool,
    BasicBlocks [2, 2, 2, 2] of widths 64..512, global average pool.  (B, C, H, W) -> (B, 512).

    ``recompute_blocks``: the first this many of the 8 blocks recompute their activations
    in backward instead of keeping them (the first blocks, at full resolution and 64
    channels, hold most of the activation memory)."""

    out_features = 512

    def __init__(self, recompute_blocks: int = 0, in_channels: int = 1) -> None:
        super().__init__()
        if not 0 <= recompute_blocks <= 8:
            raise ValueError(f"recompute_blocks must be in 0..8 (ResNet-18 has 8 blocks), got {recompute_blocks!r}")
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False),
            GlobalBatchNorm2d(64),
            nn.ReLU(inplace=True),
        ]
        in_channels = 64
        for out_channels, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [
                BasicBlock(in_channels, out_channels, stride),
                BasicBlock(out_channels, out_channels, 1),
            ]
            in_channels = out_channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.layers = nn.Sequential(*layers)
        blocks = [layer for layer in layers if isinstance(layer, BasicBlock)]
        for block in blocks[:recompute_blocks]:
            block.recompute = True

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


class SmallCNN(nn.Module):
    """Stride-2 3x3 convolutions of ``channels`` (32, 64, 128 by default), each followed by
    ``depth`` - 1 stride-1 ones of the same width, for fast CPU runs, and the last map's
    spatial layout handed to the head: average-pooled to ``layout`` x ``layout``, or whole
    (``layout`` None; its side is S halved once per stage, rounded up: 7 for 50-pixel
    images, 4 for 32).  (B, in_channels, S, S) -> (B, channels[-1] * side^2)."""

    def __init__(
        self, image_size: int, layout: int | None = 4, channels: tuple[int, ...] = (32, 64, 128), depth: int = 1,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if layout is not None and layout < 1:
            raise ValueError(f"the small_cnn layout must be a positive side or None, got {layout}")
        if not channels or depth < 1:
            raise ValueError(f"the small_cnn needs at least one stage and a depth of 1, got {channels}, {depth}")
        layers: list[nn.Module] = []
        side = image_size
        for out_channels in channels:
            for stride in (2, *[1] * (depth - 1)):
                layers += [
                    nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                    GlobalBatchNorm2d(out_channels),
                    nn.ReLU(inplace=True),
                ]
                in_channels = out_channels
            side = (side + 1) // 2  # a stride-2, padding-1 3x3 convolution
        if layout is not None:
            layers.append(nn.AdaptiveAvgPool2d(layout))
            side = layout
        self.layers = nn.Sequential(*layers, nn.Flatten())
        self.out_features = channels[-1] * side * side

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


def build_backbone(
    name: str, recompute_blocks: int = 0, image_size: int = 50, layout: int | None = 4,
    channels: tuple[int, ...] = (32, 64, 128), depth: int = 1, in_channels: int = 1,
) -> nn.Module:
    """A backbone by name for images of ``in_channels`` channels; each has ``out_features``.
    ``recompute_blocks``: ResNet-18 only; ``image_size``, ``layout``, ``channels`` (the
    widths of its stages) and ``depth``: small_cnn only (:class:`SmallCNN`)."""
    if name == "resnet18":
        return ResNet18(recompute_blocks, in_channels)
    if recompute_blocks:
        raise ValueError(f"recompute_blocks needs the resnet18 backbone, not {name!r}")
    if name == "small_cnn":
        return SmallCNN(image_size, layout, channels, depth, in_channels)
    raise ValueError(f"unknown backbone {name!r}; expected one of {BACKBONES}")


class Encoder(nn.Module):
    """Backbone + 3-layer MLP head with three outputs: z, (cos, sin) of theta, tau, for
    images of ``in_channels`` channels (the closed-form pose reads their channel mean)."""

    def __init__(
        self,
        backbone: str,
        latent_dim: int,
        head_hidden: int,
        alignment: str = "moments",
        standardise_code: bool = True,
        channels_last: bool = False,
        recompute_blocks: int = 0,
        code_rotations: tuple[float, ...] = (0.0,),
        image_size: int = 50,
        layout: int | None = 4,
        channels: tuple[int, ...] = (32, 64, 128),
        depth: int = 1,
        in_channels: int = 1,
        radius_channel: bool = False,
    ) -> None:
        super().__init__()
        if alignment not in ALIGNMENTS:
            raise ValueError(f"unknown alignment {alignment!r}; expected one of {ALIGNMENTS}")
        if 0.0 not in code_rotations or (alignment == "none" and any(code_rotations)):
            raise ValueError(
                f"code_rotations (radians) must include 0 and be (0.0,) without an alignment, got {code_rotations}"
            )
        self.alignment = alignment
        self.in_channels = in_channels
        self.code_rotations = tuple(float(angle) for angle in code_rotations)  # radians, see ``encode``
        # The distance of every pixel from the image centre as one more input channel
        # (CoordConv, Liu et al., NeurIPS 2018): how far out a pattern lies, read directly.
        self.radius_channel = radius_channel
        self.backbone = build_backbone(
            backbone, recompute_blocks, image_size, layout, channels, depth, in_channels + int(radius_channel)
        )
        # Channels-last (N, H, W, C) convolution weights and activations: oneDNN's
        # convolutions and batch norms on CPUs and cuDNN's tensor-core kernels run faster.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        self.trunk = nn.Sequential(
            nn.Linear(self.backbone.out_features, head_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(head_hidden, head_hidden),
            nn.ReLU(inplace=True),
        )
        self.code_head = nn.Linear(head_hidden, latent_dim)
        # Zero-mean, unit-variance codes over the batch (running statistics at eval time):
        # the code cannot drift into one shared direction that every image agrees on.
        self.standardise = (
            GlobalBatchNorm1d(latent_dim, affine=False) if standardise_code else nn.Identity()
        )
        self.rotation_head = nn.Linear(head_hidden, 2)  # (cos, sin)
        self.translation_head = nn.Linear(head_hidden, 2)
        # Start from the identity residual pose: theta = 0, tau = 0.
        for head in (self.rotation_head, self.translation_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        with torch.no_grad():
            self.rotation_head.bias[0] = 1.0

    def forward(
        self,
        images: torch.Tensor,
        alignment_noise: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> EncoderOutput:
        """images (B, C, H, W), C = ``in_channels`` -> z (B, d), theta (B,), tau (B, 2).

        ``alignment_noise`` (rotation (B,), translation (B, 2)), for training with a
        moment alignment: a small pose composed onto the closed-form one before
        un-posing, so that the backbone learns codes that tolerate its errors."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"the encoder takes images (B, {self.in_channels}, H, W) (the channels it was trained on), "
                f"got {tuple(images.shape)}"
            )
        if self.alignment != "none":
            base_pose = moment_pose(images, about_centre=self.alignment == "moments_centred")
            if alignment_noise is not None:
                base_pose = compose_poses(base_pose, alignment_noise)
            seen = unpose(images, *base_pose)
        elif alignment_noise is not None:
            raise ValueError("alignment_noise needs a moment alignment (moments or moments_centred)")
        else:
            seen = images
        if self.radius_channel:
            grid = pixel_grid(*seen.shape[-2:], device=seen.device)  # (H W, 2) normalised (x, y)
            radius = grid.norm(dim=-1).reshape(1, 1, *seen.shape[-2:]).to(seen.dtype)
            seen = torch.cat([seen, radius.expand(seen.shape[0], -1, -1, -1)], dim=1)  # (B, C + 1, H, W)
        hidden = self.trunk(self.backbone(seen.contiguous(memory_format=self.memory_format)))  # (B, head_hidden)
        semantic_code = self.standardise(self.code_head(hidden))  # (B, d)
        cos_sin = self.rotation_head(hidden).float()  # (B, 2)
        rotation = torch.atan2(cos_sin[:, 1], cos_sin[:, 0])  # (B,)
        translation = self.translation_head(hidden).float()  # (B, 2)
        if self.alignment != "none":
            # The heads' pose is a residual in the frame the backbone saw.
            rotation, translation = compose_poses(base_pose, (rotation, translation))
        return EncoderOutput(semantic_code, rotation, translation)

    def encode(self, images: torch.Tensor) -> EncoderOutput:
        """An image's code and pose as a trained model reads them: z (B, d) is the mean of
        the codes of the image un-posed at its closed-form pose turned by each of
        ``code_rotations`` (training draws one such turn per view, uniform in +-the
        alignment jitter; this averages over them instead of sampling one), theta and tau
        are those of the unturned pass.  ``code_rotations`` (0,): one plain pass.  Meant
        for eval mode: in train mode every turn would update the batch norms' running
        statistics."""
        if self.code_rotations == (0.0,):
            return self(images)
        batch = images.shape[0]
        no_shift = images.new_zeros(batch, 2, dtype=torch.float32)
        passes = [
            self(images, (images.new_full((batch,), angle, dtype=torch.float32), no_shift))
            for angle in self.code_rotations
        ]
        unturned = passes[self.code_rotations.index(0.0)]
        semantic_code = torch.stack([encoded.semantic_code for encoded in passes]).mean(0)  # (B, d)
        return EncoderOutput(semantic_code, unturned.rotation, unturned.translation)
