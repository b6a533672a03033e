"""What :func:`~irl_inr.training.fit` needs: a model, an ``nn.Module`` with
``training_losses(batch, generator)`` (and whether it draws for a whole global batch),
and floating-point data with its samples along dim 0."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Protocol

import torch
from torch import nn


class TrainableModel(Protocol):
    """What :func:`fit` needs from a model (besides being an ``nn.Module``)."""

    def training_losses(self, batch: torch.Tensor, generator: torch.Generator) -> Mapping[str, torch.Tensor]: ...


def accepts_shard(model: nn.Module) -> bool:
    """Whether ``model.training_losses`` takes a ``shard`` keyword (a
    :class:`~.distributed.BatchShard`) and so draws its randomness for the whole
    global batch, keeping the rows of its shard."""
    return "shard" in inspect.signature(model.training_losses).parameters


def check_data(data: Any) -> None:
    """``data`` must be a floating-point tensor with at least one sample along dim 0."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data must be a torch.Tensor, got {type(data).__name__}")
    if not data.is_floating_point():
        raise ValueError(f"data must be a floating-point tensor, got {data.dtype}")
    if data.ndim < 1 or data.shape[0] < 1:
        raise ValueError(f"data must hold at least one sample along dim 0, got shape {tuple(data.shape)}")
