"""Inference copies of trained modules with each batch norm folded into the convolution
before it.

In eval mode a batch norm is an affine map per channel, ``y = (x - mean) * g + beta``
with ``g = weight / sqrt(running_var + eps)``, so a convolution followed by it is one
convolution with weights ``w * g`` (per output channel) and bias ``(b - mean) * g + beta``.
The folded copy computes the same values up to float rounding (the products are formed
in float64 and rounded once) and skips one pass over every activation map.  The copy is
for inference only: it has no batch norms left to train.

On a CPU the folded convolutions can go one step further (:func:`pack_convolutions`):
oneDNN's fused convolution with the weights reordered once, and the ReLU and residual
add that follow it as post-ops, the same values as the folded copy.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from irl_inr.models.encoder import BasicBlock


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


class PackedConvolution(nn.Module):
    """A (folded) ``nn.Conv2d`` for CPU inference through oneDNN's fused convolution
    (``torch.ops.mkldnn._convolution_pointwise``, what inductor's freezing emits): the
    weight is reordered once into the blocked layout oneDNN picks for ``input_shape``
    instead of at every call, and a ReLU (``relu``), or a residual add then ReLU
    (``forward(x, residual)``), runs as a post-op of the convolution instead of as
    separate passes over the output.  Float32 CPU tensors only; the values are those of
    the convolution and the separate ops (the same arithmetic, in the same order)."""

    def __init__(self, convolution: nn.Conv2d, input_shape: list[int], relu: bool) -> None:
        super().__init__()
        self.geometry = (list(convolution.padding), list(convolution.stride), list(convolution.dilation), convolution.groups)
        weight = convolution.weight.detach().contiguous(memory_format=torch.channels_last)
        # An opaque oneDNN tensor: not a parameter or buffer, so it is never saved or moved.
        self.packed_weight = torch.ops.mkldnn._reorder_convolution_weight(weight, *self.geometry, input_shape)
        self.bias = None if convolution.bias is None else convolution.bias.detach()
        self.unary = "relu" if relu else "none"

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """conv(x) (ReLU'd with ``relu``); with ``residual``, relu(conv(x) + residual),
        written into ``residual`` (an intermediate nobody else reads)."""
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.packed_weight, self.bias, *self.geometry, self.unary, [], ""
            )
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            residual, x, self.packed_weight, self.bias, *self.geometry, "add", 1.0, "relu", [], ""
        )


class PackedBasicBlock(nn.Module):
    """A folded :class:`~irl_inr.models.encoder.BasicBlock` as packed convolutions:
    relu(conv1) fused, the shortcut convolution (if any) packed, and the residual add and
    final ReLU fused into conv2."""

    def __init__(self, block: BasicBlock, input_shapes: dict[nn.Conv2d, list[int]]) -> None:
        super().__init__()
        first, second = block.body[0], block.body[3]
        self.first = PackedConvolution(first, input_shapes[first], relu=True)
        self.second = PackedConvolution(second, input_shapes[second], relu=False)
        self.shortcut = None
        if not isinstance(block.shortcut, nn.Identity):
            self.shortcut = PackedConvolution(block.shortcut[0], input_shapes[block.shortcut[0]], relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Without a shortcut convolution the sum is written into x: the block's input,
        # an intermediate of the backbone that no later layer reads.
        residual = x if self.shortcut is None else self.shortcut(x)
        return self.second(self.first(x), residual)


def convolution_input_shapes(backbone: nn.Module, image_shape: tuple[int, ...], batch_size: int) -> dict:
    """The input shape (batch_size, C, H, W) of every ``nn.Conv2d`` of ``backbone`` for
    images of ``image_shape`` (C, H, W): one forward pass of a single blank image."""
    shapes: dict[nn.Conv2d, list[int]] = {}

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        shapes[module] = [batch_size, *inputs[0].shape[1:]]

    hooks = [module.register_forward_pre_hook(record) for module in backbone.modules() if isinstance(module, nn.Conv2d)]
    try:
        with torch.no_grad():
            backbone(torch.zeros(1, *image_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def pack_convolutions(backbone: nn.Module, image_shape: tuple[int, ...], batch_size: int) -> nn.Module:
    """``backbone``, folded by :func:`fold_batch_norms` and on the CPU, with its
    :class:`BasicBlock`\\ s as :class:`PackedBasicBlock`\\ s and every other convolution
    followed (after its folded batch norm's ``nn.Identity``) by a ReLU as a
    :class:`PackedConvolution` with the ReLU fused, changed in place and returned.  The
    weights are packed for inputs of ``image_shape`` (C, H, W) in batches of
    ``batch_size``; other shapes give the same values, maybe a little slower."""
    if any(isinstance(module, nn.BatchNorm2d) for module in backbone.modules()):
        raise ValueError("fold the batch norms first (fold_batch_norms): packed convolutions have none")
    input_shapes = convolution_input_shapes(backbone, image_shape, batch_size)
    inside_blocks = {part for block in backbone.modules() if isinstance(block, BasicBlock) for part in block.modules()}
    for sequential in [part for part in backbone.modules() if isinstance(part, nn.Sequential) and part not in inside_blocks]:
        for index, layer in enumerate(sequential):
            if isinstance(layer, BasicBlock):
                sequential[index] = PackedBasicBlock(layer, input_shapes)
            elif isinstance(layer, nn.Conv2d):
                after = index + 1
                while after < len(sequential) and isinstance(sequential[after], nn.Identity):
                    after += 1
                if after < len(sequential) and isinstance(sequential[after], nn.ReLU):
                    sequential[index] = PackedConvolution(layer, input_shapes[layer], relu=True)
                    sequential[after] = nn.Identity()
    return backbone
